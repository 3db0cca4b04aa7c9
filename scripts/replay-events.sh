#!/usr/bin/env bash
# `make replay-events`: the publisher re-announces, from the table, the current
# state of every connection changed in a window (and every erasure made in
# it), as events with the identities their own changes had (docs/operations.md,
# publisher-dead-letters). It runs as the publisher function itself: only its
# role may put events on the stack's bus.
#
#   make replay-events SINCE=2026-12-06T10:00:00Z UNTIL=2026-12-06T11:00:00Z   a window
#   make replay-events MESSAGE=dead-letter.json                                 one on-failure queue message
#   make replay-events QUEUE=<queue url>                                        every message of the queue, each deleted once replayed
# with STACK=<stack name> against the deployed stack (the AWS CLI, your
# credentials: lambda:InvokeFunction on <stack>-publisher, and for QUEUE
# sqs:ReceiveMessage/DeleteMessage), without it against `make dev`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"

stack=${STACK:-}
payload_for_window() { printf '{"replay":{"since":"%s","until":"%s"}}' "$1" "$2"; }
payload_for_message() {
  python3 -c 'import json,sys; print(json.dumps({"replay": {"deadLetter": json.loads(sys.stdin.read())}}))'
}

# Invokes the publisher with $1 as the payload; prints its answer; fails on an error.
invoke() {
  local out
  if [ -n "$stack" ]; then
    out=$(mktemp)
    aws lambda invoke --function-name "$stack-publisher" --cli-binary-format raw-in-base64-out \
      --payload "$1" "$out" >/dev/null
    cat "$out"; echo
    if grep -q '"errorMessage"' "$out"; then rm -f "$out"; die "the replay failed (its answer above); run it again"; fi
    rm -f "$out"
  else
    out=$(PATH="$root/.tools/venv/bin:$PATH" cargo lambda invoke publisher --invoke-port "${WATCH_PORT:-9000}" \
      --data-ascii "$1" 2>&1) || { echo "$out"; die "the replay failed; run it again"; }
    echo "$out"
    case "$out" in *'"connections"'*) ;; *) die "the replay failed (its answer above); run it again" ;; esac
  fi
}

if [ -n "${SINCE:-}" ] || [ -n "${UNTIL:-}" ]; then
  [ -n "${SINCE:-}" ] && [ -n "${UNTIL:-}" ] || die "give both SINCE and UNTIL (RFC 3339, e.g. 2026-12-06T10:00:00Z)"
  invoke "$(payload_for_window "$SINCE" "$UNTIL")"
elif [ -n "${MESSAGE:-}" ]; then
  [ -f "$MESSAGE" ] || die "MESSAGE=$MESSAGE: no such file (the body of one on-failure queue message)"
  invoke "$(payload_for_message < "$MESSAGE")"
elif [ -n "${QUEUE:-}" ]; then
  [ -n "$stack" ] || die "QUEUE needs STACK (the on-failure queue is the deployed stack's)"
  while :; do
    msg=$(aws sqs receive-message --queue-url "$QUEUE" --max-number-of-messages 1 --wait-time-seconds 1 \
      --query 'Messages[0].[ReceiptHandle,Body]' --output json)
    [ "$msg" = "null" ] && { step "the queue is empty"; break; }
    handle=$(printf '%s' "$msg" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0])')
    body=$(printf '%s' "$msg" | python3 -c 'import json,sys; print(json.load(sys.stdin)[1])')
    invoke "$(printf '%s' "$body" | payload_for_message)"
    aws sqs delete-message --queue-url "$QUEUE" --receipt-handle "$handle"
    step "replayed and deleted one message"
  done
else
  die "give SINCE and UNTIL, MESSAGE=<file> or QUEUE=<url> (see scripts/replay-events.sh)"
fi
