#!/usr/bin/env bash
# Back up one gateway's state with the gateway's own tool (`openclaw backup create
# --verify`, which snapshots SQLite databases safely while the gateway keeps running).
#
# Usage: scripts/backup-gateway.sh <container> <backup dir>
#   container   clawfleet-tenant-<id> or clawfleet-shared-<host id>
#   backup dir  created 0700 if missing; the archive is written 0600
# The tool runs in a throw-away container of the gateway's own image, beside the running
# gateway, on the same state directory. Prints the archive path. Run it on the gateway
# host (for example over ssh) as root. OPENCLAW_CLI overrides how the CLI is started in
# the image (default: node /app/node_modules/openclaw/openclaw.mjs).
set -euo pipefail

[ "$#" -eq 2 ] || { echo "usage: $0 <container> <backup dir>" >&2; exit 2; }
container=$1
backup_dir=$2
read -r -a cli <<<"${OPENCLAW_CLI:-node /app/node_modules/openclaw/openclaw.mjs}"

state_dir=$(docker inspect -f '{{range .Mounts}}{{if eq .Destination "/state"}}{{.Source}}{{end}}{{end}}' "$container")
image=$(docker inspect -f '{{.Config.Image}}' "$container")
[ -n "$state_dir" ] || { echo "backup-gateway: $container has no /state mount" >&2; exit 1; }

mkdir -p "$backup_dir"
chmod 0700 "$backup_dir"
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
chown 1000:1000 "$staging"

report=$(docker run --rm --user 1000:1000 --cap-drop ALL --security-opt no-new-privileges:true --network none \
  -e OPENCLAW_STATE_DIR=/state -e OPENCLAW_CONFIG_READONLY=1 -e HOME=/tmp \
  -v "$state_dir:/state" -v "$staging:/backup" \
  --entrypoint "${cli[0]}" "$image" "${cli[@]:1}" backup create --verify --output /backup --json)
archive=$(printf '%s\n' "$report" | sed -n 's/^ *"archivePath": "\([^"]*\)",\{0,1\}$/\1/p' | head -n 1)
[ -n "$archive" ] || { echo "backup-gateway: the gateway reported no archive path:" >&2; printf '%s\n' "$report" >&2; exit 1; }
target="$backup_dir/$container-$(basename "$archive")"
mv "$staging/$(basename "$archive")" "$target"
chown root:root "$target" 2>/dev/null || true
chmod 0600 "$target"
printf '%s\n' "$target"
