#!/usr/bin/env bash
# Restore one gateway's state from an archive made by backup-gateway.sh.
#
# Usage: scripts/restore-gateway.sh [--no-start] <container> <archive>
# Steps: stop the container (SIGTERM), verify and unpack the archive with the gateway's
# own `openclaw backup restore` in a throw-away container of the same image, move the
# current state aside to <state dir>.before-restore-<time> (kept, never deleted), put
# the archived state in place, keep the deployed openclaw.json (the stack owns it), and
# start the container again. Everything in the state (pairings, sessions, approvals)
# goes back to the archive's time. Run it on the gateway host as root.
# --no-start leaves the container stopped on the restored state: the way back to an
# older release, whose image is declared next. Started, the container's own (newer)
# release would upgrade the restored state again.
set -euo pipefail

start=1
if [ "${1:-}" = --no-start ]; then
  start=0
  shift
fi
[ "$#" -eq 2 ] || { echo "usage: $0 [--no-start] <container> <archive>" >&2; exit 2; }
container=$1
archive=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
read -r -a cli <<<"${OPENCLAW_CLI:-node /app/node_modules/openclaw/openclaw.mjs}"

state_dir=$(docker inspect -f '{{range .Mounts}}{{if eq .Destination "/state"}}{{.Source}}{{end}}{{end}}' "$container")
image=$(docker inspect -f '{{.Config.Image}}' "$container")
[ -n "$state_dir" ] || { echo "restore-gateway: $container has no /state mount" >&2; exit 1; }

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT

cp "$archive" "$staging/archive.tar.gz"
chown -R 1000:1000 "$staging"

echo "restore-gateway: stopping $container" >&2
docker stop -t 30 "$container" >/dev/null
# Until the state is swapped, a failure leaves the gateway as it was: running on its old state.
trap 'docker start "$container" >/dev/null; rm -rf "$staging"' ERR
docker run --rm --user 1000:1000 --cap-drop ALL --security-opt no-new-privileges:true --network none \
  -e OPENCLAW_STATE_DIR=/tmp/unused -e HOME=/tmp -v "$staging:/staging" \
  --entrypoint "${cli[0]}" "$image" "${cli[@]:1}" backup restore /staging/archive.tar.gz --target /staging/out --json >/dev/null
payload=$(find "$staging/out" -mindepth 4 -maxdepth 4 -type d -path '*/payload/posix/state' | head -n 1)
[ -n "$payload" ] || { echo "restore-gateway: the archive holds no /state payload" >&2; docker start "$container" >/dev/null; exit 1; }

aside="$state_dir.before-restore-$(date +%Y%m%dT%H%M%S)"
trap 'rm -rf "$staging"' ERR
mv "$state_dir" "$aside"
mkdir -m 0700 "$state_dir"
cp -a "$payload/." "$state_dir/"
cp -a "$aside/openclaw.json" "$state_dir/openclaw.json"
chown -R 1000:1000 "$state_dir"
chmod 0700 "$state_dir"

if [ "$start" -eq 0 ]; then
  echo "restore-gateway: $container left stopped on the restored state (--no-start); the previous state is kept at $aside" >&2
  exit 0
fi
docker start "$container" >/dev/null
echo "restore-gateway: $container restarted; the previous state is kept at $aside" >&2
