# Frees a host port for a gateway before its container is created. Pulumi deletes removed resources last, so a gateway
# this deploy removes (a renamed tenant or host, a port given to another tenant) still holds the port when the new one
# starts: that gateway of the same stack is stopped (SIGTERM, so its state lease is released) and removed first. A port
# held by anything clawfleet does not manage for this stack is an error.
#
# Usage: claim-port.sh <host id> <port> <gateway label value> <container> <stack label value> <stop seconds>
#          <managed label> <gateway label> <stack label>
# Needs as_root and fail (runtimes/shell.ts).

host=$1 port=$2 gateway=$3 container=$4 stack=$5 stop_seconds=$6 managed_label=$7 gateway_label=$8 stack_label=$9

format="{{.Name}}|{{index .Config.Labels \"$gateway_label\"}}|{{index .Config.Labels \"$stack_label\"}}|{{range .HostConfig.PortBindings}}{{range .}}{{.HostPort}} {{end}}{{end}}"
for id in $(as_root docker ps -aq --filter "label=$managed_label=true"); do
  # A container the same deploy removes meanwhile (a replacement, another gateway's claim) holds no port.
  info=$(as_root docker inspect --format "$format" "$id" 2>/dev/null) || continue
  name=${info%%|*} info=${info#*|}
  owner=${info%%|*} info=${info#*|}
  its_stack=${info%%|*}
  ports=" ${info#*|} "
  name=${name#/}
  if [ "$name" = "$container" ] || [ "$owner" = "$gateway" ]; then continue; fi
  if [ -n "$its_stack" ] && [ "$its_stack" != "$stack" ]; then continue; fi
  case $ports in *" $port "*) ;; *) continue ;; esac
  printf 'clawfleet: host %s: port %s is held by %s, which this deploy replaces; stopping it first\n' "$host" "$port" "$name" >&2
  # Gone meanwhile is as good as removed.
  as_root docker stop -t "$stop_seconds" "$id" >/dev/null 2>&1 || true
  if ! as_root docker rm -f "$id" >/dev/null 2>&1 && as_root docker inspect "$id" >/dev/null 2>&1; then
    fail "host $host: could not remove container $name, which holds port $port"
  fi
done
holder=$(as_root docker ps --filter "publish=$port" --format '{{.Names}}' | head -n 1)
if [ -n "$holder" ] && [ "$holder" != "$container" ]; then
  fail "host $host: port $port is held by container $holder, which this stack does not manage; stop it or declare another port"
fi
