#!/usr/bin/env bash
# Refresh the web UI's one vendored library from the npm registry: lit-html, the
# templating the UI renders with (escapes every value; no build step needed). Prints the
# sha256 to record in src/dockyard/ui/static/vendor/VENDORED.json, which
# tests/unit/test_ui_assets.py checks the committed file against.
#   scripts/vendor-ui.sh 3.3.3
set -euo pipefail
version=${1:?usage: scripts/vendor-ui.sh VERSION}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack "lit-html@$version" --silent >/dev/null && tar xzf "lit-html-$version.tgz")
cp "$work/package/lit-html.js" "$here/src/dockyard/ui/static/vendor/lit-html.js"
cp "$work/package/LICENSE" "$here/src/dockyard/ui/static/vendor/lit-html.LICENSE"
echo "lit-html $version: sha256 $(sha256sum "$here/src/dockyard/ui/static/vendor/lit-html.js" | cut -d' ' -f1)"
echo "npm integrity: $(npm view "lit-html@$version" dist.integrity)"
