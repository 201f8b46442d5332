#!/usr/bin/env bash
# Refreshes the UI's vendored JavaScript from pinned npm packages (`npm pack`, no build
# step): uPlot (MIT), the charting library the pages ship, into crates/plinth-api/assets/
# vendor/uplot/; axe-core (MPL-2.0), the accessibility checker only the browser tests inject
# into pages, into crates/plinth/tests/vendor/axe-core/. Only the dist files in use and the
# licenses are kept. Never edit the vendored files by hand.
set -euo pipefail
cd "$(dirname "$0")/../.."
UPLOT_VERSION=1.6.32
AXE_VERSION=4.14.1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$UPLOT_VERSION" "axe-core@$AXE_VERSION" >/dev/null)
mkdir -p "$tmp/uplot" "$tmp/axe"
tar xzf "$tmp/uplot-$UPLOT_VERSION.tgz" -C "$tmp/uplot"
tar xzf "$tmp/axe-core-$AXE_VERSION.tgz" -C "$tmp/axe"
out=crates/plinth-api/assets/vendor/uplot
mkdir -p "$out"
cp "$tmp/uplot/package/dist/uPlot.iife.min.js" "$tmp/uplot/package/dist/uPlot.min.css" "$out/"
cp "$tmp/uplot/package/LICENSE" "$out/LICENSE"
echo "uPlot $UPLOT_VERSION (npm: uplot)" >"$out/VERSION"
out=crates/plinth/tests/vendor/axe-core
mkdir -p "$out"
cp "$tmp/axe/package/axe.min.js" "$out/"
cp "$tmp/axe/package/LICENSE" "$tmp/axe/package/LICENSE-3RD-PARTY.txt" "$out/"
echo "axe-core $AXE_VERSION (npm: axe-core)" >"$out/VERSION"
echo "vendored uPlot $UPLOT_VERSION and axe-core $AXE_VERSION"
