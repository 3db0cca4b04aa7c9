#!/usr/bin/env bash
# Offline deployment checks (part of `make test`): cfn-lint, sam validate --lint, checkov,
# and sam build producing an arm64 bootstrap per function within the size budget.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"

bash scripts/ensure-python-tools.sh
export PATH="$root/.tools/venv/bin:$PATH" SAM_CLI_TELEMETRY=0
# With AWS's serverless rules (cfn-lint-serverless). Two of their warnings read
# only a function's own properties and do not apply here: WS1000 (tracing is
# Active through Globals, `EnableTracing`) and WS1004 (each function's log group
# is named with LoggingConfig, with its retention).
step "cfn-lint template.yaml (with AWS's serverless rules)"
cfn-lint template.yaml --append-rules cfn_lint_serverless.rules --ignore-checks WS1000 WS1004
cfn-lint edge/web-acl.yaml
step "sam validate --lint"
sam validate --lint --region us-east-1
bash scripts/ensure-checkov.sh
step "checkov (template.yaml, edge/web-acl.yaml; .checkov.yaml says what is skipped and why)"
for t in template.yaml edge/web-acl.yaml; do
  .tools/checkov/bin/checkov --config-file .checkov.yaml -f "$t" || die "checkov found problems in $t"
done
bash scripts/build-arm64.sh
step "sam build (finds the binaries just built fresh and packages them)"
sam build --region us-east-1 >.local/sam-build.log 2>&1 || { tail -40 .local/sam-build.log; die "sam build failed (log: .local/sam-build.log)"; }
target/debug/link-dev check-bootstrap .aws-sam/build/{InitSession,Callback,Complete,Webhook,Connections,Reconcile,Publisher}Function/bootstrap
