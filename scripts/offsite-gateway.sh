#!/usr/bin/env bash
# Copy gateway backup archives to an S3-compatible bucket and back, encrypted with age on the
# gateway host, so no plaintext archive leaves it.
#
# Usage (run as root on the gateway host, script on stdin: bash -s -- <command> ...):
#   put    <endpoint> <region> <bucket> <key> <age recipient> <archive>
#            encrypt <archive> to the recipient beside it, upload it as <key>, print <key>
#   list   <endpoint> <region> <bucket> <prefix>
#            print the bucket's ListObjectsV2 answer (XML) for the keys under <prefix>
#   delete <endpoint> <region> <bucket> <key>...
#   prune  <endpoint> <region> <bucket> <prefix> <keep>
#            delete the encrypted archives (*.tar.gz.age) under <prefix> but the newest <keep>
#            (by upload time, then by key), print each deleted key; other objects are left alone
#   get    <endpoint> <region> <bucket> <key> <folder>
#            download <key>, decrypt it into <folder> (root's, 0700; created if missing) as
#            offsite-<name>.tar.gz (beside, never over, the archives backup made there), print its path (0600)
# Credentials never come as arguments or environment: the caller puts these shell
# assignments before the script text on stdin (they stay unexported, and reach curl and age
# through a pipe, never a file or an argument):
#   S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, and for get AGE_IDENTITY (an age identity file's text).
# Needs age (Debian: apt-get install age) and curl 7.75 or newer (--aws-sigv4).
set -euo pipefail

die() { printf 'offsite-gateway: %s\n' "$*" >&2; exit 1; }
[ "$#" -ge 4 ] || die "usage: offsite-gateway.sh put|list|delete|prune|get <endpoint> <region> <bucket> ..."
command=$1 endpoint=$2 region=$3 bucket=$4
shift 4
if [ -z "${S3_ACCESS_KEY_ID:-}" ] || [ -z "${S3_SECRET_ACCESS_KEY:-}" ]; then die "no S3 credentials came on stdin"; fi
command -v curl >/dev/null 2>&1 || die "curl is not installed on this host; install it (Debian: apt-get install curl)"
curl --help all 2>/dev/null | grep -q -- '--aws-sigv4' \
  || die "curl on this host cannot sign S3 requests (--aws-sigv4 needs curl 7.75 or newer; it has $(curl --version | head -n 1 | cut -d' ' -f2)); upgrade curl"
case "$command" in put | get)
  command -v age >/dev/null 2>&1 || die "age is not installed on this host; install it (Debian: apt-get install age)" ;;
esac
case "$endpoint" in http://* | https://*) ;; *) die "the endpoint must be an http:// or https:// URL, not $endpoint" ;; esac

