/**
 * Shell commands the command resources run on a gateway host (POSIX sh; the same text
 * runs locally or over SSH). Every value is single-quoted; file content arrives on stdin,
 * never inside the script. Each command is idempotent: running it twice changes nothing more.
 */

/** Quotes a value as one shell word. */
export function shellQuote(value: string | number): string {
  return `'${String(value).replaceAll("'", `'"'"'`)}'`;
}

/** Runs as root directly, or through password-less sudo for a non-root SSH user. */
const asRoot = `as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }`;

const fail = `fail() { printf 'clawfleet: %s\\n' "$*" >&2; exit 1; }`;

function script(...lines: string[]): string {
  return ["set -eu", ...lines].join("\n");
}

export interface PrepareHostArgs {
  readonly hostId: string;
  readonly stateRoot: string;
  readonly image: string;
  readonly tailscale: boolean;
}

/** Checks the host's tools, creates the state root (0700) and makes sure the image is present. */
export function renderPrepareHost({ hostId, stateRoot, image, tailscale }: PrepareHostArgs): string {
  const host = shellQuote(hostId);
  const root = shellQuote(stateRoot);
  const img = shellQuote(image);
  return script(
    asRoot,
    fail,
    `command -v docker >/dev/null 2>&1 || fail "host "${host}": docker is not installed; install docker.io (Debian) or Docker Engine"`,
    `as_root docker info >/dev/null 2>&1 || fail "host "${host}": the Docker daemon does not answer; start it (systemctl start docker)"`,
    ...(tailscale
      ? [
          `command -v tailscale >/dev/null 2>&1 || fail "host "${host}": tailscale is not installed but hosts.${hostId}.tailscale.serve is true; install Tailscale or set serve: false"`,
        ]
      : []),
    `as_root mkdir -p ${root}/users ${root}/shared`,
    `as_root chmod 0700 ${root}`,
    `as_root docker image inspect ${img} >/dev/null 2>&1 || as_root docker pull ${img} >/dev/null || fail "host "${host}": image "${img}" is not on the host and cannot be pulled; load it with docker load (see scripts/build-gateway-image.sh)"`,
  );
}

export interface StateDirArgs {
  readonly dir: string;
  readonly uid: number;
}

/** Creates a gateway's state directory, owned by the gateway user, mode 0700. Never deletes. */
export function renderEnsureStateDir({ dir, uid }: StateDirArgs): string {
  const path = shellQuote(dir);
  return script(asRoot, `as_root mkdir -p ${path}`, `as_root chown ${uid}:${uid} ${path}`, `as_root chmod 0700 ${path}`);
}

export interface WriteFileArgs {
  readonly dir: string;
  readonly file: string;
  readonly uid: number;
}

/**
 * Writes stdin to `<dir>/<file>` atomically (temp file in the same directory, then rename),
 * mode 0600, owned by the gateway user. An unchanged file is left alone, so a re-run does
 * not trigger a reload.
 */
export function renderWriteFile({ dir, file, uid }: WriteFileArgs): string {
  const target = shellQuote(`${dir}/${file}`);
  return script(
    asRoot,
    `tmp=$(as_root mktemp ${shellQuote(`${dir}/.${file}.XXXXXX`)})`,
    `trap 'as_root rm -f "$tmp"' EXIT`,
    `as_root tee "$tmp" >/dev/null`,
    `if as_root cmp -s "$tmp" ${target}; then exit 0; fi`,
    `as_root chmod 0600 "$tmp"`,
    `as_root chown ${uid}:${uid} "$tmp"`,
    `as_root mv -f "$tmp" ${target}`,
  );
}

export interface PurgeArgs {
  /** The state directory to delete. */
  readonly dir: string;
  /** The tenant's own gateway container, removed first so nothing writes while the state goes. */
  readonly containerName: string | undefined;
}

/** Deletes a tenant's state for good: only rendered for a tenant whose declaration confirms `purge`. */
export function renderPurge({ dir, containerName }: PurgeArgs): string {
  return script(
    asRoot,
    ...(containerName === undefined ? [] : [`as_root docker rm -f ${shellQuote(containerName)} >/dev/null 2>&1 || true`]),
    `as_root rm -rf -- ${shellQuote(dir)}`,
  );
}

/** Where one side of a state move is: a directory on this machine, or on a host over SSH. */
export interface StateEndpoint {
  readonly dir: string;
  readonly ssh: { readonly host: string; readonly user: string; readonly port: number } | undefined;
}

