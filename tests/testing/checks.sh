# The shell tests' check: one "ok:" or "FAIL:" line per check, failures
# counted in FAILURES so a test reports every failed check before it exits.
#
#   source "$SOURCE_DIR/tests/testing/checks.sh"
#   check "the gateway listens" grep -q gateway_started "$LOG"
#   ((FAILURES == 0)) || exit 1
FAILURES=0
check() {  # check DESCRIPTION COMMAND...
  local what="$1"
  shift
  if "$@"; then
    echo "ok:   $what"
  else
    echo "FAIL: $what"
    FAILURES=$((FAILURES + 1))
  fi
}
