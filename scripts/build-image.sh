#!/usr/bin/env bash
# Builds the log server's OCI image (packaging/Containerfile) from Debian
# packages only: a root file system made by mmdebstrap from the Debian
# mirror, the release binaries built here, `podman build`. No registry is
# contacted. Installs podman, buildah and mmdebstrap if missing.
#
# Usage: scripts/build-image.sh [--debug] [--tag NAME]
#   --debug   use the debug binaries (what the test suite builds; for tests)
#   --tag     the image's name (default localhost/stateanchor-log:latest)
#
# The root file system is of the build machine's Debian release (its glibc
# is the one the binaries are linked against), cached in
# ~/.cache/stateanchor/image/rootfs-<release>.tar for a day.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=release
tag=localhost/stateanchor-log:latest
while [ $# -gt 0 ]; do
  case "$1" in
    --debug) profile=debug ;;
    --tag) tag="$2"; shift ;;
    *) echo "build-image: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

missing=()
for tool in podman buildah mmdebstrap runc; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "stateanchor: installing podman, buildah, mmdebstrap, runc (to build the container image)" >&2
  export DEBIAN_FRONTEND=noninteractive
  sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_=sudo
  $sudo_ apt-get update -qq
  $sudo_ apt-get install -y -qq --no-install-recommends podman buildah mmdebstrap runc uidmap >/dev/null
fi

. /etc/os-release
release="${VERSION_CODENAME:?the build machine must be Debian (VERSION_CODENAME in /etc/os-release)}"
cache="$HOME/.cache/stateanchor/image"
mkdir -p "$cache"
rootfs="$cache/rootfs-$release.tar"
if [ ! -s "$rootfs" ] || [ -n "$(find "$rootfs" -mmin +1440)" ]; then
  echo "== mmdebstrap $release (essential + ca-certificates, tzdata, libstdc++6; user stateanchor 10001)" >&2
  rm -rf "$rootfs.part"
  mmdebstrap --quiet --format=tar --variant=essential --include=ca-certificates,tzdata,passwd,libstdc++6,libgcc-s1 \
    --customize-hook='chroot "$1" /usr/sbin/groupadd --system --gid 10001 stateanchor' \
    --customize-hook='chroot "$1" /usr/sbin/useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/stateanchor --shell /usr/sbin/nologin stateanchor' \
    --customize-hook='install -d -m 0700 -o 10001 -g 10001 "$1/var/lib/stateanchor"' \
    --customize-hook='rm -rf "$1/usr/share/doc" "$1/usr/share/man" "$1/usr/share/info" "$1/var/cache/apt" "$1/var/lib/apt/lists"' \
    "$release" "$rootfs.part" http://deb.debian.org/debian
  mv "$rootfs.part" "$rootfs"
fi

if [ "$profile" = release ]; then
  export CARGO_TARGET_DIR="${BENCH_TARGET_DIR:-$HOME/.cache/stateanchor/target-bench}"
  source scripts/prereqs.sh
  cargo build --locked --release -p log-server -p verifier-cli --bins
else
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stateanchor/target}"
  [ -x "$CARGO_TARGET_DIR/debug/stateanchor-log" ] || {
    source scripts/prereqs.sh
    cargo build --locked --workspace --bins
  }
fi

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp packaging/Containerfile "$context/"
ln "$rootfs" "$context/rootfs.tar" 2>/dev/null || cp "$rootfs" "$context/rootfs.tar"
for b in stateanchor-log stateanchor-verify; do
  install -m 0755 "$CARGO_TARGET_DIR/$profile/$b" "$context/$b"
done
echo "== podman build $tag ($profile binaries)" >&2
# chroot isolation: no step runs in the image, and it needs no cgroups.
podman build --quiet --isolation=chroot --tag "$tag" --file "$context/Containerfile" "$context"
podman image inspect --format '{{.Id}} {{.Size}}' "$tag"
