#!/usr/bin/env bash
# The TLS of a real havengate gateway, checked from outside with the openssl
# command line tool (ctest: tls_checks, label tls):
#   1. protocols: TLS 1.0 and 1.1 refused by the server, TLS 1.2 accepted,
#      TLS 1.3 accepted and chosen when the client offers both;
#   2. cipher suites: of every TLS 1.2 suite OpenSSL knows, only ECDHE with
#      an AEAD cipher is accepted (forward secret); TLS 1.3 suites all are;
#   3. client certificates: none, expired, not yet valid, wrong key usage,
#      self-signed, unknown CA, revoked, missing SAN, foreign SAN — each is
#      refused before the server speaks HTTP/2 at all (so before any
#      handler could run), and, where a certificate was presented, logged
#      with its reason; also a client certificate from a peer's CA (a peer
#      may only connect as its gateway);
#   4. HTTP/2 limits an authenticated client is held to: the server's
#      SETTINGS (100 concurrent streams, 16 KiB of headers) and GOAWAY
#      ENHANCE_YOUR_CALM for a ping flood (keepalive enforcement). A control certificate made the same way (openssl ca,
#      nothing wrong) is accepted, so each refusal is the defect's doing.
# Certificates come from `havenctl pki` where it can make them, from
# `openssl ca` / `openssl req` where it (rightly) refuses.
#
#   tests/tls/run-tls-checks.sh [SOURCE_DIR [BUILD_DIR]]
set -euo pipefail

SOURCE_DIR="${1:-${HAVENGATE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}}"
BUILD_DIR="${2:-${HAVENGATE_BINARY_DIR:-$SOURCE_DIR/build}}"
# shellcheck source=tests/tls/tls_gateway.sh
source "$SOURCE_DIR/tests/tls/tls_gateway.sh"

# shellcheck source=tests/testing/checks.sh
source "$SOURCE_DIR/tests/testing/checks.sh"

tls_make_pki
tls_make_bad_certs
tls_start_gateway
echo "gateway on 127.0.0.1:$GW_PORT (work: $WORK)"
GOOD_CERT="$WORK/clients/integration.crt"
GOOD_KEY="$WORK/clients/integration.key"
BAD="$WORK/openssl"

# handshake ARGS...: one TLS handshake with the good client certificate;
# prints "<protocol> <cipher>" ("(NONE) (NONE)" if it failed) and leaves
# s_client's output in $WORK/s_client.out.
handshake() {
  timeout 20 openssl s_client -connect "127.0.0.1:$GW_PORT" -servername localhost \
    -alpn h2 -cert "$GOOD_CERT" -key "$GOOD_KEY" "$@" </dev/null \
    >"$WORK/s_client.out" 2>&1 || true
  sed -n 's/^New, \([^,]*\), Cipher is \(.*\)$/\1 \2/p' "$WORK/s_client.out" | head -1
}
# The client sent its ClientHello (so it did offer the protocol) and the
# server ended the handshake: an alert, or closing without a byte.
refused_by_server() {
  grep -Eq 'alert protocol version|handshake has read 0 bytes and written [1-9]' \
    "$WORK/s_client.out"
}

# --- 1. protocols ------------------------------------------------------------
# SECLEVEL=0: the client must really offer the old protocol, so that a
# refusal is the server's.
for version in tls1 tls1_1; do
  result="$(handshake "-$version" -cipher 'DEFAULT@SECLEVEL=0')"
  check "$version is refused by the server (got: ${result:-nothing})" \
    eval '[[ $result == "(NONE) (NONE)" || -z $result ]] && refused_by_server'
done
result="$(handshake -tls1_2)"
check "TLS 1.2 is accepted (got: $result)" [ "${result%% *}" = TLSv1.2 ]
result="$(handshake -tls1_3)"
check "TLS 1.3 is accepted (got: $result)" [ "${result%% *}" = TLSv1.3 ]
result="$(handshake)"
check "TLS 1.3 is chosen when the client offers 1.2 and 1.3 (got: $result)" \
  [ "${result%% *}" = TLSv1.3 ]

# --- 2. cipher suites --------------------------------------------------------
accepted=()
for cipher in $(openssl ciphers -tls1_2 'ALL:COMPLEMENTOFALL:@SECLEVEL=0' | tr ':' ' '); do
  result="$(handshake -tls1_2 -cipher "$cipher@SECLEVEL=0")"
  [[ $result == "TLSv1.2 $cipher" ]] && accepted+=("$cipher")
