#!/usr/bin/env bash
# Build what a single-node Kubernetes test cluster needs from the Go module proxy,
# into the same cache directory outside the clone as scripts/install-pulumi.sh:
# the Kubernetes control plane and node binaries, etcd, the Pulumi Kubernetes
# provider plugin and, on request, kwok (simulated nodes, no containers). Only
# what is missing is built; a second run takes seconds.
#
# Usage:
#   scripts/install-k8s-tools.sh [--only LIST]
#   scripts/install-k8s-tools.sh --print-env [--only LIST]
#     --print-env prints `export` lines only (eval them); it builds nothing and
#     fails, naming the piece, if a selected piece is not in the cache.
#   LIST: comma-separated, of kube,etcd,kubernetes-plugin,kwok.
#     Default: kube,etcd,kubernetes-plugin.
#
# Pieces:
#   kube               kube-apiserver, kube-controller-manager, kube-scheduler,
#                      kubelet, kubectl from k8s.io/kubernetes. Its go.mod points
#                      its staging modules (k8s.io/api, k8s.io/client-go, ...) at
#                      folders of its own repository; the wrapper module points
#                      them at their published v0.<minor>.<patch> releases instead.
#                      Built as upstream's hack/lib/golang.sh does (tags, version
#                      stamps), but all with CGO_ENABLED=0 (upstream links kubelet
#                      with cgo when it can; it needs none).
#   etcd               etcd from go.etcd.io/etcd/server/v3 (Debian's is too old).
#   kubernetes-plugin  pulumi-resource-kubernetes from
#                      github.com/pulumi/pulumi-kubernetes/provider/v4, installed
#                      for the @pulumi/kubernetes version (package.json, else the
#                      default below). The proxy serves one commit of that module
#                      only (2026-01-15, between the v4.24.1 and v4.25.0 releases):
#                      it is built and stamped with the npm package's version, so
#                      the plugin is older code than its name says: its schema
#                      has the Kubernetes 1.33 API (480 types; @pulumi/kubernetes
#                      4.34.2 knows about 75 more, none in core/v1 or apps/v1).
#   kwok               sigs.k8s.io/kwok/cmd/kwok.
#
# Versions: the defaults below; each can be overridden by the variable it reads.
# All modules are downloaded first, then the pieces are compiled one after
# another under `nice -n CLAWFLEET_BUILD_NICE` (19) with `-p CLAWFLEET_BUILD_P`
# (1). Cold, on 2 shared cores: kube about 20 minutes, etcd 1 to 2, the plugin
# 25, kwok 4; about 1.4 GB of modules beyond those of install-pulumi.sh.
#
# A kubelet on a host still on cgroup v1 needs `failCgroupV1: false` in its
# configuration: Kubernetes 1.35 and later refuse cgroup v1 by default.
#
# Cache (CLAWFLEET_TOOLS, default $HOME/.cache/clawfleet-tools):
#   bin/<name>-<version>-<goversion>/  binaries (kubernetes-, etcd-, kwok-)
#   pulumi-home/plugins/resource-kubernetes-v<version>/
#   gomod/, gocache/                   GOMODCACHE, GOCACHE (shared)
#   src/<name>-<version>-<goversion>/  generated wrapper modules
#
# Needs go, curl and jq. Progress goes to stderr, a line per step.
# Exit status 3: the Go module proxy refused a module version; the last lines
# name each one.
set -euo pipefail

KUBE_VERSION="${CLAWFLEET_KUBE_VERSION:-v1.37.2}"
# The staging modules' release that goes with KUBE_VERSION (v1.M.P -> v0.M.P).
KUBE_STAGING_VERSION="${CLAWFLEET_KUBE_STAGING_VERSION:-v0.${KUBE_VERSION#v1.}}"
ETCD_VERSION="${CLAWFLEET_ETCD_VERSION:-v3.6.16}"
# The version of the @pulumi/kubernetes npm package when package.json names none.
K8S_PLUGIN_DEFAULT_VERSION=4.34.2
# The only version of the provider module the proxy serves.
K8S_PROVIDER_MODULE_VERSION="${CLAWFLEET_K8S_PROVIDER_MODULE_VERSION:-v4.0.0-20260115033456-f47bc2d6f199}"
KWOK_VERSION="${CLAWFLEET_KWOK_VERSION:-v0.8.0}"
# "local" builds with the installed go; a version (go1.27.3) has the go command
# fetch that toolchain from the proxy, for modules whose go line needs it.
GO_TOOLCHAIN="${CLAWFLEET_GOTOOLCHAIN:-local}"
BUILD_NICE="${CLAWFLEET_BUILD_NICE:-19}"
BUILD_P="${CLAWFLEET_BUILD_P:-1}"

