#!/usr/bin/env bash
# Build the real Pulumi CLI, its Node.js language host and the provider plugins
# that package.json names (@pulumi/command, @pulumi/random, @pulumi/docker) from
# the Go module proxy, and with --tailscale also tailscaled, tailscale and
# testcontrol, into one cache directory outside the clone. Only what is missing
# is built; a second run takes seconds.
#
# Usage:
#   scripts/install-pulumi.sh [--tailscale] [--only LIST]
#   scripts/install-pulumi.sh --print-env [--tailscale] [--only LIST]
#     --print-env prints `export` lines only (eval them); it builds nothing and
#     fails, naming the piece, if a selected piece is not in the cache.
#   LIST: comma-separated, of cli,nodejs,command,random,docker,tailscale.
#     Default: cli,nodejs,command,random,docker; --tailscale adds tailscale.
#
# Versions: @pulumi/* from package.json (the one source of truth); Tailscale
# from CLAWFLEET_TAILSCALE_VERSION (default below). When the proxy refuses the
# pulumi/pkg/v3 release that matches @pulumi/pulumi, the nearest newer release
# it serves is built instead (logged, and remembered under $CACHE/resolved/).
#
# Cache (CLAWFLEET_TOOLS, default $HOME/.cache/clawfleet-tools):
#   bin/<name>-<version>-<goversion>/  binaries (pulumi + language host together)
#   pulumi-home/                       PULUMI_HOME; plugins/resource-<n>-v<v>/
#   gomod/, gocache/                   GOMODCACHE, GOCACHE
#   src/<name>-<version>-<goversion>/  generated wrapper modules
#   resolved/                          versions chosen when the wanted one was refused
#
# Beside the CLI go pulumi-language-nodejs and pulumi-resource-pulumi-nodejs
# (dynamic providers; copied from node_modules/@pulumi/pulumi, as Pulumi's
# release archive has it). When the proxy serves no pulumi-language-nodejs module
# for the CLI's release, the host is built from sdk/v3@v3.68.0, the newest
# release that holds it in the sdk module (logged; CLAWFLEET_NODEJS_HOST_FALLBACK=0
# refuses instead). That host ignores Pulumi.yaml's runtime options.
#
# docker and random: Pulumi's own provider modules are refused by the proxy, so each
# plugin is the upstream Terraform provider (kreuzwerker's for Docker, hashicorp's
# for random values) behind the Terraform bridge, with a mapping of our own onto the
# @pulumi/<name> package's names (scripts/pulumi-resource-<name>; build_bridged
# below). command stays refused.
#
# Needs go, curl, jq and node. Progress goes to stderr, a line per step.
# Exit status 3: the Go module proxy refused a module version; the last lines
# name each one.
set -euo pipefail

PROG=install-pulumi
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
TAILSCALE_VERSION="${CLAWFLEET_TAILSCALE_VERSION:-v1.102.5}"

PRINT_ENV=0
ONLY=""
WITH_TAILSCALE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --print-env) PRINT_ENV=1 ;;
    --tailscale) WITH_TAILSCALE=1 ;;
    --only) shift; ONLY="${1:-}" ;;
    --only=*) ONLY="${1#--only=}" ;;
    -h|--help) sed -n '2,38p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
  shift
done
PIECES="${ONLY:-cli,nodejs,command,random,docker}"
[ "$WITH_TAILSCALE" = 1 ] && PIECES="$PIECES,tailscale"
want() { case ",$PIECES," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
for p in ${PIECES//,/ }; do
  case "$p" in cli|nodejs|command|random|docker|tailscale) ;; *) die "unknown piece: $p" ;; esac
done

# ---- Go environment --------------------------------------------------------
GO="$(command -v go || true)"
[ -n "$GO" ] || GO=/usr/local/go/bin/go
[ -x "$GO" ] || die "no go command (looked on PATH and at /usr/local/go/bin/go)"
for c in curl jq node; do command -v "$c" >/dev/null 2>&1 || die "needs $c on PATH"; done
export GOMODCACHE="$CACHE/gomod" GOCACHE="$CACHE/gocache"
export GOFLAGS="-modcacherw -buildvcs=false" GOPROXY="$PROXY" GOTOOLCHAIN=local
export GOSUMDB=sum.golang.org GONOSUMDB='' GOPRIVATE='' GONOPROXY='' GOINSECURE='' GOWORK=off
export CGO_ENABLED=0
GOVER="$(GOTOOLCHAIN=local "$GO" env GOVERSION)" # e.g. go1.26.8
PULUMI_HOME_DIR="$CACHE/pulumi-home"

