#!/usr/bin/env bash
# Prepares the browser tests of the module settings page: Debian's headless Chromium, a CJK
# font for the Chinese screenshots and Node.js (each installed with apt when missing; needs root)
# and playwright-core from package-lock.json (npm ci). `npm test` itself installs nothing.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
cd "$(dirname "${BASH_SOURCE[0]}")"
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium chromium-driver)
[ -d /usr/share/fonts/opentype/noto ] || missing+=(fonts-noto-cjk)
command -v npm >/dev/null || missing+=(nodejs npm)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]} with apt" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

npm ci --no-audit --no-fund
