#!/usr/bin/env bash
# Installs cargo-lambda (with Zig, for arm64 cross-builds) and the AWS SAM CLI
# (with cfn-lint, and AWS's serverless rules for it) into .tools/venv. Pinned in scripts/python-tools.txt.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
venv="$root/.tools/venv"
stamp=$(python_tools_stamp)
[ -f "$stamp" ] && exit 0
step "installing cargo-lambda, aws-sam-cli and cfn-lint into .tools/venv (one time, about a minute)"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/scripts/python-tools.txt"
touch "$stamp"