# ---- helpers ---------------------------------------------------------------
npm_version() { # exact version of an npm dependency in package.json
  local v
  v="$(node -e 'const p=require(process.argv[1]); const d={...p.devDependencies,...p.dependencies}; process.stdout.write(d[process.argv[2]]||"")' \
    "$REPO_DIR/package.json" "$1")" || die "cannot read $REPO_DIR/package.json with node"
  [[ "$v" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "package.json: $1 is '$v', not an exact version"
  printf '%s' "$v"
}

# `go mod download` one module version; prints its JSON. A refusal by the proxy
# (403/404/410) ends the script with the one line naming it.
mod_download() {
  local mod="$1" ver="$2" out err
  out="$(cd "$CACHE" && "$GO" mod download -json "$mod@$ver" 2>/dev/null)" || true
  err="$(printf '%s' "$out" | jq -r '.Error // empty' 2>/dev/null || true)"
  if [ -z "$out" ]; then die "go mod download $mod@$ver printed nothing"; fi
  if [ -n "$err" ]; then
    case "$err" in
      *"403 Forbidden"*|*"404 Not Found"*|*"410 Gone"*|*"not available"*|*"unknown revision"*|*"invalid version"*) refused "$mod" "$ver" ;;
      *) die "go mod download $mod@$ver: $err" ;;
    esac
  fi
  printf '%s' "$out"
}

# Whether the proxy serves a module version's zip (asks for its first byte only).
# 403/404/410 is a no; any other failure (network, 5xx) stops the script.
proxy_serves() {
  local code
  code="$(curl -sS -o /dev/null -w '%{http_code}' -r 0-0 "$PROXY/$1/@v/$2.zip" 2>/dev/null || true)"
  case "$code" in
    200|206|302) return 0 ;;
    403|404|410) return 1 ;;
    *) die "the Go module proxy did not answer for $1@$2 (HTTP '${code:-none}')" ;;
  esac
}

# .info of a module version, from the proxy (small; not cached by go for this use).
proxy_info() { curl -fsS "$PROXY/$1/@v/$2.info" 2>/dev/null || true; }

