#!/usr/bin/env bash
# Restore one gateway's state from an archive made by backup-gateway.sh (or taken before
# an image change).
#
# Usage: scripts/restore-gateway.sh [options] <container> <archive>
#   --no-start                  leave the container stopped on the restored state: the way
#                               back to an older release, whose image is declared next
#                               (started, the container's own newer release would upgrade
#                               the restored state again)
#   --gateway tenant:<id>|shared
#                               the gateway <container> runs; the archive must hold that
#                               gateway's state (read from the openclaw.json inside it)
#   --from-other-gateway <from> put another gateway's state in on purpose; <from> is what
#                               the refusal named (a tenant id, shared or unknown)
#   --max-bytes <n>             refuse an archive that unpacks to more than n bytes
#                               (default 10 GiB)
#
# Steps: check the archive's unpacked size against --max-bytes and the free space of the
# state root; unpack and verify it with the gateway's own `openclaw backup restore` in a
# throw-away container of the same image, in a folder beside the state directory (never
# in /tmp); refuse it when any link in it leads out of the state directory or it holds
# another gateway's state; then stop the container, move the current state aside to
# <state dir>.before-restore-<time> (kept, never deleted), move the archived state in, keep
# the deployed openclaw.json (the stack owns it), and start the container again only if it
# was running. A failure after the swap puts the previous state back. Root never follows a
# link the archive brought: files are moved and copied as links, never through them.
# Run it on the gateway host as root.
set -euo pipefail

start=1
gateway=""
from_other=""
max_bytes=$((10 * 1024 * 1024 * 1024))
die() { printf 'restore-gateway: %s\n' "$*" >&2; exit 1; }
while [ "$#" -gt 0 ]; do
  case "$1" in
    --no-start) start=0; shift ;;
    --gateway) gateway=${2:-}; shift 2 || die "--gateway needs a value" ;;
    --from-other-gateway) from_other=${2:-}; shift 2 || die "--from-other-gateway needs a value" ;;
    --max-bytes) max_bytes=${2:-}; shift 2 || die "--max-bytes needs a value" ;;
    --) shift; break ;;
    -*) echo "usage: $0 [--no-start] [--gateway tenant:<id>|shared] [--from-other-gateway <from>] [--max-bytes <n>] <container> <archive>" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ "$#" -eq 2 ] || { echo "usage: $0 [--no-start] [--gateway tenant:<id>|shared] [--from-other-gateway <from>] [--max-bytes <n>] <container> <archive>" >&2; exit 2; }
case "$max_bytes" in '' | *[!0-9]*) die "--max-bytes must be a number of bytes, not $max_bytes" ;; esac
container=$1
case "$2" in
  /*) archive=$2 ;;
  *) archive=$PWD/$2 ;;
esac
[ -f "$archive" ] || die "$archive is not a file"
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
was_running=$(docker inspect -f '{{.State.Running}}' "$container")
[ -n "$state_dir" ] || die "$container has no $inside mount"
if [ ! -d "$state_dir" ] || [ -L "$state_dir" ]; then die "$container's state directory $state_dir is not a directory"; fi

# The unpacked size, from the archive's own listing (nothing is written for it).
unpacked=$(tar -tvzf "$archive" 2>/dev/null | awk '{ total += $3 } END { printf "%d", total }') \
  || die "$archive is not a gzip'ed tar archive"
[ "$unpacked" -le "$max_bytes" ] \
  || die "$archive unpacks to $unpacked bytes, more than the limit of $max_bytes bytes (clawfleet restore --max-size); nothing was changed"
parent=$(dirname "$state_dir")
free=$(df -P -B1 "$parent" | awk 'NR == 2 { print $4 }')
# Unpacked once beside the state directory (moved in, not copied), plus the archive's copy and a margin.
needed=$((unpacked + $(stat -c %s "$archive") + 64 * 1024 * 1024))
[ "$needed" -le "$free" ] \
  || die "$archive unpacks to $unpacked bytes and $parent has $free bytes free; nothing was changed: free some space first"

staging=$(mktemp -d "$parent/.restore.XXXXXX")
restart_on_failure() {
  rm -rf "$staging"
  if [ "$was_running" = true ]; then docker start "$container" >/dev/null; fi
}
trap 'rm -rf "$staging"' EXIT
cp "$archive" "$staging/archive.tar.gz"
chown -R "$user" "$staging"

# Unpack and verify with the gateway's own tool while the gateway keeps running.
if ! docker run --rm --user "$user" --cap-drop ALL --security-opt no-new-privileges:true --network none \
  -e OPENCLAW_STATE_DIR=/tmp/unused -e HOME=/tmp -v "$staging:/staging" \
  --entrypoint "${cli[0]}" "$image" "${cli[@]:1}" backup restore /staging/archive.tar.gz --target /staging/out --json \
  >"$staging/openclaw.out" 2>&1; then
  die "openclaw refused the archive: $(reason_in "$staging/openclaw.out"); nothing was changed"
fi
# openclaw keeps the state under its absolute path inside the gateway: <archive>/payload/posix<state folder inside>.
payload=$(find "$staging/out" -mindepth 3 -maxdepth 8 -type d -path "*/payload/posix$inside" | head -n 1)
[ -n "$payload" ] || die "the archive holds no $inside payload; nothing was changed"

