#!/usr/bin/env bash
# testssl.sh (Debian package testssl.sh) against a real havengate gateway:
# protocols, cipher suites and their order, forward secrecy, the server
# certificate, known TLS vulnerabilities. Slow (a few minutes), so it is a
# documented manual command, not a ctest test; tests/tls/README.md records
# what it found. Its output goes to standard output and, as JSON, to
# testssl.json in OUT_DIR (default: the current directory).
#
#   tests/tls/run-testssl.sh [SOURCE_DIR [BUILD_DIR [OUT_DIR]]]
#
# testssl 3.0.8 (Debian 12) cannot present a client certificate (its
# --mtls option came later), and the gateway requires one: with TLS 1.2
# the server ends each handshake after its CertificateRequest, with TLS 1.3
# after the client's Finished. testssl reads protocols, suites, the server
# certificate and key exchange from the server's first flight, so those
# findings stand; checks that need a completed handshake (HTTP headers,
# session resumption, renegotiation on an open connection) come out as
# "not tested" or as a connection error, which is what any client without
# a certificate of a trusted CA gets.
set -euo pipefail

SOURCE_DIR="${1:-${HAVENGATE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}}"
BUILD_DIR="${2:-${HAVENGATE_BINARY_DIR:-$SOURCE_DIR/build}}"
OUT_DIR="${3:-$PWD}"
TESTSSL="$(command -v testssl || command -v testssl.sh || true)"
if [[ -z $TESTSSL ]]; then
  echo "testssl is not installed: apt-get install testssl.sh" >&2
  exit 2
fi
# shellcheck source=tests/tls/tls_gateway.sh
source "$SOURCE_DIR/tests/tls/tls_gateway.sh"

tls_make_pki
tls_start_gateway
echo "gateway on 127.0.0.1:$GW_PORT; running $("$TESTSSL" --version 2>/dev/null |
  grep -o 'testssl.sh *[0-9][0-9.a-z-]*' | head -1 || echo testssl)"
mkdir -p "$OUT_DIR"
rm -f "$OUT_DIR/testssl.json"
status=0
"$TESTSSL" --quiet --color 0 --warnings off --openssl-timeout 10 \
  --add-ca "$WORK/ca/ca.crt" --jsonfile "$OUT_DIR/testssl.json" \
  --ip 127.0.0.1 "localhost:$GW_PORT" || status=$?
echo "testssl exit status: $status (JSON: $OUT_DIR/testssl.json)"
