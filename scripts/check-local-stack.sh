#!/usr/bin/env bash
# Part of `make test`: brings up `make dev` on free ports, sends every events/ file
# through `cargo lambda invoke`, then stops the stack as Ctrl-C would and checks
# that nothing it started is left listening.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"

export DDB_PORT=$(free_port) SIM_PORT=$(free_port) WATCH_PORT=$(free_port) DEMO_PORT=$(free_port)
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
bash scripts/invoke-events.sh
stop_dev
trap - EXIT
for p in "$DDB_PORT" "$SIM_PORT" "$WATCH_PORT" "$DEMO_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then die "port $p still in use after stopping make dev"; fi
done
step "local stack stopped cleanly"
