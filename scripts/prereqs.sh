#!/usr/bin/env bash
# Installs what building StateAnchor needs on a fresh Debian/Ubuntu machine:
# clang and libclang-dev (RocksDB is built from C++ source with bindgen), and
# python3 (scripts/check-architecture.py, run by scripts/test.sh) with
# jsonschema (the end-to-end tests check exports against the JSON schema)
# and aiosmtpd (the local SMTP sink the digest tests send to), and chromium
# with chromium-driver (the cockpit's browser test drives headless Chromium).
# Sourced by the other scripts; it also exports CARGO_TARGET_DIR, which is
# kept outside the clone so that rebuilds and CI reuse the (slow) RocksDB build.
set -euo pipefail

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stateanchor/target}"

need=()
command -v clang >/dev/null 2>&1 || need+=(clang)
if ! ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 && ! ls /usr/lib/*/libclang*.so* >/dev/null 2>&1; then
  need+=(libclang-dev)
fi
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
# The service unit's test: systemd-analyze rates the unit, strace and
# setpriv run the server under its restrictions.
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v strace >/dev/null 2>&1 || need+=(strace)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v pgrep >/dev/null 2>&1 || need+=(procps)
if ((${#need[@]})); then
  echo "stateanchor: installing ${need[*]} (clang and libclang build RocksDB; python3 runs the architecture check; chromium and chromium-driver run the cockpit's browser test; systemd, strace, util-linux and procps check the service unit)" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The cockpit's OpenID Connect tests start npm's oidc-provider on
# 127.0.0.1 (tests/oidc/): Node.js and npm, then the packages pinned by
# tests/oidc/package-lock.json (`npm ci`, from the npm registry) when
# node_modules is missing. oidc-provider 9 wants Node.js 20.19 or later.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "stateanchor: installing nodejs and npm (the OpenID provider of the cockpit's sign-in tests)" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >/dev/null
fi
oidc_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/oidc"
if [ -f "$oidc_dir/package-lock.json" ] && [ ! -d "$oidc_dir/node_modules/oidc-provider" ]; then
  echo "stateanchor: npm ci in tests/oidc (oidc-provider, for the sign-in tests)" >&2
  (cd "$oidc_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
# Python modules of the tests: jsonschema (exports against the JSON schema)
# and aiosmtpd (the mail sink). pip where the python3 on PATH allows it (a
# pyenv or venv python), else the Debian packages for the system python3.
for mod in jsonschema aiosmtpd; do
  if ! python3 -c "import $mod" >/dev/null 2>&1; then
    echo "stateanchor: installing the python module $mod (used by the tests)" >&2
    if ! python3 -m pip install --quiet "$mod" >/dev/null 2>&1; then
      sudo=""
      if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
      $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "python3-$mod" >/dev/null
    fi
  fi
done
if ! command -v cargo >/dev/null 2>&1; then
  echo "stateanchor: cargo is not installed; install Rust from https://rustup.rs" >&2
  exit 2
fi
