#!/usr/bin/env bash
# The project's test command (`make test`): installs what it needs, then runs
# formatting, lints, every test against DynamoDB Local and the simulator, the
# deployment checks, the local stack with every event and the browser test, and
# a short benchmark pass. Each step prints the time since the start.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"

ensure_rust
# A fresh clone's run takes about 4.3 GB on disk (target/ and the installs); the
# free space is printed so that a full disk shows as such, not as a linker error.
free_mb=$(df -Pm . | awk 'NR == 2 { print $4 }')
step "free disk here: ${free_mb} MB (a fresh clone's run needs about 4,400 MB)"
[ "$free_mb" -ge 4400 ] || echo "warning: less free disk than a fresh run needs; the build may fail with 'No space left on device'" >&2
# The installs (Python tools, DynamoDB Local, Chromium, the browser test's and
# the client's npm packages) wait on the network, not the CPU: they run while the compiler does.
installs=()
for task in ensure-python-tools ensure-checkov ensure-dynamodb-local ensure-chromium ensure-browser-test ensure-client; do
  bash "scripts/$task.sh" >".local/install-$task.log" 2>&1 &
  installs+=("$!:$task")
done
# The deployment checks' arm64 release build (six fat-LTO links; about 7 of a
# fresh run's minutes when it ran alone) starts as soon as cargo-lambda is
# installed, at the lowest CPU priority, in a process group of its own: it
# takes only what the test build and the tests leave of the two cores (their
# serial phases, DynamoDB Local's and the browser's waits), and the deployment
# checks at the end find it done. Without the clippy wrapper below, as `sam
# build` builds, so that `sam build` finds it fresh. Not in a session of its own
# (setsid): Linux's autogroups weigh sessions against each other before nice
# values, and a build in its own session took half the CPU from the test build.
python_pid=${installs[0]%%:*}
stamp=$(python_tools_stamp)
set -m
bash -c '
  until [ -f "$1" ]; do kill -0 "$2" 2>/dev/null || { echo "the Python tools failed to install"; exit 1; }; sleep 1; done
  exec nice -n 19 bash scripts/build-arm64.sh' arm64 "$stamp" "$python_pid" >.local/arm64-background.log 2>&1 &
arm64=$!
set +m
cleanup=("kill -- -$arm64")
trap 'for c in "${cleanup[@]}"; do $c 2>/dev/null || true; done' EXIT
wait_installs() {
  for entry in "${installs[@]}"; do
    wait "${entry%%:*}" || { cat ".local/install-${entry#*:}.log"; die "${entry#*:} failed"; }
  done
  installs=()
}

step "cargo fmt --check"
cargo fmt --all --check
# Clippy lints while the tests and binaries build, in one compilation:
# `cargo clippy` is `cargo check` with clippy-driver as the workspace's rustc
# wrapper, and clippy-driver compiles too when asked to. So the workspace's
# crates go through clippy-driver (the same lints and `-D warnings` as `cargo
# clippy --all-targets -- -D warnings`), the dependencies through rustc once,
# and no separate check build of the dependencies is made (it was 3 of a fresh
# run's 16 minutes). Exported: every later cargo command here must see the same
# wrapper, or it would rebuild the workspace's crates.
RUSTC_WORKSPACE_WRAPPER=$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver) \
  || die "clippy-driver is needed (rustup component add clippy)"
export RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
step "building the tests and the functions' binaries, with clippy's lints (-D warnings)"
# `cargo test` builds a package's binaries only for that package's own
# integration tests; the raw-input tests (tools/lambda-bench) run every
# function's debug binary, so they are built here explicitly. Every cargo
# command here, and make dev's, has the same features (the local development
# identity switch, `dev-identity`), so none rebuilds what another built; the
# binaries are built without the dev-dependencies (as make dev's and `cargo
# lambda watch`'s builds are), which differ from the tests' only in regex's
# features (tools/link-dev/Cargo.toml says why). `--tests --examples`, not
# `--all-targets`: the same targets (there are no benches), without a test
# harness for the binaries and libraries that have no unit tests (`test =
# false` in their manifests).
cargo build --workspace --bins --features dev-identity
cargo test --workspace --tests --examples --features dev-identity --no-run
step "waiting for the installs"
wait_installs
step "browser client (client/): its types are openapi.yaml's, tsc (strict), unit tests"
(cd client && npm run -s check-types && npm run -s build && node --test --test-reporter=spec test/)
port=$(free_port)
step "starting DynamoDB Local on port $port"
start_dynamodb_local "$port"
cleanup+=("kill $DDB_PID")
export DYNAMODB_TEST_ENDPOINT="http://127.0.0.1:$port"

step "cargo test (DynamoDB Local + OFAuth simulator; the simulator's answers against OFAuth's SDK models)"
SCHEMA_CHECK_REQUIRED=1 cargo test --workspace --tests --features dev-identity 2>&1 | tee .local/cargo-test.log
summary=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } } END { printf "%d passed, %d failed", p, f }' .local/cargo-test.log)
kill "$DDB_PID" 2>/dev/null || true
unset DYNAMODB_TEST_ENDPOINT
step "no OpenSSL in the functions"
if cargo tree -p init-session -p callback -p complete -p webhook -p connections -p reconcile -p publisher -e normal -i openssl-sys >/dev/null 2>&1; then
  die "openssl-sys is in the dependency tree"
fi
bash scripts/check-local-stack.sh
step "benchmark, short pass (debug binaries; keeps the tool working, asserts no timings)"
# The debug binaries are the first step's (a `cargo build -p` of a few packages
# here would resolve other features and rebuild much of the graph).
target/debug/lambda-bench --profile debug --runs 20 --starts 2
step "benchmark, short pass under the 128 MB CPU quota (reports the budgets, asserts none; skips where cgroups are not writable)"
target/debug/lambda-bench --profile debug --runs 10 --starts 1 --memory 128 --rate 20
step "scale, smoke-sized: make bench-scale's list search at two rates, and its load driver (24 whole flows through the binaries; the search misses, half the webhooks are lost; fails if a connection is lost or bound to someone else)"
target/debug/bench-scale --rates 1,60 --delays 1 --trials 4 --preload 1000
target/debug/bench-scale --load 24 --envs 2 --concurrency 6 --return-delay-ms 300 --traffic 400 \
  --no-traffic-webhooks --webhook-loss-percent 50
step "waiting for the arm64 release build (started in the background after the installs)"
wait "$arm64" || { tail -40 .local/arm64-background.log; die "the arm64 build failed (log: .local/arm64-background.log)"; }
# As `sam build` runs: without the clippy wrapper the test build used.
env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS bash scripts/check-deploy.sh
step "all checks passed"
echo "$summary"