done
echo "TLS 1.2 suites accepted: ${accepted[*]:-none}"
check "some TLS 1.2 suite is accepted" [ "${#accepted[@]}" -gt 0 ]
forward_secret_aead() {
  local c
  for c in "${accepted[@]}"; do
    [[ $c =~ ^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$ ]] ||
      { echo "  not forward-secret AEAD: $c"; return 1; }
  done
}
check "every TLS 1.2 suite accepted is ECDHE with an AEAD cipher" forward_secret_aead
tls13=()
for suite in TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256 \
             TLS_AES_128_CCM_SHA256 TLS_AES_128_CCM_8_SHA256; do
  result="$(handshake -tls1_3 -ciphersuites "$suite")"
  [[ $result == "TLSv1.3 $suite" ]] && tls13+=("$suite")
done
echo "TLS 1.3 suites accepted (all forward secret): ${tls13[*]:-none}"
check "TLS 1.3 with AES-GCM is accepted" eval '[[ " ${tls13[*]} " == *" TLS_AES_128_GCM_SHA256 "* ]]'

# --- 3. client certificates --------------------------------------------------
# http2_answer [CERT KEY]: sends the HTTP/2 connection preface and an empty
# SETTINGS frame over a new TLS connection; prints "settings" if the server
# answered with its SETTINGS frame (it speaks HTTP/2: handlers are
# reachable), "nothing" if it closed the connection first.
http2_answer() {
  local auth=()
  [[ $# -eq 2 ]] && auth=(-cert "$1" -key "$2")
  local frame
  frame="$({ printf 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\000\000\000\004\000\000\000\000\000'
             sleep 1; } |
           timeout 20 openssl s_client -connect "127.0.0.1:$GW_PORT" -servername localhost \
             -alpn h2 -quiet -no_ign_eof "${auth[@]}" 2>/dev/null |
           od -An -tx1 -N9 | tr -d ' \n')" || true
  # frame header: 3 bytes length, 1 byte type (4 = SETTINGS), ...
  if [[ ${frame:6:2} == 04 ]]; then echo settings; else echo nothing; fi
}
# logged REASON CLAIMED_ID: the gateway logged this refusal.
logged() {
  grep -E "handshake_refused reason=$1 claimed=$2( |$)" "$GW_LOG" >/dev/null
}
refused() {  # refused NAME CERT KEY REASON CLAIMED_ID
  local name="$1" cert="$2" key="$3" reason="$4" id="$5" answer
  answer="$(http2_answer "$cert" "$key")"
  check "$name: refused before HTTP/2 (server said: $answer)" [ "$answer" = nothing ]
  check "$name: logged as $reason for ${id:-<no id>}" wait_logged "$reason" "$id"
}
wait_logged() {
  local i
  for i in $(seq 1 50); do logged "$1" "$2" && return 0; sleep 0.1; done
  return 1
}

check "control: a good client certificate (havenctl) reaches HTTP/2" \
  [ "$(http2_answer "$GOOD_CERT" "$GOOD_KEY")" = settings ]
check "control: a good client certificate (openssl ca) reaches HTTP/2" \
  [ "$(http2_answer "$BAD/control.crt" "$BAD/control.key")" = settings ]
check "no certificate: refused before HTTP/2" [ "$(http2_answer)" = nothing ]
ID="spiffe://$POLICE/client"
refused "expired" "$BAD/expired.crt" "$BAD/expired.key" expired "$ID/expired"
refused "not yet valid" "$BAD/not-yet-valid.crt" "$BAD/not-yet-valid.key" \
  not_yet_valid "$ID/not-yet-valid"
refused "wrong key usage" "$BAD/wrong-key-usage.crt" "$BAD/wrong-key-usage.key" \
  bad_key_usage "$ID/wrong-key-usage"
refused "self-signed" "$BAD/self-signed.crt" "$BAD/self-signed.key" \
  self_signed "$ID/self-signed"
refused "unknown CA" "$WORK/rogue/integration.crt" "$WORK/rogue/integration.key" \
  unknown_issuer "$ID/integration"
refused "revoked" "$WORK/clients/revoked.crt" "$WORK/clients/revoked.key" \
  revoked "$ID/revoked"
