#!/usr/bin/env bash
# Installs havengate's build dependencies (Debian 12 packages) if any are
# missing, then builds everything into ./build (Release).
#
#   deploy/setup.sh            # as root on a fresh Debian 12 machine
#   BUILD_DIR=out deploy/setup.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev
  libabsl-dev libssl-dev openssl libsqlite3-dev sqlite3 libyaml-cpp-dev
  libcli11-dev libspdlog-dev libcpp-httplib-dev prometheus-cpp-dev libgtest-dev libgmock-dev
  libbenchmark-dev libjemalloc-dev python3
  # The Debian package and its test (cpack, dpkg-shlibdeps, systemd-analyze).
  dpkg-dev file systemd adduser
  # Two hosts in network namespaces for the onboarding test (ip netns).
  iproute2
  # The Python client (client/python) and its tests, on Debian's python3.
  python3-grpcio python3-protobuf python3-cryptography python3-yaml python3-pytest
)

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]} > 0)); then
  echo "havengate setup: installing ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "havengate setup: these Debian packages are missing; run as root or install them: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