# Pseudo-version of the commit a tag points at, for a module without tags of its
# own in the same repository (e.g. provider/ subdirectories). Needs Origin.Hash
# in the tag's .info; some proxies leave Origin out.
pseudo_of() { # module-major (v0, v3, v4, ...) tag-module tag-version
  local major="$1" info hash t
  info="$(proxy_info "$2" "$3")"
  [ -n "$info" ] || refused "$2" "$3"
  hash="$(printf '%s' "$info" | jq -r '.Origin.Hash // empty')"
  t="$(printf '%s' "$info" | jq -r '.Time' | sed -E 's/[-:T]//g; s/Z$//; s/\..*//')"
  [ -n "$hash" ] || die "the proxy's .info for $2@$3 names no commit (Origin.Hash): cannot derive a pseudo-version"
  printf '%s.0.0-%s-%s' "$major" "$t" "${hash:0:12}"
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
# local paths, which only hold inside its own repository) into the wrapper.
copy_replaces() { # wrapper-dir mod ver
  local modfile="$GOMODCACHE/cache/download/$2/@v/$3.mod" args
  [ -f "$modfile" ] || die "missing $modfile"
  mapfile -t args < <("$GO" mod edit -json "$modfile" | jq -r '.Replace[]? | select(.New.Version != null)
      | "-replace=\(.Old.Path)\(if .Old.Version then "@"+.Old.Version else "" end)=\(.New.Path)@\(.New.Version)"')
  if [ "${#args[@]}" -gt 0 ]; then
    (cd "$1" && "$GO" mod edit "${args[@]}")
    log "  replaces copied from $2@$3: ${args[*]#-replace=}"
  fi
}

timed() { # label command...
  local s=$SECONDS
  "${@:2}"
  log "$1 done in $((SECONDS - s))s"
}

# Build one piece in a subshell: a refusal (exit 3) is remembered and the other
# pieces still get built; any other failure stops the script.
run_piece() { # label command...
  local rc=0
  (timed "$@") &
  wait $! || rc=$?
  if [ "$rc" -eq 3 ]; then log "$1: not built (refused by the proxy)"; elif [ "$rc" -ne 0 ]; then die "$1 failed (exit $rc)"; fi
}

# ---- Pulumi CLI ------------------------------------------------------------
PKG=github.com/pulumi/pulumi/pkg/v3
SDK=github.com/pulumi/pulumi/sdk/v3

resolve_cli_version() {
  local wantv f cand list
  wantv="v$(npm_version @pulumi/pulumi)"
  f="$CACHE/resolved/pulumi-cli-$wantv"
  if [ -f "$f" ]; then cat "$f"; return; fi
  if [ "$PRINT_ENV" = 1 ]; then printf '%s' "$wantv"; return; fi
  mkdir -p "$CACHE/resolved"
  local no=""
  proxy_serves "$PKG" "$wantv" || no="$PKG@$wantv"
  proxy_serves "$SDK" "$wantv" || no="${no:+$no and }$SDK@$wantv"
  if [ -z "$no" ]; then
    printf '%s' "$wantv" >"$f"; cat "$f"; return
  fi
  log "the Go module proxy refuses $no; looking for the nearest newer release it serves"
  list="$(curl -fsS "$PROXY/$PKG/@v/list" 2>/dev/null || true)"
  for cand in $( { printf '%s\n' "$list"; echo "$wantv"; } | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$' | sort -uV | sed -n "/^${wantv//./\\.}\$/,\$p" | tail -n +2); do
    [ "${cand%%.*}" = "${wantv%%.*}" ] || continue
    if proxy_serves "$PKG" "$cand" && proxy_serves "$SDK" "$cand"; then
      log "building the Pulumi CLI $cand instead of $wantv (the SDK in node_modules stays @pulumi/pulumi ${wantv#v})"
      printf '%s' "$cand" >"$f"; cat "$f"; return
    fi
  done
  refused "$PKG" "$wantv"
}

build_cli() { # version bindir
  local ver="$1" bin="$2" w
  log "step: Pulumi CLI $ver: downloading modules"
  mod_download "$PKG" "$ver" >/dev/null
  mod_download "$SDK" "$ver" >/dev/null
  w="$(new_wrapper "pulumi-$ver-$GOVER" clawfleet.local/tools/pulumi)"
  copy_replaces "$w" "$PKG" "$ver"
  (cd "$w" && "$GO" get -tool "$PKG/cmd/pulumi@$ver" "$SDK@$ver") >&2
  log "step: Pulumi CLI $ver: compiling (the first build takes a long while on 2 cores)"
  mkdir -p "$bin"
  (cd "$w" && "$GO" build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-w -s -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$ver" \
    -o "$bin/pulumi.tmp" "$PKG/cmd/pulumi") >&2
  mv -f "$bin/pulumi.tmp" "$bin/pulumi"
  touch "$bin/.complete-cli"
}

# ---- Node.js language host -------------------------------------------------
NODEJS_HOST=github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3

# sdk/v3 releases up to v3.68.0 held the language host in the sdk module itself
# (sdk/nodejs/cmd/pulumi-language-nodejs); from v3.69.0 it is a module of its own.
NODEJS_FALLBACK_SDK=v3.68.0

build_nodejs_host() { # cli-version bindir
  local ver="$1" bin="$2" info hash t pseudo="" w
  log "step: Node.js language host for $ver: resolving $NODEJS_HOST (no tags of its own: pseudo-version of the release commit)"
  info="$(proxy_info "$SDK" "$ver")"
  hash="$(printf '%s' "$info" | jq -r '.Origin.Hash // empty' 2>/dev/null || true)"
  if [ -n "$hash" ]; then
    t="$(printf '%s' "$info" | jq -r '.Time' | sed -E 's/[-:T]//g; s/Z$//; s/\..*//')"
    pseudo="v3.0.0-$t-${hash:0:12}"
    if proxy_serves "$NODEJS_HOST" "$pseudo"; then
      w="$(new_wrapper "pulumi-language-nodejs-$ver-$GOVER" clawfleet.local/tools/pulumi-language-nodejs)"
      copy_replaces "$w" "$PKG" "$ver"
      (cd "$w" && "$GO" get -tool "$NODEJS_HOST@$pseudo" "$PKG@$ver" "$SDK@$ver") >&2
      (cd "$w" && "$GO" build -trimpath -tags osusergo,grpcnotrace \
        -ldflags "-w -s -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$ver" \
        -o "$bin/pulumi-language-nodejs.tmp" "$NODEJS_HOST") >&2
      printf '%s@%s\n' "$NODEJS_HOST" "$pseudo" >"$bin/pulumi-language-nodejs.source"
      mv -f "$bin/pulumi-language-nodejs.tmp" "$bin/pulumi-language-nodejs"
      touch "$bin/.complete-nodejs"
      return
    fi
    log "the proxy refuses $NODEJS_HOST@$pseudo"
  else
    log "the proxy's .info for $SDK@$ver names no commit, and it lists no version of $NODEJS_HOST"
  fi
  if [ "${CLAWFLEET_NODEJS_HOST_FALLBACK:-1}" != 1 ]; then
    refused "$NODEJS_HOST" "${pseudo:-<release commit of $ver>}"
  fi
  log "FALLBACK: building pulumi-language-nodejs from $SDK@$NODEJS_FALLBACK_SDK (the newest release whose module holds it)."
  log "  It ignores Pulumi.yaml runtime options (typescript, nodeargs, ...): the newer CLI passes them in a field it does"
  log "  not read, so .ts programs run through @pulumi/pulumi's vendored ts-node. Set CLAWFLEET_NODEJS_HOST_FALLBACK=0 to refuse instead."
  mod_download "$SDK" "$NODEJS_FALLBACK_SDK" >/dev/null
  # sdk v3.68.0's own replace (golang.org/x/text => v0.3.6) is not copied.
  w="$(new_wrapper "pulumi-language-nodejs-sdk-$NODEJS_FALLBACK_SDK-$GOVER" clawfleet.local/tools/pulumi-language-nodejs)"
  (cd "$w" && "$GO" get -tool "$SDK/nodejs/cmd/pulumi-language-nodejs@$NODEJS_FALLBACK_SDK") >&2
  (cd "$w" && "$GO" build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-w -s -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$NODEJS_FALLBACK_SDK" \
    -o "$bin/pulumi-language-nodejs.tmp" "$SDK/nodejs/cmd/pulumi-language-nodejs") >&2
  printf '%s@%s (fallback)\n' "$SDK/nodejs/cmd/pulumi-language-nodejs" "$NODEJS_FALLBACK_SDK" >"$bin/pulumi-language-nodejs.source"
  mv -f "$bin/pulumi-language-nodejs.tmp" "$bin/pulumi-language-nodejs"
  touch "$bin/.complete-nodejs"
}

# The dynamic-provider launcher that Pulumi's release archive puts next to the
# CLI (pulumi-resource-pulumi-nodejs) ships in the @pulumi/pulumi npm package.
install_dynamic_launcher() { # bindir
  local src="$REPO_DIR/node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs"
  if [ -f "$src" ]; then
    install -m 0755 "$src" "$1/pulumi-resource-pulumi-nodejs"
  else
    log "note: $src is missing (run npm ci); dynamic providers will not be found"
  fi
}

# ---- provider plugins --------------------------------------------------------
# Per plugin: npm package (its version), the repository's root module (which carries
# the release tag; "-" = no +incompatible suffix), the provider module's major
# version and the provider module (provider/ in the same repository, no tags of its own).
plugin_spec() {
  case "$1" in
    command) echo "@pulumi/command github.com/pulumi/pulumi-command - v0 github.com/pulumi/pulumi-command/provider" ;;
    # Only their npm package names are read: both are built by build_bridged.
    random) echo "@pulumi/random - - - -" ;;
    docker) echo "@pulumi/docker - - - -" ;;
  esac
}

plugin_dir() { printf '%s/plugins/resource-%s-v%s' "$PULUMI_HOME_DIR" "$1" "$2"; }

# Pulumi's own provider modules for docker and random are refused by the proxy; the upstream
# Terraform providers they bridge, the Terraform bridge and the bridge's fork of
# terraform-plugin-sdk are served. Each plugin is built from those with a mapping of our own
# (scripts/pulumi-resource-<name>): the upstream provider's own CRUD and Read, the bridge's own
# diff, under the names of the @pulumi/<name> package.
SDK_FORK=github.com/pulumi/terraform-plugin-sdk/v2
SDK_FORK_VERSION=v2.0.0-20250923233607-7f1981c8674a # the fork pulumi-terraform-bridge v3.120.0 replaces the SDK with
# The fork's GRPCProviderServer lacks an RPC of terraform-plugin-go v0.31, which both upstreams need.
SDK_FORK_PATCH="$REPO_DIR/scripts/pulumi-resource-docker/patches/sdk_generate_resource_config.go.in"

# Per bridged plugin: the upstream module, its version, and the build tags.
bridged_upstream() {
  case "$1" in
    # kreuzwerker's provider: v4.6.0 and later fixes, the newest the proxy serves. Built as pulumi-docker's Makefile does.
    docker) echo "github.com/kreuzwerker/terraform-provider-docker v0.0.0-20260916201441-96d331c98ff4 no_compose" ;;
    # hashicorp's provider on the plugin framework (bridged by the bridge's pkg/pf), the newest commit the proxy serves.
    random) echo "github.com/hashicorp/terraform-provider-random v1.3.2-0.20260824155315-e1092b0cfc07 -" ;;
  esac
}

