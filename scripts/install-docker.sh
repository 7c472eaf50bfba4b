#!/usr/bin/env bash
# Install Docker Engine (Debian docker.io) and debootstrap, and start dockerd if it is not running.
#
# Idempotent: installs only what is missing and starts nothing when the daemon already answers.
# For hosts without systemd (CI, these machines) dockerd is started in the background, logging to
# ${TRE_DOCKERD_LOG:-/var/log/tre-dockerd.log}. On a systemd host use `systemctl enable --now
# docker` instead; this script then only checks that the daemon answers. Needs root (or sudo).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install-docker: need root to install docker.io and start dockerd: run as root" >&2
    exit 1
  fi
fi

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
# iptables: dockerd's own rules and tre's DOCKER-USER chain (scripts/apply-docker-firewall.sh).
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The Debian client is /usr/bin/docker; another client earlier on PATH may not match the daemon.
DOCKER=/usr/bin/docker
if $SUDO "$DOCKER" info >/dev/null 2>&1; then
  exit 0
fi
if [ -d /run/systemd/system ]; then
  $SUDO systemctl start docker
else
  log=${TRE_DOCKERD_LOG:-/var/log/tre-dockerd.log}
  # A session of its own: dockerd outlives the shell, job or test run that started it.
  $SUDO setsid -f sh -c "exec dockerd >>'$log' 2>&1 </dev/null"
fi
for _ in $(seq 1 60); do
  if $SUDO "$DOCKER" info >/dev/null 2>&1; then
    exit 0
  fi
  sleep 0.5
done
echo "install-docker: dockerd did not answer within 30 s: see ${TRE_DOCKERD_LOG:-/var/log/tre-dockerd.log}" >&2
exit 1
