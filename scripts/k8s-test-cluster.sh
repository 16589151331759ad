#!/usr/bin/env bash
# Start and stop a real single-node Kubernetes cluster on this machine for the
# end-to-end tests of the Kubernetes runtime, and leave nothing behind.
#
# Usage:
#   scripts/k8s-test-cluster.sh up [--print-env] [--dir DIR] [--image REF]...
#   scripts/k8s-test-cluster.sh down [--dir DIR]
#     DIR: the cluster directory, default $CLAWFLEET_K8S_DIR or /tmp/clawfleet-k8s.
#     --print-env prints only `export KUBECONFIG=...` and `export PATH=<kube bin
#       dir>:$PATH` on stdout, so `eval "$(scripts/k8s-test-cluster.sh up
#       --print-env)"` works. Progress goes to stderr, a line per step with
#       its time.
#     --image REF (repeatable) imports REF from the local Docker too.
#   `up` on a running, healthy cluster only imports images that are new and
#   returns; on a broken or half-started one it runs `down` first. `down` is
#   idempotent, also after a crashed `up`. One cluster per machine at a time
#   (fixed bridge name, subnet and cgroup name).
#
# What runs (all as root, detached, logs in DIR/logs/<name>.log, pids in
# DIR/run/<name>.pid):
#   etcd                     loopback, free ports, --unsafe-no-fsync (throwaway data).
#   kube-apiserver           127.0.0.1:<free port>, certificates made with openssl
#                            in DIR/pki, Node,RBAC authorization, NodeRestriction,
#                            ServiceAccount issuer and key pair,
#                            --endpoint-reconciler-type=none (no kube-proxy, so
#                            the `kubernetes` Service gets no endpoints).
#   kube-controller-manager  all default controllers (StatefulSet, Job, PV binder,
#                            serviceaccount-token, namespace, ...) with its
#                            --service-account-private-key-file and
#                            --root-ca-file, so `default` ServiceAccounts appear.
#   kube-scheduler
#   containerd               a second one, its own config, socket, root and state
#                            under DIR/containerd (Debian's /run/containerd and
#                            Docker's are not touched), CRI plugin on.
#   kubelet                  node `clawfleet-node`, node IP 10.251.0.1 (the CNI
#                            bridge's address, created by `up`; the kubelet refuses
#                            a loopback node IP), serving port bound to that IP,
#                            webhook authentication and authorization (the
#                            apiserver calls it with a system:masters client
#                            certificate, so kubectl logs/exec/port-forward work).
#   pv provisioner           a loop in this script (kubectl watch + jq) that gives
#                            every Pending PVC of StorageClass `clawfleet-local`
#                            a fresh hostPath PV pre-bound to it (claimRef), its
#                            directory DIR/volumes/<pv> owned by 1000:1000 mode
#                            0700: the gateway runs as uid 1000 and fsGroup does
#                            not apply to hostPath. A fixed pool would run out as
#                            Released (Retain) PVs pile up; this never does.
#   Network: a CNI bridge `cfk8s0` on 10.251.0.0/24 (bridge + host-local +
#   portmap; containerd adds loopback), clear of Docker's 172.17.0.0/16. The
#   host reaches pod IPs directly. No kube-proxy (Services get no virtual IPs;
#   use pod IPs or kubectl port-forward) and no DNS add-on (pods get
#   DIR/resolv.conf, a copy of the host's non-loopback nameservers).
#   Storage: StorageClass `clawfleet-local` (the default class; provisioner
#   kubernetes.io/no-provisioner, WaitForFirstConsumer, Retain), served by the
#   loop above.
#   Images: no registry is reachable, so nothing is ever pulled. The pod sandbox
#   ("pause") image is a static Go program that waits for SIGTERM/SIGINT (and
#   reaps children), built into a FROM-scratch image with `docker build`; its
#   `docker save` tar is cached in $CLAWFLEET_TOOLS/k8s-pause/<hash of the
#   source>/ so later `up`s only import it. `up` imports every local Docker
#   image whose repository is clawfleet/openclaw-gateway or starts with
#   clawfleet-e2e/ (plus --image ones) with one `docker save | ctr images import`,
#   skipping those already present with the same image id. Pods must use
#   imagePullPolicy IfNotPresent or Never.
#
# Settings this host needs, found by trial:
#   - restrict_oom_score_adj = true (containerd CRI) and oomScoreAdj: 0
#     (kubelet): the kubelet asks for oom_score_adj -998 on pod sandboxes (-997
#     for Guaranteed pods); without CAP_SYS_RESOURCE writing a negative value
#     fails, and runc then dies with "can't get final child's PID from pipe:
#     EOF". The option clamps the value to containerd's own (0).
#   - failCgroupV1: false: Kubernetes 1.35 and later refuse cgroup v1 otherwise.
#   - cgroupDriver: cgroupfs (systemd is not PID 1), cgroupsPerQOS: false with
#     enforceNodeAllocatable: [none]: no QoS cgroup tree; the kubelet then gives
#     pods no cgroup parent (cgroupRoot is ignored) and containerd puts every
#     container in /sys/fs/cgroup/<hierarchy>/k8s.io/<id>, which `down` empties
#     and removes (only a CRI containerd uses that name; this is the only one).
#   - netns_mounts_under_state_dir = true: pod network namespaces are mounted
#     under DIR/containerd/state instead of /var/run/netns.
#   - runc state (Root) under DIR/containerd/runc instead of /run/containerd/runc.
#   - Image garbage collection off (imageGCHighThresholdPercent: 100) and
#     eviction thresholds of 1%/50Mi: the disk is shared and busy; a collected
#     gateway image cannot be pulled back, and DiskPressure would taint the node.
#   - failSwapOn: false, resolvConf: DIR/resolv.conf, maxPods: 110.
#
# What it changes outside DIR while up, and `down` undoes: sysctls the kubelet
# sets (vm.overcommit_memory, vm.panic_on_oom, kernel.panic, kernel.panic_on_oops,
# kernel.keys.root_maxkeys, kernel.keys.root_maxbytes; the values before `up`
# are kept in DIR/host/sysctl.orig and written back), iptables and ip6tables
# chains KUBE-* (kubelet) and CNI-* (bridge/portmap plugins) and the rules that
# jump to them, the bridge cfk8s0 and its veths, cgroups named k8s.io,
# /var/lib/cni (the CNI result cache), the kubelet's fixed
# /var/lib/kubelet/device-plugins/kubelet.sock and /var/log/containers links
# (paths that did not exist before `up` are removed, others only emptied of what
# the cluster put there). Everything else (certificates, etcd data, containerd
# root and state, kubelet root dir, pod logs, volumes) lives in DIR, which
# `down` unmounts (the kubelet bind-mounts its root dir onto itself; pod
# volumes, netns, shm and rootfs mounts) and deletes. Left behind on purpose:
# the pause image tar in the tools cache.
#
# Times on this machine (2 busy cores): `up` about 110 s, of which the control
# plane and a Ready node take 15 s and the three ~850 MB gateway images 90 s
# (docker save about 9 s each, the rest is unpacking node_modules; they load in
# the background while the control plane starts); `up` on a running cluster
# 1.5 s; `down` 20 to 75 s, nearly all of it deleting the unpacked images.
#
# Needs: root; the kube and etcd binaries from scripts/install-k8s-tools.sh
# --only kube,etcd (not built here); a running Docker (scripts/docker-up.sh);
# from Debian, installed when missing: containerd, runc,
# containernetworking-plugins, iptables, iproute2, openssl, jq, curl; go at
# /usr/local/go/bin/go or on PATH for the first pause build.
set -euo pipefail

