#!/usr/bin/env bash
# Install the command-line tools the tests call:
# ShellCheck (lints the shell scripts; npm test too), systemd-analyze (checks the off-host
# backup timer's units and calendar expressions; npm test too), sqlite3 (reads gateway state), jq
# (scripts/install-pulumi.sh reads the Go module proxy's answers with it) and age
# (off-host backups encrypt with it on the gateway host, which is this machine in the tests).
# Only what is missing is installed, from Debian's apt. Safe to run repeatedly.
set -euo pipefail

log() { printf 'install-test-tools: %s\n' "$*" >&2; }

SUDO=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo -n)
fi

missing=()
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
command -v jq >/dev/null 2>&1 || missing+=(jq)
command -v age >/dev/null 2>&1 || missing+=(age)

if [ "${#missing[@]}" -eq 0 ]; then
  log "all tools present"
  exit 0
fi

log "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# CLAWFLEET_APT_UPDATED=1 means the caller refreshed the apt index already.
if [ "${CLAWFLEET_APT_UPDATED:-0}" != 1 ]; then
  "${SUDO[@]}" apt-get update
fi
"${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
