#!/usr/bin/env bash
# Builds havengate with sanitizers and runs the tests under them.
#
#   tests/run-sanitized.sh address        # ASan + UBSan, every test, in build-asan/
#   tests/run-sanitized.sh thread         # TSan, the concurrency tests, in build-tsan/
#   tests/run-sanitized.sh address -R Store   # extra arguments go to ctest
#
# address: -fsanitize=address,undefined (LeakSanitizer included), UBSan
#   fatal. Every test, also the end-to-end ones: their gateway and havenctl
#   processes are built the same way.
# thread: -fsanitize=thread on what runs threads against each other: the
#   unit tests (label unit: store, audit checkpointer, policy holder,
#   limits, metrics, CA...), the policy engine's concurrent decisions, and
#   the end-to-end tests (label e2e) whose gateways serve concurrent RPCs,
#   relays and reloads. The policy corpus, fuzz replays, TLS checks and
#   benchmarks are single-threaded or measure, and are left out.
#
# Sanitizer reports of every process (tests and the gateways they start) are
# written to <build>/sanitizer-logs/; the run fails if ctest fails or any
# report was written. Debian's gRPC, protobuf and Abseil are not
# instrumented: ASan and UBSan do not see inside them, and TSan does not see
# synchronisation done inside them (tests/tsan.supp lists what that
# produces, each entry with its reason). Results, durations and findings:
# tests/SANITIZERS.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE="${1:-}"
shift || true
case "$MODE" in
  address)
    BUILD_DIR="${BUILD_DIR:-$ROOT/build-asan}"
    RUNS=("")
    ;;
  thread)
    BUILD_DIR="${BUILD_DIR:-$ROOT/build-tsan}"
    # Every unit test (cheap, and a suite that starts a thread later is
    # covered without editing this list), the policy engine's concurrent
    # decisions, then every end-to-end test.
    RUNS=("-L ^unit$"
          "-R ^EngineTest\\.ConcurrentDecisionsAgree$"
          "-L ^e2e$")
    ;;
  *)
    echo "usage: $0 address|thread [ctest arguments...]" >&2
    exit 2
    ;;
esac

cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DHAVENGATE_SANITIZE="$MODE" -DHAVENGATE_BENCHMARKS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"

LOGS="$BUILD_DIR/sanitizer-logs"
rm -rf "$LOGS"
mkdir -p "$LOGS"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$LOGS/ubsan"
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$LOGS/asan"
export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1:suppressions=$ROOT/tests/tsan.supp:log_path=$LOGS/tsan"

status=0
for run in "${RUNS[@]}"; do
  # shellcheck disable=SC2086 # $run is a list of ctest arguments
  (cd "$BUILD_DIR" && ctest --output-on-failure --timeout 1800 -j "$(nproc)" $run "$@") ||
    status=$?
done

# Reports written by processes whose exit status no test looked at.
reports=$(find "$LOGS" -type f -size +0 | sort)
if [[ -n "$reports" ]]; then
  echo "sanitizer reports:" >&2
  for report in $reports; do
    echo "== $report" >&2
    grep -E "^(SUMMARY|==[0-9]+==ERROR|WARNING: ThreadSanitizer)|runtime error" "$report" >&2 || head -5 "$report" >&2
  done
  status=1
fi
exit $status
