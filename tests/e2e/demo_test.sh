#!/usr/bin/env bash
# The README's main-job demo (deploy/demo/run-demo.sh), run against the build
# tree so it cannot silently rot:
#   1. a normal run: it succeeds, shows what each partner received of the
#      PIN-code fraud alert field by field, the inboxes, the audit evidence
#      and the retraction, and leaves no gateway of its own running;
#   2. the annotated deploy/gateway.example.yaml, pointed at the files of
#      that run, validates and starts a gateway;
#   3. --keep-running leaves five gateways that answer havenctl, a second
#      run refuses to wipe them, and --stop stops them all.
#
#   tests/e2e/demo_test.sh SOURCE_DIR BUILD_DIR   (ctest: demo_e2e_test)
set -euo pipefail

SOURCE_DIR="${1:-${HAVENGATE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}}"
BUILD_DIR="${2:-${HAVENGATE_BINARY_DIR:-$SOURCE_DIR/build}}"
DEMO="$SOURCE_DIR/deploy/demo/run-demo.sh"
HAVENCTL="$BUILD_DIR/client/havenctl"
HAVENGATE="$BUILD_DIR/server/havengate"
export BUILD_DIR

WORK="$(mktemp -d "${TMPDIR:-/tmp}/havengate-demo-test.XXXXXX")"
EXAMPLE_PID=
cleanup() {
  local status=$?
  # Whatever failed: stop what this test left running, by pid.
  if [[ -n $EXAMPLE_PID ]]; then
    kill -TERM "$EXAMPLE_PID" 2>/dev/null || true
    wait "$EXAMPLE_PID" 2>/dev/null || true
  fi
  if [[ -d $WORK/kept ]]; then "$DEMO" --stop --dir "$WORK/kept" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT

# shellcheck source=tests/testing/checks.sh
source "$SOURCE_DIR/tests/testing/checks.sh"
# has_line FILE REGEX: some line of FILE matches the extended regex.
has_line() { grep -Eq -- "$2" "$1"; }
# section FILE ORG: the inbox listing of ORG in the demo output.
section() { awk -v head="  $2 — " 'index($0, head) == 1 {on = 1; next} on && /^$/ {exit} on' "$1"; }
# inbox_has FILE ORG REGEX / inbox_lacks FILE ORG TEXT / inbox_size FILE ORG N
inbox_has() { section "$1" "$2" | grep -Eq -- "$3"; }
inbox_lacks() { ! section "$1" "$2" | grep -qF -- "$3"; }
inbox_size() { [[ "$(section "$1" "$2" | grep -c ' 01J')" -eq $3 ]]; }
# refused_while_running FILE STATUS: the run failed, saying why.
refused_while_running() { [[ $2 -ne 0 ]] && grep -q 'still running' "$1"; }
# The pids of havengate processes whose config lies under DIR.
gateways_under() {
  local dir="$1" cmdline pid
  for pid in /proc/[0-9]*; do
    cmdline="$(tr '\0' ' ' <"$pid/cmdline" 2>/dev/null)" || continue
    [[ $cmdline == *havengate*"--config $dir/"* ]] && echo "${pid#/proc/}"
  done
  return 0
}
no_gateways_under() { [[ -z "$(gateways_under "$1")" ]]; }

PIN=01JDQ8Z6V3K4M5N6P7Q8R9S0T1
REPORT=01JDQE5Q0S3V6X8Z1B4D7F9H2K
BADGE_ALERT=01JDQC7H2K9P4S6V8X1Z3B5D7G
HITS_REPORT=01JDR2HITS0INSIDER0RWG20931

# --- 1. a normal run ---------------------------------------------------------
OUT="$WORK/demo.out"
status=0
"$DEMO" --dir "$WORK/demo" >"$OUT" 2>&1 || status=$?
cat "$OUT"
echo "--- checks"
check "the demo exits 0" [ "$status" -eq 0 ]
check "five gateways listen" [ "$(grep -c 'listening on 127.0.0.1:' "$OUT")" -eq 5 ]
check "seven sample items pushed and accepted" [ "$(grep ' accepted 01' "$OUT" | grep -vc 'acts/')" -eq 7 ]
check "deliveries settle" has_line "$OUT" '^    settled after '
check "the table has a column per partner, police-ec included" \
  has_line "$OUT" '^ +police-nl \(sent\) +customs-nl +port-rtm +police-be +police-ec *$'
check "persons[0].name: customs-nl gets the name, port-rtm nothing, Antwerp and Guayaquil a pseudonym" \
  has_line "$OUT" '^persons\[0\]\.name +Dennis van Oost… +Dennis van Oost… +withheld +pseudonymised +pseudonymised *$'
check "identity documents reach no partner" \
  has_line "$OUT" '^persons\[0\]\.document_number +NX4R7K2P9 +withheld +withheld +withheld +withheld *$'
check "the informant (source) reaches no partner" \
  has_line "$OUT" '^source\.reference +CI-RTM-0412 +withheld +withheld +withheld +withheld *$'
check "the badge reaches customs-nl and port-rtm only" \
  has_line "$OUT" '^persons\[1\]\.badge_id +ECT-77120 +ECT-77120 +ECT-77120 +withheld +withheld *$'
check "port-rtm's position is rounded" has_line "$OUT" '^location\.position\.latitude +51\.951287 +51\.951287 +rounded 51\.951 '
check "Antwerp's time is truncated to the hour, port-rtm's to the minute" \
  has_line "$OUT" '^observed_at +11-28 03:17:45Z +11-28 03:17:45Z +to minute 03:17 +to hour 03:00 +withheld$'
check "Guayaquil gets identifiers only" \
  has_line "$OUT" '^vessels\[0\]\.imo +IMO9482316 +IMO9482316 +withheld +IMO9482316 +IMO9482316 *$'
check "every partner received it from police-nl under its policy version" \
  has_line "$OUT" '^received from +— +police-nl +police-nl +police-nl +police-nl *$'
check "the TLP:RED insider case reaches customs-nl only" \
  has_line "$OUT" '^    insider_red_h2\.json \(police-nl\) +origin +[0-9]+/20 fields +— +— +—$'
check "the PIN alert reaches all four partners" \
  has_line "$OUT" '^    pin_code_fraud_rtm\.json \(police-nl\) +origin( +[0-9]+/42 fields){4}$'
check "customs-nl's inbox holds the PIN alert from police-nl" \
  inbox_has "$OUT" customs-nl "police-nl +police-nl +$PIN "
check "police-ec's inbox holds the PIN alert" inbox_has "$OUT" police-ec " $PIN "
check "police-ec's inbox holds nothing else" inbox_size "$OUT" police-ec 1
check "port-rtm's inbox lacks the intelligence report" inbox_lacks "$OUT" port-rtm "$REPORT"
check "police-be's inbox holds the report" inbox_has "$OUT" police-be " $REPORT "
check "audit evidence of the port-rtm decision" has_line "$OUT" "SHARE_DECIDED +police-nl/$PIN .* released;"
check "audit evidence of the port-rtm delivery" has_line "$OUT" "ITEM_DELIVERED +police-nl/$PIN "
check "the audit log verifies" has_line "$OUT" 'OK: the audit log is intact'
for org in police-nl port-rtm police-be; do
  check "the retraction reached $org" has_line "$OUT" "^    $org +no longer lists it"
done
check "the retraction was delivered (audit)" [ "$(grep -c 'ITEM_DELIVERED .* retraction delivered' "$OUT")" -eq 3 ]
check "summary" has_line "$OUT" '^    7 items pushed by integration clients$'
check "hits act: customs-nl's copy of the insider report holds no name or badge in clear" \
  has_line "$OUT" "^    customs-nl's copy holds the name and the badge only as pseudonyms"
for org in customs-nl police-nl; do
  check "hits act: $org meets the report and the port's badge alert on the pseudonymised badge" \
    has_line "$OUT" "^    [0-9]+ +BADGE_ID +ps:[0-9a-f]{32} +police-nl/$HITS_REPORT v1 .*port-rtm/$BADGE_ALERT v1"
done
check "hits act: customs-nl meets them on the container" \
  has_line "$OUT" "^    [0-9]+ +CONTAINER_NUMBER +SUDU5529172 +police-nl/$HITS_REPORT v1 .*port-rtm/$BADGE_ALERT v1"
check "hits act: police-nl answers the container question with references and its contact" \
  has_line "$OUT" "^      police-nl +HIT .*police-nl/$HITS_REPORT.*contact: Seaport Police Rotterdam"
check "hits act: port-rtm answers no questions (its policy has no answer rules)" \
  has_line "$OUT" "^      port-rtm +REFUSED .*does not answer container_number questions from customs-nl"
check "hits act: police-nl audited the question" has_line "$OUT" 'HIT_QUESTION_ANSWERED'
check "requests act: customs-nl holds the released date of birth, marked released on request, approved by two officers, no_reshare" \
  has_line "$OUT" '^    customs-nl holds persons\.date_of_birth = 1994-02-11 released on request rq-[0-9a-f]{24} by police-nl, approved by spiffe://[^ ]+/officer/duty-officer, spiffe://[^ ]+/officer/deputy-officer; no_reshare$'
check "requests act: police-nl audited the release outside the policy" \
  has_line "$OUT" 'FIELD_RELEASED_ON_REQUEST .*released: persons\.date_of_birth'
check "the demo stopped its gateways" has_line "$OUT" 'all stopped'
check "no havengate of the demo is left running" no_gateways_under "$WORK/demo"
check "no pid files left" [ -z "$(find "$WORK/demo" -name gateway.pid)" ]

# --- 2. the example config -------------------------------------------------------
EXAMPLE="$WORK/example"
mkdir -p "$EXAMPLE/var"
sed -e "s#/etc/havengate/#$WORK/demo/police-nl/#g" -e "s#/var/lib/havengate/#$EXAMPLE/var/#g" \
  -e "s#/run/havengate/#$EXAMPLE/#g" -e 's#^listen: .*#listen: 127.0.0.1:0#' \
  -e 's#^  listen: 127.0.0.1:9443#  listen: 127.0.0.1:0#' \
  "$SOURCE_DIR/deploy/gateway.example.yaml" >"$EXAMPLE/gateway.yaml"
check "deploy/gateway.example.yaml validates" "$HAVENGATE" --config "$EXAMPLE/gateway.yaml" --check-config
"$HAVENGATE" --config "$EXAMPLE/gateway.yaml" >"$EXAMPLE/gateway.log" 2>&1 &
EXAMPLE_PID=$!
for _ in $(seq 200); do
  [[ -s $EXAMPLE/gateway.port ]] || ! kill -0 "$EXAMPLE_PID" 2>/dev/null && break
  sleep 0.05
done
check "a gateway starts with deploy/gateway.example.yaml" [ -s "$EXAMPLE/gateway.port" ]
kill -TERM "$EXAMPLE_PID" 2>/dev/null || true
wait "$EXAMPLE_PID" 2>/dev/null || true
EXAMPLE_PID=
[[ -s $EXAMPLE/gateway.port ]] || cat "$EXAMPLE/gateway.log"

# --- 3. --keep-running and --stop ------------------------------------------------
KEPT="$WORK/kept"
OUT2="$WORK/kept.out"
status=0
"$DEMO" --keep-running --dir "$KEPT" >"$OUT2" 2>&1 || status=$?
check "--keep-running exits 0" [ "$status" -eq 0 ]
check "--keep-running says how to stop" has_line "$OUT2" "run-demo.sh --stop --dir $KEPT\$"
check "--keep-running leaves five gateways running" [ "$(gateways_under "$KEPT" | wc -l)" -eq 5 ]
check "a kept gateway answers havenctl" \
  has_line <("$HAVENCTL" items list --connection "$KEPT/police-ec/havenctl.yaml" 2>&1) " $PIN "
status=0
"$DEMO" --dir "$KEPT" >"$WORK/again.out" 2>&1 || status=$?
check "a second run refuses while the federation runs" refused_while_running "$WORK/again.out" "$status"
check "the refused run stopped nothing" [ "$(gateways_under "$KEPT" | wc -l)" -eq 5 ]
check "--stop stops them" "$DEMO" --stop --dir "$KEPT"
check "no havengate of the kept federation is left running" no_gateways_under "$KEPT"

if ((FAILURES > 0)); then
  echo "demo_test: $FAILURES check(s) failed"
  [[ -s $OUT2 ]] && { echo "--- the --keep-running run:"; tail -n 40 "$OUT2"; }
  exit 1
fi
echo "demo_test: all checks passed"
