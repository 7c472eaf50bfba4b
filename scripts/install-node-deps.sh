#!/usr/bin/env bash
# Install the Node programs tre runs (configurable-http-proxy) into ./node_modules, from the lock.
#
# Idempotent: does nothing when node_modules/.bin/configurable-http-proxy already runs at the
# locked version. Uses `npm ci` (exactly package-lock.json) when the lock exists, else `npm install`
# (which writes it). The hub finds the proxy at node_modules/.bin (tre.hub.paths.proxy_command).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-node-deps: node and npm are needed (Debian: apt-get install nodejs npm; node >= 18)" >&2
  exit 1
fi
want=$(node -p "require('./package.json').dependencies['configurable-http-proxy']")
proxy=node_modules/.bin/configurable-http-proxy
if [ -x "$proxy" ] && [ "$("$proxy" --version 2>/dev/null)" = "$want" ]; then
  exit 0
fi
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi
got=$("$proxy" --version)
if [ "$got" != "$want" ]; then
  echo "install-node-deps: expected configurable-http-proxy $want, got $got" >&2
  exit 1
fi
