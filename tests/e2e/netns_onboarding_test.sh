#!/usr/bin/env bash
# The README's "Federate with a partner" steps, performed exactly, between two
# gateways on two hosts of their own: two network namespaces joined by a veth
# pair, police-nl at gw.police.test (10.77.0.1) and customs-nl at
# gw.customs.test (10.77.0.2). Each host has its own host name (UTS
# namespace) and its own /etc/hosts naming both; each gateway certificate
# carries its host's name and address (`havenctl pki issue --dns --ip`), and
# each gateway listens on its host's address only — nothing on 127.0.0.1.
#
#   1. each side exports its partner bundle (`havenctl peer bundle export`);
#   2. each adds the other's (`havenctl peer add`);
#   3. each names the other in its policy; police-nl pseudonymises names, so
#      `havenctl policy keygen` creates its key file;
#   4. --check-config, then a restart;
# then items pushed at each gateway arrive at the other with exactly the
# fields its policy releases (checked field by field, withheld ones absent).
#
# Needs root and `ip netns` (skipped with exit 77 otherwise). Everything it
# creates — namespaces, gateways, files — is removed on exit, failed or not.
#
#   tests/e2e/netns_onboarding_test.sh SOURCE_DIR BUILD_DIR   (ctest: netns_onboarding_e2e_test)
set -euo pipefail

SOURCE_DIR="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
BUILD_DIR="${2:-$SOURCE_DIR/build}"
HAVENCTL="$BUILD_DIR/client/havenctl"
HAVENGATE="$BUILD_DIR/server/havengate"
TIMEOUT_SECONDS=30

skip() {
  echo "SKIP: $*"
  exit 77
}
[[ $(id -u) -eq 0 ]] || skip "needs root to create network namespaces (CI runs as root)"
command -v ip >/dev/null || skip "the ip command (Debian package iproute2) is not installed"
command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"
for binary in "$HAVENCTL" "$HAVENGATE"; do
  [[ -x $binary ]] || { echo "FAIL: $binary is not built" >&2; exit 1; }
done

