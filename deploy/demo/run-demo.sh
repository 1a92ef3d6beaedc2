#!/usr/bin/env bash
# The havengate demo: a local federation of five organisations, each its own
# havengate process with its own CA, certificates and sharing policy (from
# deploy/policies). Integration clients push the sample items of
# deploy/samples; the demo then shows, side by side for the PIN-code fraud
# alert of the Dutch police, what each partner received and what it did not,
# each partner's inbox, the audit evidence of one share decision, and a
# retraction travelling to every partner. See deploy/demo/README.md.
#
#   deploy/demo/run-demo.sh                 # run, show, stop everything
#   deploy/demo/run-demo.sh --keep-running  # leave the federation running
#   deploy/demo/run-demo.sh --stop          # stop a federation left running
#
# Environment: BUILD_DIR (default ./build), DEMO_DIR (default
# $BUILD_DIR/demo, wiped at start), DEMO_BASE_PORT (fixed ports BASE ..
# BASE+4 instead of free ones), DEMO_TIMEOUT (seconds to wait for gateways
# and deliveries, default 30), HAVENGATE, HAVENCTL (the binaries).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEMO_LIB="$ROOT/deploy/demo"

usage() {
  cat <<EOF
Usage: deploy/demo/run-demo.sh [--keep-running | --stop] [--dir DIR]

Starts a local federation of five havengate gateways (police-nl, customs-nl,
port-rtm, police-be, police-ec), pushes the sample items of deploy/samples and
shows what each partner received. Stops every gateway it started when done.

  --keep-running  leave the federation running and print how to reach it
  --stop          stop a federation a previous --keep-running left in DIR
  --dir DIR       work directory (default \$DEMO_DIR or $ROOT/build/demo);
                  wiped at start
  -h, --help      this text

Environment: BUILD_DIR (where havengate was built, default ./build),
DEMO_BASE_PORT (use ports BASE..BASE+4 instead of free ones), DEMO_TIMEOUT
(seconds to wait for gateways and deliveries, default 30).
EOF
}

