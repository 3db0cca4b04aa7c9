#!/usr/bin/env bash
# Installs the browser client's build tools (client/: typescript, which checks
# the library and writes its .d.ts, and openapi-typescript, which makes its
# types from openapi.yaml). The library itself has no runtime dependencies.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root/client"
[ -d node_modules/typescript ] && [ -d node_modules/openapi-typescript ] && exit 0
step "installing the client's build tools (typescript, openapi-typescript)"
npm ci --silent --no-audit --no-fund
