# Installs the scheduled off-host backup of one stack's gateways on this host, or removes it: a systemd timer and
# its service, which runs offsite-job.sh as root on the declared schedule (backups.offsite.schedule). The job, the
# two scripts it runs (scripts/backup-gateway.sh and scripts/offsite-gateway.sh), its settings and the S3
# credentials go into <dir>, root's and 0700; the credentials come on standard input (shell assignments, as the
# CLI hands them to offsite-gateway.sh) and are written 0600, never in an argument or the environment. Running it
# again with the same values changes no file and leaves the timer as it is.
#
# Usage: offsite-schedule.sh install <unit> <dir> <units folder> <host id> <stack> <schedule> <endpoint> <region> <bucket> <prefix>
#                                    <age recipient> <keep> <backups folder> <stack label> <host label>
#                                    <gateway label> <job> <backup script> <offsite script>
#        offsite-schedule.sh remove <unit> <dir> <units folder>
# <units folder> is where systemd reads the units: /etc/systemd/system.
# Needs as_root and fail (runtimes/shell.ts).

action=$1 unit=$2 dir=$3 units=$4
case "$dir" in /?*) ;; *) fail "the off-host job's folder must be an absolute path, not $dir" ;; esac

if [ "$action" = remove ]; then
  if command -v systemctl >/dev/null 2>&1; then
    as_root systemctl disable --now "$unit.timer" >/dev/null 2>&1 || true
  fi
  as_root rm -f "$units/$unit.timer" "$units/$unit.service"
  if command -v systemctl >/dev/null 2>&1; then as_root systemctl daemon-reload >/dev/null 2>&1 || true; fi
  # The job's folder (its credentials with it); the archives it made stay with the other backups.
  if as_root test -L "$dir"; then as_root rm -f "$dir"; else as_root rm -rf "$dir"; fi
  echo "removed $unit.timer"
  exit 0
fi

host_id=$5 stack=$6 schedule=$7 endpoint=$8 region=$9
shift 9
bucket=$1 prefix=$2 recipient=$3 keep=$4 backups=$5 stack_label=$6 host_label=$7 gateway_label=$8 job=$9
shift 9
backup_script=$1 offsite_script=$2

command -v systemctl >/dev/null 2>&1 \
  || fail "host $host_id: backups.offsite.schedule installs a systemd timer, and this host has no systemctl; drop schedule there and run clawfleet backup --offsite from cron instead"
for tool in bash:bash age:age curl:curl docker:docker.io; do
  command -v "${tool%%:*}" >/dev/null 2>&1 \
    || fail "host $host_id: ${tool%%:*} is not installed, which the scheduled off-host backup runs; install it (Debian: apt-get install ${tool#*:})"
done
# offline: systemd is not this host's init system (a container, another init); nothing is written then.
if [ "$(as_root systemctl is-system-running 2>/dev/null)" = offline ]; then
  fail "host $host_id: backups.offsite.schedule installs a systemd timer, and systemd is not this host's init system (systemctl is-system-running: offline); drop schedule there and run clawfleet backup --offsite from cron instead"
fi
if command -v systemd-analyze >/dev/null 2>&1 && ! systemd-analyze calendar "$schedule" >/dev/null 2>&1; then
  fail "host $host_id: backups.offsite.schedule '$schedule' is no calendar expression systemd reads (systemd-analyze calendar refuses it); use one such as daily or *-*-* 03:00:00"
fi

for folder in "$dir" "$dir/last"; do
  if as_root test -L "$folder"; then fail "host $host_id: $folder is a link; remove it, the deploy makes that folder itself"; fi
done
as_root mkdir -p "$dir/last"
as_root chown 0:0 "$dir" "$dir/last"
as_root chmod 0700 "$dir" "$dir/last"

changed=0
nl='
'
# put <file> <mode> <text>: the text (ending in a line break) into <file>, made beside it and moved over it; an
# unchanged file is left alone. Never in a pipeline: it records a change in `changed`.
put() {
  case "$3" in *"$nl") text=$3 ;; *) text=$3$nl ;; esac
  tmp=$(as_root mktemp "${1%/*}/.clawfleet-new.XXXXXX")
  printf '%s' "$text" | as_root tee "$tmp" >/dev/null
  if as_root test -L "$1" || ! as_root cmp -s "$tmp" "$1"; then
    as_root chmod "$2" "$tmp"
    as_root mv -fT "$tmp" "$1"
    changed=1
  else
    as_root rm -f "$tmp"
  fi
}
put "$dir/credentials" 0600 "$(cat)"
put "$dir/offsite-job.sh" 0700 "$job"
put "$dir/backup-gateway.sh" 0700 "$backup_script"
put "$dir/offsite-gateway.sh" 0700 "$offsite_script"
# One value a line, in the order offsite-job.sh reads them; none holds a line break (the declaration's rules).
put "$dir/settings" 0600 "$(printf '%s\n' "$stack" "$host_id" "$stack_label" "$host_label" "$gateway_label" "$endpoint" "$region" "$bucket" "$prefix" "$recipient" "$keep" "$backups")"

put "$units/$unit.service" 0644 "$(printf '%s\n' \
  "[Unit]" \
  "Description=clawfleet: off-host backups of the gateways of $stack on host $host_id" \
  "Wants=network-online.target" \
  "After=network-online.target docker.service" \
  "" \
  "[Service]" \
  "Type=oneshot" \
  "ExecStart=$(command -v bash) $dir/offsite-job.sh $dir" \
  "Nice=10" \
  "IOSchedulingClass=idle" \
  "TimeoutStartSec=6h")"
put "$units/$unit.timer" 0644 "$(printf '%s\n' \
  "[Unit]" \
  "Description=clawfleet: off-host backups of the gateways of $stack on host $host_id, $schedule" \
  "" \
  "[Timer]" \
  "OnCalendar=$schedule" \
  "Persistent=true" \
  "RandomizedDelaySec=10min" \
  "" \
  "[Install]" \
  "WantedBy=timers.target")"

if [ "$changed" = 1 ] && ! answer=$(as_root systemctl daemon-reload 2>&1); then
  fail "host $host_id: systemd did not load $unit.timer: $(printf '%s' "$answer" | head -n 1)"
fi
if ! answer=$(as_root systemctl enable "$unit.timer" 2>&1); then
  fail "host $host_id: systemd did not enable $unit.timer: $(printf '%s' "$answer" | head -n 1)"
fi
# A running timer keeps the schedule it started with until it is restarted.
if [ "$changed" = 1 ]; then verb=restart; else verb=start; fi
if ! answer=$(as_root systemctl "$verb" "$unit.timer" 2>&1); then
  fail "host $host_id: systemd did not start $unit.timer: $(printf '%s' "$answer" | head -n 1)"
fi
echo "scheduled $unit.timer on host $host_id: $schedule"
