#!/usr/bin/env bash
# `make dev`: the whole Link flow locally, offline: DynamoDB Local, the OFAuth
# simulator (unless .env.local points at the real OFAuth API), and
# `cargo lambda watch` serving the production routes. Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"

DDB_PORT=${DDB_PORT:-8000}
SIM_PORT=${SIM_PORT:-8787}
WATCH_PORT=${WATCH_PORT:-9000}

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
export CALLBACK_URL="http://localhost:$WATCH_PORT/link/callback"

require_free_port "$DDB_PORT" DDB_PORT
require_free_port "$WATCH_PORT" WATCH_PORT
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

step "building the local tools (the first build takes about 3 minutes on 2 cores)"
cargo build --quiet -p link-dev -p ofauth-sim

step "starting DynamoDB Local on port $DDB_PORT"
start_dynamodb_local "$DDB_PORT"; pids+=("$DDB_PID")
target/debug/link-dev create-table | sed 's/^/    /'

if $use_sim; then
  step "starting the OFAuth simulator on port $SIM_PORT"
  SIM_PORT=$SIM_PORT SIM_API_KEY="$OFAUTH_API_KEY" SIM_ALLOWED_REDIRECTS="$CALLBACK_URL" \
    SIM_WEBHOOK_URL="http://localhost:$WATCH_PORT/link/webhook" SIM_WEBHOOK_SECRET="${OFAUTH_WEBHOOK_SECRET:-}" \
    target/debug/ofauth-sim >.local/ofauth-sim.log 2>&1 &
  pids+=($!)
  wait_port "$SIM_PORT" 30 || die "the simulator did not start (see .local/ofauth-sim.log)"
else
  step "using the real OFAuth API at $OFAUTH_BASE_URL (register $CALLBACK_URL in your client app)"
fi

step "starting cargo lambda watch on port $WATCH_PORT (functions compile on first request)"
cargo lambda watch --invoke-port "$WATCH_PORT" --env-file .env.local \
  --env-var "DYNAMODB_ENDPOINT=$DYNAMODB_ENDPOINT" --env-var "OFAUTH_BASE_URL=$OFAUTH_BASE_URL" \
  --env-var "CALLBACK_URL=$CALLBACK_URL" >.local/watch.log 2>&1 &
pids+=($!)
wait_port "$WATCH_PORT" 120 || die "cargo lambda watch did not start (see .local/watch.log)"

cat <<TXT

Ready.
  POST   http://localhost:$WATCH_PORT/link/session            (header x-user-id: <any user id>)
  GET    http://localhost:$WATCH_PORT/link/callback           (OFAuth sends the browser here)
  POST   http://localhost:$WATCH_PORT/link/webhook            (OFAuth's signed webhooks)
  GET    http://localhost:$WATCH_PORT/link/connections        (header x-user-id)
  DELETE http://localhost:$WATCH_PORT/link/connections/<id>   (header x-user-id)
  OFAuth: $OFAUTH_BASE_URL    DynamoDB Local: $DYNAMODB_ENDPOINT (table $TABLE_NAME)

Try it:
  curl -s -X POST -H 'x-user-id: demo' http://localhost:$WATCH_PORT/link/session
  then open the "url" it returns, click Approve, and follow the redirect.
Logs: .local/*.log   Stop: Ctrl-C
TXT
wait
