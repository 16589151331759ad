# Adds or removes a gateway's Tailscale Serve entry: https://<node>:<https port>/ to http://127.0.0.1:<local port>,
# on the tailnet only, nothing public. Serve writes on one host run as root (Tailscale refuses them to anyone but root
# and its operator), serialized with a lock and retried while Tailscale reports a concurrent writer.
#
# remove takes the entry away unless another gateway publishes its local port by now (a deploy that gives the port to
# a new gateway adds the new entry before the old one's delete runs). An entry that is already gone is fine, any other
# failure is not.
#
# Usage: serve.sh add <https port> <local port>
#        serve.sh remove <https port> <local port> <gateway label value> <gateway label>
# Needs as_root (runtimes/shell.ts).

lock=/tmp/clawfleet-tailscale-serve.lock

serve() {
  attempt=1
  while :; do
    if command -v flock >/dev/null 2>&1; then
      out=$(as_root flock "$lock" tailscale serve "$@" 2>&1) && return 0
    else
      out=$(as_root tailscale serve "$@" 2>&1) && return 0
    fi
    case $out in
      *"Another client is changing the serve config"*) ;;
      *) printf '%s\n' "$out" >&2; return 1 ;;
    esac
    [ "$attempt" -lt 10 ] || { printf '%s\n' "$out" >&2; return 1; }
    attempt=$((attempt + 1))
    sleep 1
  done
}

mode=$1 https_port=$2 local_port=$3
case $mode in
  add)
    serve --bg --yes --https="$https_port" "http://127.0.0.1:$local_port" ;;
  remove)
    gateway=$4 gateway_label=$5
    holder=$(as_root docker ps --filter "publish=$local_port" --format "{{.Label \"$gateway_label\"}}" | head -n 1)
    if [ -n "$holder" ] && [ "$holder" != "$gateway" ]; then exit 0; fi
    if ! err=$(serve --https="$https_port" off 2>&1); then
      case $err in
        *"handler does not exist"*) exit 0 ;;
        *) printf '%s\n' "$err" >&2; exit 1 ;;
      esac
    fi ;;
  *) printf 'serve.sh: unknown mode %s\n' "$mode" >&2; exit 2 ;;
esac
