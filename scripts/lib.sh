# Helpers shared by the project's scripts. Source it; do not run it.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Each step prints the time since the outermost script started (shared with the
# scripts it runs), so slow steps show in CI logs.
: "${LINK_STARTED_AT:=$(date +%s)}"
export LINK_STARTED_AT
step() { printf '==> [%4ds] %s\n' "$(($(date +%s) - LINK_STARTED_AT))" "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# Waits until something listens on 127.0.0.1:$1 (at most $2 seconds).
wait_port() {
  local port=$1 limit=${2:-60} i=0
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    i=$((i + 1)); [ "$i" -le $((limit * 10)) ] || return 1; sleep 0.1
  done
}

# Fails with a clear message when a port is taken.
require_free_port() {
  local port=$1 var=$2
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is already in use; choose another with $var=<port>"
  fi
}

# Starts DynamoDB Local (in memory) on port $1 through `link-dev dynamodb`, the one
# launcher (the tests use the same one); sets DDB_PID. Needs target/debug/link-dev.
start_dynamodb_local() {
  [ -x "$root/target/debug/link-dev" ] || die "build link-dev first (cargo build -p link-dev)"
  "$root/target/debug/link-dev" dynamodb --port "$1" >"$root/.local/dynamodb.log" 2>&1 &
  DDB_PID=$!
  wait_port "$1" 60 || die "DynamoDB Local did not start (see .local/dynamodb.log)"
}

# Rust toolchain components the checks need.
ensure_rust() {
  command -v cargo >/dev/null || die "cargo is needed: install Rust from rustup"
  if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    step "adding rustfmt and clippy"
    rustup component add rustfmt clippy
  fi
}

# The stamp scripts/ensure-python-tools.sh leaves once .tools/venv holds the
# pinned tools (cargo-lambda, Zig, the SAM CLI, cfn-lint).
python_tools_stamp() { echo "$root/.tools/venv/.installed-$(sha1sum "$root/scripts/python-tools.txt" | cut -c1-12)"; }

mkdir -p "$root/.local"
