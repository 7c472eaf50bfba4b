#!/usr/bin/env bash
# Build the Python runtime project sandboxes run (jupyterhub-singleuser, JupyterLab, and tre's
# images/singleuser/tre-notebook: download blocking + the airlock client): a venv every uid can
# read, made from the system Python (the sandbox sees /usr, never /root).
#
# Usage: scripts/make-sandbox-runtime.sh [PREFIX]   (default /opt/tre/runtime)
# Idempotent: rebuilds the venv only when the requirement list below changed, and reinstalls
# tre-notebook (its code and its etc/jupyter settings) and removes the REMOVED packages only when
# either changed (two-line stamp file in PREFIX). tre-notebook is installed from a copy of this
# repository's folder, not editable: the sandbox cannot read the checkout. pip uses the host's
# own configuration (index, CA certificates, find-links). Then point TRE_WORKSPACES_RUNTIME at
# PREFIX.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${1:-/opt/tre/runtime}
PYTHON=${TRE_RUNTIME_PYTHON:-/usr/bin/python3}
REQUIREMENTS=("jupyterhub>=5.2,<7" "jupyterlab>=4.2,<5")
# Optional packages the requirements pull in and no server needs: rfc3987-syntax (jsonschema's
# "iri" format check, which no Jupyter schema uses) builds ~35 parsers when imported, about half
# of a server's start-up CPU. images/singleuser/Dockerfile removes the same.
REMOVED=(rfc3987-syntax)
NOTEBOOK_PACKAGE="$here/images/singleuser/tre-notebook"
ANALYSIS="$here/images/singleuser/analysis-requirements.txt"  # numpy, pandas, pydicom, matplotlib
base_stamp="${PYTHON} ${REQUIREMENTS[*]} analysis $(sha256sum < "$ANALYSIS" | cut -c1-12)"
package_stamp="tre-notebook $("$here/images/content-hash.sh" "$NOTEBOOK_PACKAGE") -${REMOVED[*]}"
stamp="$PREFIX/.tre-runtime"

fresh=1
if [ -f "$stamp" ] && [ "$(sed -n 1p "$stamp")" = "$base_stamp" ] \
   && [ -x "$PREFIX/bin/jupyterhub-singleuser" ]; then
  if [ "$(sed -n 2p "$stamp")" = "$package_stamp" ]; then
    exit 0
  fi
  fresh=0
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
if [ "$fresh" = 1 ]; then
  mkdir -p "$(dirname "$PREFIX")"
  "$PYTHON" -m venv --clear "$PREFIX"
  "$PREFIX/bin/pip" install -q --upgrade pip
  "$PREFIX/bin/pip" install -q "${REQUIREMENTS[@]}" -r "$ANALYSIS"
fi
for package in "${REMOVED[@]}"; do
  if "$PREFIX/bin/pip" show -q "$package" >/dev/null 2>&1; then
    "$PREFIX/bin/pip" uninstall -q -y "$package"
  fi
done
# Built from a copy, so that no build leftovers land in the checkout.
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
cp -r "$NOTEBOOK_PACKAGE/." "$copy/"
rm -rf "$copy/build" "$copy"/*.egg-info
# --no-deps: its one dependency, jupyter_server, comes with jupyterlab (the check below fails if not)
"$PREFIX/bin/pip" install -q --force-reinstall --no-deps "$copy"
chmod -R a+rX "$PREFIX"
"$PREFIX/bin/jupyterhub-singleuser" --version >/dev/null
extensions=$("$PREFIX/bin/jupyter" server extension list 2>&1 || true)
if ! grep -q 'tre_notebook.downloads.*enabled' <<<"$extensions" \
   || ! grep -q 'tre_notebook.downloads.*OK' <<<"$extensions"; then
  echo "make-sandbox-runtime: tre_notebook.downloads is not enabled in $PREFIX: servers there" \
       "would hand files out; see images/singleuser/tre-notebook" >&2
  exit 1
fi
printf '%s\n%s\n' "$base_stamp" "$package_stamp" > "$stamp"
echo "sandbox runtime ready: $PREFIX (set TRE_WORKSPACES_RUNTIME=$PREFIX)"