# What a bridged plugin in the cache was built from; a change rebuilds it.
bridged_build_key() { # name
  local sum upstream version
  read -r upstream version _ < <(bridged_upstream "$1")
  case "$1" in
    docker) sum="$(cd "$REPO_DIR/scripts/pulumi-resource-docker" && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12)" ;;
    *) sum="$( (cd "$REPO_DIR/scripts/pulumi-resource-$1" && find . -type f | LC_ALL=C sort | xargs sha256sum; sha256sum <"$SDK_FORK_PATCH") | sha256sum | cut -c1-12)" ;;
  esac
  printf '%s %s %s %s\n' "$version" "$SDK_FORK_VERSION" "$sum" "$GOVER"
}

build_bridged() { # name version plugin-dir
  local name="$1" ver="$2" dir="$3" w up sdk upstream upstream_version tags
  read -r upstream upstream_version tags < <(bridged_upstream "$name")
  [ "$tags" != - ] || tags=""
  w="$CACHE/src/pulumi-resource-$name-$ver-$GOVER"
  log "step: plugin $name $ver: the upstream provider $upstream@$upstream_version through the Terraform bridge"
  up="$(mod_download "$upstream" "$upstream_version" | jq -r .Dir)"
  sdk="$(mod_download "$SDK_FORK" "$SDK_FORK_VERSION" | jq -r .Dir)"
  rm -rf "$w"
  mkdir -p "$w"
  cp -R "$REPO_DIR/scripts/pulumi-resource-$name/." "$w/"
  cp -R "$up" "$w/upstream"
  cp -R "$sdk" "$w/sdkfork"
  chmod -R u+w "$w/upstream" "$w/sdkfork"
  mkdir -p "$w/upstream/clawfleetshim"
  cp "$w/patches/clawfleetshim.go.in" "$w/upstream/clawfleetshim/shim.go"
  cp "$SDK_FORK_PATCH" "$w/sdkfork/helper/schema/clawfleet_generate_resource_config.go"
  log "step: plugin $name $ver: building the schema generator (about 15 minutes cold on 2 cores)"
  (cd "$w" && "$GO" build -trimpath ${tags:+-tags "$tags"} -o tfgen ./cmd/tfgen) >&2
  (cd "$w" && VERSION="$ver" ./tfgen schema --out schema) >/dev/null 2>&1 || (cd "$w" && VERSION="$ver" ./tfgen schema --out schema) >&2
  node "$REPO_DIR/scripts/check-bridged-schema.mjs" "$name" "$w/schema/schema.json" ||
    die "plugin $name: its schema does not name the properties as @pulumi/$name $ver does (above)"
  cp "$w/schema/schema.json" "$w/cmd/provider/schema.json"
  # The framework bridge embeds the metadata that tfgen wrote beside the schema.
  if [ -d "$w/info" ] && [ -f "$w/info/bridge-metadata.json" ]; then cp "$w/schema/bridge-metadata.json" "$w/info/bridge-metadata.json"; fi
  mkdir -p "$dir"
  (cd "$w" && "$GO" build -trimpath ${tags:+-tags "$tags"} -ldflags "-w -s -X main.version=$ver" -o "$dir/pulumi-resource-$name.tmp" ./cmd/provider) >&2
  mv -f "$dir/pulumi-resource-$name.tmp" "$dir/pulumi-resource-$name"
  bridged_build_key "$name" >"$dir/.complete"
}

