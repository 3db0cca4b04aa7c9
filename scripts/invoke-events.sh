#!/usr/bin/env bash
# Sends every events/*.json through `cargo lambda invoke` to a running `make dev`
# stack and checks each answer against events/expected.json.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"
export PATH="$root/.tools/venv/bin:$PATH"
WATCH_PORT=${WATCH_PORT:-9000}
DDB_PORT=${DDB_PORT:-8000}
SIM_PORT=${SIM_PORT:-8787}
# The events are written for the demo app at localhost:8080; a stack started with
# another DEMO_PORT gets the same events pointed at its app.
APP="http://localhost:${DEMO_PORT:-8080}"
export APP
[ -f .env.local ] || die "start the stack first: make dev"
set -a; source .env.local; set +a
export DYNAMODB_ENDPOINT="http://127.0.0.1:$DDB_PORT" OFAUTH_BASE_URL="http://127.0.0.1:$SIM_PORT"

step "seeding what the events refer to"
cargo build --quiet -p link-dev
target/debug/link-dev seed-events events >/dev/null
failed=0 passed=0
for name in $(python3 -c 'import json; print(" ".join(sorted(json.load(open("events/expected.json")))))'); do
  read -r fn sign < <(python3 -c "import json; e = json.load(open('events/expected.json'))['$name']; print(e['function'], e.get('sign', ''))")
  file="events/$name.json"
  if [ "$APP" != "http://localhost:8080" ]; then
    sed "s|http://localhost:8080|$APP|g" "$file" >".local/event-$name.json"
    file=".local/event-$name.json"
  fi
  if [ -n "$sign" ]; then
    # Webhook signatures expire after 5 minutes: sign the event now.
    target/debug/link-dev sign-event "$file" "$sign" >".local/signed-$name.json.tmp"
    mv ".local/signed-$name.json.tmp" ".local/signed-$name.json"
    file=".local/signed-$name.json"
  fi
  out=$(cargo lambda invoke "$fn" --invoke-port "$WATCH_PORT" --data-file "$file" 2>&1) || true
  if python3 - "$name" "$out" <<'PY'
import json, os, sys
name, out = sys.argv[1], sys.argv[2]
exp = json.load(open("events/expected.json"))[name]
if "location" in exp:
    exp["location"] = exp["location"].replace("http://localhost:8080", os.environ["APP"])
try:
    resp = json.loads(out)
except ValueError:
    sys.exit(f"{name}: not a response: {out[:200]}")
headers = {k.lower(): v for k, v in (resp.get("headers") or {}).items()}
problems = []
if resp.get("statusCode") != exp["status"]:
    problems.append(f"status {resp.get('statusCode')} != {exp['status']}")
if "location" in exp and headers.get("location") != exp["location"]:
    problems.append(f"location {headers.get('location')} != {exp['location']}")
if "error" in exp and json.loads(resp.get("body") or "{}").get("error") != exp["error"]:
    problems.append(f"body {resp.get('body')}")
if problems:
    sys.exit(f"{name}: " + "; ".join(problems))
PY
  then passed=$((passed + 1)); echo "    ok   $name"; else failed=$((failed + 1)); fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
