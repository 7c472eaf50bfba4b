#!/usr/bin/env bash
# Print a short hash of the files under DIR (names and contents; build leftovers ignored), so
# that scripts/make-sandbox-runtime.sh and images/build.sh rebuild when a source changed.
#
# Usage: images/content-hash.sh DIR
set -euo pipefail
cd "${1:?usage: images/content-hash.sh DIR}"
find . -type f ! -path '*/__pycache__/*' ! -path '*/build/*' ! -path '*.egg-info/*' -print0 \
  | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16