KEEP_RUNNING=0
STOP_ONLY=0
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
DEMO_DIR="${DEMO_DIR:-$BUILD_DIR/demo}"
while (($# > 0)); do
  case "$1" in
    --keep-running) KEEP_RUNNING=1 ;;
    --stop) STOP_ONLY=1 ;;
    --dir)
      [[ $# -ge 2 ]] || { echo "run-demo.sh: --dir needs a directory" >&2; exit 2; }
      DEMO_DIR="$2"
      shift
      ;;
    --dir=*) DEMO_DIR="${1#--dir=}" ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run-demo.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
# Absolute, as the gateways' command lines hold it (--stop finds them so).
[[ $DEMO_DIR == /* ]] || DEMO_DIR="$PWD/$DEMO_DIR"
[[ -d $DEMO_DIR ]] && DEMO_DIR="$(cd "$DEMO_DIR" && pwd)"
HAVENGATE="${HAVENGATE:-$BUILD_DIR/server/havengate}"
HAVENCTL="${HAVENCTL:-$BUILD_DIR/client/havenctl}"
DEMO_TIMEOUT="${DEMO_TIMEOUT:-30}"
DEMO_BASE_PORT="${DEMO_BASE_PORT:-}"
PYTHON="${PYTHON:-python3}"

# The organisations, in the order they are started and shown.
ORGS=(police-nl customs-nl port-rtm police-be police-ec)
declare -A DOMAIN=(
  [police-nl]=police.nl.example
  [customs-nl]=customs.nl.example
  [port-rtm]=portofrotterdam.example
  [police-be]=police.be.example
  [police-ec]=policia.ec.example
)
declare -A TITLE=(
  [police-nl]="Dutch police, Seaport Police Rotterdam"
  [customs-nl]="Dutch Customs, Rotterdam"
  [port-rtm]="Port of Rotterdam, security desk"
  [police-be]="Belgian federal police, Antwerp"
  [police-ec]="Policia Antinarcoticos, Guayaquil"
)
# The item shown side by side, and the one retracted.
SHOWCASE_SAMPLE=pin_code_fraud_rtm.json
RETRACT_SAMPLE=reefer_guayaquil.json

declare -A PORT PID PEERS
STARTED_PIDS=()

# --- output --------------------------------------------------------------

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }

# The last lines of the named organisations' gateway logs.
log_tails() {
  local org
  for org in "$@"; do
    local log="$DEMO_DIR/$org/gateway.log"
    [[ -s $log ]] || continue
    printf -- '--- %s: last lines of %s\n' "$org" "$log" >&2
    tail -n 15 "$log" | sed 's/^/    /' >&2
  done
}

# fail MESSAGE [ORG...]: says what went wrong, shows the ends of the named
# organisations' gateway logs and exits non-zero; the EXIT trap stops the
# gateways.
fail() {
  local message="$1"
  shift
  printf '\nrun-demo.sh: FAILED: %s\n' "$message" >&2
  log_tails "$@"
  exit 1
}

# --- processes -----------------------------------------------------------

# True if `pid` is a live process (a zombie counts as gone).
alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ ${stat%% *} != Z ]]
}

# True if `pid` is a havengate started with a config file under DEMO_DIR
# (a pid file may outlive its process, and pids are reused).
is_demo_gateway() {
  local cmdline
  cmdline="$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)" || return 1
  [[ $cmdline == *havengate*"--config $DEMO_DIR/"* ]]
}

# stop_pids PID...: SIGTERM, then wait (reaping our own children) up to 15
# seconds, then SIGKILL what is left.
stop_pids() {
  local pid deadline=$((SECONDS + 15))
  for pid in "$@"; do
    if alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for pid in "$@"; do
    while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    if alive "$pid"; then
      echo "run-demo.sh: gateway $pid did not stop on SIGTERM; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
}

# Stops the gateways a --keep-running run left in DEMO_DIR (by their pid
# files). Prints what it stopped.
stop_previous() {
  local org pid pids=()
  for org in "${ORGS[@]}"; do
    [[ -f $DEMO_DIR/$org/gateway.pid ]] || continue
    pid="$(<"$DEMO_DIR/$org/gateway.pid")"
    if [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" && is_demo_gateway "$pid"; then
      echo "stopping $org (pid $pid)"
      pids+=("$pid")
    fi
    rm -f "$DEMO_DIR/$org/gateway.pid"
  done
  ((${#pids[@]} == 0)) && { echo "no demo gateways running in $DEMO_DIR"; return 0; }
  stop_pids "${pids[@]}"
  echo "stopped ${#pids[@]} gateway(s)"
}

cleanup() {
  local status=$?
  # A second Ctrl-C must not cut the stopping short (stop_pids ends with
  # SIGKILL after 15 seconds).
  trap - EXIT
  trap '' INT TERM
  if ((KEEP_RUNNING && status == 0)); then
    exit 0
  fi
  if ((${#STARTED_PIDS[@]} > 0)); then
    printf '\n==> Stopping the %d gateways this run started\n' "${#STARTED_PIDS[@]}"
    stop_pids "${STARTED_PIDS[@]}"
    local org
    for org in "${ORGS[@]}"; do rm -f "$DEMO_DIR/$org/gateway.pid"; done
    info "all stopped (logs and stores stay in $DEMO_DIR)"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'echo; echo "run-demo.sh: interrupted" >&2; exit 130' INT
trap 'echo "run-demo.sh: terminated" >&2; exit 143' TERM

# --- havenctl helpers ------------------------------------------------------

# ctl ORG ARGS...: havenctl items ... as ORG's integration client.
ctl() {
  local org="$1"
  shift
  "$HAVENCTL" items "$@" --connection "$DEMO_DIR/$org/havenctl.yaml"
}

# --- preparation -----------------------------------------------------------

if ((STOP_ONLY)); then
  stop_previous
  exit 0
fi

for binary in "$HAVENGATE" "$HAVENCTL"; do
  [[ -x $binary ]] || fail "$binary is missing; build first (deploy/setup.sh)"
done
command -v "$PYTHON" >/dev/null || fail "$PYTHON is missing (deploy/setup.sh installs it)"

# Refuses to wipe anything but a demo directory (or an empty/new one), and
# refuses while a kept-running federation still runs in it.
prepare_dir() {
  if [[ -e $DEMO_DIR ]]; then
    [[ -d $DEMO_DIR ]] || fail "$DEMO_DIR exists and is not a directory"
    if [[ ! -f $DEMO_DIR/.havengate-demo ]] && [[ -n "$(ls -A "$DEMO_DIR")" ]]; then
      fail "$DEMO_DIR is not empty and not a demo directory; refusing to wipe it (use --dir)"
    fi
    local org pid
    for org in "${ORGS[@]}"; do
      pid="$(cat "$DEMO_DIR/$org/gateway.pid" 2>/dev/null || true)"
      if [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" && is_demo_gateway "$pid"; then
        fail "a demo federation is still running in $DEMO_DIR ($org, pid $pid); stop it first: $0 --stop --dir $DEMO_DIR"
      fi
    done
    rm -rf "$DEMO_DIR"
  fi
  mkdir -p "$DEMO_DIR"
  DEMO_DIR="$(cd "$DEMO_DIR" && pwd)"
  touch "$DEMO_DIR/.havengate-demo"
}

# Free TCP ports on 127.0.0.1, one per organisation (or DEMO_BASE_PORT..+4).
pick_ports() {
  local ports
  if [[ -n $DEMO_BASE_PORT ]]; then
    [[ $DEMO_BASE_PORT =~ ^[0-9]+$ ]] || fail "DEMO_BASE_PORT must be a port number"
    ports="$(seq "$DEMO_BASE_PORT" $((DEMO_BASE_PORT + ${#ORGS[@]} - 1)))"
  else
    ports="$("$PYTHON" "$DEMO_LIB/demo.py" free-ports "${#ORGS[@]}")" ||
      fail "could not find free ports"
  fi
  local i=0 port
  for port in $ports; do
    PORT[${ORGS[$i]}]=$port
    i=$((i + 1))
  done
}

# Each organisation: its CA, gateway/client/officer certificates, its policy
# with fresh pseudonymisation keys.
make_org() {
  local org="$1" dir="$DEMO_DIR/$1"
  mkdir -p "$dir"
  {
    "$HAVENCTL" pki init-ca --org "$org" --domain "${DOMAIN[$org]}" --dir "$dir/ca" &&
      "$HAVENCTL" pki issue --ca-dir "$dir/ca" --role gateway --out "$dir/gateway" --dns localhost &&
      "$HAVENCTL" pki issue --ca-dir "$dir/ca" --role client --name integration --out "$dir/clients" &&
      "$HAVENCTL" pki issue --ca-dir "$dir/ca" --role officer --name duty-officer --out "$dir/officers"
  } >"$dir/pki.log" 2>&1 || { cat "$dir/pki.log" >&2; fail "certificates for $org"; }
  mkdir -p "$dir/policy"
  cp "$ROOT/deploy/policies/$org/policy.yaml" "$dir/policy/policy.yaml"
  "$HAVENCTL" policy keygen "$dir/policy/policy.yaml" >>"$dir/pki.log" 2>&1 ||
    { cat "$dir/pki.log" >&2; fail "pseudonymisation keys for $org"; }
  PEERS[$org]="$("$PYTHON" "$DEMO_LIB/demo.py" partners "$dir/policy/policy.yaml")" ||
    fail "cannot read the partners of $dir/policy/policy.yaml"
}

# The gateway config (paths relative to it) and the integration client's
# connection file. Peers are the partners the policy names; each peer's CA
# and CRL are copied in, as a partner would hand them over.
write_config() {
  local org="$1" dir="$DEMO_DIR/$1" peer
  for peer in ${PEERS[$org]}; do
    [[ -n ${DOMAIN[$peer]:-} ]] || fail "the policy of $org names $peer, which is not in this demo"
    mkdir -p "$dir/peers/$peer"
    cp "$DEMO_DIR/$peer/ca/ca.crt" "$DEMO_DIR/$peer/ca/crl.pem" "$dir/peers/$peer/"
  done
  {
    echo "# $org — ${TITLE[$org]} (written by deploy/demo/run-demo.sh)"
    echo "organisation: {id: $org, domain: ${DOMAIN[$org]}}"
    echo "listen: 127.0.0.1:${PORT[$org]}"
    echo "port_file: gateway.port"
    echo "tls:"
    echo "  certificate: gateway/gateway.crt"
    echo "  private_key: gateway/gateway.key"
    echo "  ca: ca/ca.crt"
    echo "  crl: ca/crl.pem"
    echo "store: {path: data/gateway.db}"
    echo "policy: policy/policy.yaml"
    echo "peers:"
    for peer in ${PEERS[$org]}; do
      echo "  - {id: $peer, domain: ${DOMAIN[$peer]}, address: localhost:${PORT[$peer]},"
      echo "     ca: peers/$peer/ca.crt, crl: peers/$peer/crl.pem}"
    done
    echo "log: {format: text}"
  } >"$dir/gateway.yaml"
  cat >"$dir/havenctl.yaml" <<EOF
# havenctl connection of $org's integration client
address: localhost:${PORT[$org]}
certificate: clients/integration.crt
private_key: clients/integration.key
ca: ca/ca.crt
gateway_id: spiffe://${DOMAIN[$org]}/gateway
EOF
  "$HAVENGATE" --config "$dir/gateway.yaml" --check-config >"$dir/check-config.log" 2>&1 ||
    { cat "$dir/check-config.log" >&2; fail "the config of $org does not validate"; }
}

start_gateway() {
  local org="$1" dir="$DEMO_DIR/$1"
  mkdir -p "$dir/data"
  rm -f "$dir/gateway.port"
  "$HAVENGATE" --config "$dir/gateway.yaml" >>"$dir/gateway.log" 2>&1 &
  PID[$org]=$!
  STARTED_PIDS+=("${PID[$org]}")
  echo "${PID[$org]}" >"$dir/gateway.pid"
}

# Waits until the gateway of `org` listens (it writes its port file then).
# Returns 1 if it exited because its port was taken meanwhile (free ports
# are picked a moment before the gateways bind them); fails otherwise.
wait_listening() {
  local org="$1" dir="$DEMO_DIR/$1" deadline=$((SECONDS + DEMO_TIMEOUT))
  until [[ -s $dir/gateway.port ]]; do
    if ! alive "${PID[$org]}"; then
      if [[ -z $DEMO_BASE_PORT ]] && grep -q "cannot listen on" "$dir/gateway.log"; then
        return 1
      fi
      fail "the gateway of $org exited at start" "$org"
    fi
    ((SECONDS < deadline)) || fail "the gateway of $org did not listen within ${DEMO_TIMEOUT}s" "$org"
    sleep 0.05
  done
}

# Starts every gateway and waits until each listens; on a taken port, stops
# them, picks new ports and tries again (three times at most).
start_federation() {
  local attempt org
  for attempt in 1 2 3; do
    for org in "${ORGS[@]}"; do start_gateway "$org"; done
    local listening=1
    for org in "${ORGS[@]}"; do
      wait_listening "$org" || { listening=0; break; }
    done
    ((listening)) && return 0
    ((attempt < 3)) || fail "the gateway of $org could not bind a free port (3 attempts)" "$org"
    info "port ${PORT[$org]} of $org was taken meanwhile; choosing new ports"
    stop_pids "${STARTED_PIDS[@]}"
    STARTED_PIDS=()
    pick_ports
    for org in "${ORGS[@]}"; do write_config "$org"; done
  done
}

# --- the demo ---------------------------------------------------------------

START_SECONDS=$SECONDS
prepare_dir
pick_ports

step "Creating five organisations in $DEMO_DIR: a CA each, gateway/client/officer certificates, policy and keys"
for org in "${ORGS[@]}"; do make_org "$org"; done
# The port and the police agreed on one pseudonymisation key for badges
# (README, "Hits and questions"): the port generated it, the police install
# the same file under the same name. Each keeps it secret from everyone else.
cp -p "$DEMO_DIR/port-rtm/policy/keys/partner-correlation-2026.key" \
  "$DEMO_DIR/police-nl/policy/keys/partner-correlation-2026.key" ||
  fail "cannot hand the shared key partner-correlation-2026 to police-nl"
info "port-rtm and police-nl share the key partner-correlation-2026 (same file under the same name in both policies)"
for org in "${ORGS[@]}"; do
  write_config "$org"
  info "$(printf '%-10s %-38s %-24s port %-5s peers: %s' "$org" "${TITLE[$org]}" "${DOMAIN[$org]}" "${PORT[$org]}" "${PEERS[$org]// /, }")"
done

step "Starting five havengate processes (logs: $DEMO_DIR/<org>/gateway.log)"
start_federation
for org in "${ORGS[@]}"; do
  info "$(printf '%-10s pid %-7s listening on 127.0.0.1:%s' "$org" "${PID[$org]}" "$(<"$DEMO_DIR/$org/gateway.port")")"
done

step "Integration clients push the sample items (deploy/samples), each with its own organisation's client certificate"
# What each client pushed is kept in pushed/: a sample may hold the provenance
# it had on arrival at a partner (its received form, for policy tests), but
# gateways fill provenance in, never clients; demo.py as-pushed drops it.
mkdir -p "$DEMO_DIR/pushed"
SAMPLES=()
declare -A SAMPLE_ORIGIN SAMPLE_ID
for sample in "$ROOT"/deploy/samples/*.json; do
  name="$(basename "$sample")"
  pushed="$DEMO_DIR/pushed/$name"
  read -r origin item_id < <("$PYTHON" "$DEMO_LIB/demo.py" as-pushed "$sample" "$pushed") ||
    fail "cannot read $sample"
  SAMPLES+=("$name")
  SAMPLE_ORIGIN[$name]="$origin"
  SAMPLE_ID[$name]="$item_id"
  [[ -n ${DOMAIN[$origin]:-} ]] || fail "$name: origin $origin is not an organisation of this demo"
  if ! output="$(ctl "$origin" push "$pushed" 2>&1)"; then
    printf '%s\n' "$output" >&2
    fail "the integration client of $origin could not push $name" "$origin"
  fi
  info "$(printf '%-10s %-32s %s' "$origin" "$name" "$(printf '%s\n' "$output" | head -n 1 | sed 's/^[^:]*: //')")"
done
[[ -n ${SAMPLE_ID[$SHOWCASE_SAMPLE]:-} ]] || fail "deploy/samples/$SHOWCASE_SAMPLE is missing"
[[ -n ${SAMPLE_ID[$RETRACT_SAMPLE]:-} ]] || fail "deploy/samples/$RETRACT_SAMPLE is missing"

step "Waiting until every share the gateways decided on is delivered (audit logs) and the inboxes are stable"
"$PYTHON" "$DEMO_LIB/demo.py" settle --havenctl "$HAVENCTL" --dir "$DEMO_DIR" \
  --timeout "$DEMO_TIMEOUT" "${ORGS[@]}" || fail "deliveries did not settle" "${ORGS[@]}"

# Each organisation's inbox as JSON lines, kept in view/ for the table.
snapshot_inboxes() {
  mkdir -p "$DEMO_DIR/view"
  local org
  for org in "${ORGS[@]}"; do
    ctl "$org" list --all --json >"$DEMO_DIR/view/$org.jsonl" ||
      fail "cannot read the inbox of $org" "$org"
  done
}
snapshot_inboxes

showcase_origin="${SAMPLE_ORIGIN[$SHOWCASE_SAMPLE]}"
columns=()
for org in "${ORGS[@]}"; do
  [[ $org == "$showcase_origin" ]] || columns+=("$org=$DEMO_DIR/view/$org.jsonl")
done
step "Side by side: what each partner of $showcase_origin received of $SHOWCASE_SAMPLE, and what it did not"
echo
"$PYTHON" "$DEMO_LIB/demo.py" side-by-side --original "$DEMO_DIR/pushed/$SHOWCASE_SAMPLE" \
  --sender "$showcase_origin" "${columns[@]}" || fail "cannot show the side-by-side table"

step "Every item: how many of its fields each organisation holds (— = nothing)"
inboxes=()
for org in "${ORGS[@]}"; do inboxes+=("$org=$DEMO_DIR/view/$org.jsonl"); done
"$PYTHON" "$DEMO_LIB/demo.py" matrix "${inboxes[@]}" --items "$DEMO_DIR"/pushed/*.json |
  sed '/./s/^/    /' || fail "cannot show which organisation received what"

step "Each organisation's inbox (havenctl items list): who sent what; FROM = the gateway it came from"
for org in "${ORGS[@]}"; do
  printf '\n  %s — %s\n' "$org" "${TITLE[$org]}"
  ctl "$org" list --all | cut -c1-160 | sed 's/^/    /' || fail "cannot list the inbox of $org" "$org"
done

step "Evidence: the audit log of $showcase_origin on what it shared with port-rtm about container MSCU4812360"
echo "    \$ havenctl audit shared --store $showcase_origin/data/gateway.db --partner port-rtm --container MSCU4812360"
"$HAVENCTL" audit shared --store "$DEMO_DIR/$showcase_origin/data/gateway.db" --partner port-rtm \
  --container MSCU4812360 | sed 's/^/    /' | "$PYTHON" "$DEMO_LIB/demo.py" wrap ||
  fail "havenctl audit shared failed"
echo "    \$ havenctl audit verify --store $showcase_origin/data/gateway.db"
"$HAVENCTL" audit verify --store "$DEMO_DIR/$showcase_origin/data/gateway.db" \
  --cert "$DEMO_DIR/$showcase_origin/gateway/gateway.crt" | sed 's/^/    /' ||
  fail "the audit log of $showcase_origin does not verify"

# --- retraction ---------------------------------------------------------------

retract_origin="${SAMPLE_ORIGIN[$RETRACT_SAMPLE]}"
retract_id="${SAMPLE_ID[$RETRACT_SAMPLE]}"
holders=()
for org in "${ORGS[@]}"; do
  [[ $org == "$retract_origin" ]] && continue
  grep -q "\"item_id\":\"$retract_id\"" "$DEMO_DIR/view/$org.jsonl" && holders+=("$org")
done
((${#holders[@]} > 0)) || fail "no partner of $retract_origin received $RETRACT_SAMPLE"
reason="scan at Maasvlakte found nothing; risk selection withdrawn"
step "Retraction: $retract_origin retracts $RETRACT_SAMPLE ($retract_id), held by ${holders[*]}"
echo "    \$ havenctl items retract $retract_id --reason \"$reason\""
ctl "$retract_origin" retract "$retract_id" --reason "$reason" | sed 's/^/    /' ||
  fail "$retract_origin could not retract $retract_id" "$retract_origin"
deadline=$((SECONDS + DEMO_TIMEOUT))
for org in "${holders[@]}"; do
  while :; do
    listed="$(ctl "$org" list --item "$retract_id" --json)" || fail "cannot read the inbox of $org" "$org"
    [[ -z $listed ]] && break
    ((SECONDS < deadline)) || fail "the retraction did not reach $org within ${DEMO_TIMEOUT}s" "$retract_origin" "$org"
    sleep 0.2
  done
  listed="$(ctl "$org" list --item "$retract_id" --retracted)" || fail "cannot read the inbox of $org" "$org"
  [[ $listed == *"[RETRACTED]"* ]] || fail "$org does not show $retract_id as retracted" "$org"
  info "$(printf '%-10s no longer lists it; items list --retracted marks it [RETRACTED]' "$org")"
done
echo "    \$ havenctl audit export --store $retract_origin/data/gateway.db  (retraction records)"
"$HAVENCTL" audit export --store "$DEMO_DIR/$retract_origin/data/gateway.db" |
  "$PYTHON" "$DEMO_LIB/demo.py" retractions || fail "cannot read the audit log of $retract_origin"

step "Summary"
"$PYTHON" "$DEMO_LIB/demo.py" summary --havenctl "$HAVENCTL" --dir "$DEMO_DIR" \
  --pushed "${#SAMPLES[@]}" "${ORGS[@]}" || fail "cannot summarise"
info "demo took $((SECONDS - START_SECONDS))s; files, logs and stores: $DEMO_DIR"

# --- hits and questions -------------------------------------------------------

act_file="$ROOT/deploy/demo/acts/insider_report_rwg.json"
act_id="$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["item_id"])' "$act_file")" ||
  fail "cannot read $act_file"
step "Hits: police-nl reports the badge holder of port-rtm's out-of-hours alert; the two items meet without the name leaving police-nl"
echo "    \$ havenctl items push deploy/demo/acts/insider_report_rwg.json   (police-nl, names Kevin Brouwer, badge RWG-20931)"
ctl police-nl push "$act_file" | sed 's/^/    /' || fail "police-nl could not push its insider report" police-nl
deadline=$((SECONDS + DEMO_TIMEOUT))
while :; do
  held="$(ctl customs-nl list --item "$act_id" --json)" || fail "cannot read the inbox of customs-nl" customs-nl
  [[ -n $held ]] && break
  ((SECONDS < deadline)) || fail "the insider report did not reach customs-nl within ${DEMO_TIMEOUT}s" police-nl customs-nl
  sleep 0.2
done
[[ $held != *"Kevin Brouwer"* && $held != *"RWG-20931"* ]] ||
  fail "customs-nl holds the badge holder's name or badge in clear"
info "customs-nl's copy holds the name and the badge only as pseudonyms (ps:...): no name, no badge in clear"
for org in customs-nl police-nl; do
  echo "    \$ havenctl hits list   ($org; the hits on the report)"
  "$HAVENCTL" hits list --connection "$DEMO_DIR/$org/havenctl.yaml" > "$DEMO_DIR/view/$org.hits" ||
    fail "cannot list the hits of $org" "$org"
  head -n 1 "$DEMO_DIR/view/$org.hits" | sed 's/^/    /'
  grep -F "$act_id" "$DEMO_DIR/view/$org.hits" | sed 's/^/    /' ||
    fail "no hit on the insider report at $org" police-nl "$org"
done

step "Hit/no-hit: customs-nl asks its partners whether they hold anything on container SUDU5529172"
echo "    \$ havenctl hits ask --container SUDU5529172 --case HARC-2026-311   (customs-nl)"
"$HAVENCTL" hits ask --container SUDU5529172 --case HARC-2026-311 \
  --connection "$DEMO_DIR/customs-nl/havenctl.yaml" | sed 's/^/    /' ||
  fail "customs-nl could not ask its partners" customs-nl police-nl port-rtm police-be
echo "    \$ havenctl audit export --store police-nl/data/gateway.db   (the question, as police-nl audited it)"
"$HAVENCTL" audit export --store "$DEMO_DIR/police-nl/data/gateway.db" |
  grep -F '"HIT_QUESTION_ANSWERED"' | tail -n 1 | sed 's/^/    /' | "$PYTHON" "$DEMO_LIB/demo.py" wrap ||
  fail "police-nl did not audit the question"

# --- a request for a withheld field ----------------------------------------

step "Requests: customs-nl asks police-nl for the suspect's date of birth, which police-nl's policy withholds from it; two police-nl officers approve"
# A second officer of police-nl: approvals need two distinct officers.
"$HAVENCTL" pki issue --ca-dir "$DEMO_DIR/police-nl/ca" --role officer --name deputy-officer \
  --out "$DEMO_DIR/police-nl/officers" >>"$DEMO_DIR/police-nl/pki.log" 2>&1 ||
  fail "cannot issue a second officer certificate for police-nl"
for officer in duty-officer deputy-officer; do
  cat >"$DEMO_DIR/police-nl/$officer.yaml" <<EOF
# havenctl connection of police-nl's policy officer $officer
address: localhost:${PORT[police-nl]}
certificate: officers/$officer.crt
private_key: officers/$officer.key
ca: ca/ca.crt
gateway_id: spiffe://${DOMAIN[police-nl]}/gateway
EOF
done
echo "    \$ havenctl items request $act_id --fields persons.date_of_birth --reason \"...\" --case HARC-2026-311   (customs-nl)"
asked="$(ctl customs-nl request "$act_id" --fields persons.date_of_birth \
  --reason "the badge holder may be the driver named in our seizure file" \
  --case HARC-2026-311 --json)" || fail "customs-nl could not send its request" customs-nl police-nl
request_id="$("$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])["request_id"])' "$asked")" ||
  fail "cannot read the request id"
info "request $request_id is pending at police-nl"
echo "    \$ havenctl requests show $request_id   (police-nl, duty officer: what customs-nl asks and already has)"
"$HAVENCTL" requests show "$request_id" --connection "$DEMO_DIR/police-nl/duty-officer.yaml" |
  grep -v '^the item as held here' | sed 's/^/    /' || fail "police-nl's officer cannot see the request" police-nl
for officer in duty-officer deputy-officer; do
  echo "    \$ havenctl requests approve $request_id   (police-nl, $officer)"
  "$HAVENCTL" requests approve "$request_id" --connection "$DEMO_DIR/police-nl/$officer.yaml" |
    head -n 1 | sed 's/^/    /' || fail "police-nl's $officer could not approve" police-nl
done
deadline=$((SECONDS + DEMO_TIMEOUT))
while :; do
  sent="$("$HAVENCTL" requests list --sent --json --connection "$DEMO_DIR/customs-nl/havenctl.yaml")" ||
    fail "cannot list the requests of customs-nl" customs-nl
  [[ $sent == *'"APPROVED"'* ]] && break
  ((SECONDS < deadline)) || fail "the release did not reach customs-nl within ${DEMO_TIMEOUT}s" police-nl customs-nl
  sleep 0.2
done
echo "    \$ havenctl requests list --sent   (customs-nl: the one-off release, kept with the request, never shared onwards)"
"$PYTHON" - "$sent" "$request_id" <<'PY' || fail "cannot read the release at customs-nl"
import json, sys
for line in sys.argv[1].splitlines():
    r = json.loads(line)
    if r["request_id"] != sys.argv[2]:
        continue
    release = r["release"]
    hop = release["provenance"][-1]
    for person in release["report"]["persons"]:
        print(f"    customs-nl holds persons.date_of_birth = {person.get('date_of_birth', '')} "
              f"released on request {hop['released_on_request']} by {hop['organisation']}, "
              f"approved by {', '.join(hop['release_approvers'])}"
              + ("; no_reshare" if release["classification"].get("no_reshare") else ""))
PY
echo "    \$ havenctl audit requests --store police-nl/data/gateway.db   (who asked, who approved, what left)"
"$HAVENCTL" audit requests --store "$DEMO_DIR/police-nl/data/gateway.db" | sed 's/^/    /' ||
  fail "cannot read police-nl's audit of the request"

if ((KEEP_RUNNING)); then
  step "The federation keeps running"
  for org in "${ORGS[@]}"; do
    info "$(printf '%-10s pid %-7s localhost:%s' "$org" "${PID[$org]}" "${PORT[$org]}")"
  done
  echo
  echo "  Talk to a gateway as its integration client (the connection file holds address and certificates):"
  for org in "${ORGS[@]}"; do
    echo "    $HAVENCTL items list --connection $DEMO_DIR/$org/havenctl.yaml"
  done
  echo "    $HAVENCTL items push --connection $DEMO_DIR/police-nl/havenctl.yaml $ROOT/deploy/samples/$SHOWCASE_SAMPLE"
  echo "    $HAVENCTL items watch --connection $DEMO_DIR/customs-nl/havenctl.yaml"
  echo "  Logs: $DEMO_DIR/<org>/gateway.log; configs: $DEMO_DIR/<org>/gateway.yaml"
  echo "  Stop it:"
  echo "    $ROOT/deploy/demo/run-demo.sh --stop --dir $DEMO_DIR"
fi
