#!/usr/bin/env bash
# Build the S3-compatible server the off-host backup end-to-end test talks to
# (test/e2e/s3-server: gofakes3 from the Go module proxy, in memory, loopback only, with
# SigV4 checked) into the tools cache outside the clone, keyed by the gofakes3 version, a
# hash of the wrapper's source and the Go version. Only a missing binary is built; a
# second run takes well under a second. Prints the binary's path on the last line.
#
# Cache: CLAWFLEET_TOOLS (default $HOME/.cache/clawfleet-tools), the same GOMODCACHE and
# GOCACHE as scripts/install-pulumi.sh.
set -euo pipefail

log() { printf 'install-s3-server: %s\n' "$*" >&2; }
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$SCRIPT_DIR/../test/e2e/s3-server"
CACHE="${CLAWFLEET_TOOLS:-$HOME/.cache/clawfleet-tools}"
GO="$(command -v go || true)"
[ -n "$GO" ] || GO=/usr/local/go/bin/go
[ -x "$GO" ] || { log "no go command (looked on PATH and at /usr/local/go/bin/go)"; exit 1; }
export GOMODCACHE="$CACHE/gomod" GOCACHE="$CACHE/gocache"
export GOFLAGS="-modcacherw -buildvcs=false -mod=readonly" GOPROXY=https://proxy.golang.org GOTOOLCHAIN=local
export GOSUMDB=sum.golang.org GONOSUMDB='' GOPRIVATE='' GONOPROXY='' GOINSECURE='' GOWORK=off CGO_ENABLED=0

version=$(sed -n 's/^require github.com\/johannesboyne\/gofakes3 \(v[^ ]*\)$/\1/p' "$SRC/go.mod")
[ -n "$version" ] || { log "cannot read the gofakes3 version from $SRC/go.mod"; exit 1; }
source_hash=$(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go" | sha256sum | cut -c1-12)
goversion=$("$GO" env GOVERSION)
bin="$CACHE/bin/s3-server-gofakes3-$version-$source_hash-$goversion/s3-server"
if [ -x "$bin" ]; then
  log "cached: $bin"
else
  log "building gofakes3 $version ($goversion) into $bin"
  start=$SECONDS
  mkdir -p "$(dirname "$bin")"
  (cd "$SRC" && "$GO" build -trimpath -o "$bin.partial" .)
  mv -f "$bin.partial" "$bin"
  log "built in $((SECONDS - start)) s"
fi
printf '%s\n' "$bin"
