#!/usr/bin/env bash
# Install the system packages the workspace sandbox needs (bubblewrap, socat) when missing.
#
# Idempotent: installs nothing when `bwrap` and `socat` already run. Needs root (or sudo) and
# the Debian mirror apt already uses. Called from `make test` so CI runs the real escape tests.
set -euo pipefail

declare -A COMMAND_OF=([bubblewrap]=bwrap [socat]=socat)
missing=()
for package in bubblewrap socat; do
  command -v "${COMMAND_OF[$package]}" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install-system-deps: need root to install ${missing[*]}: run as root or install sudo" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
for package in "${missing[@]}"; do
  command -v "${COMMAND_OF[$package]}" >/dev/null 2>&1 || {
    echo "install-system-deps: ${package} installed but ${COMMAND_OF[$package]} is not on PATH" >&2
    exit 1
  }
done
