#!/usr/bin/env bash
# Build the Python runtime project sandboxes run (jupyterhub-singleuser, JupyterLab): a venv every
# uid can read, made from the system Python (the sandbox sees /usr, never /root).
#
# Usage: scripts/make-sandbox-runtime.sh [PREFIX]   (default /opt/tre/runtime)
# Idempotent: rebuilds only when the requirement list below changed (stamp file in PREFIX).
# pip uses the host's own configuration (index, CA certificates, find-links). Then point
# TRE_WORKSPACES_RUNTIME at PREFIX.
set -euo pipefail

PREFIX=${1:-/opt/tre/runtime}
PYTHON=${TRE_RUNTIME_PYTHON:-/usr/bin/python3}
REQUIREMENTS=("jupyterhub>=5.2,<7" "jupyterlab>=4.2,<5")
stamp_text="${PYTHON} ${REQUIREMENTS[*]}"
stamp="$PREFIX/.tre-runtime"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_text" ] && [ -x "$PREFIX/bin/jupyterhub-singleuser" ]; then
  exit 0
fi
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2 || true
fi
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "make-sandbox-runtime: $PYTHON lacks venv/ensurepip: apt-get install python3-venv" >&2
  exit 1
fi
case "$("$PYTHON" -c 'import os,sys; print(os.path.realpath(sys.executable))')" in
  /root/*|/home/*)
    echo "make-sandbox-runtime: $PYTHON lives under a home folder sandboxes cannot read: use /usr/bin/python3" >&2
    exit 1;;
esac
umask 022
mkdir -p "$(dirname "$PREFIX")"
"$PYTHON" -m venv --clear "$PREFIX"
"$PREFIX/bin/pip" install -q --upgrade pip
"$PREFIX/bin/pip" install -q "${REQUIREMENTS[@]}"
chmod -R a+rX "$PREFIX"
"$PREFIX/bin/jupyterhub-singleuser" --version >/dev/null
echo "$stamp_text" > "$stamp"
echo "sandbox runtime ready: $PREFIX (set TRE_WORKSPACES_RUNTIME=$PREFIX)"
