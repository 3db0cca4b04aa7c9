#!/usr/bin/env bash
# `make bench`: builds the functions (release for this machine, and the arm64
# packages through sam build for their sizes) and runs lambda-bench.
# Extra arguments go to lambda-bench, e.g. `make bench ARGS="--runs 200"`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"
ensure_rust
bash scripts/ensure-dynamodb-local.sh
if [ "${SKIP_SAM_BUILD:-}" != 1 ]; then
  bash scripts/ensure-python-tools.sh
  export PATH="$root/.tools/venv/bin:$PATH" SAM_CLI_TELEMETRY=0
  bash scripts/build-arm64.sh
  step "sam build (arm64 packages, for their sizes)"
  sam build --region us-east-1 >.local/sam-build.log 2>&1 || die "sam build failed (.local/sam-build.log)"
fi
step "building the functions (release profile, this machine) and lambda-bench"
# Two invocations: `--bin` would also limit the functions' packages to that binary.
cargo build --release -p init-session -p callback -p complete -p webhook -p connections -p reconcile -p publisher
cargo build --release -p lambda-bench --bin bench-empty --bin bench-floor
cargo build -p lambda-bench
step "running the benchmark"
target/debug/lambda-bench --profile release "$@"
