#!/usr/bin/env bash
# Builds the seven functions' release arm64 binaries in one cargo invocation, the
# way `sam build` (cargo-lambda, one function at a time) builds each: same flags,
# same package selection, same target directory. Cargo then links the seven in
# parallel, and the `sam build` that follows finds them fresh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"
export PATH="$root/.tools/venv/bin:$PATH"
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  step "adding the aarch64-unknown-linux-gnu Rust target"
  rustup target add aarch64-unknown-linux-gnu
fi
step "cargo lambda build --release --arm64 (the seven functions, one invocation)"
cargo lambda build --release --arm64 --bin init-session --bin callback --bin complete --bin webhook --bin connections --bin reconcile --bin publisher \
  >.local/arm64-build.log 2>&1 || { tail -40 .local/arm64-build.log; die "the arm64 build failed (log: .local/arm64-build.log)"; }
