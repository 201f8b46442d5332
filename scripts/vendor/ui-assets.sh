#!/usr/bin/env bash
# Refreshes the UI's vendored JavaScript from pinned npm packages (`npm pack`, no build
# step): uPlot (MIT), the charting library the pages ship, into crates/plinth-api/assets/
# vendor/uplot/; a few Lucide icons (ISC; lucide-static), compiled into the pages, into
# crates/plinth-api/assets/vendor/lucide/; axe-core (MPL-2.0), the accessibility checker only
# the browser tests inject into pages, into crates/plinth/tests/vendor/axe-core/. Only the
# files in use and the licenses are kept. Never edit the vendored files by hand.
set -euo pipefail
cd "$(dirname "$0")/../.."
UPLOT_VERSION=1.6.32
AXE_VERSION=4.14.1
LUCIDE_VERSION=1.87.0
ICONS="folder file copy menu"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$UPLOT_VERSION" "axe-core@$AXE_VERSION" "lucide-static@$LUCIDE_VERSION" >/dev/null)
mkdir -p "$tmp/uplot" "$tmp/axe" "$tmp/lucide"
tar xzf "$tmp/lucide-static-$LUCIDE_VERSION.tgz" -C "$tmp/lucide"
out=crates/plinth-api/assets/vendor/lucide
mkdir -p "$out"
for icon in $ICONS; do cp "$tmp/lucide/package/icons/$icon.svg" "$out/"; done
cp "$tmp/lucide/package/LICENSE" "$out/LICENSE"
echo "lucide-static $LUCIDE_VERSION (npm: lucide-static): $ICONS" >"$out/VERSION"
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
echo "vendored uPlot $UPLOT_VERSION, Lucide $LUCIDE_VERSION icons and axe-core $AXE_VERSION"
