#!/usr/bin/env bash
# The main job: builds havengate, then runs the local demo (see
# deploy/demo/run-demo.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/deploy/setup.sh"
exec "$ROOT/deploy/demo/run-demo.sh" "$@"
