#!/usr/bin/env bash
# Part of `make test` (scripts/check-local-stack.sh, while make dev is up): the
# contract fuzzer, schemathesis, against the local stack with openapi.yaml, in
# every phase including the stateful one (the document's links). Settings and
# the reasons for each: tests/contract/schemathesis.toml, docs/testing.md.
# Usage: bash scripts/check-contract.sh <the functions' base URL> <an allowed origin>
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"
base=${1:?base URL}
origin=${2:?allowed origin}
shift 2
mkdir -p .local/contract
# The local credentials the IAM routes' local check accepts (.env.local).
set -a; source .env.local; set +a
# Nothing new in the tree (no __pycache__ beside the hooks, Hypothesis's
# storage under .local/): cargo lambda watch would restart every function on
# the new files, mid-request.
export HYPOTHESIS_STORAGE_DIRECTORY="$root/.local/contract/hypothesis" PYTHONDONTWRITEBYTECODE=1 \
  SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$root/tests/contract" FUZZ_BASE_URL="$base"
fuzz() { # <phases> <user> [schemathesis options]
  local phases=$1 user=$2
  shift 2
  FUZZ_USER="$user" .tools/venv/bin/schemathesis --config-file tests/contract/schemathesis.toml \
    run openapi.yaml --url "$base" --header "Origin: $origin" --phases "$phases" \
    --seed "${FUZZ_SEED:-20261130}" --workers 1 --no-color --report junit \
    --report-dir ".local/contract/$phases" "$@" >".local/contract/$phases.txt" 2>&1 \
    || { cat ".local/contract/$phases.txt"; return 1; }
  sed -n '/^=* SUMMARY =*$/,$p' ".local/contract/$phases.txt" | grep -E '^  (✅|❌|⏭|⚠️|🚫)|generated|^=+ .* in '
}
# Every operation, each on its own (examples, coverage, fuzzing), as a user of
# its own; then sequences along the document's links, as a user who has two
# real connections (the first part erases its user: DELETE /link/me).
fuzz examples,coverage,fuzzing "contract-fuzzer-$$" "$@"
.tools/venv/bin/python tests/contract/seed.py "$base" "contract-links-$$" 2
fuzz stateful "contract-links-$$" "$@"
