#!/usr/bin/env bash
# A second gateway host for the end-to-end tests, reachable only over SSH.
#
# Usage: scripts/ssh-test-host.sh up <workdir>
#        scripts/ssh-test-host.sh down <workdir>
#        scripts/ssh-test-host.sh crash-dockerd <workdir>
#
# up makes network namespace clawfleet-gw2 (10.213.0.2/30; this side of the veth
# pair is 10.213.0.1), runs a second dockerd inside it, and sshd on
# 10.213.0.2:22 for the deploy user clawdeploy (docker group, password-less
# sudo, key in <workdir>/id_ed25519, host key generated into <workdir>).
# sshd runs in a mount namespace of its own, which is the SSH host's view:
# - /run is a private tmpfs whose docker.sock links to the second daemon's socket,
#   so `docker` and `docker system dial-stdio` over SSH reach that daemon, also
#   after the daemon restarted;
# - /usr/local/sbin is a private tmpfs, empty: the tests put the real `tailscale`
#   CLI there and start the host's own tailscaled in this view, on the default
#   socket of this private /run (test/e2e/real-tailscale.ts); sessions get
#   /usr/local/sbin on PATH from sshd_config (SetEnv), sudo has it in Debian's
#   secure_path;
# - everything else (/etc, /var, /tmp) is the main machine's file system, so give
#   this host a stateRoot of its own.
# The last stdout line is one JSON object: address, port, user, hostKey,
# identityFile, dockerSocket, knownHostsLine. Progress goes
# to stderr. up first clears what an earlier, killed run left, so it can be
# repeated; down stops everything up started and is safe to repeat.
# crash-dockerd does to the host's Docker side what a power loss and reboot do:
# dockerd, containerd, the shims, docker-proxy and every process of the
# containers get SIGKILL at once (sshd and other processes of the namespace live
# on); the daemon's exec root is emptied, as a reboot empties /run; then dockerd
# starts again on the same data root, as at boot, and the containers come back
# by their restart policy. It returns once the daemon answers, not when the
# containers are ready.
#
# The second dockerd knows OCI runtime clawfleet-test (this machine's runc under a second name, so a
# container's declared runtime can be told from the default) and, when this machine has gVisor's runsc, runsc.
#
# Environment:
#   CLAWFLEET_GATEWAY_IMAGE  image to copy from the main daemon (optional)
#   CLAWFLEET_APT_UPDATED=1  the apt index is fresh already
#   CLAWFLEET_GW2_WAIT       seconds to wait for each daemon (default 120)
#   CLAWFLEET_GW2_LOG_OPTS=1 the second dockerd gets default log-opts (labels, tag), which it
#                            merges into every json-file container's own
#
# Needs root (namespaces, mounts, users).
set -euo pipefail