PROG=install-k8s-tools
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
REFUSALS="" # file collecting refusals of pieces built in subshells
refused() {
  printf '%s: the Go module proxy refused %s@%s\n' "$PROG" "$1" "$2" >&2
  if [ -n "$REFUSALS" ]; then printf 'the Go module proxy refused %s@%s\n' "$1" "$2" >>"$REFUSALS"; fi
  exit 3
}

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/.." && pwd)"
CACHE="${CLAWFLEET_TOOLS:-$HOME/.cache/clawfleet-tools}"
PROXY=https://proxy.golang.org

PRINT_ENV=0
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --print-env) PRINT_ENV=1 ;;
    --only) shift; ONLY="${1:-}" ;;
    --only=*) ONLY="${1#--only=}" ;;
    -h|--help) sed -n '2,54p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
  shift
done
PIECES="${ONLY:-kube,etcd,kubernetes-plugin}"
want() { case ",$PIECES," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
for p in ${PIECES//,/ }; do
  case "$p" in kube|etcd|kubernetes-plugin|kwok) ;; *) die "unknown piece: $p" ;; esac
done

# ---- Go environment --------------------------------------------------------
GO="$(command -v go || true)"
[ -n "$GO" ] || GO=/usr/local/go/bin/go
[ -x "$GO" ] || die "no go command (looked on PATH and at /usr/local/go/bin/go)"
for c in curl jq; do command -v "$c" >/dev/null 2>&1 || die "needs $c on PATH"; done
export GOMODCACHE="$CACHE/gomod" GOCACHE="$CACHE/gocache"
export GOFLAGS="-modcacherw -buildvcs=false -p=$BUILD_P" GOPROXY="$PROXY" GOTOOLCHAIN="$GO_TOOLCHAIN"
export GOSUMDB=sum.golang.org GONOSUMDB='' GOPRIVATE='' GONOPROXY='' GOINSECURE='' GOWORK=off
export CGO_ENABLED=0
mkdir -p "$CACHE"
GOVER="$(cd "$CACHE" && "$GO" env GOVERSION)" # e.g. go1.26.8
PULUMI_HOME_DIR="$CACHE/pulumi-home"

# The @pulumi/kubernetes version the plugin is installed for.
K8S_PLUGIN_VERSION="${CLAWFLEET_K8S_PLUGIN_VERSION:-}"
if [ -z "$K8S_PLUGIN_VERSION" ] && [ -f "$REPO_DIR/package.json" ]; then
  K8S_PLUGIN_VERSION="$(jq -r '(.dependencies // {}) + (.devDependencies // {}) | .["@pulumi/kubernetes"] // empty' "$REPO_DIR/package.json")"
fi
K8S_PLUGIN_VERSION="${K8S_PLUGIN_VERSION:-$K8S_PLUGIN_DEFAULT_VERSION}"
[[ "$K8S_PLUGIN_VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "@pulumi/kubernetes is '$K8S_PLUGIN_VERSION', not an exact version"

# ---- helpers ---------------------------------------------------------------
# Runs a go command at the lowest priority (the machine is shared).
gob() { nice -n "$BUILD_NICE" "$GO" "$@"; }

# `go mod download` one module version; prints its JSON. A refusal by the proxy
# (403/404/410) ends the piece with the one line naming it.
mod_download() { # module version
  local out err
  out="$(cd "$CACHE" && "$GO" mod download -json "$1@$2" 2>/dev/null)" || true
  [ -n "$out" ] || die "go mod download $1@$2 printed nothing"
  err="$(printf '%s' "$out" | jq -r '.Error // empty' 2>/dev/null || true)"
  if [ -n "$err" ]; then
    case "$err" in
      *"403 Forbidden"*|*"404 Not Found"*|*"410 Gone"*|*"not available"*|*"unknown revision"*|*"invalid version"*) refused "$1" "$2" ;;
      *) die "go mod download $1@$2: $err" ;;
    esac
  fi
  printf '%s' "$out"
}

# The cached go.mod of a downloaded module version.
modfile_of() { printf '%s/cache/download/%s/@v/%s.mod' "$GOMODCACHE" "$1" "$2"; }