PROG=k8s-test-cluster
SCRIPT_PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
SCRIPT_DIR="$(dirname "$SCRIPT_PATH")"
CACHE="${CLAWFLEET_TOOLS:-$HOME/.cache/clawfleet-tools}"

NODE_NAME=clawfleet-node
BRIDGE=cfk8s0
POD_SUBNET=10.251.0.0/24
NODE_IP=10.251.0.1
SERVICE_RANGE=10.96.0.0/16
SERVICE_IP=10.96.0.1
# containerd's cgroup parent for pods given none (the kubelet gives none
# without cgroupsPerQOS).
CGROUP_NAME=k8s.io
STORAGE_CLASS=clawfleet-local
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
# Host paths the kubelet or the CNI library use whatever they are told.
HOST_PATHS=(/var/lib/cni /var/lib/kubelet /var/lib/kubelet/device-plugins /var/log/containers)

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage() { sed -n '2,17p' "$SCRIPT_PATH" >&2; exit "${1:-0}"; }

# ---- timing ----------------------------------------------------------------
now_us() { printf '%s' "${EPOCHREALTIME/./}"; }
T_STEP=0
T_ALL=0
step() { T_STEP=$(now_us); }
# took MESSAGE: prints MESSAGE and the time since the last `step`.
took() {
  local d=$(( $(now_us) - T_STEP ))
  printf '%s: %-52s %4d.%01ds\n' "$PROG" "$*" $((d / 1000000)) $((d % 1000000 / 100000)) >&2
}

# ---- arguments -------------------------------------------------------------
CMD="${1:-}"
[ $# -gt 0 ] && shift
PRINT_ENV=0
DIR="${CLAWFLEET_K8S_DIR:-/tmp/clawfleet-k8s}"
EXTRA_IMAGES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --print-env) PRINT_ENV=1 ;;
    --dir) shift; DIR="${1:-}" ;;
    --dir=*) DIR="${1#--dir=}" ;;
    --image) shift; EXTRA_IMAGES+=("${1:-}") ;;
    --image=*) EXTRA_IMAGES+=("${1#--image=}") ;;
    -h|--help) usage 0 ;;
    *) die "unknown argument: $1" ;;
  esac
  shift
done
case "$CMD" in
  up|down|_pv-loop) ;;
  -h|--help|help) usage 0 ;;
  *) log "unknown or missing command: '$CMD'"; usage 2 ;;
