#!/usr/bin/env bash
# Install the Node programs tre runs into ./node_modules, exactly as package-lock.json pins them:
# configurable-http-proxy (the hub's proxy) and oidc-provider (the OpenID provider of the login
# tests, tests/hub/oidc/provider.mjs).
#
# Idempotent: does nothing when every dependency of package.json is installed at its pinned
# version. Uses `npm ci` (exactly package-lock.json) when the lock exists, else `npm install`
# (which writes it); npm's cache (~/.npm) makes a second install work offline. The hub finds the
# proxy at node_modules/.bin (TRE_HUB_PROXY_COMMAND).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-node-deps: node and npm are needed (Debian: apt-get install nodejs npm; node >= 18)" >&2
  exit 1
fi
# One line per dependency not installed at its pinned version (none: all good).
check='const deps = require("./package.json").dependencies;
for (const [name, want] of Object.entries(deps)) {
  let got = "missing";
  try { got = require(`./node_modules/${name}/package.json`).version; } catch {}
  if (got !== want) console.log(`${name}: pinned ${want}, installed ${got}`);
}'
if [ -z "$(node -e "$check")" ] && [ -x node_modules/.bin/configurable-http-proxy ]; then
  exit 0
fi
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi
wrong=$(node -e "$check")
if [ -n "$wrong" ]; then
  echo "install-node-deps: not the pinned versions after installing: $wrong" >&2
  exit 1
fi
