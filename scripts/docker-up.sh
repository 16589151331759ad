#!/usr/bin/env bash
# Make sure a Docker daemon answers on this machine.
#
# Usage: scripts/docker-up.sh [--with-test-tools]
#
# - If `docker info` already answers, the running daemon is left alone.
# - Otherwise Debian's docker.io is installed when dockerd is missing, and
#   dockerd is started in the background (log: $CLAWFLEET_DOCKERD_LOG,
#   default /var/log/clawfleet-dockerd.log). The script waits for the socket.
# - --with-test-tools also installs what the end-to-end tests call
#   (shellcheck, sqlite3) through scripts/install-test-tools.sh.
#
# Safe to run repeatedly. Needs root (or passwordless sudo) for the install
# and the daemon start.
set -euo pipefail

log() { printf 'docker-up: %s\n' "$*" >&2; }

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DOCKERD_LOG="${CLAWFLEET_DOCKERD_LOG:-/var/log/clawfleet-dockerd.log}"
WAIT_SECONDS="${CLAWFLEET_DOCKERD_WAIT:-60}"
WITH_TEST_TOOLS=0

for arg in "$@"; do
  case "$arg" in
    --with-test-tools) WITH_TEST_TOOLS=1 ;;
    -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) log "unknown argument: $arg"; exit 2 ;;
  esac
done

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
  fi
fi

# Runs on every exit path, so the tools are there even when the daemon was
# already up. The apt index refreshed for docker.io is reused.
finish() {
  if [ "$WITH_TEST_TOOLS" -eq 1 ]; then
    "$SCRIPT_DIR/install-test-tools.sh"
  fi
}

docker_answers() {
  command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

if docker_answers; then
  log "docker daemon already running; leaving it alone"
  finish
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "dockerd not found; installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  if [ "${CLAWFLEET_APT_UPDATED:-0}" != 1 ]; then
    "${SUDO[@]}" apt-get update
    export CLAWFLEET_APT_UPDATED=1
  fi
  "${SUDO[@]}" apt-get install -y --no-install-recommends docker.io
fi

if ! command -v docker >/dev/null 2>&1; then
  log "no docker client on PATH even after installing docker.io"
  exit 1
fi

# A live dockerd process, not a zombie left by a killed session.
dockerd_alive() {
  local pid state
  for pid in $(pgrep -x dockerd 2>/dev/null); do
    state=$(ps -o stat= -p "$pid" 2>/dev/null || true)
    case "$state" in
      "" | Z*) ;;
      *) return 0 ;;
    esac
  done
  return 1
}

# A daemon that is still starting (from an earlier run) owns the pid file;
# only start another one when no live dockerd process exists. A pid file left by
# a daemon that was killed (machine or session stopped) is removed first.
if dockerd_alive; then
  log "a dockerd process exists but does not answer yet; waiting for it"
else
  "${SUDO[@]}" rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
  "${SUDO[@]}" mkdir -p "$(dirname "$DOCKERD_LOG")"
  log "starting dockerd (log: $DOCKERD_LOG)"
  # setsid detaches the daemon from this shell so it outlives the script.
  "${SUDO[@]}" setsid dockerd >>"$DOCKERD_LOG" 2>&1 < /dev/null &
  DOCKERD_PID=$!
  disown || true
fi

waited=0
until docker_answers; do
  if [ -n "${DOCKERD_PID:-}" ] && ! kill -0 "$DOCKERD_PID" 2>/dev/null; then
    log "dockerd exited during startup; last lines of $DOCKERD_LOG:"
    tail -n 30 "$DOCKERD_LOG" >&2 || true
    exit 1
  fi
  if [ "$waited" -ge "$WAIT_SECONDS" ]; then
    log "dockerd did not answer within ${WAIT_SECONDS}s; last lines of $DOCKERD_LOG:"
    tail -n 30 "$DOCKERD_LOG" >&2 || true
    exit 1
  fi
  if [ $((waited % 5)) -eq 0 ]; then
    log "waiting for the docker socket (${waited}s)"
  fi
  sleep 1
  waited=$((waited + 1))
done

log "docker daemon is up after ${waited}s"
finish