# No link may lead out of the state directory, followed as root would follow it.
while IFS= read -r -d '' link; do
  resolved=$(realpath -m -- "$link")
  case "$resolved/" in
    "$payload"/*) ;;
    *) die "the archive holds a link that leads out of the state directory (${link#"$payload"/} -> $(readlink -- "$link")); refused, nothing was changed" ;;
  esac
done < <(find "$staging/out" -type l -print0)

# The gateway the archive came from, read from the openclaw.json it holds.
origin=$(docker run --rm --user "$user" --cap-drop ALL --security-opt no-new-privileges:true --network none \
  --env STATE="$inside" -v "$payload:$inside:ro" --entrypoint node "$image" -e '
    const state = process.env.STATE;
    let config;
    try { config = JSON.parse(require("fs").readFileSync(state + "/openclaw.json", "utf8")); } catch { console.log("unknown"); process.exit(0); }
    const entries = (config && config.agents && config.agents.entries) || {};
    const ids = Object.keys(entries).sort();
    const at = (id, dir) => entries[id] && entries[id].workspace === dir;
    if (ids.length === 1 && at(ids[0], state + "/workspace")) console.log("tenant:" + ids[0]);
    else if (ids.length > 0 && ids.every((id) => at(id, state + "/workspaces/" + id))) console.log("shared");
    else console.log("unknown");
  ')
if [ -n "$gateway" ] && [ "$origin" != "$gateway" ]; then
  from=${origin#tenant:}
  describe() { case "$1" in tenant:*) echo "tenant ${1#tenant:}'s gateway" ;; shared) echo "a shared gateway" ;; *) echo "no gateway clawfleet knows" ;; esac; }
  [ "$from_other" = "$from" ] \
    || die "$archive holds the state of $(describe "$origin"), not of $(describe "$gateway"); nothing was changed. To put that state into $container on purpose, add --from-other-gateway $from"
fi

if [ ! -f "$state_dir/openclaw.json" ] || [ -L "$state_dir/openclaw.json" ]; then
  die "$state_dir/openclaw.json is not a regular file; run pulumi up to write the stack's config first; nothing was changed"
fi

trap restart_on_failure ERR
if [ "$was_running" = true ]; then
  echo "restore-gateway: stopping $container" >&2
  docker stop -t 30 "$container" >/dev/null
fi

aside="$state_dir.before-restore-$(date +%Y%m%dT%H%M%S)"
mv -T "$state_dir" "$aside"
put_back() {
  rm -rf "$state_dir"
  mv -T "$aside" "$state_dir"
  rm -rf "$staging"
  if [ "$was_running" = true ]; then docker start "$container" >/dev/null || true; fi
  echo "restore-gateway: the restore failed after the state was swapped; the previous state is back in $state_dir" >&2
}
trap put_back ERR
mv -T "$payload" "$state_dir"
rm -f "$state_dir/openclaw.json"
cp --no-dereference --preserve=mode,timestamps "$aside/openclaw.json" "$state_dir/openclaw.json"
chown -R -h -P "$user" "$state_dir"
chmod 0700 "$state_dir"
trap - ERR

if [ "$start" -eq 0 ] || [ "$was_running" != true ]; then
  echo "restore-gateway: $container left stopped on the restored state$([ "$start" -eq 0 ] && echo " (--no-start)"); the previous state is kept at $aside" >&2
  exit 0
fi
docker start "$container" >/dev/null
echo "restore-gateway: $container restarted; the previous state is kept at $aside" >&2
