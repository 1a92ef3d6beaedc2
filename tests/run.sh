#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit, policy corpus,
# end-to-end with real gateway processes and certificates). This is what CI
# runs (.ci/run).
#
#   tests/run.sh                 # everything
#   tests/run.sh -L e2e          # extra arguments go to ctest
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"

"$ROOT/deploy/setup.sh"
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 900 -j "$(nproc)" "$@"
