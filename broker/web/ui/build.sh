#!/usr/bin/env bash
# Rebuilds the vendored browser files in ../static/vendor from the exact
# versions pinned in package-lock.json. The copies are committed, so building
# the broker needs neither npm nor a network; run this only to change a
# version (edit package.json, `npm install`, then this script).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$(dirname "$here")/static/vendor"
cd "$here"

# --ignore-scripts: nothing from the registry runs here; we only copy files.
npm ci --ignore-scripts --no-audit --no-fund

mkdir -p "$out"
# install -m 0644 instead of cp: the committed files do not depend on the
# umask or on the modes npm happened to unpack with.
install -m 0644 node_modules/mqtt/dist/mqtt.min.js "$out/mqtt.min.js"
install -m 0644 node_modules/mqtt/LICENSE.md "$out/mqtt.LICENSE.md"

version="$(node -p 'require("./node_modules/mqtt/package.json").version')"
echo "vendored mqtt $version into $out"
