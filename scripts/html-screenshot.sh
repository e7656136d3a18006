#!/usr/bin/env bash
# Render a perfguard HTML report in headless Chromium and save a screenshot, to
# check by eye that the page and its plots render.
#
#   scripts/html-screenshot.sh report.html report.png [WIDTHxHEIGHT]
#
# Uses the first of chromium, chromium-browser, google-chrome on PATH (Debian:
# apt-get install chromium), or $CHROMIUM. A fresh profile in a temporary
# directory; no network, no first-run, no sync.
set -euo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 REPORT.html SCREENSHOT.png [WIDTHxHEIGHT]" >&2
    exit 2
fi
html=$(realpath "$1")
png=$(realpath -m "$2")
size=${3:-1200x2000}

browser=${CHROMIUM:-}
if [[ -z "$browser" ]]; then
    for candidate in chromium chromium-browser google-chrome; do
        if command -v "$candidate" >/dev/null 2>&1; then
            browser=$candidate
            break
        fi
    done
fi
if [[ -z "$browser" ]]; then
    echo "$0: no chromium, chromium-browser or google-chrome on PATH (apt-get install chromium)" >&2
    exit 2
fi

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT

"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --screenshot="$png" --window-size="${size/x/,}" \
    "file://$html" >"$profile/chromium.log" 2>&1 || {
    echo "$0: $browser failed; its output:" >&2
    tail -n 20 "$profile/chromium.log" >&2
    exit 1
}
if [[ ! -s "$png" ]]; then
    echo "$0: $browser wrote no screenshot to $png" >&2
    tail -n 20 "$profile/chromium.log" >&2
    exit 1
fi
echo "$png"
