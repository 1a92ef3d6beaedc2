# Sourced by run-tls-checks.sh and run-testssl.sh: a throw-away PKI made with
# `havenctl pki` (and the openssl CLI for certificates havenctl refuses to
# make), and one running havengate gateway on 127.0.0.1 using it.
#
# Needs: SOURCE_DIR, BUILD_DIR set by the caller. Sets: WORK (temporary
# directory, removed on exit), GW_PORT, GW_LOG, GW_PID. The caller must not
# install its own EXIT trap (use tls_on_exit to add work).

HAVENCTL="$BUILD_DIR/client/havenctl"
HAVENGATE="$BUILD_DIR/server/havengate"
for binary in "$HAVENCTL" "$HAVENGATE"; do
  [[ -x $binary ]] || { echo "missing $binary (build havengate and havenctl)" >&2; exit 2; }
done
command -v openssl >/dev/null || { echo "needs the openssl command line tool" >&2; exit 2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/havengate-tls.XXXXXX")"
GW_PID=
GW_PORT=
GW_LOG="$WORK/gateway.log"
TLS_EXIT_HOOK=:
tls_on_exit() { TLS_EXIT_HOOK="$1"; }
tls_cleanup() {
  local status=$?
  "$TLS_EXIT_HOOK" || true
  if [[ -n $GW_PID ]]; then
    kill -TERM "$GW_PID" 2>/dev/null || true
    wait "$GW_PID" 2>/dev/null || true
  fi
  [[ -n ${KEEP_TLS_WORK:-} ]] && echo "kept $WORK" >&2 || rm -rf "$WORK"
  exit "$status"
}
trap tls_cleanup EXIT

pki() { "$HAVENCTL" pki "$@" >/dev/null; }

POLICE=police.nl.example
# The police organisation's CA and gateway; customs-nl as a configured peer
# (its CA trusted for its gateway only); clients, good and bad.
tls_make_pki() {
  pki init-ca --org police-nl --domain "$POLICE" --dir "$WORK/ca"
  pki init-ca --org customs-nl --domain customs.nl.example --dir "$WORK/customs-ca"
  pki crl --ca-dir "$WORK/customs-ca"
  pki issue --ca-dir "$WORK/ca" --role gateway --out "$WORK/gw" --dns localhost
  pki issue --ca-dir "$WORK/ca" --role client --name integration --out "$WORK/clients"
  # revoked: a real certificate, revoked (revoke rewrites ca/crl.pem)
  pki issue --ca-dir "$WORK/ca" --role client --name revoked --out "$WORK/clients"
  pki revoke --ca-dir "$WORK/ca" "$WORK/clients/revoked.crt"
  # unknown CA: another CA claiming the same trust domain
  pki init-ca --org police-nl --domain "$POLICE" --dir "$WORK/rogue-ca"
  pki issue --ca-dir "$WORK/rogue-ca" --role client --name integration --out "$WORK/rogue"
  # a peer's gateway (passes the handshake) and a client of that peer (not)
  pki issue --ca-dir "$WORK/customs-ca" --role gateway --out "$WORK/customs-gw"
  pki issue --ca-dir "$WORK/customs-ca" --role client --name x --out "$WORK/customs-client"
}

# Certificates havenctl refuses to make, signed with the police CA's key by
# `openssl ca` (which can set any validity period and extensions).
tls_make_bad_certs() {
  local dir="$WORK/openssl" id="spiffe://$POLICE/client"
  mkdir -p "$dir/new"
  : >"$dir/index.txt"
  cat >"$dir/ca.cnf" <<CNF
[ca]
default_ca = police
[police]
database = $dir/index.txt
new_certs_dir = $dir/new
rand_serial = yes
default_md = sha256
policy = anything
unique_subject = no
[anything]
commonName = supplied
organizationName = optional
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = \$ENV::HG_SAN
[wrong_key_usage]
basicConstraints = critical,CA:FALSE
keyUsage = critical,keyEncipherment,keyCertSign
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = \$ENV::HG_SAN
[no_san]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
  # sign NAME EXTENSIONS SAN [START END]: $dir/NAME.crt and .key
  sign() {
    local name="$1" ext="$2" san="$3" start="${4:-}" end="${5:-}"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -keyout "$dir/$name.key" -subj "/CN=$name/O=police-nl" -out "$dir/$name.csr" 2>/dev/null
    local dates=(-days 30)
    [[ -n $start ]] && dates=(-startdate "$start" -enddate "$end")
    HG_SAN="$san" openssl ca -batch -notext -config "$dir/ca.cnf" \
      -cert "$WORK/ca/ca.crt" -keyfile "$WORK/ca/ca.key" "${dates[@]}" \
      -extensions "$ext" -in "$dir/$name.csr" -out "$dir/$name.crt" 2>"$dir/$name.err" ||
      { cat "$dir/$name.err" >&2; return 1; }
  }
  # The control: the same openssl path, nothing wrong, must be accepted.
  sign control leaf "URI:$id/control"
  sign expired leaf "URI:$id/expired" 20200101000000Z 20210101000000Z
  sign not-yet-valid leaf "URI:$id/not-yet-valid" 20991231000000Z 21000101000000Z
  sign wrong-key-usage wrong_key_usage "URI:$id/wrong-key-usage"
  sign missing-san no_san ""
  # foreign SAN: the police CA vouching for a customs client, and for a
  # trust domain nobody configured
  sign foreign-san leaf "URI:spiffe://customs.nl.example/client/foreign"
  sign unknown-domain-san leaf "URI:spiffe://smugglers.example/client/foreign"
  # self-signed, with a perfect-looking SPIFFE id
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -keyout "$dir/self-signed.key" -out "$dir/self-signed.crt" \
    -subj "/CN=self-signed/O=police-nl" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature" \
    -addext "extendedKeyUsage=clientAuth" \
    -addext "subjectAltName=URI:$id/self-signed" 2>/dev/null
}

# Starts the gateway; returns once it listens.
tls_start_gateway() {
  mkdir -p "$WORK/data"
  cat >"$WORK/gateway.yaml" <<YAML
organisation: {id: police-nl, domain: $POLICE}
listen: 127.0.0.1:0
port_file: $WORK/gateway.port
tls:
  certificate: $WORK/gw/gateway.crt
  private_key: $WORK/gw/gateway.key
  ca: $WORK/ca/ca.crt
  crl: $WORK/ca/crl.pem
  reload_interval_seconds: 1
store: {path: $WORK/data/gateway.db}
peers:
  - {id: customs-nl, domain: customs.nl.example, address: 127.0.0.1:9,
     ca: $WORK/customs-ca/ca.crt, crl: $WORK/customs-ca/crl.pem}
YAML
  "$HAVENGATE" --config "$WORK/gateway.yaml" >"$GW_LOG" 2>&1 &
  GW_PID=$!
  local i
  for i in $(seq 1 300); do
    if [[ -s $WORK/gateway.port ]]; then
      GW_PORT="$(cat "$WORK/gateway.port")"
      return 0
    fi
    kill -0 "$GW_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "havengate did not start:" >&2
  cat "$GW_LOG" >&2
  return 1
}