# Namespace names are unique per run: other runs may be going on in parallel.
NS_POLICE="hg-onb-$$-police"
NS_CUSTOMS="hg-onb-$$-customs"
ip netns add "$NS_POLICE" 2>/dev/null || skip "ip netns is unavailable here (no permission to create a network namespace)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/havengate-netns.XXXXXX")"
declare -A PID=()
cleanup() {
  local status=$?
  local org
  for org in "${!PID[@]}"; do
    kill -TERM "${PID[$org]}" 2>/dev/null || true
    wait "${PID[$org]}" 2>/dev/null || true
  done
  if ((status != 0)); then
    for org in police customs; do
      [[ -f $WORK/$org/gateway.log ]] || continue
      echo "--- $org gateway log (last 40 lines)"
      tail -n 40 "$WORK/$org/gateway.log"
    done
  fi
  ip netns del "$NS_POLICE" 2>/dev/null || true
  ip netns del "$NS_CUSTOMS" 2>/dev/null || true
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap "exit 143" TERM INT
ip netns add "$NS_CUSTOMS"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
# shellcheck source=tests/testing/checks.sh
source "$SOURCE_DIR/tests/testing/checks.sh"

# --- two hosts ---------------------------------------------------------------
declare -A NS=([police]="$NS_POLICE" [customs]="$NS_CUSTOMS")
declare -A ADDR=([police]=10.77.0.1 [customs]=10.77.0.2)
declare -A HOST=([police]=gw.police.test [customs]=gw.customs.test)
declare -A ORG=([police]=police-nl [customs]=customs-nl)
declare -A DOMAIN=([police]=police.nl.example [customs]=customs.nl.example)
PORT=7443

# The veth ends are created inside the namespaces: nothing appears in the
# host's own network namespace.
ip link add hg-veth-p netns "$NS_POLICE" type veth peer name hg-veth-c netns "$NS_CUSTOMS"
ip -n "$NS_POLICE" addr add 10.77.0.1/24 dev hg-veth-p
ip -n "$NS_CUSTOMS" addr add 10.77.0.2/24 dev hg-veth-c
for org in police customs; do
  ip -n "${NS[$org]}" link set lo up
done
ip -n "$NS_POLICE" link set hg-veth-p up
ip -n "$NS_CUSTOMS" link set hg-veth-c up

printf '127.0.0.1 localhost\n%s %s\n%s %s\n' \
  "${ADDR[police]}" "${HOST[police]}" "${ADDR[customs]}" "${HOST[customs]}" >"$WORK/hosts"

# on HOST COMMAND...: runs COMMAND on that host — in its network namespace,
# with its host name and its /etc/hosts (a private mount namespace, so the
# machine's own /etc/hosts is untouched).
# (Each step execs the next, so a command started in the background has
# the pid of $! itself: the gateway can be stopped by that pid.)
on_argv() {  # on_argv HOST: sets ON_ARGV to the command prefix for HOST
  ON_ARGV=(ip netns exec "${NS[$1]}" unshare --uts --mount --
           sh -c 'mount --bind "$1" /etc/hosts && hostname "$2" && shift 2 && exec "$@"'
           sh "$WORK/hosts" "${HOST[$1]}")
}
on() {
  local org="$1"
  shift
  on_argv "$org"
  "${ON_ARGV[@]}" "$@"
}

check "police's host is named gw.police.test" [ "$(on police hostname)" = gw.police.test ]
# resolves HOST NAME ADDRESS: on HOST, NAME resolves to ADDRESS.
resolves() { [ "$(on "$1" getent hosts "$2" | awk '{print $1}')" = "$3" ]; }
check "customs' host resolves gw.police.test to police's address" resolves customs gw.police.test 10.77.0.1
check "police's host reaches customs' address over the veth pair" \
  bash -c "ip -n '$NS_POLICE' route get 10.77.0.2 | grep -q ' dev hg-veth-p '"

# --- each organisation's gateway before federating ---------------------------
for org in police customs; do
  dir="$WORK/$org"
  mkdir -p "$dir/data"
  {
    "$HAVENCTL" pki init-ca --org "${ORG[$org]}" --domain "${DOMAIN[$org]}" --dir "$dir/ca" &&
      "$HAVENCTL" pki issue --ca-dir "$dir/ca" --role gateway --out "$dir/gateway" \
        --dns "${HOST[$org]}" --ip "${ADDR[$org]}" &&
      "$HAVENCTL" pki issue --ca-dir "$dir/ca" --role client --name integration --out "$dir/clients"
  } >"$dir/pki.log" 2>&1 || { cat "$dir/pki.log" >&2; fail "certificates for $org"; }
  cat >"$dir/gateway.yaml" <<EOF
organisation: {id: ${ORG[$org]}, domain: ${DOMAIN[$org]}}
listen: ${ADDR[$org]}:$PORT
port_file: gateway.port
tls:
  certificate: gateway/gateway.crt
  private_key: gateway/gateway.key
  ca: ca/ca.crt
  crl: ca/crl.pem
store: {path: data/gateway.db}
log: {format: text}
EOF
  cat >"$dir/havenctl.yaml" <<EOF
address: ${HOST[$org]}:$PORT
certificate: clients/integration.crt
private_key: clients/integration.key
ca: ca/ca.crt
gateway_id: spiffe://${DOMAIN[$org]}/gateway
EOF
done
sans="$(openssl x509 -noout -ext subjectAltName -in "$WORK/customs/gateway/gateway.crt")"
check "customs' gateway certificate carries its host name and address" \
  bash -c "grep -q 'DNS:gw.customs.test' <<<'$sans' && grep -q 'IP Address:10.77.0.2' <<<'$sans'"

start_gateway() {
  local org="$1" dir="$WORK/$1" deadline=$((SECONDS + TIMEOUT_SECONDS))
  rm -f "$dir/gateway.port"
  on_argv "$org"
  "${ON_ARGV[@]}" "$HAVENGATE" --config "$dir/gateway.yaml" >>"$dir/gateway.log" 2>&1 &
  PID[$org]=$!
  until [[ -s $dir/gateway.port ]]; do
    kill -0 "${PID[$org]}" 2>/dev/null || fail "the gateway of $org exited at start"
    ((SECONDS < deadline)) || fail "the gateway of $org did not listen within ${TIMEOUT_SECONDS}s"
    sleep 0.05
  done
}
stop_gateway() {
  local org="$1"
  kill -TERM "${PID[$org]}"
  wait "${PID[$org]}" || fail "the gateway of $org did not stop cleanly"
  unset "PID[$org]"
}
for org in police customs; do start_gateway "$org"; done
check "police's gateway listens on its host's address, not on loopback" \
  grep -q "gateway_started .* listen=${ADDR[police]}:$PORT" "$WORK/police/gateway.log"

# --- 1. each exports its bundle and sends it to the other --------------------
for org in police customs; do
  on "$org" "$HAVENCTL" peer bundle export --config "$WORK/$org/gateway.yaml" \
    --address "${HOST[$org]}:$PORT" --out "$WORK/$org/${ORG[$org]}.bundle" >/dev/null ||
    fail "bundle export of $org"
done
check "police's bundle names its host, not an address on loopback" \
  grep -q "address: gw.police.test:$PORT" "$WORK/police/police-nl.bundle"
check "a bundle holds no private key" bash -c "! grep -q 'PRIVATE KEY' '$WORK/police/police-nl.bundle'"

# --- 2. each checks the other's bundle and adds the partner -------------------
cp "$WORK/customs/customs-nl.bundle" "$WORK/police/"
cp "$WORK/police/police-nl.bundle" "$WORK/customs/"
on police "$HAVENCTL" peer add "$WORK/police/customs-nl.bundle" \
  --config "$WORK/police/gateway.yaml" >"$WORK/police/peer-add.out" || fail "peer add at police"
on customs "$HAVENCTL" peer add "$WORK/customs/police-nl.bundle" \
  --config "$WORK/customs/gateway.yaml" >"$WORK/customs/peer-add.out" || fail "peer add at customs"
check "peer add names the partner and prints the CA fingerprint" \
  bash -c "grep -q 'added customs-nl' '$WORK/police/peer-add.out' && grep -q 'CA fingerprint (SHA-256)' '$WORK/police/peer-add.out'"
check "police's config names customs' gateway by host name" \
  grep -q "gw.customs.test:$PORT" "$WORK/police/gateway.yaml"
check "the partner's CA was written beside the config" \
  cmp -s "$WORK/police/peers/customs-nl/ca.crt" "$WORK/customs/ca/ca.crt"

# --- 3. each names the other in its policy ------------------------------------
# police-nl releases to customs-nl an alert's category, severity, title,
# containers' numbers and persons' names pseudonymised — not the description,
# location, badges or reporter. customs-nl releases a report's title and
# summary, not its assessment. Each accepts from the other what the other sends.
cat >"$WORK/police/policy.yaml" <<'EOF'
organisation: police-nl
version: "netns-onboarding-1"
partners: [{id: customs-nl}]
keys:
  - {name: correlation, file: keys/correlation.key}
rules:
  - name: alerts-to-customs
    to: [customs-nl]
    kinds: [ALERT]
    share: [category, severity, title, containers.number, persons.name]
    transform:
      persons.name: {pseudonymise: {key: correlation}}
inbound: {accept: [{from: [customs-nl], kinds: [REPORT]}]}
EOF
cat >"$WORK/customs/policy.yaml" <<'EOF'
organisation: customs-nl
version: "netns-onboarding-1"
partners: [{id: police-nl}]
rules:
  - {name: reports-to-police, to: [police-nl], kinds: [REPORT], share: [title, summary]}
inbound: {accept: [{from: [police-nl], kinds: [ALERT]}]}
EOF
on police "$HAVENCTL" policy keygen "$WORK/police/policy.yaml" >/dev/null || fail "policy keygen at police"
check "policy keygen created the pseudonymisation key owner-only" \
  [ "$(stat -c %a "$WORK/police/keys/correlation.key")" = 600 ]
for org in police customs; do
  echo "policy: policy.yaml" >>"$WORK/$org/gateway.yaml"
done

# --- 4. check, then restart ---------------------------------------------------
for org in police customs; do stop_gateway "$org"; done
for org in police customs; do
  on "$org" "$HAVENGATE" --config "$WORK/$org/gateway.yaml" --check-config \
    >"$WORK/$org/check-config.out" 2>&1 ||
    { cat "$WORK/$org/check-config.out" >&2; fail "--check-config of $org"; }
done
for org in customs police; do start_gateway "$org"; done

# --- items cross between the hosts --------------------------------------------
cat >"$WORK/alert.json" <<'EOF'
{
  "item_id": "01JDQNETNS0ALERT0000000001",
  "version": 1,
  "origin": "police-nl",
  "created_at": "2026-12-07T06:00:00Z",
  "classification": {"tlp": "AMBER", "handling_code": "H1"},
  "alert": {
    "category": "PIN_CODE_FRAUD",
    "severity": "HIGH",
    "title": "Container released with a stolen PIN",
    "description": "Informant reports the PIN was sold at the terminal gate.",
    "location": {"unlocode": "NLRTM", "terminal": "ECT Delta"},
    "containers": [{"number": "MSCU4812360", "terminal": "ECT Delta", "pin_release_status": "PIN_ISSUED"}],
    "persons": [{"name": "Jan Jansen", "badge_id": "ECT-4471", "role": "EMPLOYEE"}],
    "reporter": {"name": "Duty officer", "unit": "Seaport police", "contact": "+31 10 000 0001"}
  }
}
EOF
cat >"$WORK/report.json" <<'EOF'
{
  "item_id": "01JDQNETNS0REPORT000000001",
  "version": 1,
  "origin": "customs-nl",
  "created_at": "2026-12-07T06:05:00Z",
  "classification": {"tlp": "GREEN"},
  "report": {
    "title": "Weekly reefer inspections",
    "summary": "Two reefers held for inspection.",
    "assessment": "Likely the same broker as in November."
  }
}
EOF
on police "$HAVENCTL" items push "$WORK/alert.json" --connection "$WORK/police/havenctl.yaml" \
  >"$WORK/push-alert.out" 2>&1 || { cat "$WORK/push-alert.out" >&2; fail "push at police"; }
on customs "$HAVENCTL" items push "$WORK/report.json" --connection "$WORK/customs/havenctl.yaml" \
  >"$WORK/push-report.out" 2>&1 || { cat "$WORK/push-report.out" >&2; fail "push at customs"; }

# wait_for_item ORG ITEM_ID OUT: the entry of ITEM_ID in ORG's inbox
# (`havenctl items list --json`, on ORG's host), written to OUT.
wait_for_item() {
  local org="$1" item="$2" out="$3" deadline=$((SECONDS + TIMEOUT_SECONDS))
  while ((SECONDS < deadline)); do
    if on "$org" "$HAVENCTL" items list --json --connection "$WORK/$org/havenctl.yaml" \
      >"$out.all" 2>/dev/null && grep -q "\"$item\"" "$out.all"; then
      grep "\"$item\"" "$out.all" >"$out"
      return 0
    fi
    sleep 0.2
  done
  return 1
}
wait_for_item customs 01JDQNETNS0ALERT0000000001 "$WORK/customs-received.json" ||
  fail "the alert pushed at police did not reach customs within ${TIMEOUT_SECONDS}s"
wait_for_item police 01JDQNETNS0REPORT000000001 "$WORK/police-received.json" ||
  fail "the report pushed at customs did not reach police within ${TIMEOUT_SECONDS}s"

# Field by field: what each received, and that nothing else came.
python3 - "$WORK/customs-received.json" "$WORK/police-received.json" <<'EOF' || FAILURES=$((FAILURES + 1))
import json, sys

failures = 0
def check(what, ok):
    global failures
    print(("ok:   " if ok else "FAIL: ") + what)
    failures += 0 if ok else 1

alert_entry = json.loads(open(sys.argv[1]).readline())
check("customs received the alert from police-nl", alert_entry.get("received_from") == "police-nl")
item = alert_entry["item"]
check("the envelope travels (origin, version, TLP)",
      item.get("origin") == "police-nl" and int(item.get("version", 0)) == 1
      and item.get("classification", {}).get("tlp") == "AMBER")
alert = item["alert"]
check("category released", alert.get("category") == "PIN_CODE_FRAUD")
check("severity released", alert.get("severity") == "HIGH")
check("title released", alert.get("title") == "Container released with a stolen PIN")
containers = alert.get("containers", [])
check("one container, its number only",
      containers == [{"number": "MSCU4812360"}])
persons = alert.get("persons", [])
check("one person, the name only", len(persons) == 1 and set(persons[0]) == {"name"})
name = persons[0].get("name", "") if persons else ""
check("the name is a pseudonym, not the name", name.startswith("ps:") and "Jan" not in name)
for withheld in ("description", "location", "reporter"):
    check(f"{withheld} withheld (absent)", withheld not in alert)
text = json.dumps(alert_entry)
for secret in ("Informant", "ECT-4471", "Jan Jansen", "+31 10 000 0001", "ECT Delta"):
    check(f"no withheld value '{secret}' anywhere in what customs holds", secret not in text)
check("the alert carries only released fields",
      set(alert) <= {"category", "severity", "title", "containers", "persons"})

report_entry = json.loads(open(sys.argv[2]).readline())
check("police received the report from customs-nl", report_entry.get("received_from") == "customs-nl")
report = report_entry["item"]["report"]
check("report title released", report.get("title") == "Weekly reefer inspections")
check("report summary released", report.get("summary") == "Two reefers held for inspection.")
check("report assessment withheld (absent)", "assessment" not in report
      and "broker" not in json.dumps(report_entry))
sys.exit(1 if failures else 0)
EOF

# The link runs over the veth pair: police's gateway holds a connection from
# its host's address to customs' gateway.
link_over_veth() {
  ip netns exec "$NS_POLICE" ss -Htn state established \
    "( src ${ADDR[police]} and dst ${ADDR[customs]}:$PORT )" | grep -q .
}
check "police's link to customs runs from 10.77.0.1 to 10.77.0.2:$PORT" link_over_veth

# havenctl health on police's host: customs-nl's link is up and its CRL,
# fetched from customs over the veth pair, is fresh.
health_shows_customs_fresh() {
  local deadline=$((SECONDS + TIMEOUT_SECONDS)) out
  while ((SECONDS < deadline)); do
    out="$(on police "$HAVENCTL" health --json --connection "$WORK/police/havenctl.yaml" 2>/dev/null)" || true
    if grep -q '"partner":"customs-nl","connected":true,' <<<"$out" &&
      grep -q '"crl":"fresh"' <<<"$out"; then
      return 0
    fi
    sleep 0.2
  done
  echo "$out"
  return 1
}
check "havenctl health at police: customs-nl's link up, its CRL fetched and fresh" \
  health_shows_customs_fresh

echo
if ((FAILURES > 0)); then
  echo "$FAILURES check(s) failed"
  exit 1
fi
echo "all checks passed: two hosts federated with the README's steps"
