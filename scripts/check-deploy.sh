#!/usr/bin/env bash
# Offline deployment checks (part of `make test`): cfn-lint, sam validate --lint,
# and sam build producing an arm64 bootstrap per function.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"

bash scripts/ensure-python-tools.sh
export PATH="$root/.tools/venv/bin:$PATH" SAM_CLI_TELEMETRY=0
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  step "adding the aarch64-unknown-linux-gnu Rust target"
  rustup target add aarch64-unknown-linux-gnu
fi

step "cfn-lint template.yaml"
cfn-lint template.yaml
step "sam validate --lint"
sam validate --lint --region us-east-1
step "sam build (release, arm64, cargo-lambda + Zig; the first run takes a few minutes)"
sam build --region us-east-1 >.local/sam-build.log 2>&1 || { tail -40 .local/sam-build.log; die "sam build failed (log: .local/sam-build.log)"; }
for fn in InitSessionFunction CallbackFunction WebhookFunction ConnectionsFunction; do
  bin=".aws-sam/build/$fn/bootstrap"
  [ -f "$bin" ] || die "sam build did not produce $bin"
  python3 - "$bin" <<'PY'
import struct, sys, os
path = sys.argv[1]
with open(path, "rb") as f:
    head = f.read(20)
assert head[:4] == b"\x7fELF", f"{path} is not an ELF file"
machine = struct.unpack("<H", head[18:20])[0]
assert machine == 0xB7, f"{path} is not arm64 (e_machine={machine:#x})"
size = os.path.getsize(path) / 1048576
print(f"    {path}: arm64 ELF, {size:.2f} MiB")
assert size <= 6.0, f"{path} is {size:.2f} MiB, over the 6 MiB budget"
PY
done
