#!/usr/bin/env bash
# Installs checkov (static analysis of the CloudFormation templates) into a
# virtualenv of its own, .tools/checkov (its pinned dependencies and the SAM
# CLI's do not mix). Pinned in scripts/checkov.txt.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
venv="$root/.tools/checkov"
stamp="$venv/.installed-$(sha1sum "$root/scripts/checkov.txt" | cut -c1-12)"
[ -f "$stamp" ] && exit 0
step "installing checkov into .tools/checkov (one time, about half a minute)"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/scripts/checkov.txt"
touch "$stamp"
