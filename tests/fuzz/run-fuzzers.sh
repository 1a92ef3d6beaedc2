#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (ASan + UBSan + coverage) into
# build-fuzz/ and fuzzes each for MINUTES minutes (README.md).
#
#   tests/fuzz/run-fuzzers.sh                  # every target, 10 minutes each
#   tests/fuzz/run-fuzzers.sh 30 projection    # one target, 30 minutes
#   JOBS=2 tests/fuzz/run-fuzzers.sh 10        # two targets at a time
#
# Targets: policy condition item_json projection. The seed corpus
# tests/fuzz/corpus/<target>/ is read, never written; new inputs go to
# build-fuzz/fuzz/corpus/<target>/ (kept between runs), crashes to
# build-fuzz/fuzz/artifacts/<target>/, logs to build-fuzz/fuzz/<target>.log.
# Exits non-zero if any target found a crash, leak or timeout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-fuzz}"
JOBS="${JOBS:-1}"
MINUTES="${1:-10}"
shift || true
TARGETS=("$@")
if [[ ${#TARGETS[@]} -eq 0 ]]; then TARGETS=(policy condition item_json projection); fi
if ! [[ "$MINUTES" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 [MINUTES] [TARGET...]" >&2
  exit 2
fi

if ! command -v clang++-14 >/dev/null; then
  echo "clang++-14 is missing: apt-get install -y clang-14 libclang-rt-14-dev" >&2
  exit 2
fi

cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  -DHAVENGATE_FUZZ=ON -DHAVENGATE_BENCHMARKS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target "${TARGETS[@]/#/fuzz_}"

OUT="$BUILD_DIR/fuzz"
fuzz_one() {
  local target="$1"
  local corpus="$OUT/corpus/$target" artifacts="$OUT/artifacts/$target/"
  local dict=() log="$OUT/$target.log"
  mkdir -p "$corpus" "$artifacts"
  [[ -f "$ROOT/tests/fuzz/dict/$target.dict" ]] && dict=(-dict="$ROOT/tests/fuzz/dict/$target.dict")
  echo "fuzzing $target for $MINUTES min (log: $log)"
  # -timeout: one input over 10 s is a finding (a hang); -rss_limit_mb: so
  # is a process over 2 GiB.
  if "$BUILD_DIR/tests/fuzz/fuzz_$target" -max_total_time=$((MINUTES * 60)) \
      -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$artifacts" "${dict[@]}" \
      "$corpus" "$ROOT/tests/fuzz/corpus/$target" </dev/null >"$log" 2>&1; then
    echo "$target: $(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}') executions, no finding"
  else
    echo "$target: FINDING after $(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}') executions; see $log and $artifacts" >&2
    return 1
  fi
}

status=0
running=0
for target in "${TARGETS[@]}"; do
  fuzz_one "$target" &
  running=$((running + 1))
  if [[ $running -ge $JOBS ]]; then
    wait -n || status=1
    running=$((running - 1))
  fi
done
while [[ $running -gt 0 ]]; do
  wait -n || status=1
  running=$((running - 1))
done
exit $status