esac
[ -n "$DIR" ] || die "--dir needs a value"
case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac
DIR="${DIR%/}"
[[ "$DIR" =~ ^/[A-Za-z0-9._/-]+$ ]] || die "DIR must be an absolute path of [A-Za-z0-9._/-]: $DIR"
case "$DIR" in /|/tmp|/var|/var/*|/etc|/etc/*|/usr|/usr/*|/root|/home|/run|/run/*) die "refusing DIR $DIR" ;; esac
for img in "${EXTRA_IMAGES[@]}"; do [ -n "$img" ] || die "--image needs a value"; done
[ "$(id -u)" -eq 0 ] || die "must run as root"

PKI="$DIR/pki"
LOGS="$DIR/logs"
RUN="$DIR/run"
CTD="$DIR/containerd"
CTD_SOCK="$CTD/containerd.sock"
KUBELET_ROOT="$DIR/kubelet"
MARKER="$DIR/.clawfleet-k8s-test-cluster"
KUBECONFIG_ADMIN="$DIR/kubeconfig"
COMPONENTS=(etcd kube-apiserver containerd kubelet kube-controller-manager kube-scheduler pv-provisioner)

# ---- binaries ----------------------------------------------------------------
kube_env() {
  local env
  env="$(bash "$SCRIPT_DIR/install-k8s-tools.sh" --print-env --only kube,etcd)" ||
    die "kube/etcd binaries missing: run scripts/install-k8s-tools.sh --only kube,etcd"
  eval "$env"
  KUBE_BIN="$(dirname "$(command -v kubectl)")"
  ETCD_BIN="$(dirname "$(command -v etcd)")"
}
kc() { kubectl --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }
ctrc() { ctr -a "$CTD_SOCK" -n k8s.io "$@"; }

# Installs the Debian packages behind missing commands, as
# scripts/install-test-tools.sh does.
ensure_packages() {
  local missing=() c
  command -v containerd >/dev/null 2>&1 && command -v ctr >/dev/null 2>&1 || missing+=(containerd)
  command -v containerd-shim-runc-v2 >/dev/null 2>&1 || missing+=(containerd)
  command -v runc >/dev/null 2>&1 || missing+=(runc)
  for c in bridge host-local portmap loopback; do
    [ -x "/usr/lib/cni/$c" ] || { missing+=(containernetworking-plugins); break; }
  done
  command -v iptables >/dev/null 2>&1 || missing+=(iptables)
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v jq >/dev/null 2>&1 || missing+=(jq)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  if [ "${#missing[@]}" -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    log "installing from Debian: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if [ "${CLAWFLEET_APT_UPDATED:-0}" != 1 ]; then apt-get update >&2; fi
    apt-get install -y --no-install-recommends "${missing[@]}" >&2
  fi
  if ! { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }; then
    die "Docker does not answer: run scripts/docker-up.sh first"
  fi
}

# ---- processes ---------------------------------------------------------------
pid_of() { cat "$RUN/$1.pid" 2>/dev/null || true; }
# alive NAME: the pid file's process runs and is still the one started.
alive() {
  local pid exe
  pid="$(pid_of "$1")"
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  exe="$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null || true)"
  case "$exe" in *"$DIR"*) return 0 ;; *) return 1 ;; esac
}
# start NAME CMD...: runs CMD detached in its own session, log and pid in DIR.
# Closes the lock (9) and the saved stdout (7) so `$(... up --print-env)` ends.
start() {
  local name=$1; shift
  (
    setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 7>&- 9>&- &
    echo $! >"$RUN/$name.pid"
  )
}
# stop_pid PID SECONDS [group]: TERM, then KILL after SECONDS; with "group",
# to the process group PID leads (components run in their own session, so a
# loop's children go too).
stop_pid() {
  local pid=$1 limit=$2 target=$1 i
  [ "${3:-}" = group ] && target="-$1"
  kill -TERM -- "$target" 2>/dev/null || return 0
  for ((i = 0; i < limit * 10; i++)); do
    [ -d "/proc/$pid" ] || return 0
    # a zombie child of ours counts as gone
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && return 0
    sleep 0.1
  done
  kill -KILL -- "$target" 2>/dev/null || true
}
stop_component() {
  local name=$1 limit=${2:-15}
  if alive "$name"; then stop_pid "$(pid_of "$name")" "$limit" group; fi
  rm -f "$RUN/$name.pid"
}

# fail COMPONENT MESSAGE: the end of the component's log, then exit 1.
fail() {
  local comp=$1; shift
  log "error: $*"
  if [ -n "$comp" ] && [ -f "$LOGS/$comp.log" ]; then
    log "last lines of $LOGS/$comp.log:"
    tail -n 40 "$LOGS/$comp.log" >&2
  fi
  log "the cluster is left as it is for inspection; \`$0 down\` removes it"
  exit 1
}
# wait_for DESCRIPTION LIMIT_SECONDS COMPONENT CMD...: polls CMD until it
# succeeds; fails at once when COMPONENT exits, or after LIMIT_SECONDS.
wait_for() {
  local desc=$1 limit=$2 comp=$3 start=$SECONDS
  shift 3
  until "$@" >/dev/null 2>&1; do
    if [ -n "$comp" ] && ! alive "$comp"; then fail "$comp" "$comp exited while waiting for $desc"; fi
    if (( SECONDS - start >= limit )); then fail "$comp" "no $desc after ${limit}s"; fi
    sleep 0.3
  done
}

# ---- ports -------------------------------------------------------------------
PICKED=" "
free_port() {
  local p
  while :; do
    p=$(( 20000 + RANDOM % 12000 ))
    case "$PICKED" in *" $p "*) continue ;; esac
    if [ -z "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ]; then
      PICKED="$PICKED$p "
      printf '%s' "$p"
      return
    fi
  done
}

# ---- certificates ------------------------------------------------------------
# cert NAME CN ORG SAN: a key pair signed by the cluster CA; ORG and SAN may be
# empty. Client and server usage both.
cert() {
  local name=$1 cn=$2 org=$3 san=$4 subj
  subj="/CN=$cn"
  [ -z "$org" ] || subj="/O=$org$subj"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    [ -z "$san" ] || echo "subjectAltName=$san"
  } >"$PKI/$name.ext"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha256 \
    -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
  chmod 0600 "$PKI/$name.key"
}
make_pki() {
  mkdir -p "$PKI"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=clawfleet-k8s-test-ca" -days 3650 \
    -sha256 -out "$PKI/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
  cert apiserver kube-apiserver "" \
    "IP:127.0.0.1,IP:$SERVICE_IP,IP:$NODE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters ""
  cert admin clawfleet-admin system:masters ""
  cert controller-manager system:kube-controller-manager "" ""
  cert scheduler system:kube-scheduler "" ""
  cert kubelet "system:node:$NODE_NAME" system:nodes ""
  cert kubelet-serving "$NODE_NAME" "" "IP:$NODE_IP,IP:127.0.0.1,DNS:$NODE_NAME,DNS:localhost"
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  chmod 0600 "$PKI/sa.key" "$PKI/ca.key"
}
# kubeconfig FILE CERTNAME
kubeconfig() {
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: clawfleet-k8s
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $2
  user:
    client-certificate: $PKI/$2.crt
    client-key: $PKI/$2.key
contexts:
- name: clawfleet-k8s
  context:
    cluster: clawfleet-k8s
    user: $2
current-context: clawfleet-k8s
EOF
  chmod 0600 "$1"
}

# ---- pause image ---------------------------------------------------------------
PAUSE_GO='package main

// The pod sandbox process: waits for SIGTERM or SIGINT, reaps orphans.
import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		if s == syscall.SIGCHLD {
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
'
PAUSE_DOCKERFILE='FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
'
# Sets PAUSE_REF and PAUSE_TAR, building the image tar when not cached.
pause_image() {
  local go hash dir ctx
  go="$(command -v go || echo /usr/local/go/bin/go)"
  hash="$(printf '%s\n%s\n%s\n' "$PAUSE_GO" "$PAUSE_DOCKERFILE" "$(cd / && "$go" env GOVERSION 2>/dev/null || echo none)" |
    sha256sum | cut -c1-16)"
  PAUSE_REF="clawfleet.local/pause:$hash"
  dir="$CACHE/k8s-pause/$hash"
  PAUSE_TAR="$dir/pause-image.tar"
  [ -s "$PAUSE_TAR" ] && return 0
  [ -x "$go" ] || die "go is needed to build the pause image (not cached yet)"
  ctx="$DIR/build/pause"
  mkdir -p "$ctx" "$dir"
  printf '%s' "$PAUSE_GO" >"$ctx/main.go"
  printf 'module pause\n\ngo 1.21\n' >"$ctx/go.mod"
  printf '%s' "$PAUSE_DOCKERFILE" >"$ctx/Dockerfile"
  printf 'main.go\ngo.mod\nDockerfile\n' >"$ctx/.dockerignore"
  {
    (cd "$ctx" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local GOWORK=off \
      GOCACHE="$CACHE/gocache" "$go" build -trimpath -ldflags='-s -w' -o pause .) &&
      DOCKER_BUILDKIT=0 docker build -t "$PAUSE_REF" "$ctx" &&
      docker save -o "$PAUSE_TAR.tmp" "$PAUSE_REF" &&
      docker rmi "$PAUSE_REF"
  } >"$LOGS/pause-build.log" 2>&1 || fail pause-build "building the pause image failed"
  mv "$PAUSE_TAR.tmp" "$PAUSE_TAR"
  rm -rf "$DIR/build"
}

# The name containerd stores a docker-style reference under.
normalize_ref() {
  local ref=$1 first
  case "$ref" in */*) first="${ref%%/*}" ;; *) first="" ;; esac
  if [ -z "$first" ]; then ref="docker.io/library/$ref"
  elif [[ "$first" != *.* && "$first" != *:* && "$first" != localhost ]]; then ref="docker.io/$ref"
  fi
  case "${ref##*/}" in *:*|*@*) ;; *) ref="$ref:latest" ;; esac
  printf '%s' "$ref"
}
# present REF ID: the image is in containerd with label clawfleet.image-id=ID.
present() {
  ctrc images ls 2>/dev/null | awk -v n="$(normalize_ref "$1")" '$1 == n' | grep -qF "clawfleet.image-id=$2"
}
# import_image REF ID STREAM-CMD...: imports unless present.
import_image() {
  local ref=$1 id=$2 t0 d
  shift 2
  if present "$ref" "$id"; then
    log "image present: $ref"
    return 0
  fi
  t0=$(now_us)
  "$@" | ctrc images import --snapshotter "$SNAPSHOTTER" - >/dev/null ||
    fail containerd "importing $ref failed"
  ctrc images label "$(normalize_ref "$ref")" "clawfleet.image-id=$id" >/dev/null
  d=$(( $(now_us) - t0 ))
  log "imported $ref in $((d / 1000000)).$((d % 1000000 / 100000))s"
}
# The local images not yet present, in one `docker save` stream: a layer the
# images share (the gateway releases share their base, a clawfleet-e2e/ image
# is built on a gateway image) is written and read once.
import_images() {
  local refs=() ids=() missing=() ref id i t0 d
  mapfile -t refs < <(docker images --format '{{.Repository}}:{{.Tag}}' |
    awk -F: '$2 != "<none>" && ($1 == "clawfleet/openclaw-gateway" || $1 ~ /^clawfleet-e2e\//)')
  refs+=("${EXTRA_IMAGES[@]}")
  # An --image that is also a local clawfleet image is saved once.
  mapfile -t refs < <(printf '%s\n' "${refs[@]}" | awk 'NF && !seen[$0]++')
  for ref in "${refs[@]}"; do
    id="$(docker image inspect -f '{{.Id}}' "$ref" 2>/dev/null)" || die "no such local Docker image: $ref"
    if present "$ref" "$id"; then
      log "image present: $ref"
    else
      missing+=("$ref")
      ids+=("$id")
    fi
  done
  [ "${#missing[@]}" -gt 0 ] || return 0
  t0=$(now_us)
  docker save "${missing[@]}" | ctrc images import --snapshotter "$SNAPSHOTTER" - >/dev/null ||
    fail containerd "importing ${missing[*]} failed"
  for i in "${!missing[@]}"; do
    ctrc images label "$(normalize_ref "${missing[$i]}")" "clawfleet.image-id=${ids[$i]}" >/dev/null
  done
  d=$(( $(now_us) - t0 ))
  log "imported ${missing[*]} in $((d / 1000000)).$((d % 1000000 / 100000))s"
}

