#!/usr/bin/env bash
# The Debian package, installed for real: builds it with CPack, installs it
# with dpkg, checks what it put where (owners, modes, the system user, the
# computed dependencies, the unit's hardening), starts the installed daemon
# as the package's user exactly as the unit's ExecStart line says (systemd
# is not PID 1 here), pushes one item with the installed havenctl and reads
# it back, then purges the package and checks that nothing is left.
#
#   tests/package/package_test.sh BUILD_DIR
#
# Needs root (dpkg, a system user); exits 77 (skipped) otherwise. Leaves
# the machine as it found it, also when a check fails.
set -euo pipefail

BUILD_DIR="$(cd "${1:?usage: package_test.sh BUILD_DIR}" && pwd)"
if [[ $(id -u) -ne 0 ]]; then
  echo "package test: skipped, dpkg -i needs root" >&2
  exit 77
fi
if dpkg-query -W -f='${Status}' havengate 2>/dev/null | grep -q installed; then
  echo "package test: a havengate package is already installed here; not touching it" >&2
  exit 1
fi

WORK="$(mktemp -d /tmp/havengate-package.XXXXXX)"
DAEMON_PID=""
failures=0
cleanup() {
  [[ -n $DAEMON_PID ]] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null || true
  dpkg --purge havengate >/dev/null 2>&1 || true
  # What this test itself created where an operator would (not the
  # package's files): the CA and the gateway's certificate.
  rm -rf /etc/havengate/ca /etc/havengate/gateway /run/havengate
  rmdir /etc/havengate 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok:   $*"; }
check() {  # check DESCRIPTION COMMAND...
  local what="$1"; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
mode_owner() { stat -c '%a %U:%G' "$1"; }
expect_mode() {  # expect_mode PATH "MODE USER:GROUP"
  local got; got="$(mode_owner "$1" 2>/dev/null || echo missing)"
  if [[ $got == "$2" ]]; then pass "$1 is $2"; else fail "$1 is $got, expected $2"; fi
}

# --- build and install -----------------------------------------------------
(cd "$BUILD_DIR" && cpack -G DEB -B "$WORK/pkg" >"$WORK/cpack.log" 2>&1) ||
  { cat "$WORK/cpack.log" >&2; echo "FAIL: cpack" >&2; exit 1; }
DEB="$(ls "$WORK"/pkg/havengate_*.deb)"
echo "package: $DEB"
VERSION="$(dpkg-deb -f "$DEB" Version)"
DEPENDS="$(dpkg-deb -f "$DEB" Depends)"
echo "depends: $DEPENDS"
for lib in 'libgrpc++1.51' 'libprotobuf32' 'libprometheus-cpp-core1.0' 'libssl3' 'libsqlite3-0' 'libyaml-cpp0.7' 'libc6' 'adduser'; do
  check "Depends names $lib" grep -q -- "$lib" <<<"$DEPENDS"
done
dpkg -i "$DEB" >"$WORK/dpkg-i.log" 2>&1 || { cat "$WORK/dpkg-i.log" >&2; echo "FAIL: dpkg -i" >&2; exit 1; }
pass "dpkg -i $DEB"

# --- what it installed ------------------------------------------------------
expect_mode /usr/bin/havengate "755 root:root"
expect_mode /usr/bin/havenctl "755 root:root"
expect_mode /lib/systemd/system/havengate.service "644 root:root"
expect_mode /etc/havengate "750 root:havengate"
expect_mode /etc/havengate/gateway.yaml "640 root:havengate"
check "gateway.yaml is a conffile" grep -qx '/etc/havengate/gateway.yaml' /var/lib/dpkg/info/havengate.conffiles
check "the example config is shipped as documentation" test -f /usr/share/doc/havengate/examples/gateway.example.yaml
check "no pseudonymisation key is shipped" bash -c '! dpkg -L havengate | grep -q "\.key$"'
user_entry="$(getent passwd havengate || true)"
check "system user havengate exists" test -n "$user_entry"
uid="$(cut -d: -f3 <<<"$user_entry")"
check "havengate is a system user (uid $uid < 1000)" test "${uid:-1000}" -lt 1000
check "havengate has no login shell" grep -q 'nologin\|/bin/false' <<<"$(cut -d: -f7 <<<"$user_entry")"

version_text="$(/usr/bin/havengate --version)"
echo "$version_text"
check "havengate --version is the package's version $VERSION" grep -q "^havengate $VERSION$" <<<"$version_text"
check "havengate --version names gRPC, protobuf and OpenSSL" \
  bash -c 'grep -q "gRPC 1\." <<<"$0" && grep -q "protobuf 3\." <<<"$0" && grep -q "OpenSSL 3\." <<<"$0"' "$version_text"
check "havenctl --version is $VERSION" grep -q "^havenctl $VERSION$" <<<"$(/usr/bin/havenctl --version)"

UNIT=/lib/systemd/system/havengate.service
if systemd-analyze verify "$UNIT" >"$WORK/verify.log" 2>&1; then
  pass "systemd-analyze verify"
else
  cat "$WORK/verify.log" >&2; fail "systemd-analyze verify"
fi
exposure="$(systemd-analyze security --offline=true "$UNIT" 2>/dev/null |
            sed -n 's/.*Overall exposure level for havengate.service: \([0-9.]*\).*/\1/p')"
echo "systemd-analyze security: exposure $exposure"
check "unit exposure ${exposure:-?} is at most 2.0" awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 2.0) }'
for setting in 'NoNewPrivileges=yes' 'CapabilityBoundingSet=$' 'ProtectSystem=strict' \
               'ProtectHome=yes' 'PrivateTmp=yes' 'PrivateDevices=yes' 'SystemCallFilter=@system-service' \
               'MemoryMax=' 'LimitNOFILE=' 'Restart=on-failure' 'ExecReload=/bin/kill -HUP' \
               'StateDirectory=havengate' 'User=havengate'; do
  check "unit sets $setting" grep -q "^$setting" "$UNIT"
