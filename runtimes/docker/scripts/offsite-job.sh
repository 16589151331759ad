#!/usr/bin/env bash
# The scheduled off-host backup of one stack's gateways on this host, run as root by systemd
# (clawfleet-offsite-<project>-<stack>.service, installed by offsite-schedule.sh) or by hand the same way. For each
# of the stack's gateway containers on this host, one after the other: a backup with the gateway's own tool
# (backup-gateway.sh, into the gateway's `clawfleet backup` folder), the archive encrypted to the age recipient and
# uploaded (offsite-gateway.sh put), the gateway's copies beyond keep deleted from the bucket (offsite-gateway.sh
# prune), and the archive this job made last time deleted from the host: the job keeps one archive of its own per
# gateway there (what `clawfleet status` and `watch --backup-max-age` read), the operator's own stay. A gateway
# that fails is said so and the others go on; the job fails when one did, so systemd records it.
#
# Usage: offsite-job.sh <dir>   (<dir> holds settings, credentials, backup-gateway.sh and offsite-gateway.sh)
set -uo pipefail

dir=${1:?usage: offsite-job.sh <dir>}
{
  read -r stack
  read -r host_id
  read -r stack_label
  read -r host_label
  read -r gateway_label
  read -r endpoint
  read -r region
  read -r bucket
  read -r prefix
  read -r recipient
  read -r keep
  read -r backups
} <"$dir/settings" || { echo "offsite-job: $dir/settings is incomplete; deploy the stack again" >&2; exit 1; }

# offsite-gateway.sh with the credentials before it on its standard input, as the CLI runs it.
offsite() {
  local command=$1
  shift
  { cat "$dir/credentials" && cat "$dir/offsite-gateway.sh"; } | bash -s -- "$command" "$endpoint" "$region" "$bucket" "$@"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The gateways are the containers with the runtime's labels: this stack's, this host's, running a gateway.
mapfile -t gateways < <(docker ps -a --filter "label=$stack_label=$stack" --filter "label=$host_label=$host_id" \
  --filter "label=$gateway_label" --format '{{.Names}}' | LC_ALL=C sort)
failed=()
for gateway in "${gateways[@]}"; do
  if ! archive=$(bash "$dir/backup-gateway.sh" "$gateway" "$backups/$gateway" 2>"$work/err"); then
    echo "offsite-job: $gateway: the backup failed: $(tail -n 1 "$work/err")" >&2
    failed+=("$gateway")
    continue
  fi
  archive=$(printf '%s\n' "$archive" | tail -n 1)
  # The key clawfleet backup --offsite gives the same archive: characters outside A-Z a-z 0-9 . _ - made _.
  name=$(basename "$archive" | tr -c 'A-Za-z0-9._\n-' '_')
  key="$prefix$gateway/$name.age"
  if ! offsite put "$key" "$recipient" "$archive" >/dev/null 2>"$work/err"; then
    echo "offsite-job: $gateway: $(tail -n 1 "$work/err" | sed 's/^offsite-gateway: //')" >&2
    failed+=("$gateway")
    continue
  fi
  pruned=yes
  if ! deleted=$(offsite prune "$prefix$gateway/" "$keep" 2>"$work/err"); then
    echo "offsite-job: $gateway: uploaded $key, then pruning failed: $(tail -n 1 "$work/err" | sed 's/^offsite-gateway: //')" >&2
    failed+=("$gateway")
    pruned=no
  fi
  # The copy is off the host either way: the archive the last run made goes.
  last="$dir/last/$gateway"
  if [ -f "$last" ] && [ ! -L "$last" ]; then
    previous=$(cat "$last")
    # Only an archive directly in the gateway's folder (which backup-gateway.sh keeps root's and no link).
    case "${previous#"$backups/$gateway/"}" in "$previous" | */* | . | .. | '') ;; *) [ "$previous" = "$archive" ] || rm -f -- "$previous" ;; esac
  fi
  # Replaced, not written through: a link left in its place is not followed.
  next=$(mktemp "$dir/last/.new.XXXXXX")
  printf '%s\n' "$archive" >"$next"
  mv -fT -- "$next" "$last"
  [ "$pruned" = yes ] || continue
  echo "offsite-job: $gateway: uploaded $key${deleted:+; deleted $(printf '%s' "$deleted" | tr '\n' ' ' | sed 's/ $//')}"
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "offsite-job: ${#failed[@]} of ${#gateways[@]} gateways not copied off host $host_id: ${failed[*]}" >&2
  exit 1
fi
if [ "${#gateways[@]}" -eq 1 ]; then word=gateway; else word=gateways; fi
echo "offsite-job: ${#gateways[@]} $word of $stack copied off host $host_id, encrypted"