# ---- configuration files -------------------------------------------------------------
write_configs() {
  local snap=$1 runc ns
  runc="$(command -v runc)"
  mkdir -p "$CTD" "$DIR/cni/net.d" "$DIR/cni/ipam" "$DIR/cni/cache" "$KUBELET_ROOT/pki" "$DIR/volumes"
  cat >"$CTD/config.toml" <<EOF
version = 2
root = "$CTD/root"
state = "$CTD/state"
oom_score = 0

[grpc]
  address = "$CTD_SOCK"
[ttrpc]
  address = "$CTD_SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$CTD/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_REF"
  # No CAP_SYS_RESOURCE here: clamp the kubelet's -998/-997 to our own 0.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "$snap"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$runc"
        Root = "$CTD/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$DIR/cni/net.d"
    max_conf_num = 1
EOF
  cat >"$DIR/cni/net.d/10-clawfleet.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "clawfleet-k8s",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$DIR/cni/ipam",
        "ranges": [[{"subnet": "$POD_SUBNET", "gateway": "$NODE_IP"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  # Host nameservers, loopback ones dropped (they mean nothing in a pod).
  { grep -E '^(nameserver|search|options)' /etc/resolv.conf 2>/dev/null |
      grep -vE '^nameserver[[:space:]]+(127\.|::1)' || true; } >"$DIR/resolv.conf"
  ns="$(grep -c '^nameserver' "$DIR/resolv.conf" || true)"
  [ "$ns" -gt 0 ] || echo "nameserver $NODE_IP" >>"$DIR/resolv.conf"

  kubeconfig "$DIR/kubeconfig" admin
  kubeconfig "$DIR/kubelet.kubeconfig" kubelet
  kubeconfig "$DIR/controller-manager.kubeconfig" controller-manager
  kubeconfig "$DIR/scheduler.kubeconfig" scheduler

  cat >"$DIR/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# Kubernetes >= 1.35 refuses cgroup v1 unless told otherwise.
failCgroupV1: false
# systemd is not PID 1; no QoS cgroup tree (pods land in /$CGROUP_NAME).
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: ["none"]
# No CAP_SYS_RESOURCE: the kubelet cannot lower its own oom_score_adj.
oomScoreAdj: 0
failSwapOn: false
containerRuntimeEndpoint: unix://$CTD_SOCK
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
rotateCertificates: false
serverTLSBootstrap: false
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $PKI/ca.crt
authorization:
  mode: Webhook
registerNode: true
resolvConf: $DIR/resolv.conf
maxPods: 110
podLogsDir: $DIR/logs/pods
# The disk is shared and busy: no image GC (a collected image cannot be pulled
# back), eviction only when nearly full.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
  imagefs.inodesFree: 1%
evictionPressureTransitionPeriod: 10s
protectKernelDefaults: false
EOF
}

# ---- host state ----------------------------------------------------------------------
# Remembers, before anything is started, what `down` must put back.
record_host_state() {
  local s p
  mkdir -p "$DIR/host"
  if [ ! -f "$DIR/host/sysctl.orig" ]; then
    for s in "${SYSCTLS[@]}"; do
      printf '%s=%s\n' "$s" "$(sysctl -n "$s")"
    done >"$DIR/host/sysctl.orig.tmp"
    mv "$DIR/host/sysctl.orig.tmp" "$DIR/host/sysctl.orig"
  fi
  if [ ! -f "$DIR/host/paths.orig" ]; then
    for p in "${HOST_PATHS[@]}"; do
      if [ -e "$p" ]; then echo "existed $p"; else echo "absent $p"; fi
    done >"$DIR/host/paths.orig"
  fi
}

# ---- teardown --------------------------------------------------------------------------
# ipt_clean SAVE RESTORE: deletes the rules jumping to KUBE-*/CNI-* chains and
# those chains, in every table.
ipt_clean() {
  local save=$1 restore=$2 t rules
  command -v "$save" >/dev/null 2>&1 || return 0
  for t in filter nat mangle raw; do
    rules="$("$save" -t "$t" 2>/dev/null | awk -v T="$t" '
      /^:(KUBE|CNI)-/ { n++; chains[n] = substr($1, 2); next }
      /^-A / {
        if ($2 ~ /^(KUBE|CNI)-/) next
        if ($0 ~ / -[jg] (KUBE|CNI)-/) { sub(/^-A /, "-D "); m++; dels[m] = $0 }
      }
      END {
        if (n + m == 0) exit
        print "*" T
        for (i = 1; i <= m; i++) print dels[i]
        for (i = 1; i <= n; i++) print "-F " chains[i]
        for (i = 1; i <= n; i++) print "-X " chains[i]
        print "COMMIT"
      }')" || true
    if [ -n "$rules" ]; then
      printf '%s\n' "$rules" | "$restore" --noflush || log "warning: $restore could not apply the $t cleanup"
    fi
  done
}
# Processes of pods: those in our cgroups.
cgroup_pids() {
  local d
  for d in /sys/fs/cgroup/*/"$CGROUP_NAME"; do
    [ -d "$d" ] || continue
    find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null || true
  done | sort -un
}
# Processes whose command line names DIR (shims carry our socket path).
dir_pids() {
  local f cmd
  grep -slaF -- "$DIR/" /proc/[0-9]*/cmdline 2>/dev/null | while read -r f; do
    cmd="$({ tr '\0' ' ' <"$f"; } 2>/dev/null)" || continue
    case "$cmd" in
      *k8s-test-cluster*_pv-loop*) ;;
      *k8s-test-cluster*) continue ;; # this script, its subshells, a waiting caller
      *"$DIR/"*) ;;
      *) continue ;;
    esac
    f="${f#/proc/}"
    echo "${f%/cmdline}"
  done
}

