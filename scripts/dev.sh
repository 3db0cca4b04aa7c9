#!/usr/bin/env bash
# `make dev`: the whole Link flow locally, offline: DynamoDB Local, the OFAuth
# simulator (unless .env.local points at the real OFAuth API), `cargo lambda
# watch` serving the production routes, the publisher on the table's stream with
# an EventBridge stand-in (link-dev stream), and the demo page. Ctrl-C stops
# everything.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"

DDB_PORT=${DDB_PORT:-8000}
SIM_PORT=${SIM_PORT:-8787}
WATCH_PORT=${WATCH_PORT:-9000}
DEMO_PORT=${DEMO_PORT:-8080}
EVENTS_PORT=${EVENTS_PORT:-8788}

ensure_rust
bash scripts/ensure-python-tools.sh
export PATH="$root/.tools/venv/bin:$PATH"

if [ ! -f .env.local ]; then
  step "creating .env.local from .env.example (edit it to use your OFAuth sandbox key)"
  cp .env.example .env.local
fi
set -a; source .env.local; set +a
# Ports chosen on the command line win over the env file.
export DYNAMODB_ENDPOINT="http://127.0.0.1:$DDB_PORT"
use_sim=true
case "${OFAUTH_BASE_URL:-}" in
  http://127.0.0.1:*|http://localhost:*|"") export OFAUTH_BASE_URL="http://127.0.0.1:$SIM_PORT" ;;
  *) use_sim=false ;;
esac
# The simulator's account id means nothing to the real OFAuth API.
if ! $use_sim && [ "${OFAUTH_ACCOUNT_ID:-}" = acct_sim_primary ]; then export OFAUTH_ACCOUNT_ID=; fi
export CALLBACK_URL="http://localhost:$WATCH_PORT/link/callback"
export APP_URL="http://localhost:$DEMO_PORT" ALLOWED_ORIGINS="http://localhost:$DEMO_PORT"

require_free_port "$DDB_PORT" DDB_PORT
require_free_port "$WATCH_PORT" WATCH_PORT
require_free_port "$DEMO_PORT" DEMO_PORT
require_free_port "$EVENTS_PORT" EVENTS_PORT
$use_sim && require_free_port "$SIM_PORT" SIM_PORT

