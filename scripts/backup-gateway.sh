#!/usr/bin/env bash
# Back up one gateway's state with the gateway's own tool (`openclaw backup create
# --verify`, which snapshots SQLite databases safely while the gateway keeps running).
#
# Usage: scripts/backup-gateway.sh <container> <backup dir>
#   container   clawfleet-tenant-<id> or clawfleet-shared-<host id>
#   backup dir  an absolute path; created 0700 if missing. An existing folder is used only
#               when it is root's, mode 0700 and no link (root would otherwise act in a folder
#               someone else controls). The archive is written 0600.
# The tool runs in a throw-away container of the image the gateway runs, as its user, with no
# capabilities and no network: beside a running gateway on its state directory, and on a copy
# of a stopped gateway's state (that state may be older than the image, restored for a way
# back, and the tool of a newer release migrates what it reads). Prints the archive path.
# Run it on the gateway host (for example over ssh) as root. The gateway's user, its CLI (the
# container's entrypoint) and its state folder (OPENCLAW_STATE_DIR) are read from its
# container; OPENCLAW_CLI overrides how the CLI is started in the image. clawfleet runs this
# same script right before a gateway's container is replaced for a new image.
set -euo pipefail

[ "$#" -eq 2 ] || { echo "usage: $0 <container> <backup dir>" >&2; exit 2; }
container=$1
backup_dir=$2
# openclaw's own reason for a failure, from its --json answer or its "Reason:" line.
reason_in() {
  local reason
  reason=$(sed -n 's/^ *"message": "\(.*\)",\{0,1\}$/\1/p' "$1" | head -n 1)
  [ -n "$reason" ] || reason=$(sed -n 's/^\[openclaw\] Reason: //p' "$1" | head -n 1)
  [ -n "$reason" ] || reason=$(grep -v -e '^\[openclaw\]' -e '^ *$' "$1" | head -n 1)
  printf '%s' "${reason:-no reason given}"
}

# The gateway's own user, CLI and state folder, as its container runs them (its environment also holds its token:
# only the state folder's variable is read from it).
user=$(docker inspect -f '{{.Config.User}}' "$container")
read -r -a cli <<<"${OPENCLAW_CLI:-$(docker inspect -f '{{join .Config.Entrypoint " "}}' "$container")}"
inside=$(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$container" | sed -n 's/^OPENCLAW_STATE_DIR=//p' | head -n 1)
if [ -z "$user" ] || [ "${#cli[@]}" -eq 0 ] || [ -z "$inside" ]; then
  echo "${0##*/}: $container runs no clawfleet gateway (no user, entrypoint or OPENCLAW_STATE_DIR)" >&2
  exit 1
fi
state_dir=$(docker inspect -f "{{range .Mounts}}{{if eq .Destination \"$inside\"}}{{.Source}}{{end}}{{end}}" "$container")
image=$(docker inspect -f '{{.Config.Image}}' "$container")
[ -n "$state_dir" ] || { echo "backup-gateway: $container has no $inside mount" >&2; exit 1; }

die() { printf 'backup-gateway: %s\n' "$*" >&2; exit 1; }
case "$backup_dir" in
  /*) ;;
  *) die "the backup folder must be an absolute path on the host, not $backup_dir" ;;
esac
if [ -L "$backup_dir" ]; then
  die "$backup_dir is a link; give the folder it leads to, or a new folder"
elif [ -e "$backup_dir" ]; then
  [ -d "$backup_dir" ] || die "$backup_dir exists and is not a folder"
  owner_mode=$(stat -c '%u %a' "$backup_dir")
  [ "$owner_mode" = "0 700" ] \
    || die "$backup_dir exists and is not root's with mode 0700 (owner uid ${owner_mode% *}, mode ${owner_mode#* }); give a new folder, or run chown root:root and chmod 0700 on it first"
else
  mkdir -p -- "$(dirname "$backup_dir")"
  mkdir -m 0700 -- "$backup_dir"
fi
staging=$(mktemp -d "$backup_dir/.staging.XXXXXX")
errors=$(mktemp)
trap 'rm -rf "$staging" "$errors"' EXIT
# Only the tool's output folder is the gateway user's; the staging folder around it stays root's.
mkdir "$staging/out"
chown "$user" "$staging/out"
source=$state_dir
if [ "$(docker inspect -f '{{.State.Running}}' "$container")" != true ]; then
  source="$staging/state"
  cp -a "$state_dir/." "$source"
fi

if ! report=$(docker run --rm --user "$user" --cap-drop ALL --security-opt no-new-privileges:true --network none \
  -e OPENCLAW_STATE_DIR="$inside" -e OPENCLAW_CONFIG_READONLY=1 -e HOME=/tmp \
  -v "$source:$inside" -v "$staging/out:/backup" \
  --entrypoint "${cli[0]}" "$image" "${cli[@]:1}" backup create --verify --output /backup --json 2>"$errors"); then
  printf '%s\n' "$report" >>"$errors"
  die "openclaw could not back up $container: $(reason_in "$errors")"
fi
archive=$(printf '%s\n' "$report" | sed -n 's/^ *"archivePath": "\([^"]*\)",\{0,1\}$/\1/p' | head -n 1)
[ -n "$archive" ] || { echo "backup-gateway: the gateway reported no archive path:" >&2; printf '%s\n' "$report" >&2; exit 1; }
made="$staging/out/$(basename "$archive")"
# The file the tool wrote, never a link it could have left in its place.
if [ ! -f "$made" ] || [ -L "$made" ]; then die "the gateway's backup tool left no archive file at $archive"; fi
target="$backup_dir/$container-$(basename "$archive")"
chown -h root:root "$made"
chmod 0600 "$made"
mv -T "$made" "$target"
printf '%s\n' "$target"
