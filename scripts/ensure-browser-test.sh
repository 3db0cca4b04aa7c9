#!/usr/bin/env bash
# Installs the browser test's npm packages (playwright-core; no browser download:
# the test drives Debian's chromium).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root/tests/browser"
[ -d node_modules/playwright-core ] && exit 0
step "installing the browser test's npm packages (playwright-core)"
npm ci --silent --no-audit --no-fund