down() {
  local had=0 pid name m i t0 ids id s p state
  T_ALL=$(now_us)
  [ -d "$DIR" ] && had=1
  if [ "$had" = 1 ] && [ ! -f "$MARKER" ] && [ -n "$(ls -A "$DIR")" ]; then
    die "$DIR exists but is not a cluster directory of this script; not touching it"
  fi
  step
  # Control plane users first, so nothing recreates pods, then the kubelet.
  for name in pv-provisioner kube-scheduler kube-controller-manager kubelet; do
    stop_component "$name" 20
  done
  # Every container: containerd kills and deletes the tasks, the shims exit.
  if alive containerd && [ -S "$CTD_SOCK" ]; then
    mapfile -t ids < <(ctrc tasks ls -q 2>/dev/null || true)
    for id in "${ids[@]}"; do
      [ -n "$id" ] || continue
      timeout 30 ctr -a "$CTD_SOCK" -n k8s.io tasks delete -f "$id" >/dev/null 2>&1 || true
    done
  fi
  # Whatever is left in our cgroups.
  for i in 1 2 3 4 5 6 7 8 9 10; do
    mapfile -t ids < <(cgroup_pids)
    [ "${#ids[@]}" -gt 0 ] || break
    kill -KILL "${ids[@]}" 2>/dev/null || true
    sleep 0.2
  done
  for name in containerd kube-apiserver etcd; do stop_component "$name" 20; done
  # Stray processes naming DIR (shims, a component whose pid file got lost).
  for i in 1 2 3; do
    mapfile -t ids < <(dir_pids)
    [ "${#ids[@]}" -gt 0 ] || break
    for pid in "${ids[@]}"; do stop_pid "$pid" 5; done
  done
  took "processes stopped"

  step
  # Mounts under DIR, deepest first (pod volumes, netns, shm, overlay rootfs).
  for i in 1 2 3; do
    mapfile -t m < <(awk -v d="$DIR/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
    [ "${#m[@]}" -gt 0 ] || break
    for p in "${m[@]}"; do umount "$p" 2>/dev/null || umount -l "$p" 2>/dev/null || true; done
  done
  # The bridge (the veths went with their network namespaces).
  if ip link show "$BRIDGE" >/dev/null 2>&1; then
    for p in $(ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
      ip link del "$p" 2>/dev/null || true
    done
    ip link del "$BRIDGE" 2>/dev/null || true
  fi
  took "mounts and network removed"
  step
  ipt_clean iptables-save iptables-restore
  ipt_clean ip6tables-save ip6tables-restore
  # Pod cgroups.
  for d in /sys/fs/cgroup/*/"$CGROUP_NAME"; do
    if [ -d "$d" ]; then find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true; fi
  done
  # Sysctls as they were before `up`.
  if [ -f "$DIR/host/sysctl.orig" ]; then
    while IFS='=' read -r s p; do
      [ -n "$s" ] || continue
      sysctl -q -w "$s=$p" >/dev/null 2>&1 || log "warning: could not restore $s=$p"
    done <"$DIR/host/sysctl.orig"
  fi
  # Host paths the kubelet and libcni write to whatever they are told.
  find /var/log/containers -maxdepth 1 -type l -lname "$DIR/*" -delete 2>/dev/null || true
  rm -f /var/lib/kubelet/device-plugins/kubelet.sock
  rm -rf /var/lib/cni/results/clawfleet-k8s-* 2>/dev/null || true
  if [ -f "$DIR/host/paths.orig" ]; then
    # deepest first
    sort -k2 -r "$DIR/host/paths.orig" | while read -r state p; do
      if [ "$state" = absent ] && [ -d "$p" ]; then
        case "$p" in
          /var/lib/cni) rm -rf "$p" ;;
          *) find "$p" -depth -type d -empty -delete 2>/dev/null || true ;;
        esac
      fi
    done
  fi
  took "iptables, cgroups, sysctls, host paths restored"
  step
  [ "$had" = 1 ] && rm -rf "$DIR"
  took "$DIR deleted"
  if [ "$had" = 1 ]; then log "down: removed $DIR"; else log "down: nothing at $DIR"; fi
}

# ---- readiness checks ------------------------------------------------------------------
etcd_ok() { curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"'; }
api_ok() { kc get --raw /readyz --request-timeout=3s | grep -qx ok; }
node_ready() {
  [ "$(kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' --request-timeout=3s)" = True ]
}
node_untainted() { [ -z "$(kc get node "$NODE_NAME" -o jsonpath='{.spec.taints}' --request-timeout=3s)" ] && node_ready; }
default_sa() { kc -n default get serviceaccount default --request-timeout=3s; }
kubelet_ok() { curl -fsS --max-time 2 "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz" | grep -qx ok; }
cri_ok() { ctrc version && ctrc plugins ls | awk '$2 == "cri" && $4 == "ok"' | grep -q .; }
healthy() {
  local c
  [ -f "$DIR/ready" ] && [ -f "$DIR/ports.env" ] || return 1
  # shellcheck source=/dev/null
  . "$DIR/ports.env"
  for c in "${COMPONENTS[@]}"; do alive "$c" || return 1; done
  api_ok && node_ready
}

print_env() {
  if [ "$PRINT_ENV" = 1 ]; then
    printf 'export KUBECONFIG=%q\n' "$KUBECONFIG_ADMIN" >&7
    # shellcheck disable=SC2016 # $PATH is for the shell that evals this
    printf 'export PATH=%q:"$PATH"\n' "$KUBE_BIN" >&7
  else
    log "use: export KUBECONFIG=$KUBECONFIG_ADMIN PATH=$KUBE_BIN:\$PATH"
  fi
}

# ---- PV provisioner loop -----------------------------------------------------------------
# make_pv NAMESPACE NAME UID SIZE MODES(comma-separated)
make_pv() {
  local ns=$1 name=$2 uid=$3 size=$4 modes=$5 pv dir
  pv="clawfleet-pv-$uid"
  dir="$DIR/volumes/$pv"
  install -d -o 1000 -g 1000 -m 0700 "$dir"
  if kc create -f - >/dev/null 2>&1 <<EOF
apiVersion: v1
kind: PersistentVolume
metadata:
  name: $pv
  labels: {clawfleet.dev/k8s-test-cluster: "true"}
spec:
  capacity: {storage: "$size"}
  accessModes: [${modes:-ReadWriteOnce}]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: $STORAGE_CLASS
  volumeMode: Filesystem
  claimRef: {apiVersion: v1, kind: PersistentVolumeClaim, namespace: "$ns", name: "$name", uid: "$uid"}
  hostPath: {path: "$dir", type: Directory}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - {key: kubernetes.io/hostname, operator: In, values: [$NODE_NAME]}
EOF
  then
    log "pv-provisioner: $pv for $ns/$name ($size)"
  fi
}
pv_loop() {
  # shellcheck source=/dev/null
  . "$DIR/ports.env"
  kube_env
  while [ -d "$DIR" ] && alive kube-apiserver; do
    # A watch lists the current PVCs first, then streams changes.
    kc get pvc -A --watch -o json --request-timeout=0 2>/dev/null |
      jq --unbuffered -r --arg sc "$STORAGE_CLASS" '
        select(.kind == "PersistentVolumeClaim" and .status.phase == "Pending"
          and (.spec.storageClassName // "") == $sc and (.spec.volumeName // "") == "")
        | [.metadata.namespace, .metadata.name, .metadata.uid,
           (.spec.resources.requests.storage // "1Gi"), ((.spec.accessModes // []) | join(","))]
        | @tsv' |
      while IFS=$'\t' read -r ns name uid size modes; do
        make_pv "$ns" "$name" "$uid" "$size" "$modes"
      done || true
    sleep 1 # the watch ended (apiserver restart, timeout): open a new one
  done
}

# ---- up ------------------------------------------------------------------------------------
IMPORT_PID=""
# A failed `up` must not leave an import running (it holds stdout open).
stop_import() {
  if [ -n "$IMPORT_PID" ]; then
    pkill -P "$IMPORT_PID" 2>/dev/null || true
    kill "$IMPORT_PID" 2>/dev/null || true
  fi
}
up() {
  trap stop_import EXIT
  local snap
  T_ALL=$(now_us)
  kube_env
  if [ -d "$DIR" ] && healthy; then
    log "cluster already running at $DIR"
    SNAPSHOTTER="$(cat "$DIR/snapshotter")"
    import_images
    print_env
    return 0
  fi
  if [ -e "$DIR" ]; then
    log "$DIR exists but the cluster is not healthy: taking it down first"
    down
    T_ALL=$(now_us)
  fi

  step
  ensure_packages
  # `down` kills whatever runs in the k8s.io cgroups: they must be free now.
  if [ -n "$(cgroup_pids)" ]; then
    die "processes already run in /sys/fs/cgroup/*/$CGROUP_NAME (another CRI containerd?); not starting"
  fi
  mkdir -p "$DIR" "$LOGS" "$RUN"
  touch "$MARKER"
  record_host_state
  took "prerequisites"

  step
  ETCD_PORT=$(free_port); ETCD_PEER_PORT=$(free_port); API_PORT=$(free_port)
  KUBELET_PORT=$(free_port); KUBELET_HEALTHZ_PORT=$(free_port)
  CM_PORT=$(free_port); SCHED_PORT=$(free_port)
  cat >"$DIR/ports.env" <<EOF
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
API_PORT=$API_PORT
KUBELET_PORT=$KUBELET_PORT
KUBELET_HEALTHZ_PORT=$KUBELET_HEALTHZ_PORT
CM_PORT=$CM_PORT
SCHED_PORT=$SCHED_PORT
EOF
  make_pki
  took "ports and certificates"

  step
  pause_image
  took "pause image $PAUSE_REF"

  # The bridge exists before any pod so the node IP is there for the kubelet;
  # the CNI bridge plugin takes it over.
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  ip addr replace "$NODE_IP/${POD_SUBNET#*/}" dev "$BRIDGE"
  ip link set "$BRIDGE" up

  step
  start etcd "$ETCD_BIN/etcd" --name clawfleet --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "clawfleet=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls '' \
    --unsafe-no-fsync --log-level warn
  # containerd's snapshotter: overlayfs when this file system allows it.
  snap=overlayfs
  write_configs "$snap"
  start containerd containerd --config "$CTD/config.toml"
  wait_for "containerd CRI" 60 containerd cri_ok
  if ! ctrc plugins ls | awk '$1 == "io.containerd.snapshotter.v1" && $2 == "overlayfs" && $4 == "ok"' | grep -q .; then
    log "overlayfs snapshotter unavailable here; using native"
    stop_component containerd
    snap=native
    write_configs "$snap"
    start containerd containerd --config "$CTD/config.toml"
    wait_for "containerd CRI" 60 containerd cri_ok
  fi
  SNAPSHOTTER=$snap
  echo "$snap" >"$DIR/snapshotter"
  import_image "$PAUSE_REF" "$(sha256sum <"$PAUSE_TAR" | cut -c1-64)" cat "$PAUSE_TAR"
  wait_for "etcd health" 60 etcd etcd_ok
  took "etcd and containerd ($snap) up, pause imported"
  # The gateway images load while the control plane starts.
  # Without the lock and the saved stdout: an import orphaned by a killed `up`
  # must not block `down` (which stops it) or a caller's $(...).
  import_images 7>&- 9>&- &
  IMPORT_PID=$!

  step
  start kube-apiserver "$KUBE_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-cluster-ip-range "$SERVICE_RANGE" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" \
    --kubelet-preferred-address-types InternalIP \
    --endpoint-reconciler-type none --allow-privileged=true --profiling=false \
    --cert-dir "$PKI/apiserver-generated"
  wait_for "apiserver /readyz" 180 kube-apiserver api_ok
  took "kube-apiserver ready"

  step
  start kube-controller-manager "$KUBE_BIN/kube-controller-manager" \
    --kubeconfig "$DIR/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$CM_PORT" --cert-dir "$PKI/cm-generated" \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --use-service-account-credentials=true --leader-elect=false \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key"
  start kube-scheduler "$KUBE_BIN/kube-scheduler" \
    --kubeconfig "$DIR/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --cert-dir "$PKI/sched-generated" \
    --leader-elect=false
  start kubelet "$KUBE_BIN/kubelet" \
    --config "$DIR/kubelet-config.yaml" --kubeconfig "$DIR/kubelet.kubeconfig" \
    --root-dir "$KUBELET_ROOT" --cert-dir "$KUBELET_ROOT/pki" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v 1
  wait_for "kubelet /healthz" 120 kubelet kubelet_ok
  took "controller-manager, scheduler, kubelet started"

  step
  wait_for "Ready node $NODE_NAME" 240 kubelet node_ready
  wait_for "untainted node $NODE_NAME" 120 kube-controller-manager node_untainted
  took "node $NODE_NAME Ready"

  step
  wait_for "default ServiceAccount" 120 kube-controller-manager default_sa
  kc apply -f - >/dev/null <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: $STORAGE_CLASS
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Retain
EOF
  start pv-provisioner bash "$SCRIPT_PATH" _pv-loop --dir "$DIR"
  took "default ServiceAccount, StorageClass, pv-provisioner"

  step
  wait "$IMPORT_PID" || fail containerd "importing the images failed"
  IMPORT_PID=""
  took "waited for the image imports"

  touch "$DIR/ready"
  local d=$(( $(now_us) - T_ALL ))
  log "up: cluster ready in $((d / 1000000)).$((d % 1000000 / 100000))s (dir $DIR, apiserver https://127.0.0.1:$API_PORT)"
  print_env
}

# ---- main ----------------------------------------------------------------------------------
case "$CMD" in
  _pv-loop) pv_loop; exit 0 ;;
esac
# stdout is kept on fd 7 for --print-env; everything else goes to stderr.
exec 7>&1 1>&2
# One up/down at a time. The lock is on this file, so no lock file is left.
exec 9<"$SCRIPT_PATH"
flock -w 600 9 || die "another $PROG is running"
case "$CMD" in
  up) up ;;
  down) down ;;
esac
