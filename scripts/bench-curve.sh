#!/usr/bin/env bash
# `make bench-curve`: the functions under Lambda's CPU share at 128, 256 and
# 512 MB (lambda-bench --memory), back to back and at a steady 20 invocations a
# second, then the curve with what each size costs (bench-curve). Run after
# `make bench`, which builds the release binaries. Where the machine has no
# writable cgroup cpu controller, lambda-bench says so and the sizes are skipped.
# Extra arguments go to every lambda-bench run, e.g. ARGS="--runs 100".
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"
ensure_rust
bash scripts/ensure-dynamodb-local.sh
cargo build --quiet -p lambda-bench
out=.local/bench/curve
rm -rf "$out" && mkdir -p "$out"
for mb in 128 256 512; do
  for mode in seq rate; do
    step "lambda-bench --memory $mb ($mode)"
    extra=()
    [ "$mode" = rate ] && extra=(--rate 20)
    target/debug/lambda-bench --profile release --runs 300 --starts 5 --memory "$mb" "${extra[@]}" "$@" \
      | tee "$out/$mb-$mode.txt"
    if grep -q skipped "$out/$mb-$mode.txt"; then
      exit 0
    fi
    cp .local/bench/results.json "$out/$mb-$mode.json"
  done
done
step "the curve"
target/debug/bench-curve "$out"/*.json | tee "$out/curve.md"
