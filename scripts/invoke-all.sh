#!/usr/bin/env bash
# Sends every invoke/*.json through `cargo lambda invoke` to a running `make dev`
# stack and checks each answer against invoke/expected.json (link-dev invoke-all).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"
export PATH="$root/.tools/venv/bin:$PATH"
[ -f .env.local ] || die "start the stack first: make dev"
set -a; source .env.local; set +a
export WATCH_PORT=${WATCH_PORT:-9000}
export DYNAMODB_ENDPOINT="http://127.0.0.1:${DDB_PORT:-8000}" OFAUTH_BASE_URL="http://127.0.0.1:${SIM_PORT:-8787}"
# The events are written for the demo app at localhost:8080; a stack started with
# another DEMO_PORT gets the same events pointed at its app.
export APP_URL="http://localhost:${DEMO_PORT:-8080}"
step "invoking every event through cargo lambda invoke"
cargo build --quiet -p link-dev --features link-shared/dev-identity
target/debug/link-dev invoke-all invoke
