# The image preflight: runs a new image as a throwaway gateway, confined as the gateways are, on a copy of each given
# state directory in turn (its owner lease freed and its channels removed, by prepare-trial-state.mjs), published on no
# port and on no network, and fails at the first copy Docker does not report healthy in time. Nothing of the fleet is
# touched. A state directory that is not there yet is tried as empty state; with none given, one trial on empty state.
#
# Usage: preflight.sh <host id> <image> <work dir> <gate seconds> <start period seconds> <health command>
#          <token variable> <user uid:gid> <state dir inside> <config file> <fallback config> <prepare script>
#          [<state dir> ...]
# Environment: TRIAL_FLAGS, the gateways' user and confinement flags, and TRIAL_ENV, their -e flags (words without
# spaces).
# Needs as_root, fail and health_of, and exit_reason setting $exited from $exitcode (runtimes/docker/commands.ts).

host=$1 image=$2 work_dir=$3 gate_seconds=$4 start_period=$5 health_cmd=$6 token_env=$7 user=$8
inside=$9 config_file=${10} fallback_config=${11} prepare=${12}
shift 12
name="clawfleet-preflight-$host"

as_root mkdir -p "$work_dir"
copy=
tar_status=$(mktemp)
cleanup() {
  as_root docker rm -f "$name" >/dev/null 2>&1 || true
  [ -z "$copy" ] || as_root rm -rf "$copy"
  rm -f "$tar_status"
}
trap cleanup EXIT

# One trial on a copy of the state in $1 (empty: no state yet).
trial() {
  as_root docker rm -f "$name" >/dev/null 2>&1 || true
  [ -z "$copy" ] || as_root rm -rf "$copy"
  copy=$(as_root mktemp -d "$work_dir/preflight.XXXXXX")
  echo 0 >"$tar_status"
  # The gateway writes while it is copied: files may vanish or change (tar exits 1), and its cache is left out.
  if [ -n "$1" ] && as_root test -d "$1"; then
    { as_root tar -C "$1" --anchored --exclude=./cache --ignore-failed-read --warning=no-file-changed --warning=no-file-removed -cf - . || echo "$?" >"$tar_status"; } | as_root tar -C "$copy" -xpf -
    [ "$(cat "$tar_status")" -le 1 ] || fail "host $host: copying the state of $1 for the image preflight failed; no gateway was changed"
  fi
  as_root rm -f "$copy/.clawfleet-moved"
  as_root chown -R "$user" "$copy"
  as_root chmod 0700 "$copy"
  as_root docker run --rm --user "$user" --network none -v "$copy:$inside" --entrypoint node "$image" \
    --input-type=module -e "$prepare" "$inside" "$config_file" "$fallback_config" >/dev/null
  # Flags are words without spaces, split on purpose.
  # shellcheck disable=SC2086
  as_root docker run -d --name "$name" --hostname "$name" --restart on-failure:1 $TRIAL_FLAGS --network none -v "$copy:$inside" \
    $TRIAL_ENV -e "$token_env=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" --health-cmd "$health_cmd" \
    --health-interval 2s --health-retries 3 --health-start-period "${start_period}s" "$image" >/dev/null
  deadline=$(($(date +%s) + gate_seconds))
  while :; do
    # One restart after a crash, as the health gate allows: a busy host can delay the first start.
    health_of "$name"
    case $status in
      healthy) return 0 ;;
      unhealthy | exited | dead | gone)
        as_root docker logs --tail 5 "$name" >&2 2>&1 || true
        what="it is $status"
        [ "$status" != exited ] || { exit_reason; what="it $exited"; }
        fail "host $host: the new image $image did not start on a copy of a tenant's state ($what); no gateway was changed. Fix the image or go back to the previous one" ;;
    esac
    [ "$(date +%s)" -lt "$deadline" ] || fail "host $host: the new image $image was not healthy after $gate_seconds s on a copy of a tenant's state; no gateway was changed"
    sleep 2
  done
}

if [ "$#" -eq 0 ]; then
  trial ''
else
  for dir in "$@"; do trial "$dir"; done
fi