build_plugin() { # name (command: Pulumi's own provider module, a native Go provider)
  local name="$1" npm root suffix major pmod ver rootver pseudo w dir
  read -r npm root suffix major pmod < <(plugin_spec "$name")
  [ "$suffix" != - ] || suffix=""
  ver="$(npm_version "$npm")"
  rootver="v$ver$suffix"
  dir="$(plugin_dir "$name" "$ver")"
  log "step: plugin $name $ver: resolving $pmod (no tags of its own: pseudo-version of the $rootver commit)"
  # The tag lives on the repository root module; the provider is a module in provider/.
  mod_download "$root" "$rootver" >/dev/null
  pseudo="$(pseudo_of "$major" "$root" "$rootver")"
  mod_download "$pmod" "$pseudo" >/dev/null
  # Not reached on 2026-12-04: the proxy refused the provider module above.
  # What follows is the build as the provider's Makefile does it, written from it.
  w="$(new_wrapper "pulumi-resource-$name-$ver-$GOVER" "clawfleet.local/tools/pulumi-resource-$name")"
  copy_replaces "$w" "$pmod" "$pseudo"
  (cd "$w" && "$GO" get -tool "$pmod/cmd/pulumi-resource-$name@$pseudo") >&2
  mkdir -p "$dir"
  (cd "$w" && "$GO" build -trimpath -ldflags "-w -s -X $pmod/pkg/version.Version=$ver" \
    -o "$dir/pulumi-resource-$name.tmp" "$pmod/cmd/pulumi-resource-$name") >&2
  mv -f "$dir/pulumi-resource-$name.tmp" "$dir/pulumi-resource-$name"
  touch "$dir/.complete"
}