refused "missing SAN" "$BAD/missing-san.crt" "$BAD/missing-san.key" \
  missing_spiffe_id '""'
refused "foreign SAN (a peer's domain, vouched for by our CA)" "$BAD/foreign-san.crt" \
  "$BAD/foreign-san.key" foreign_trust_domain spiffe://customs.nl.example/client/foreign
refused "foreign SAN (a trust domain nobody configured)" "$BAD/unknown-domain-san.crt" \
  "$BAD/unknown-domain-san.key" unknown_trust_domain \
  spiffe://smugglers.example/client/foreign
refused "a peer's CA vouching for a client (a peer may only send its gateway)" \
  "$WORK/customs-client/x.crt" "$WORK/customs-client/x.key" role_not_allowed \
  spiffe://customs.nl.example/client/x
check "a peer's gateway passes the handshake (its role is checked per call)" \
  [ "$(http2_answer "$WORK/customs-gw/gateway.crt" "$WORK/customs-gw/gateway.key")" = settings ]

# --- 4. HTTP/2 limits, as an authenticated client sees them -----------------
# h2_session FILE PAYLOAD: an HTTP/2 session with the good client
# certificate: the preface and an empty SETTINGS frame, an ACK of the
# server's SETTINGS, then PAYLOAD (printf format); the server's frames are
# printed one per line as "type flags stream payload-hex", each setting of
# a SETTINGS frame also as "S id value".
h2_session() {
  { printf 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\000\000\000\004\000\000\000\000\000'
    sleep 0.3
    printf '\000\000\000\004\001\000\000\000\000'
    printf "$1"
    sleep 1; } |
    { timeout 20 openssl s_client -connect "127.0.0.1:$GW_PORT" -servername localhost \
        -alpn h2 -quiet -no_ign_eof -cert "$GOOD_CERT" -key "$GOOD_KEY" 2>/dev/null || true; } |
    python3 -c '
import sys
d = sys.stdin.buffer.read()
i = 0
while i + 9 <= len(d):
    n = int.from_bytes(d[i:i + 3], "big")
    payload = d[i + 9:i + 9 + n]
    print(d[i + 3], d[i + 4], int.from_bytes(d[i + 5:i + 9], "big") & 0x7fffffff,
          payload.hex())
    if d[i + 3] == 4 and d[i + 4] == 0:
        for j in range(0, len(payload) - 5, 6):
            print("S", int.from_bytes(payload[j:j + 2], "big"),
                  int.from_bytes(payload[j + 2:j + 6], "big"))
    i += 9 + n'
}
# setting FRAMES ID: the value the server's SETTINGS give ID.
setting() { awk -v id="$2" '$1 == "S" && $2 == id { print $3; exit }' <<<"$1"; }
FRAMES="$(h2_session '')"
check "SETTINGS_MAX_CONCURRENT_STREAMS is 100 (got: $(setting "$FRAMES" 3))" \
  [ "$(setting "$FRAMES" 3)" = 100 ]
check "SETTINGS_MAX_HEADER_LIST_SIZE is 16384 (got: $(setting "$FRAMES" 6))" \
  [ "$(setting "$FRAMES" 6)" = 16384 ]
# Keepalive enforcement: pings without calls at most every 10 s, two
# strikes; a ping flood gets GOAWAY ENHANCE_YOUR_CALM (0xb) "too_many_pings".
PING='\000\000\010\006\000\000\000\000\000\001\002\003\004\005\006\007\010'
FRAMES="$(h2_session "$PING$PING$PING$PING$PING$PING")"
check "a ping flood is answered with GOAWAY ENHANCE_YOUR_CALM too_many_pings" \
  eval 'grep -Eq "^7 0 0 [0-9a-f]{8}0000000b$(printf too_many_pings | od -An -tx1 | tr -d " \n")$" <<<"$FRAMES"'

# Nothing reached a handler: no call was rejected, nothing stored.
check "no call reached a handler" eval '! grep -Eq "call_rejected|item_ingested" "$GW_LOG"'
check "the gateway is still running" kill -0 "$GW_PID"

echo "--- gateway log (handshake refusals)"
grep handshake_refused "$GW_LOG" | sed 's/^/  /' | cut -c1-220
if [[ $FAILURES -ne 0 ]]; then
  echo "$FAILURES check(s) failed"
  exit 1
fi
echo "all TLS checks passed"
