#!/usr/bin/env bash
# Writes third_party/mochi/storeedge.patch: how the tree's mochi differs from
# the release it was taken from (test files, the patch and STOREEDGE.md aside).
set -euo pipefail
cd "$(dirname "$0")/.."
version=v2.7.9
upstream=$(go mod download -json "github.com/mochi-mqtt/server/v2@$version" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
[ -d "$upstream" ] || { echo "mochi $version is not in the module cache" >&2; exit 1; }
out=third_party/mochi/storeedge.patch
(
  cd third_party/mochi
  find . -name '*.go' ! -name '*_test.go' | sort | while read -r f; do
    if [ -f "$upstream/$f" ]; then
      diff -u --label "a/${f#./}" --label "b/${f#./}" "$upstream/$f" "$f" || true
    fi
  done
) > "$out"
echo "wrote $out ($(grep -c '^@@' "$out") hunks)"