# ---- Tailscale -------------------------------------------------------------
build_tailscale() { # version bindir
  local ver="$1" bin="$2"
  log "step: Tailscale $ver: go install tailscaled, tailscale, testcontrol"
  mod_download tailscale.com "$ver" >/dev/null
  mkdir -p "$bin"
  (cd "$CACHE" && GOBIN="$bin" "$GO" install -trimpath \
    -ldflags "-X tailscale.com/version.longStamp=${ver#v} -X tailscale.com/version.shortStamp=${ver#v}" \
    "tailscale.com/cmd/tailscaled@$ver" "tailscale.com/cmd/tailscale@$ver" "tailscale.com/cmd/testcontrol@$ver") >&2
  touch "$bin/.complete"
}

# ---- main ------------------------------------------------------------------
missing=()
PATH_DIRS=()
mkdir -p "$CACHE"
if [ "$PRINT_ENV" != 1 ]; then
  REFUSALS="$(mktemp)"
  trap 'rm -f "$REFUSALS"' EXIT
fi

if want cli || want nodejs; then
  CLI_VERSION="$(resolve_cli_version)"
  CLI_BIN="$CACHE/bin/pulumi-$CLI_VERSION-$GOVER"
  PATH_DIRS+=("$CLI_BIN")
fi

if want cli; then
  if [ -f "$CLI_BIN/.complete-cli" ] && [ -x "$CLI_BIN/pulumi" ]; then
    [ "$PRINT_ENV" = 1 ] || log "cached: pulumi $CLI_VERSION ($CLI_BIN)"
  elif [ "$PRINT_ENV" = 1 ]; then
    missing+=("pulumi CLI $CLI_VERSION ($CLI_BIN/pulumi)")
  else
    run_piece "step: Pulumi CLI $CLI_VERSION" build_cli "$CLI_VERSION" "$CLI_BIN"
  fi
  [ "$PRINT_ENV" = 1 ] || install_dynamic_launcher "$CLI_BIN"
