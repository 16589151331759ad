# Writes a gateway's credentials file from standard input, private to the gateway's user, and makes the gateway read
# it again if it runs (openclaw's `secrets reload`): a rotated key or token takes effect in the same container, with
# no restart. A gateway that does not run reads the file when it starts. The file is replaced whole (a new file moved
# over the old one), so the gateway never reads half of it; the folder is mounted into the gateway, not the file, so
# it sees the new one.
#
# The file is made and chowned in <staging dir>, a folder only root writes in on the same file system, never in
# <dir>, which the gateway's user owns; a rename puts it in place, replacing a link there instead of following it.
#
# Usage: write-secrets.sh <dir> <file> <uid> <container> <staging dir> <gateway CLI ...>
# Needs as_root and fail (runtimes/shell.ts).

dir=$1 file=$2 uid=$3 container=$4 staging=$5
shift 5

as_root mkdir -p "$dir" "$staging"
as_root chown "$uid:$uid" "$dir"
as_root chmod 0700 "$dir" "$staging"
tmp=$(as_root mktemp "$staging/.$file.XXXXXX")
trap 'as_root rm -f "$tmp"' EXIT
as_root tee "$tmp" >/dev/null
if as_root test -L "$dir/$file" || ! as_root cmp -s "$tmp" "$dir/$file"; then
  as_root chmod 0600 "$tmp"
  as_root chown "$uid:$uid" "$tmp"
  as_root mv -fT "$tmp" "$dir/$file"
fi

# Reloaded even when the file was already there: a deploy that stopped after writing it has not reloaded yet.
running() {
  [ "$(as_root docker inspect --type container --format '{{.State.Running}}' "$container" 2>/dev/null || true)" = true ]
}
running || exit 0
tries=0
# A gateway that is still starting does not answer yet: up to a minute for it. One that stops or is removed meanwhile
# (the same deploy replaces it) reads the file when it starts again.
until answer=$(as_root docker exec "$container" "$@" secrets reload --json 2>&1); do
  if ! running; then
    echo "gateway $container stopped before it reloaded its credentials; it reads them when it starts"
    exit 0
  fi
  tries=$((tries + 1))
  if [ "$tries" -ge 12 ]; then
    fail "gateway $container did not reload its credentials: $(printf '%s\n' "$answer" | tail -n 1)"
  fi
  sleep 5
done
warnings=$(printf '%s\n' "$answer" | sed -n 's/.*"warningCount": *\([0-9][0-9]*\).*/\1/p' | head -n 1)
if [ -n "$warnings" ] && [ "$warnings" != 0 ]; then
  fail "gateway $container reloaded its credentials, but $warnings of its references to them do not resolve; its log names them (SECRETS_ lines): docker logs $container"
fi
echo "gateway $container reloaded its credentials"