pids=()
cleanup() {
  trap - EXIT INT TERM
  echo; step "stopping"
  for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
set -m  # each background job in its own process group, so Ctrl-C stops its children too

step "building the local tools and functions (the first build takes about 3 minutes on 2 cores)"
cargo build -p link-dev -p ofauth-sim -p init-session -p callback -p complete -p webhook -p connections -p reconcile -p publisher --features dev-identity 2>&1 \
  | grep --line-buffered -E '^ *(Compiling|Finished|error|warning: unused)' | awk '{ n++; printf "\r    %d crates built%s", n, ($1 == "Finished" ? "\n" : "") }'
[ -x target/debug/link-dev ] || die "the build failed; run cargo build to see why"

bash scripts/ensure-dynamodb-local.sh
step "starting DynamoDB Local on port $DDB_PORT"
start_dynamodb_local "$DDB_PORT"; pids+=("$DDB_PID")
target/debug/link-dev create-table | sed 's/^/    /'

if $use_sim; then
  step "starting the OFAuth simulator on port $SIM_PORT"
  SIM_PORT=$SIM_PORT SIM_API_KEY="$OFAUTH_API_KEY" SIM_ALLOWED_REDIRECTS="$CALLBACK_URL" SIM_ALLOWED_ORIGINS="$APP_URL" \
    SIM_WEBHOOK_URL="http://localhost:$WATCH_PORT/link/webhook" SIM_WEBHOOK_SECRET="${OFAUTH_WEBHOOK_SECRET:-}" \
    target/debug/ofauth-sim >.local/ofauth-sim.log 2>&1 &
  pids+=($!)
  wait_port "$SIM_PORT" 30 || die "the simulator did not start (see .local/ofauth-sim.log)"
else
  step "using the real OFAuth API at $OFAUTH_BASE_URL (register $CALLBACK_URL in your client app)"
fi

step "starting cargo lambda watch on port $WATCH_PORT (functions compile on first request)"
# --disable-cors: watch's own CORS layer allows every origin; the functions
# answer CORS themselves (only ALLOWED_ORIGINS), as API Gateway does deployed.
# --features dev-identity: the development identity switch (x-user-id), which
# only a local build has (the deployed bootstraps are checked for its absence).
cargo lambda watch --invoke-port "$WATCH_PORT" --disable-cors --features dev-identity --env-file .env.local \
  --env-var "DYNAMODB_ENDPOINT=$DYNAMODB_ENDPOINT" --env-var "OFAUTH_BASE_URL=$OFAUTH_BASE_URL" \
  --env-var "CALLBACK_URL=$CALLBACK_URL" --env-var "APP_URL=$APP_URL" --env-var "OFAUTH_ACCOUNT_ID=${OFAUTH_ACCOUNT_ID:-}" \
  --env-var "ALLOWED_ORIGINS=$ALLOWED_ORIGINS" --env-var "EVENTBRIDGE_ENDPOINT=http://127.0.0.1:$EVENTS_PORT" \
  >.local/watch.log 2>&1 &
pids+=($!)
wait_port "$WATCH_PORT" 120 || die "cargo lambda watch did not start (see .local/watch.log)"

step "the publisher on the table's stream, EventBridge stand-in on port $EVENTS_PORT"
WATCH_PORT=$WATCH_PORT EVENTS_PORT=$EVENTS_PORT target/debug/link-dev stream >.local/stream.log 2>&1 &
pids+=($!)
wait_port "$EVENTS_PORT" 30 || die "link-dev stream did not start (see .local/stream.log)"

step "serving the demo page on port $DEMO_PORT"
DEMO_PORT=$DEMO_PORT DEMO_API_BASE="http://localhost:$WATCH_PORT" DEMO_EVENTS_URL="http://127.0.0.1:$EVENTS_PORT" \
  target/debug/link-dev serve-demo demo \
  >.local/demo.log 2>&1 &
pids+=($!)
wait_port "$DEMO_PORT" 30 || die "the demo server did not start (see .local/demo.log)"

cat <<TXT

Ready. Open the demo:  http://localhost:$DEMO_PORT
  Sign in with any user id, click "Connect account" (redirect) or "Connect
  (popup)", approve on the simulator's page, and the connection is listed.

API (as deployed, under cargo lambda watch):
  POST   http://localhost:$WATCH_PORT/link/session            (header x-user-id: <any user id>)
  GET    http://localhost:$WATCH_PORT/link/callback           (OFAuth sends the browser here)
  POST   http://localhost:$WATCH_PORT/link/complete           (header x-user-id; the app finishes the flow)
  POST   http://localhost:$WATCH_PORT/link/webhook            (OFAuth's signed webhooks)
  GET    http://localhost:$WATCH_PORT/link/connections        (header x-user-id)
  DELETE http://localhost:$WATCH_PORT/link/connections/<id>   (header x-user-id)
  GET    http://localhost:$WATCH_PORT/platform/users/<user id>/connections   (SigV4, the local credentials; docs/platform.md)
  GET    http://localhost:$WATCH_PORT/platform/connections/<id>              (SigV4)
  Reconciler, on demand (it runs every 15 minutes when deployed):  make reconcile
  The platform's events (EventBridge stand-in):  curl http://127.0.0.1:$EVENTS_PORT/events
  OFAuth: $OFAUTH_BASE_URL    DynamoDB Local: $DYNAMODB_ENDPOINT (table $TABLE_NAME)

Logs: .local/*.log   Stop: Ctrl-C
TXT
wait
