#!/usr/bin/env bash
# Installs Debian's Chromium for the browser test (a test tool's own browser
# download cannot work here). Needs root or sudo.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ -x /usr/bin/chromium ] && exit 0
step "installing Debian's chromium for the browser test (one time, about a minute)"
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
$sudo_cmd apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >/dev/null
[ -x /usr/bin/chromium ] || die "chromium did not install"