done

# --- run the installed daemon as the unit does ------------------------------
# What systemd would prepare: the state and runtime directories.
install -d -m 0700 -o havengate -g havengate /var/lib/havengate
install -d -m 0750 -o havengate -g havengate /run/havengate
ETC=/etc/havengate
/usr/bin/havenctl pki init-ca --org police-nl --domain police.nl.example --dir "$ETC/ca" >/dev/null
/usr/bin/havenctl pki issue --ca-dir "$ETC/ca" --role gateway --out "$ETC/gateway" --dns localhost >/dev/null
/usr/bin/havenctl pki issue --ca-dir "$ETC/ca" --role client --name package-test --out "$WORK/client" >/dev/null
# The gateway's key belongs to its user alone (the gateway refuses a key
# that group or others can read); certificates are readable by its group.
chgrp -R havengate "$ETC/gateway" "$ETC/ca"
chmod 0750 "$ETC/gateway" "$ETC/ca"
chown havengate:havengate "$ETC/gateway/gateway.key"
chmod 0600 "$ETC/gateway/gateway.key"
chmod 0640 "$ETC/gateway/gateway.crt" "$ETC/ca/ca.crt"
cat >"$ETC/gateway.yaml" <<YAML
# written by tests/package/package_test.sh
organisation: {id: police-nl, domain: police.nl.example}
listen: 127.0.0.1:0
port_file: /run/havengate/gateway.port
tls:
  certificate: /etc/havengate/gateway/gateway.crt
  private_key: /etc/havengate/gateway/gateway.key
  ca: /etc/havengate/ca/ca.crt
