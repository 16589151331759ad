# Waits until Docker reports a new gateway container healthy, and fails otherwise: unhealthy, exited, restarted more
# than <allowed restarts> times after a crash, or not healthy in time. One restart is allowed: on a busy host
# openclaw's first start can miss its state-lease heartbeat deadline and exit, and Docker's restart then comes up fine.
#
# With a way back (after an image change): a gateway that fails goes back on the image and state it had before (the
# rollback script, run with "rollback auto"), and the gate still fails, saying where it went back to. A healthy gateway
# ends the image change (its pending file goes). A deploy that declares again the image a rollback went back from is
# refused: the container Pulumi made is gone.
#
# Usage: health-gate.sh <container> <timeout seconds> <allowed restarts> <rolled-back label>
#          [<rollback script> <pending file>]
# Needs as_root, fail, health_of and exit_reason (runtimes/docker/commands.ts).

name=$1 timeout=$2 allowed_restarts=$3 rollback_label=$4 rollback=${5-} pending=${6-}

give_up() {
  [ -n "$rollback" ] || fail "$1"
  result=$(sh -c "$rollback" rollback auto) || fail "$1; putting the previous image back failed too (above)"
  tab=$(printf '\t')
  case $result in
    "done$tab"*)
      rest=${result#*"$tab"} failed=${rest%%"$tab"*} rest=${rest#*"$tab"} previous=${rest%%"$tab"*} rest=${rest#*"$tab"}
      archive=${rest%%"$tab"*} rest=${rest#*"$tab"} aside=${rest%%"$tab"*} now=${rest#*"$tab"}
      fail "$1. It was put back on $previous from $archive (it is $now; the state it had on $failed is kept at $aside). Declare $previous again, or an image that works, and deploy" ;;
    *) fail "$1" ;;
  esac
}

if [ -n "$rollback" ]; then
  rolled=$(as_root docker inspect --format "{{index .Config.Labels \"$rollback_label\"}}" "$name" 2>/dev/null || true)
  [ -z "$rolled" ] || fail "gateway $name runs $(as_root docker inspect --format '{{.Config.Image}}' "$name"), put back there after $rolled failed on it; declare that image again, or an image that works, and deploy"
fi

# The last health check outputs and log lines, for the reason of a failure.
show_why() {
  as_root docker inspect --format '{{if .State.Health}}{{range .State.Health.Log}}{{.Output}}{{end}}{{end}}' "$name" 2>/dev/null | tail -n 3 >&2 || true
  as_root docker logs --tail 10 "$name" 2>&1 | tail -n 10 >&2 || true
}

deadline=$(($(date +%s) + timeout))
while :; do
  health_of "$name"
  [ "$status" != gone ] || fail "gateway $name: its container is gone; run the deploy again"
  # A stopped container with a health check still reads unhealthy: its exit code says more.
  case $state in exited | dead) status=$state ;; esac
  if [ "$restarts" -gt "$allowed_restarts" ]; then
    show_why
    exit_reason
    give_up "gateway $name $exited and was restarted $restarts times; read why with: docker logs $name"
  fi
  case $status in
    healthy)
      [ -z "$pending" ] || as_root rm -f "$pending"
      exit 0 ;;
    unhealthy | dead)
      show_why
      give_up "gateway $name is $status; read why with: docker logs $name" ;;
    exited)
      show_why
      exit_reason
      give_up "gateway $name $exited; read why with: docker logs $name" ;;
  esac
  [ "$(date +%s)" -lt "$deadline" ] || give_up "gateway $name is not healthy after $timeout s (it is $status); read why with: docker logs $name"
  sleep 2
done
