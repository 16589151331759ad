# The way back from a failed image change, run on the gateway's host: the gateway's newest pre-upgrade archive goes
# back into its state directory (the replaced state kept aside) and the image it ran before that change runs on it,
# with the gateway's container settings. Running it again changes nothing more.
#
# <mode> ($1) says when:
# - auto (the health gate): only while the image change that the pre-upgrade backup recorded in the pending file is
#   the one the container runs;
# - any (clawfleet rollback): whenever the container runs another image than the one recorded beside its newest
#   pre-upgrade archive.
# Then: the archive is unpacked and verified beside the state directory with the previous image's own
# `openclaw backup restore`; the gateway's container is stopped and removed (its environment and labels kept for the
# new one); the state is swapped (the replaced one kept at <state>.before-rollback-<time>, the stack's config file
# kept); a container of the previous image named like the gateway, labelled with the image that failed, starts on it;
# and the script waits until it is healthy. Prints one tab-separated line: done, the failed image, the previous image,
# the archive, the kept state and the new container's health; or none and why nothing was done.
#
# Usage: sh -c "<command>" rollback <mode>
# Set by the command before this text (runtimes/docker/rollback.ts): name, backup_dir, state, config_file, uid,
# pending_file, image_suffix, stop_seconds, gate_seconds, env_names and label_names (space-separated, with a space at
# each end), rollback_label; create_gateway, Docker's create of the gateway on "$previous" with the environment in
# "$work/env", the labels in "$work/labels" and the image that failed in "$from"; restore_archive, the previous image's
# restore of "$work/archive.tar.gz" into "$work/out".
# Needs as_root, fail and health_of (runtimes/docker/commands.ts).

none() { printf 'none\t%s\n' "$*"; exit 0; }
mode=${1:-any}
tab=$(printf '\t')
current=$(as_root docker inspect --format '{{.Config.Image}}' "$name" 2>/dev/null) || none "it has no container"
rolled=$(as_root docker inspect --format "{{index .Config.Labels \"$rollback_label\"}}" "$name")
if [ "$mode" = auto ]; then
  pending=$(as_root cat "$backup_dir/$pending_file" 2>/dev/null) || none "no image change is under way"
  archive=${pending%%"$tab"*}
  [ "${pending#*"$tab"}" = "$current" ] || none "its image change to ${pending#*"$tab"} is not the one it runs"
else
  archive=$(as_root ls -1 "$backup_dir" 2>/dev/null | sed -n '/^[0-9]\{8\}T[0-9]\{6\}Z-.*\.tar\.gz$/p' \
    | while read -r a; do if as_root test -f "$backup_dir/$a$image_suffix"; then echo "$a"; fi; done | tail -n 1)
  [ -n "$archive" ] || none "it has no pre-upgrade backup that names its previous image"
fi
archive=$backup_dir/$archive
previous=$(as_root cat "$archive$image_suffix" 2>/dev/null) || none "$archive names no previous image"
if [ "$current" = "$previous" ]; then
  [ -z "$rolled" ] || none "it runs $previous since its change to $rolled failed"
  none "it runs $previous, the image before its last change"
fi
from=$current
as_root docker image inspect "$previous" >/dev/null 2>&1 || fail "gateway $name: the previous image $previous is no longer on the host; nothing was changed"
printf 'clawfleet: gateway %s: putting %s back on %s from %s\n' "$name" "$from" "$previous" "$archive" >&2
work=$(as_root mktemp -d "$(dirname "$state")/.rollback.XXXXXX")
trap 'as_root rm -rf "$work"' EXIT
as_root cp "$archive" "$work/archive.tar.gz"
as_root chown -R "$uid:$uid" "$work"
restore_archive >/dev/null 2>&1 || fail "gateway $name: $previous cannot unpack $archive; nothing was changed"
payload=$(as_root find "$work/out" -mindepth 4 -maxdepth 4 -type d -path '*/payload/posix/state' | head -n 1)
[ -n "$payload" ] || fail "gateway $name: $archive holds no state; nothing was changed"

# The new container gets the environment (the token and secrets) and labels of the one it replaces.
as_root docker inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$name" \
  | awk -F= -v names="$env_names" 'index(names, " " $1 " ")' | as_root tee "$work/env" >/dev/null
# A Go template, not the shell's variables.
# shellcheck disable=SC2016
as_root docker inspect --format '{{range $k, $v := .Config.Labels}}{{$k}}={{$v}}{{println}}{{end}}' "$name" \
  | awk -F= -v names="$label_names" 'index(names, " " $1 " ")' | as_root tee "$work/labels" >/dev/null
as_root docker stop -t "$stop_seconds" "$name" >/dev/null 2>&1 || true
as_root docker rm -f "$name" >/dev/null

aside="$state.before-rollback-$(date -u +%Y%m%dT%H%M%SZ)"
as_root mv "$state" "$aside"
as_root mv "$payload" "$state"
as_root rm -f "$state/$config_file"
if as_root test -f "$aside/$config_file"; then as_root cp -P -p "$aside/$config_file" "$state/$config_file"; fi
as_root chown -R -h "$uid:$uid" "$state"
as_root chmod 0700 "$state"
create_gateway >/dev/null || fail "gateway $name: Docker did not create the container of $previous; the restored state is in place and the replaced one at $aside"
as_root docker start "$name" >/dev/null || fail "gateway $name: the container of $previous did not start; the restored state is in place and the replaced one at $aside"
as_root rm -f "$backup_dir/$pending_file"

deadline=$(($(date +%s) + gate_seconds))
while :; do
  health_of "$name"
  case $status in healthy | unhealthy | exited | dead | gone) break ;; esac
  [ "$(date +%s)" -lt "$deadline" ] || break
  sleep 2
done
printf 'done\t%s\t%s\t%s\t%s\t%s\n' "$from" "$previous" "$archive" "$aside" "$status"