store: {path: /var/lib/havengate/gateway.db}
log: {format: json}
YAML
EXEC_START="$(sed -n 's/^ExecStart=//p' "$UNIT")"
EXEC_PRE="$(sed -n 's/^ExecStartPre=//p' "$UNIT")"
echo "ExecStartPre: $EXEC_PRE"
echo "ExecStart:    $EXEC_START"
# shellcheck disable=SC2086  # the unit's command line, split as systemd does here
check "ExecStartPre (--check-config) passes as havengate" setpriv --reuid havengate --regid havengate --init-groups $EXEC_PRE
# shellcheck disable=SC2086
setpriv --reuid havengate --regid havengate --init-groups $EXEC_START >"$WORK/gateway.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 1 200); do
  [[ -s /run/havengate/gateway.port ]] && break
  kill -0 "$DAEMON_PID" 2>/dev/null || break
  sleep 0.05
done
if [[ ! -s /run/havengate/gateway.port ]]; then
  cat "$WORK/gateway.log" >&2
  echo "FAIL: the installed gateway did not start" >&2
  exit 1
fi
PORT="$(cat /run/havengate/gateway.port)"
pass "the installed gateway listens on 127.0.0.1:$PORT as $(ps -o user= -p "$DAEMON_PID")"
check "the daemon runs as havengate" test "$(ps -o user= -p "$DAEMON_PID" | tr -d ' ')" = havengate

cat >"$WORK/havenctl.yaml" <<YAML
address: localhost:$PORT
certificate: $WORK/client/package-test.crt
private_key: $WORK/client/package-test.key
ca: /etc/havengate/ca/ca.crt
gateway_id: spiffe://police.nl.example/gateway
YAML
cat >"$WORK/item.json" <<'JSON'
{"item_id": "PKG-TEST-1", "classification": {"tlp": "AMBER"},
 "alert": {"category": "PIN_CODE_FRAUD", "severity": "HIGH",
           "title": "Container released with a stolen PIN at ECT Delta",
           "location": {"unlocode": "NLRTM", "terminal": "ECT Delta"},
           "containers": [{"number": "MSCU4812360"}]}}
JSON
if /usr/bin/havenctl items push --connection "$WORK/havenctl.yaml" "$WORK/item.json" >"$WORK/push.log" 2>&1; then
  pass "havenctl items push"
else
  cat "$WORK/push.log" >&2; fail "havenctl items push"
fi
listed="$(/usr/bin/havenctl items list --json --connection "$WORK/havenctl.yaml" 2>&1 || true)"
check "the pushed item is in the inbox" grep -q '"PKG-TEST-1"' <<<"$listed"
check "with its container" grep -q 'MSCU4812360' <<<"$listed"

# State is owner-only, owned by the daemon's user.
expect_mode /var/lib/havengate/gateway.db "600 havengate:havengate"
for f in /var/lib/havengate/*; do
  perms="$(stat -c '%a %U' "$f")"
  case "$perms" in
    600\ havengate|700\ havengate) pass "$f is $perms" ;;
    *) fail "$f is $perms, expected owner-only and owned by havengate" ;;
  esac
done

kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null && pass "the gateway stopped cleanly on SIGTERM" || fail "the gateway's exit status on SIGTERM"
DAEMON_PID=""

# --- purge ------------------------------------------------------------------
# The certificates are the operator's, not the package's: an operator
# removes them (or keeps them) before purging; dpkg leaves files it does
# not own.
rm -rf "$ETC/ca" "$ETC/gateway"
dpkg --purge havengate >"$WORK/purge.log" 2>&1 || { cat "$WORK/purge.log" >&2; fail "dpkg --purge"; }
rm -rf /run/havengate  # systemd's RuntimeDirectory= would go with the service
for gone in /usr/bin/havengate /usr/bin/havenctl /lib/systemd/system/havengate.service \
            /etc/havengate /var/lib/havengate /usr/share/doc/havengate; do
  check "purge removed $gone" test ! -e "$gone"
done
check "purge removed the havengate user" bash -c '! getent passwd havengate >/dev/null'
check "purge removed the havengate group" bash -c '! getent group havengate >/dev/null'
check "dpkg no longer knows havengate" bash -c '! dpkg-query -W havengate >/dev/null 2>&1'

if ((failures > 0)); then
  echo "package test: $failures check(s) failed" >&2
  exit 1
fi
echo "package test: every check passed"