log() { printf 'ssh-test-host: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

NS=clawfleet-gw2
VETH_HOST=clawgw2-h
VETH_NS=clawgw2-n
HOST_ADDR=10.213.0.1
ADDR=10.213.0.2
PREFIX=30
SSH_PORT=22
DEPLOY_USER=clawdeploy
SUDOERS_FILE=/etc/sudoers.d/clawfleet-gw2-$DEPLOY_USER
# Containers of the second daemon get cgroups apart from the main daemon's /docker.
CGROUP_PARENT=/clawfleet-gw2
# An OCI runtime the second daemon knows besides its default: runc under another name.
TEST_RUNTIME=clawfleet-test
WAIT_SECONDS="${CLAWFLEET_GW2_WAIT:-120}"

usage() { sed -n '2,6p' "${BASH_SOURCE[0]}" >&2; exit 2; }

[ "$#" -eq 2 ] || usage
ACTION=$1
case "$2" in
  /*) WORKDIR=$2 ;;
  *) WORKDIR="$PWD/$2" ;;
esac
case "$WORKDIR" in
  /run/* | /var/run/*) die "the workdir must not be under /run: sshd's view hides /run" ;;
esac
[ "$(id -u)" -eq 0 ] || die "needs root"

DOCKER_DIR="$WORKDIR/docker"
# The socket sits in a folder of its own, and the SSH host's view binds the folder, not the
# socket file: dockerd makes a new socket each time it starts, and a file bind would keep the old one.
DOCKER_SOCK_DIR="$WORKDIR/docker-run"
DOCKER_SOCK="$DOCKER_SOCK_DIR/docker.sock"
DOCKERD_PID="$DOCKER_DIR/dockerd.pid"
DOCKERD_LOG="$WORKDIR/dockerd.log"
SSHD_PID="$WORKDIR/sshd.pid"
SSHD_LOG="$WORKDIR/sshd.log"
SSHD_CONFIG="$WORKDIR/sshd_config"
HOST_KEY="$WORKDIR/ssh_host_ed25519_key"
IDENTITY="$WORKDIR/id_ed25519"

# Sends TERM to the process in a pid file when its name matches, waits, then KILLs.
# True while the process exists and is no zombie (this machine's init may never reap the killed ones).
alive() {
  kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]
}

stop_pidfile() {
  local file=$1 name=$2 pid waited=0
  [ -f "$file" ] || return 0
  pid=$(cat "$file" 2>/dev/null || true)
  if [[ "$pid" =~ ^[0-9]+$ ]] && [ "$(ps -o comm= -p "$pid" 2>/dev/null || true)" = "$name" ]; then
    log "stopping $name ($pid)"
    kill -TERM "$pid" 2>/dev/null || true
    while alive "$pid"; do
      if [ "$waited" -ge 300 ]; then
        log "$name ($pid) ignored TERM for 30s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.1
      waited=$((waited + 1))
    done
  fi
  rm -f "$file"
}

# Whatever still runs in the namespace (containers, shims, docker-proxy) once dockerd is gone.
kill_namespace_pids() {
  local signal pids round
  for signal in TERM KILL; do
    pids=$(ip netns pids "$NS" 2>/dev/null || true)
    [ -n "$pids" ] || return 0
    log "sending $signal to processes left in $NS: $(echo "$pids" | tr '\n' ' ')"
    # shellcheck disable=SC2086 # one pid per word
    kill -"$signal" $pids 2>/dev/null || true
    for round in $(seq 1 100); do
      [ -z "$(ip netns pids "$NS" 2>/dev/null || true)" ] && return 0
      [ "$round" -eq 100 ] || sleep 0.1
    done
  done
}

teardown() {
  stop_pidfile "$SSHD_PID" sshd
  stop_pidfile "$DOCKERD_PID" dockerd
  if ip netns list 2>/dev/null | grep -qw "^$NS"; then
    kill_namespace_pids
  fi
  # A killed run can leave mounts below the workdir in this namespace; deepest first.
  local mounts
  mounts=$(awk -v dir="$WORKDIR/" 'index($2, dir) == 1 { print $2 }' /proc/self/mounts | sort -r)
  if [ -n "$mounts" ]; then
    log "unmounting leftovers under $WORKDIR"
    echo "$mounts" | while read -r mount; do umount -l "$mount" 2>/dev/null || true; done
  fi
  if ip link show "$VETH_HOST" >/dev/null 2>&1; then
    ip link del "$VETH_HOST"
  fi
  if ip netns list 2>/dev/null | grep -qw "^$NS"; then
    log "removing network namespace $NS"
    ip netns del "$NS"
  fi
  # Empty cgroups the second daemon's containers left, deepest first.
  find /sys/fs/cgroup -mindepth 2 -maxdepth 3 -type d -path "*$CGROUP_PARENT*" 2>/dev/null | sort -r |
    while read -r dir; do rmdir "$dir" 2>/dev/null || true; done
  rm -f "$DOCKER_SOCK" "$SSHD_PID"
}

install_missing() {
  local missing=()
  [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
  command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
  command -v sudo >/dev/null 2>&1 || missing+=(sudo)
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if [ "${CLAWFLEET_APT_UPDATED:-0}" != 1 ]; then
    apt-get update >&2
  fi
  apt-get install -y --no-install-recommends "${missing[@]}" >&2
}

# Mount commands that give a namespace the cgroup file systems this machine has:
# `ip netns exec` remounts /sys, which hides them (v1 hierarchies or v2 alike).
cgroup_mounts() {
  awk '$2 ~ "^/sys/fs/cgroup" && ($3 == "tmpfs" || $3 == "cgroup" || $3 == "cgroup2") {
    printf "mkdir -p %s && mount -t %s -o %s %s %s\n", $2, $3, $4, $1, $2
  }' /proc/self/mounts
}

make_namespace() {
  log "making network namespace $NS ($ADDR/$PREFIX, this side $HOST_ADDR)"
  ip netns add "$NS"
  ip link add "$VETH_HOST" type veth peer name "$VETH_NS"
  ip link set "$VETH_NS" netns "$NS"
  ip addr add "$HOST_ADDR/$PREFIX" dev "$VETH_HOST"
  ip link set "$VETH_HOST" up
  ip netns exec "$NS" ip addr add "$ADDR/$PREFIX" dev "$VETH_NS"
  ip netns exec "$NS" ip link set "$VETH_NS" up
  ip netns exec "$NS" ip link set lo up
}

# Polls a command until it succeeds, the watched process dies, or time runs out.
wait_for() {
  local what=$1 pid=$2 logfile=$3 waited=0
  shift 3
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$what exited during startup; last lines of $logfile:"
      tail -n 30 "$logfile" >&2 || true
      exit 1
    fi
    if [ "$waited" -ge $((WAIT_SECONDS * 10)) ]; then
      log "$what did not answer within ${WAIT_SECONDS}s; last lines of $logfile:"
      tail -n 30 "$logfile" >&2 || true
      exit 1
    fi
    if [ $((waited % 50)) -eq 0 ]; then log "waiting for $what ($((waited / 10))s)"; fi
    sleep 0.1
    waited=$((waited + 1))
  done
}

start_dockerd() {
  mkdir -p "$DOCKER_DIR/data" "$DOCKER_DIR/exec" "$DOCKER_SOCK_DIR"
  # Without a key path of its own, dockerd takes its ID from /etc/docker/key.json: the main daemon's ID.
  local log_opts=''
  # Default log options, as many hosts set them: the daemon merges them into every json-file container's own.
  if [ "${CLAWFLEET_GW2_LOG_OPTS:-}" = 1 ]; then log_opts=', "log-driver": "json-file", "log-opts": {"labels": "clawfleet.gateway", "tag": "{{.Name}}"}'; fi
  # OCI runtimes besides the default: runc again under a name of its own (what a declared `isolation` is checked
  # with), and gVisor's runsc when this machine has it.
  local runtimes runsc
  runtimes=$(printf '"%s": {"path": "%s"}' "$TEST_RUNTIME" "$(command -v runc)")
  runsc=$(command -v runsc || true)
  if [ -n "$runsc" ]; then runtimes=$(printf '%s, "runsc": {"path": "%s"}' "$runtimes" "$runsc"); fi
  printf '{"deprecated-key-path": "%s", "runtimes": {%s}%s}\n' "$DOCKER_DIR/key.json" "$runtimes" "$log_opts" >"$DOCKER_DIR/daemon.json"
  {
    echo 'set -eu'
    cgroup_mounts
    printf 'exec dockerd --data-root %q --exec-root %q --pidfile %q -H %q --config-file %q --bridge none --group docker --cgroup-parent %q\n' \
      "$DOCKER_DIR/data" "$DOCKER_DIR/exec" "$DOCKERD_PID" "unix://$DOCKER_SOCK" "$DOCKER_DIR/daemon.json" "$CGROUP_PARENT"
  } >"$WORKDIR/start-dockerd.sh"
  log "starting the second dockerd (log: $DOCKERD_LOG)"
  # setsid detaches the daemon from this shell so it outlives the script.
  setsid ip netns exec "$NS" sh "$WORKDIR/start-dockerd.sh" >>"$DOCKERD_LOG" 2>&1 </dev/null &
  local pid=$!
  wait_for "the second dockerd" "$pid" "$DOCKERD_LOG" docker -H "unix://$DOCKER_SOCK" info
}

ensure_user() {
  if ! id -u "$DEPLOY_USER" >/dev/null 2>&1; then
    log "creating user $DEPLOY_USER"
    useradd --create-home --shell /bin/bash "$DEPLOY_USER"
  fi
  getent group docker >/dev/null || groupadd --system docker
  usermod -aG docker "$DEPLOY_USER"
  # '*' (no password) instead of useradd's '!' (locked): sshd without PAM refuses locked accounts.
  usermod -p '*' "$DEPLOY_USER"
  mkdir -p /etc/sudoers.d
  local tmp
  tmp=$(mktemp)
  printf '%s ALL=(ALL:ALL) NOPASSWD: ALL\n' "$DEPLOY_USER" >"$tmp"
  visudo -cqf "$tmp" || die "sudoers drop-in does not validate"
  install -m 0440 "$tmp" "$SUDOERS_FILE"
  rm -f "$tmp"
}

write_keys() {
  rm -f "$IDENTITY" "$IDENTITY.pub"
  ssh-keygen -q -t ed25519 -N '' -C "clawfleet-e2e@$ADDR" -f "$IDENTITY"
  [ -f "$HOST_KEY" ] || ssh-keygen -q -t ed25519 -N '' -C "$NS" -f "$HOST_KEY"
  local home
  home=$(getent passwd "$DEPLOY_USER" | cut -d: -f6)
  install -d -m 0700 -o "$DEPLOY_USER" -g "$DEPLOY_USER" "$home/.ssh"
  install -m 0600 -o "$DEPLOY_USER" -g "$DEPLOY_USER" "$IDENTITY.pub" "$home/.ssh/authorized_keys"
}

write_sshd_files() {
  cat >"$SSHD_CONFIG" <<EOF
ListenAddress $ADDR:$SSH_PORT
HostKey $HOST_KEY
PidFile $SSHD_PID
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers $DEPLOY_USER
UsePAM no
AllowAgentForwarding no
X11Forwarding no
LogLevel VERBOSE
SetEnv PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
Subsystem sftp internal-sftp
EOF
  {
    echo 'set -eu'
    cgroup_mounts
  } >"$WORKDIR/start-sshd.sh"
  cat >>"$WORKDIR/start-sshd.sh" <<EOF
mount -t tmpfs -o mode=0755 gw2-run /run
mkdir -m 0755 /run/sshd
mkdir -m 0755 /run/clawfleet-docker
mount --bind '$DOCKER_SOCK_DIR' /run/clawfleet-docker
ln -s /run/clawfleet-docker/docker.sock /run/docker.sock
mount -t tmpfs -o mode=0755 gw2-sbin /usr/local/sbin
/usr/sbin/sshd -t -f '$SSHD_CONFIG'
exec /usr/sbin/sshd -D -E '$SSHD_LOG' -f '$SSHD_CONFIG'
EOF
}

start_sshd() {
  log "starting sshd on $ADDR:$SSH_PORT (log: $SSHD_LOG)"
  setsid ip netns exec "$NS" unshare --mount --propagation private sh "$WORKDIR/start-sshd.sh" >>"$SSHD_LOG" 2>&1 </dev/null &
  local pid=$!
  wait_for "sshd" "$pid" "$SSHD_LOG" ssh-keyscan -T 2 -t ed25519 -p "$SSH_PORT" "$ADDR"
}

load_image() {
  local image=${CLAWFLEET_GATEWAY_IMAGE:-}
  [ -n "$image" ] || return 0
  if docker -H "unix://$DOCKER_SOCK" image inspect "$image" >/dev/null 2>&1; then
    log "image $image already in the second daemon"
    return 0
  fi
  log "copying image $image into the second daemon"
  docker save "$image" | docker -H "unix://$DOCKER_SOCK" load >&2
}

json_string() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

up() {
  install_missing
  mkdir -p "$WORKDIR"
  teardown
  make_namespace
  start_dockerd
  ensure_user
  write_keys
  write_sshd_files
  start_sshd
  load_image
  local host_key
  host_key=$(cut -d' ' -f1,2 "$HOST_KEY.pub")
  printf '{"address":%s,"port":%d,"user":%s,"hostKey":%s,"identityFile":%s,"dockerSocket":%s,"knownHostsLine":%s}\n' \
    "$(json_string "$ADDR")" "$SSH_PORT" "$(json_string "$DEPLOY_USER")" "$(json_string "$host_key")" \
    "$(json_string "$IDENTITY")" "$(json_string "$DOCKER_SOCK")" \
    "$(json_string "$ADDR $host_key")"
}

# True when the process is dockerd, containerd, a shim or docker-proxy, or was started by one.
docker_side() {
  local pid=$1 comm
  while [ -n "$pid" ] && [ "$pid" -gt 1 ]; do
    comm=$(ps -o comm= -p "$pid" 2>/dev/null || true)
    case "$comm" in
      dockerd | containerd | containerd-shim* | docker-proxy) return 0 ;;
    esac
    pid=$(ps -o ppid= -p "$pid" 2>/dev/null | tr -d ' ')
  done
  return 1
}

crash_dockerd() {
  [ -f "$SSHD_PID" ] || die "the SSH host is not up (no $SSHD_PID); run: $0 up $WORKDIR"
  local pid victims=() round
  for pid in $(ip netns pids "$NS"); do
    if docker_side "$pid"; then victims+=("$pid"); fi
  done
  # The containers' processes live in network namespaces of their own; their cgroups find them.
  for pid in $(find /sys/fs/cgroup -path "*$CGROUP_PARENT/*" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -un); do
    victims+=("$pid")
  done
  [ "${#victims[@]}" -gt 0 ] || die "no Docker processes run in $NS"
  log "SIGKILL to ${#victims[@]} processes of the host's Docker side and its containers"
  kill -KILL "${victims[@]}" 2>/dev/null || true
  for round in $(seq 1 300); do
    local left=0
    for pid in "${victims[@]}"; do
      if alive "$pid"; then left=1; fi
    done
    [ "$left" -eq 0 ] && break
    [ "$round" -lt 300 ] || die "processes of $NS survived SIGKILL for 30s"
    sleep 0.1
  done
  # A reboot empties /run: no pid file of a dead containerd (whose pid a zombie may still hold), no stale socket.
  rm -rf "$DOCKER_DIR/exec" "$DOCKERD_PID" "$DOCKER_SOCK"
  start_dockerd
  log "dockerd is back"
}

down() {
  teardown
  rm -f "$SUDOERS_FILE"
  log "down"
}

case "$ACTION" in
  up) up ;;
  down) down ;;
  crash-dockerd) crash_dockerd ;;
  *) usage ;;
esac
