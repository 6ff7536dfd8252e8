#!/usr/bin/env bash
# Renders a policy-lab report in headless Chromium, offline, and checks what the browser built:
# every chart an SVG element laid out with a size, the summary table present, no script, and a
# screenshot that is not blank. Without a report argument it checks the committed sample.
#
# Usage: scripts/check-lab-report.sh [REPORT.html]   (needs `chromium`; Debian: apt-get install chromium)
set -euo pipefail

cd "$(dirname "$0")/.."
report="$(realpath "${1:-docs/lab-regional-outage.html}")"
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [[ -z "$browser" ]]; then
    echo "no chromium found" >&2
    exit 2
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-dev-shm-usage
    --proxy-server=127.0.0.1:9 --proxy-bypass-list='<-loopback>')

# The DOM after layout: the browser parsed the document and its inline SVG.
timeout 60 "$browser" "${flags[@]}" --dump-dom "file://$report" >"$out/dom.html" 2>/dev/null
svgs=$(grep -o '<svg' "$out/dom.html" | wc -l)
expected=$(grep -o '<svg' "$report" | wc -l)
if [[ "$svgs" -eq 0 || "$svgs" -ne "$expected" ]]; then
    echo "FAIL: the browser built $svgs SVG charts, the report has $expected" >&2
    exit 1
fi
grep -q '<table>' "$out/dom.html" || { echo "FAIL: no summary table" >&2; exit 1; }
if grep -q '<script' "$out/dom.html"; then
    echo "FAIL: the report runs a script" >&2
    exit 1
fi

# A screenshot: a blank page compresses to almost nothing.
timeout 60 "$browser" "${flags[@]}" --window-size=1100,3000 --screenshot="$out/shot.png" \
    "file://$report" >/dev/null 2>&1
size=$(stat -c %s "$out/shot.png")
if [[ "$size" -lt 20000 ]]; then
    echo "FAIL: the screenshot is $size bytes: blank?" >&2
    exit 1
fi
if [[ -n "${KEEP_SCREENSHOT:-}" ]]; then
    cp "$out/shot.png" "$KEEP_SCREENSHOT"
fi
echo "ok: $svgs charts rendered, screenshot $size bytes ($report)"