# `go get` in a wrapper module. When the proxy refuses a dependency, the piece
# ends naming it; any other failure shows go's output and stops.
wrapper_get() { # wrapper-dir args...
  local out rc=0 line
  out="$(cd "$1" && "$GO" get "${@:2}" 2>&1)" || rc=$?
  if [ "$rc" -ne 0 ]; then
    line="$(printf '%s\n' "$out" | grep -E '(403 Forbidden|404 Not Found|410 Gone|not available)' | head -n 1 || true)"
    if [[ "$line" =~ ([A-Za-z0-9._~/-]+)@(v[A-Za-z0-9.+-]+) ]]; then
      refused "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
    fi
    printf '%s\n' "$out" >&2
    die "go get ${*:2} failed in $1"
  fi
}

# The go line of a module must not be newer than the Go that builds it.
check_go_line() { # module version
  local need
  need="$("$GO" mod edit -json "$(modfile_of "$1" "$2")" | jq -r '.Go // empty')"
  [ -n "$need" ] || return 0
  if [ "$(printf '%s\n%s\n' "$need" "${GOVER#go}" | sort -V | head -n 1)" != "$need" ]; then
    die "$1@$2 needs go $need, this is $GOVER: set CLAWFLEET_GOTOOLCHAIN=go$need (or newer) to have go fetch it"
  fi
}

# A fresh wrapper module in $CACHE/src/<key>.
new_wrapper() { # key module-path
  local dir="$CACHE/src/$1"
  rm -rf "$dir"
  mkdir -p "$dir"
  printf 'module %s\n\ngo %s\n' "$2" "${GOVER#go}" >"$dir/go.mod"
  printf '%s' "$dir"
}

# Copy a dependency's replace directives that point at module versions (not at
# local paths, which only hold inside its own repository) and its godebug
# settings into the wrapper.
copy_replaces() { # wrapper-dir module version
  local modfile args
  modfile="$(modfile_of "$2" "$3")"
  [ -f "$modfile" ] || die "missing $modfile"
  mapfile -t args < <("$GO" mod edit -json "$modfile" | jq -r '
      (.Replace[]? | select(.New.Version != null)
        | "-replace=\(.Old.Path)\(if .Old.Version then "@"+.Old.Version else "" end)=\(.New.Path)@\(.New.Version)"),
      (.Godebug[]? | "-godebug=\(.Key)=\(.Value)")')
  if [ "${#args[@]}" -gt 0 ]; then
    (cd "$1" && "$GO" mod edit "${args[@]}")
    log "  copied from $2@$3: ${args[*]}"
  fi
}

# A proxy .info field (Time, Origin.Hash) of a module version, or nothing.
proxy_info_field() { # module version jq-path
  curl -fsS "$PROXY/$1/@v/$2.info" 2>/dev/null | jq -r "$3 // empty" 2>/dev/null || true
}

timed() { # label command...
  local s=$SECONDS
  "${@:2}"
  log "$1 done in $((SECONDS - s))s"
}

# Run one step of a piece in a subshell: a refusal (exit 3) is remembered, the
# piece is dropped and the other pieces still get built; any other failure
# stops the script.
FAILED=","
run_step() { # piece label command...
  local rc=0
  case "$FAILED" in *",$1,"*) return 0 ;; esac
  (timed "${@:2}") &
  wait $! || rc=$?
  if [ "$rc" -eq 3 ]; then
    log "$1: not built (refused by the proxy)"
    FAILED="$FAILED$1,"
  elif [ "$rc" -ne 0 ]; then
    die "$2 failed (exit $rc)"
  fi
}

# ---- Kubernetes ------------------------------------------------------------
KUBE=k8s.io/kubernetes
KUBE_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
KUBE_BIN="$CACHE/bin/kubernetes-$KUBE_VERSION-$GOVER"
KUBE_SRC="kubernetes-$KUBE_VERSION-$GOVER"

kube_cached() {
  local c
  [ -f "$KUBE_BIN/.complete" ] || return 1
  for c in "${KUBE_CMDS[@]}"; do [ -x "$KUBE_BIN/$c" ] || return 1; done
}

prepare_kube() {
  local w modfile staging args=() m pkgs=() c
  log "step: kubernetes $KUBE_VERSION: downloading modules (staging modules at $KUBE_STAGING_VERSION)"
  mod_download "$KUBE" "$KUBE_VERSION" >/dev/null
  check_go_line "$KUBE" "$KUBE_VERSION"
  modfile="$(modfile_of "$KUBE" "$KUBE_VERSION")"
  w="$(new_wrapper "$KUBE_SRC" clawfleet.local/tools/kubernetes)"
  copy_replaces "$w" "$KUBE" "$KUBE_VERSION"
  # The staging modules it requires and replaces with folders of its repository.
  staging="$("$GO" mod edit -json "$modfile" | jq -r '[.Require[]?.Path] as $req
      | .Replace[]? | select(.New.Version == null) | .Old.Path | select(. as $p | $req | index($p))')"
  for m in $staging; do args+=("-replace=$m=$m@$KUBE_STAGING_VERSION"); done
  [ "${#args[@]}" -gt 0 ] || die "$KUBE@$KUBE_VERSION: no staging modules found in its go.mod"
  (cd "$w" && "$GO" mod edit "${args[@]}")
  log "  $KUBE@$KUBE_VERSION: ${#args[@]} staging modules replaced with their $KUBE_STAGING_VERSION releases"
  for c in "${KUBE_CMDS[@]}"; do pkgs+=("$KUBE/cmd/$c@$KUBE_VERSION"); done
  wrapper_get "$w" -tool "${pkgs[@]}"
}

build_kube() {
  local w="$CACHE/src/$KUBE_SRC" ld="-s -w" p t minor pkgs=() c
  t="$(proxy_info_field "$KUBE" "$KUBE_VERSION" .Time)"
  minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  # What upstream's hack/lib/version.sh stamps, for the server and client sides.
  for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ld="$ld -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
    [ -z "$t" ] || ld="$ld -X $p.buildDate=$t"
  done
  for c in "${KUBE_CMDS[@]}"; do pkgs+=("$KUBE/cmd/$c"); done
  log "step: kubernetes $KUBE_VERSION: compiling ${KUBE_CMDS[*]} (about 30 minutes cold at -p 1)"
  rm -rf "$KUBE_BIN.tmp"
  mkdir -p "$KUBE_BIN.tmp"
  (cd "$w" && gob build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$ld" -o "$KUBE_BIN.tmp/" "${pkgs[@]}") >&2
  mkdir -p "$KUBE_BIN"
  for c in "${KUBE_CMDS[@]}"; do mv -f "$KUBE_BIN.tmp/$c" "$KUBE_BIN/$c"; done
  rmdir "$KUBE_BIN.tmp"
  printf '%s@%s (staging %s)\n' "$KUBE" "$KUBE_VERSION" "$KUBE_STAGING_VERSION" >"$KUBE_BIN/.complete"
}

# ---- etcd ------------------------------------------------------------------
ETCD=go.etcd.io/etcd/server/v3
ETCD_BIN="$CACHE/bin/etcd-$ETCD_VERSION-$GOVER"
ETCD_SRC="etcd-$ETCD_VERSION-$GOVER"

etcd_cached() { [ -f "$ETCD_BIN/.complete" ] && [ -x "$ETCD_BIN/etcd" ]; }

prepare_etcd() {
  local w
  log "step: etcd $ETCD_VERSION: downloading modules"
  mod_download "$ETCD" "$ETCD_VERSION" >/dev/null
  check_go_line "$ETCD" "$ETCD_VERSION"
  w="$(new_wrapper "$ETCD_SRC" clawfleet.local/tools/etcd)"
  copy_replaces "$w" "$ETCD" "$ETCD_VERSION"
  cat >"$w/main.go" <<'EOF'
// The etcd server: etcd's own entry point, built from the Go module proxy.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
  wrapper_get "$w" "$ETCD/etcdmain@$ETCD_VERSION"
}

build_etcd() {
  local w="$CACHE/src/$ETCD_SRC" hash ld="-s -w"
  hash="$(proxy_info_field "$ETCD" "$ETCD_VERSION" .Origin.Hash)"
  [ -z "$hash" ] || ld="$ld -X go.etcd.io/etcd/api/v3/version.GitSHA=${hash:0:9}"
  log "step: etcd $ETCD_VERSION: compiling"
  mkdir -p "$ETCD_BIN"
  (cd "$w" && gob build -trimpath -ldflags "$ld" -o "$ETCD_BIN/etcd.tmp" .) >&2
  mv -f "$ETCD_BIN/etcd.tmp" "$ETCD_BIN/etcd"
  printf '%s@%s\n' "$ETCD" "$ETCD_VERSION" >"$ETCD_BIN/.complete"
}

# ---- Pulumi Kubernetes provider plugin -----------------------------------------
K8S_PROVIDER=github.com/pulumi/pulumi-kubernetes/provider/v4
K8S_PLUGIN_DIR="$PULUMI_HOME_DIR/plugins/resource-kubernetes-v$K8S_PLUGIN_VERSION"
K8S_PLUGIN_SRC="pulumi-resource-kubernetes-$K8S_PLUGIN_VERSION-$GOVER"
K8S_PLUGIN_KEY="$K8S_PROVIDER@$K8S_PROVIDER_MODULE_VERSION $GOVER"

k8s_plugin_cached() {
  [ "$(cat "$K8S_PLUGIN_DIR/.complete" 2>/dev/null)" = "$K8S_PLUGIN_KEY" ] && [ -x "$K8S_PLUGIN_DIR/pulumi-resource-kubernetes" ]
}

prepare_k8s_plugin() {
  local w dir pkgver
  log "step: plugin kubernetes $K8S_PLUGIN_VERSION: downloading $K8S_PROVIDER@$K8S_PROVIDER_MODULE_VERSION and its modules"
  dir="$(mod_download "$K8S_PROVIDER" "$K8S_PROVIDER_MODULE_VERSION" | jq -r .Dir)"
  check_go_line "$K8S_PROVIDER" "$K8S_PROVIDER_MODULE_VERSION"
  w="$(new_wrapper "$K8S_PLUGIN_SRC" clawfleet.local/tools/pulumi-resource-kubernetes)"
  # Its one replace (sdk/v4 => ../sdk) is a folder of its repository: the sdk/v4
  # release it requires is taken from the proxy instead.
  copy_replaces "$w" "$K8S_PROVIDER" "$K8S_PROVIDER_MODULE_VERSION"
  # The command embeds files the upstream build generates (go:generate in that
  # folder), so it is built from a copy inside the wrapper module.
  mkdir -p "$w/cmd"
  cp -R "$dir/cmd/pulumi-resource-kubernetes" "$w/cmd/"
  chmod -R u+w "$w/cmd"
  wrapper_get "$w" "$K8S_PROVIDER@$K8S_PROVIDER_MODULE_VERSION"
  (cd "$w" && "$GO" mod tidy) >&2
  # generate.go (build tag ignore, so not seen by tidy) needs Pulumi's schema package.
  pkgver="$(cd "$w" && "$GO" list -m -f '{{.Version}}' github.com/pulumi/pulumi/pkg/v3)"
  wrapper_get "$w" "github.com/pulumi/pulumi/pkg/v3/codegen/schema@$pkgver"
}

build_k8s_plugin() {
  local w="$CACHE/src/$K8S_PLUGIN_SRC/cmd/pulumi-resource-kubernetes"
  log "step: plugin kubernetes $K8S_PLUGIN_VERSION: generating the embedded schema (version $K8S_PLUGIN_VERSION)"
  (cd "$w" && VERSION="$K8S_PLUGIN_VERSION" gob run ./generate.go) >&2
  if [ ! -s "$w/schema-embed.json" ] || [ ! -s "$w/terraform-mapping-embed.json" ]; then
    die "generate.go wrote no embedded schema"
  fi
  log "step: plugin kubernetes $K8S_PLUGIN_VERSION: compiling $K8S_PROVIDER@$K8S_PROVIDER_MODULE_VERSION"
  mkdir -p "$K8S_PLUGIN_DIR"
  (cd "$w" && gob build -trimpath -ldflags "-s -w -X $K8S_PROVIDER/pkg/version.Version=$K8S_PLUGIN_VERSION" \
    -o "$K8S_PLUGIN_DIR/pulumi-resource-kubernetes.tmp" .) >&2
  mv -f "$K8S_PLUGIN_DIR/pulumi-resource-kubernetes.tmp" "$K8S_PLUGIN_DIR/pulumi-resource-kubernetes"
  printf '%s\n' "$K8S_PLUGIN_KEY" >"$K8S_PLUGIN_DIR/.complete"
}

# ---- kwok ------------------------------------------------------------------
KWOK=sigs.k8s.io/kwok
KWOK_BIN="$CACHE/bin/kwok-$KWOK_VERSION-$GOVER"

kwok_cached() { [ -f "$KWOK_BIN/.complete" ] && [ -x "$KWOK_BIN/kwok" ]; }

KWOK_SRC="kwok-$KWOK_VERSION-$GOVER"

prepare_kwok() {
  local w
  log "step: kwok $KWOK_VERSION: downloading modules"
  mod_download "$KWOK" "$KWOK_VERSION" >/dev/null
  check_go_line "$KWOK" "$KWOK_VERSION"
  w="$(new_wrapper "$KWOK_SRC" clawfleet.local/tools/kwok)"
  copy_replaces "$w" "$KWOK" "$KWOK_VERSION"
  wrapper_get "$w" -tool "$KWOK/cmd/kwok@$KWOK_VERSION"
}

build_kwok() {
  log "step: kwok $KWOK_VERSION: compiling"
  mkdir -p "$KWOK_BIN"
  # Its version (pkg/consts.Version) is already the release's in the source.
  (cd "$CACHE/src/$KWOK_SRC" && gob build -trimpath -ldflags "-s -w" -o "$KWOK_BIN/kwok.tmp" "$KWOK/cmd/kwok") >&2
  mv -f "$KWOK_BIN/kwok.tmp" "$KWOK_BIN/kwok"
  printf '%s@%s\n' "$KWOK" "$KWOK_VERSION" >"$KWOK_BIN/.complete"
}

# ---- main ------------------------------------------------------------------
# piece, label, cached-check, prepare, build, PATH dir (or -)
PIECE_TABLE=(
  "etcd|etcd $ETCD_VERSION|etcd_cached|prepare_etcd|build_etcd|$ETCD_BIN"
  "kube|kubernetes $KUBE_VERSION|kube_cached|prepare_kube|build_kube|$KUBE_BIN"
  "kubernetes-plugin|plugin kubernetes $K8S_PLUGIN_VERSION|k8s_plugin_cached|prepare_k8s_plugin|build_k8s_plugin|-"
  "kwok|kwok $KWOK_VERSION|kwok_cached|prepare_kwok|build_kwok|$KWOK_BIN"
)

missing=()
PATH_DIRS=()
todo=()
if [ "$PRINT_ENV" != 1 ]; then
  REFUSALS="$(mktemp)"
  trap 'rm -f "$REFUSALS"' EXIT
fi
for row in "${PIECE_TABLE[@]}"; do
  IFS='|' read -r piece label cached _ _ pathdir <<<"$row"
  want "$piece" || continue
  [ "$pathdir" = - ] || PATH_DIRS+=("$pathdir")
  if "$cached"; then
    [ "$PRINT_ENV" = 1 ] || log "cached: $label"
  elif [ "$PRINT_ENV" = 1 ]; then
    missing+=("$label")
  else
    todo+=("$row")
  fi
done

if [ "$PRINT_ENV" = 1 ]; then
  if [ "${#missing[@]}" -gt 0 ]; then
    for m in "${missing[@]}"; do log "missing from the cache: $m"; done
    die "run scripts/install-k8s-tools.sh${ONLY:+ --only $ONLY} first"
  fi
  if [ "${#PATH_DIRS[@]}" -gt 0 ]; then
    path=""
    for d in "${PATH_DIRS[@]}"; do path="$path$(printf '%q' "$d"):"; done
    # shellcheck disable=SC2016 # $PATH is for the shell that evals these lines
    printf 'export PATH=%s"$PATH"\n' "$path"
  fi
  if want kubernetes-plugin; then
    printf 'export PULUMI_HOME=%q\n' "$PULUMI_HOME_DIR"
    printf 'export PULUMI_SKIP_UPDATE_CHECK=true\n'
    printf 'export PULUMI_IGNORE_AMBIENT_PLUGINS=true\n'
    printf 'export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true\n'
  fi
  exit 0
fi

# Downloads first (network), then the builds one after another (CPU).
for row in ${todo[@]+"${todo[@]}"}; do
  IFS='|' read -r piece label _ prepare _ _ <<<"$row"
  run_step "$piece" "step: $label: modules" "$prepare"
done
for row in ${todo[@]+"${todo[@]}"}; do
  IFS='|' read -r piece label _ _ build _ <<<"$row"
  run_step "$piece" "step: $label: build" "$build"
done

if [ -s "$REFUSALS" ]; then
  log "not built, since the Go module proxy refused their sources:"
  while IFS= read -r line; do log "$line"; done <"$REFUSALS"
  exit 3
fi
log "all selected pieces are in $CACHE"
