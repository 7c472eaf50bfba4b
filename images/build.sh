#!/usr/bin/env bash
# Build the tre single-user image with no image registry.
#
#   images/build.sh [--tag NAME] [--ca-dir DIR] [--wheelhouse DIR] [--offline]
#                   [--extra "torch==2.13.0 monai"] [--mirror URL] [--rebuild-base] [--if-changed]
#
# The image carries the label tre.images-hash, a hash of everything under images/
# (images/content-hash.sh); with --if-changed nothing is built when the image NAME already
# carries the current hash (`make docker` uses it).
#
# 1. a base image tre-base:bookworm from `debootstrap --variant=minbase bookworm` using the
#    Debian mirror apt already uses (or --mirror), imported with `docker import` (kept; reused);
# 2. `docker build` of images/singleuser with, in a temporary context:
#    - ca/: the CA certificates of --ca-dir (default /usr/local/share/ca-certificates), trusted
#      by apt and pip inside (TLS-intercepting proxies);
#    - wheelhouse/: the wheels of --wheelhouse (air-gapped sites; e.g. a CPU torch wheel), used
#      as --find-links; with --offline pip may use nothing else.
# Needs root (debootstrap, docker). Prints the image id; set TRE_BUILD_QUIET=1 for less output.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tag=tre-singleuser:latest
base=tre-base:bookworm
ca_dir=/usr/local/share/ca-certificates
wheelhouse=""
offline=0
extra=""
mirror=""
rebuild_base=0
if_changed=0
while [ $# -gt 0 ]; do
  case $1 in
    --tag) tag=$2; shift 2 ;;
    --ca-dir) ca_dir=$2; shift 2 ;;
    --wheelhouse) wheelhouse=$2; shift 2 ;;
    --offline) offline=1; shift ;;
    --extra) extra=$2; shift 2 ;;
    --mirror) mirror=$2; shift 2 ;;
    --rebuild-base) rebuild_base=1; shift ;;
    --if-changed) if_changed=1; shift ;;
    *) echo "build.sh: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
DOCKER=${DOCKER:-/usr/bin/docker}

if [ "$offline" = 1 ] && [ -z "$wheelhouse" ]; then
  echo "build.sh: --offline needs --wheelhouse DIR holding every wheel the image needs" >&2
  exit 2
fi

images_hash=$("$here/content-hash.sh" "$here")
if [ "$if_changed" = 1 ] && [ "$("$DOCKER" image inspect --format \
     '{{ index .Config.Labels "tre.images-hash" }}' "$tag" 2>/dev/null || true)" = "$images_hash" ]; then
  echo "build.sh: $tag is up to date with images/ (tre.images-hash $images_hash)" >&2
  exit 0
fi

apt_mirror() {
  # The first deb822 URIs / one-line deb URL of the main Debian archive apt uses here.
  local url
  url=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -v -- '-security' | head -n1 || true)
  if [ -z "$url" ]; then
    url=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null \
          | awk '{print $2}' | grep -v -- '-security' | head -n1 || true)
  fi
  echo "${url:-http://deb.debian.org/debian}"
}

if [ "$rebuild_base" = 1 ] || ! "$DOCKER" image inspect "$base" >/dev/null 2>&1; then
  mirror=${mirror:-$(apt_mirror)}
  root=$(mktemp -d /var/tmp/tre-base.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  echo "build.sh: debootstrap bookworm from $mirror" >&2
  debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
  # Inside the image apt uses the same mirror, plus security updates.
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$mirror" "$mirror" \
    > "$root/etc/apt/sources.list"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | "$DOCKER" import - "$base" >/dev/null
  rm -rf "$root"
  trap - EXIT
fi

context=$(mktemp -d /var/tmp/tre-image.XXXXXX)
trap 'rm -rf "$context"' EXIT
cp -r "$here/singleuser/." "$context/"
rm -rf "$context/tre-notebook/build" "$context"/tre-notebook/*.egg-info
mkdir -p "$context/ca" "$context/wheelhouse"
if [ -d "$ca_dir" ]; then
  find "$ca_dir" -maxdepth 1 -name '*.crt' -exec cp {} "$context/ca/" \;
fi
if [ -n "$wheelhouse" ]; then
  find "$wheelhouse" -maxdepth 1 -name '*.whl' -exec cp {} "$context/wheelhouse/" \;
fi

"$DOCKER" build ${TRE_BUILD_QUIET:+--quiet} --force-rm --network=bridge \
  --build-arg "BASE_IMAGE=$base" --build-arg "PIP_OFFLINE=$offline" \
  --build-arg "EXTRA_PACKAGES=$extra" --label "tre.images-hash=$images_hash" \
  -t "$tag" "$context"
"$DOCKER" image inspect --format '{{.Id}} {{.Size}}' "$tag"