# A key or prefix holds only these characters (clawfleet names them), so it needs no escaping in a URL path.
safe_key() {
  case "$1" in '' | *[!A-Za-z0-9._/-]* | /* | *//* | ../* | */../* | */..) return 1 ;; esac
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One signed request: s3 <method> <path and query> [curl options...]; the answer's body goes to $work/body.
# The credentials reach curl as its config on a pipe (-K), so they are in no argument list.
s3() {
  local method=$1 path=$2 code
  shift 2
  local user="${S3_ACCESS_KEY_ID}:${S3_SECRET_ACCESS_KEY}"
  user=${user//\\/\\\\}
  user=${user//\"/\\\"}
  code=$(curl -q -sS --proto '=http,https' --connect-timeout 20 --retry 2 -o "$work/body" -w '%{http_code}' \
    --aws-sigv4 "aws:amz:$region:s3" -K <(printf 'user = "%s"\n' "$user") -X "$method" "$@" "$endpoint/$bucket/$path") \
    || die "$method $endpoint/$bucket/$path failed: the endpoint did not answer (curl exit $?)"
  case "$code" in 2??) return 0 ;; esac
  local reason
  reason=$(sed -n 's:.*<Code>\(.*\)</Code>.*:\1:p' "$work/body" | head -n 1)
  die "$method $endpoint/$bucket/$path: HTTP $code${reason:+ $reason}"
}
empty_sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

# The bucket's ListObjectsV2 answer for the keys under a prefix, into $work/body. Parameters in SigV4's canonical
# order, already encoded, so curl signs what it sends.
list_prefix() {
  s3 GET "?list-type=2&prefix=${1//\//%2F}" -H "x-amz-content-sha256: $empty_sha256"
}

case "$command" in
  put)
    [ "$#" -eq 3 ] || die "usage: put <endpoint> <region> <bucket> <key> <age recipient> <archive>"
    key=$1 recipient=$2 archive=$3
    safe_key "$key" || die "the key $key has characters other than A-Z, a-z, 0-9, '.', '_', '-' and '/'"
    if [ ! -f "$archive" ] || [ -L "$archive" ]; then die "$archive is not a file"; fi
    # Encrypted beside the archive (a root-only folder), never in a shared /tmp.
    sealed=$(mktemp "$(dirname "$archive")/.offsite.XXXXXX")
    trap 'rm -rf "$work" "$sealed"' EXIT
    age -r "$recipient" -o "$sealed" "$archive" || die "age could not encrypt $archive"
    sum=$(sha256sum "$sealed" | cut -d' ' -f1)
    s3 PUT "$key" -H "x-amz-content-sha256: $sum" -T "$sealed"
    printf '%s %s\n' "$key" "$(stat -c %s "$sealed")"
    ;;
  list)
    [ "$#" -eq 1 ] || die "usage: list <endpoint> <region> <bucket> <prefix>"
    prefix=$1
    [ -z "$prefix" ] || safe_key "$prefix" || die "the prefix $prefix has characters other than A-Z, a-z, 0-9, '.', '_', '-' and '/'"
    list_prefix "$prefix"
    cat "$work/body"
    ;;
  prune)
    [ "$#" -eq 2 ] || die "usage: prune <endpoint> <region> <bucket> <prefix> <keep>"
    prefix=$1 keep=$2
    safe_key "$prefix" || die "the prefix $prefix has characters other than A-Z, a-z, 0-9, '.', '_', '-' and '/'"
    case "$keep" in '' | *[!0-9]* | 0*) die "keep must be a whole number of copies from 1, not $keep" ;; esac
    list_prefix "$prefix"
    grep -q '<ListBucketResult[[:space:]>]' "$work/body" || die "the bucket's listing is not an S3 ListObjectsV2 answer"
    if grep -q '<IsTruncated>[[:space:]]*true' "$work/body"; then
      die "the bucket holds more than 1000 objects under $prefix; delete the ones clawfleet did not put there"
    fi
    # One line per object (the answer's own line breaks dropped): its upload time (ISO 8601 from the same server, so
    # it sorts as text) and its key; only keys clawfleet names, so none needs XML's escapes.
    key_re='<Key>([^<]*)</Key>' time_re='<LastModified>([^<]*)</LastModified>'
    { tr -d '\r\n' <"$work/body"; echo; } | sed 's:<Contents>:\n<Contents>:g' | while IFS= read -r record; do
      [[ $record =~ $key_re ]] || continue
      key=${BASH_REMATCH[1]}
      [[ $record =~ $time_re ]] || continue
      case "$key" in "$prefix"*.tar.gz.age) if safe_key "$key"; then printf '%s %s\n' "${BASH_REMATCH[1]}" "$key"; fi ;; esac
    done | LC_ALL=C sort -r | tail -n "+$((keep + 1))" | cut -d' ' -f2 >"$work/stale"
    while IFS= read -r key; do
      s3 DELETE "$key" -H "x-amz-content-sha256: $empty_sha256"
      printf '%s\n' "$key"
    done <"$work/stale"
    ;;
  delete)
    for key in "$@"; do
      safe_key "$key" || die "the key $key has characters other than A-Z, a-z, 0-9, '.', '_', '-' and '/'"
      s3 DELETE "$key" -H "x-amz-content-sha256: $empty_sha256"
    done
    ;;
  get)
    [ "$#" -eq 2 ] || die "usage: get <endpoint> <region> <bucket> <key> <folder>"
    key=$1 folder=$2
    safe_key "$key" || die "the key $key has characters other than A-Z, a-z, 0-9, '.', '_', '-' and '/'"
    [ -n "${AGE_IDENTITY:-}" ] || die "no age identity came on stdin"
    name=$(basename "$key" .age)
    case "$name" in *.tar.gz) ;; *) die "$key is not an encrypted gateway archive (<name>.tar.gz.age)" ;; esac
    case "$folder" in /*) ;; *) die "the folder must be an absolute path, not $folder" ;; esac
    if [ -L "$folder" ]; then
      die "$folder is a link; give the folder it leads to, or a new folder"
    elif [ -e "$folder" ]; then
      if [ ! -d "$folder" ] || [ "$(stat -c '%u %a' "$folder")" != "0 700" ]; then die "$folder exists and is not a folder of root's with mode 0700"; fi
    else
      mkdir -p -- "$(dirname "$folder")"
      mkdir -m 0700 -- "$folder"
    fi
    s3 GET "$key" -H "x-amz-content-sha256: $empty_sha256"
    opened=$(mktemp "$folder/.offsite.XXXXXX")
    trap 'rm -rf "$work" "$opened"' EXIT
    # The identity reaches age on a pipe: it is never written to the host's disk.
    age -d -i <(printf '%s\n' "$AGE_IDENTITY") -o "$opened" "$work/body" 2>"$work/age.err" \
      || die "age could not decrypt $key: $(head -n 1 "$work/age.err"); is the identity the one for the stack's ageRecipient?"
    chmod 0600 "$opened"
    target="$folder/offsite-$name"
    mv -T "$opened" "$target"
    printf '%s\n' "$target"
    ;;
  *) die "unknown command $command; use put, list, delete, prune or get" ;;
esac
