#!/usr/bin/env bash
# Part of `make test`: brings up `make dev` on free ports, sends every invoke/ payload
# through `cargo lambda invoke`, runs make smoke and the browser test (headless
# Chromium on the demo page), runs docs/platform.md's read-API example, make
# replay-events and the contract fuzzer (scripts/check-contract.sh), then stops
# the stack as Ctrl-C would and checks that nothing it started is left listening.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"

bash scripts/ensure-chromium.sh
bash scripts/ensure-browser-test.sh

export DDB_PORT=$(free_port) SIM_PORT=$(free_port) WATCH_PORT=$(free_port) DEMO_PORT=$(free_port) EVENTS_PORT=$(free_port)
step "starting the local stack (DynamoDB Local :$DDB_PORT, simulator :$SIM_PORT, watch :$WATCH_PORT)"
# Its own process group with default signal handling, as in a terminal; Ctrl-C
# sends SIGINT to the whole foreground group, and so does stop_dev.
set -m
bash scripts/dev.sh >.local/dev-check.log 2>&1 &
dev=$!
set +m
stop_dev() { kill -INT -- "-$dev" 2>/dev/null || true; wait "$dev" 2>/dev/null || true; }
trap stop_dev EXIT
for _ in $(seq 1 300); do
  grep -q '^Ready\.' .local/dev-check.log && break
  kill -0 "$dev" 2>/dev/null || { cat .local/dev-check.log; die "make dev exited early"; }
  sleep 1
done
grep -q '^Ready\.' .local/dev-check.log || { cat .local/dev-check.log; die "make dev did not come up"; }
bash scripts/invoke-all.sh
step "make smoke against the local stack"
make --no-print-directory smoke URL="http://localhost:$WATCH_PORT" ORIGIN="http://localhost:$DEMO_PORT"

step "browser test: the demo flow in headless Chromium"
rm -rf .local/screenshots
table=$(grep -E '^TABLE_NAME=' .env.local | cut -d= -f2)
DEMO_URL="http://localhost:$DEMO_PORT" SIM_URL="http://127.0.0.1:$SIM_PORT" LINK_DEV="$root/target/debug/link-dev" \
  SCREENSHOT_DIR="$root/.local/screenshots" DYNAMODB_ENDPOINT="http://127.0.0.1:$DDB_PORT" TABLE_NAME="$table" \
  node --test tests/browser/flow.test.mjs
echo "    screenshots: .local/screenshots/"

step "docs/platform.md's read-API example (Python, SigV4) against the local stack"
example=$(awk '/^# platform-api-example$/{f=1} f&&/^```$/{exit} f' docs/platform.md)
[ -n "$example" ] || die "docs/platform.md lost its read-API example (# platform-api-example)"
out=$(set -a; source .env.local; set +a
  OFAUTH_LINK_API="http://localhost:$WATCH_PORT" USER_ID=alice .tools/venv/bin/python -c "$example")
echo "$out" | sed 's/^/    /'
# The browser test left alice one active connection (the popup's).
echo "$out" | grep -qE '^conn_[0-9a-f]+ active ' || die "the example did not list alice's active connection"

step "make replay-events: the publisher re-announces the last hour's connections on the local bus"
before=$(curl -fsS "http://127.0.0.1:$EVENTS_PORT/events" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
out=$(make --no-print-directory replay-events SINCE="$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)" UNTIL="$(date -u -d '+1 minute' +%Y-%m-%dT%H:%M:%SZ)")
echo "$out" | sed 's/^/    /'
replayed=$(curl -fsS "http://127.0.0.1:$EVENTS_PORT/events" | python3 -c '
import json, sys
events = json.load(sys.stdin)[int(sys.argv[1]):]
print(sum(1 for e in events if e["detail"].get("replayed") is True))' "$before")
[ "$replayed" -ge 1 ] || die "make replay-events re-announced nothing on the local bus"
echo "    $replayed events re-announced (replayed: true)"

step "contract fuzzer: schemathesis with openapi.yaml against the local stack (every phase, stateful links included)"
bash scripts/check-contract.sh "http://localhost:$WATCH_PORT" "http://localhost:$DEMO_PORT"
stop_dev
trap - EXIT
for p in "$DDB_PORT" "$SIM_PORT" "$WATCH_PORT" "$DEMO_PORT" "$EVENTS_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then die "port $p still in use after stopping make dev"; fi
done
step "local stack stopped cleanly"