export interface MoveStateArgs {
  readonly from: StateEndpoint;
  readonly to: StateEndpoint;
  /** The tenant's gateway on the old host, stopped before its state is copied. */
  readonly containerName: string;
  readonly uid: number;
}

/** A shell line that runs `inner` (a script) on an endpoint: here, or on its host over SSH. */
function onEndpoint(endpoint: StateEndpoint, inner: string): string {
  const body = shellQuote(`${asRoot}\n${inner}`);
  if (endpoint.ssh === undefined) return `sh -c ${body}`;
  const { host, user, port } = endpoint.ssh;
  return `ssh -o BatchMode=yes -p ${port} ${shellQuote(`${user}@${host}`)} ${body}`;
}

/**
 * Moves a tenant's state to its new host, run once from the machine that runs Pulumi:
 * stops the old gateway, copies the state directory with tar (owners and modes kept),
 * and leaves a marker so a re-run never copies again. It refuses to overwrite a target
 * that already holds gateway state. The old directory is kept.
 */
export function renderMoveState({ from, to, containerName, uid }: MoveStateArgs): string {
  const marker = shellQuote(`${to.dir}/.clawfleet-moved`);
  return script(
    fail,
    `if ${onEndpoint(to, `test -e ${marker}`)}; then exit 0; fi`,
    `if ${onEndpoint(to, `test -e ${shellQuote(`${to.dir}/state`)}`)}; then fail "${shellQuote(to.dir)} already holds gateway state; move it aside or remove movedFrom"; fi`,
    onEndpoint(from, `as_root docker stop -t 30 ${shellQuote(containerName)} >/dev/null 2>&1 || true`),
    `${onEndpoint(from, `as_root tar -C ${shellQuote(from.dir)} -cf - .`)} | ${onEndpoint(to, `as_root tar -C ${shellQuote(to.dir)} -xpf -`)}`,
    onEndpoint(to, `as_root chown -R ${uid}:${uid} ${shellQuote(to.dir)} && as_root touch ${marker}`),
  );
}

export interface PidsLimitArgs {
  readonly containerName: string;
  readonly pidsLimit: number;
}

/** Caps the number of processes in a running container (the Docker provider has no such field). */
export function renderSetPidsLimit({ containerName, pidsLimit }: PidsLimitArgs): string {
  return script(asRoot, `as_root docker update --pids-limit ${pidsLimit} ${shellQuote(containerName)} >/dev/null`);
}

/** Serve writes on one host are serialized with a lock and retried when Tailscale reports a concurrent writer. */
const serveLock = "/tmp/clawfleet-tailscale-serve.lock";
const serveRunner = [
  `serve() {`,
  `  attempt=1`,
  `  while :; do`,
  `    if command -v flock >/dev/null 2>&1; then`,
  `      out=$(flock ${shellQuote(serveLock)} tailscale serve "$@" 2>&1) && return 0`,
  `    else`,
  `      out=$(tailscale serve "$@" 2>&1) && return 0`,
  `    fi`,
  `    case $out in`,
  `      *"Another client is changing the serve config"*) ;;`,
  `      *) printf '%s\\n' "$out" >&2; return 1 ;;`,
  `    esac`,
  `    [ "$attempt" -lt 10 ] || { printf '%s\\n' "$out" >&2; return 1; }`,
  `    attempt=$((attempt + 1))`,
  `    sleep 1`,
  `  done`,
  `}`,
].join("\n");

export interface ServeArgs {
  readonly httpsPort: number;
  readonly localPort: number;
}

/** Publishes 127.0.0.1:<localPort> on the tailnet as https://<node>:<httpsPort>/ (Serve, never Funnel). */
export function renderServeAdd({ httpsPort, localPort }: ServeArgs): string {
  return script(serveRunner, `serve --bg --yes --https=${httpsPort} ${shellQuote(`http://127.0.0.1:${localPort}`)}`);
}

/** Removes the Serve entry; an entry that is already gone is fine, any other failure is not. */
export function renderServeRemove({ httpsPort }: Pick<ServeArgs, "httpsPort">): string {
  return script(
    serveRunner,
    `if ! err=$(serve --https=${httpsPort} off 2>&1); then`,
    `  case $err in`,
    `    *"handler does not exist"*) exit 0 ;;`,
    `    *) printf '%s\\n' "$err" >&2; exit 1 ;;`,
    `  esac`,
    `fi`,
  );
}