fi

if want nodejs; then
  if [ -f "$CLI_BIN/.complete-nodejs" ] && [ -x "$CLI_BIN/pulumi-language-nodejs" ]; then
    [ "$PRINT_ENV" = 1 ] || log "cached: pulumi-language-nodejs ($CLI_BIN)"
  elif [ "$PRINT_ENV" = 1 ]; then
    missing+=("pulumi-language-nodejs ($CLI_BIN/pulumi-language-nodejs)")
  else
    run_piece "step: Node.js language host" build_nodejs_host "$CLI_VERSION" "$CLI_BIN"
  fi
fi

for name in command random docker; do
  want "$name" || continue
  read -r npm _ < <(plugin_spec "$name")
  ver="$(npm_version "$npm")"
  dir="$(plugin_dir "$name" "$ver")"
  builder=(build_plugin "$name")
  fresh=0
  if [ "$name" = docker ] || [ "$name" = random ]; then
    builder=(build_bridged "$name" "$ver" "$dir")
    [ "$(cat "$dir/.complete" 2>/dev/null)" != "$(bridged_build_key "$name")" ] || fresh=1
  elif [ -f "$dir/.complete" ]; then
    fresh=1
  fi
  if [ "$fresh" = 1 ] && [ -x "$dir/pulumi-resource-$name" ]; then
    [ "$PRINT_ENV" = 1 ] || log "cached: plugin $name $ver ($dir)"
  elif [ "$PRINT_ENV" = 1 ]; then
    missing+=("plugin $name $ver ($dir/pulumi-resource-$name)")
  else
    run_piece "step: plugin $name $ver" "${builder[@]}"
  fi
done

if want tailscale; then
  TS_BIN="$CACHE/bin/tailscale-$TAILSCALE_VERSION-$GOVER"
  PATH_DIRS+=("$TS_BIN")
  if [ -f "$TS_BIN/.complete" ] && [ -x "$TS_BIN/tailscaled" ] && [ -x "$TS_BIN/tailscale" ] && [ -x "$TS_BIN/testcontrol" ]; then
    [ "$PRINT_ENV" = 1 ] || log "cached: tailscale $TAILSCALE_VERSION ($TS_BIN)"
  elif [ "$PRINT_ENV" = 1 ]; then
    missing+=("tailscale $TAILSCALE_VERSION ($TS_BIN)")
  else
    run_piece "step: Tailscale $TAILSCALE_VERSION" build_tailscale "$TAILSCALE_VERSION" "$TS_BIN"
  fi
fi

if [ "$PRINT_ENV" = 1 ]; then
  if [ "${#missing[@]}" -gt 0 ]; then
    for m in "${missing[@]}"; do log "missing from the cache: $m"; done
    die "run scripts/install-pulumi.sh$([ "$WITH_TAILSCALE" = 1 ] && echo ' --tailscale')${ONLY:+ --only $ONLY} first"
  fi
  path=""
  for d in "${PATH_DIRS[@]}"; do path="$path$(printf '%q' "$d"):"; done
  # shellcheck disable=SC2016 # $PATH is for the shell that evals these lines
  printf 'export PATH=%s"$PATH"\n' "$path"
  if want cli || want command || want random || want docker; then
    printf 'export PULUMI_HOME=%q\n' "$PULUMI_HOME_DIR"
    printf 'export PULUMI_SKIP_UPDATE_CHECK=true\n'
    printf 'export PULUMI_IGNORE_AMBIENT_PLUGINS=true\n'
    printf 'export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true\n'
  fi
  exit 0
fi

if [ -s "$REFUSALS" ]; then
  log "not built, since the Go module proxy refused their sources:"
  while IFS= read -r line; do log "$line"; done <"$REFUSALS"
  exit 3
fi
log "all selected pieces are in $CACHE"
