/**
 * Shell commands the command resources run on a gateway host (POSIX sh; the same text
 * runs locally or over SSH). Every value is single-quoted; file content arrives on stdin,
 * never inside the script. Each command is idempotent: running it twice changes nothing more.
 */

import { stateLayout, stopTimeoutSeconds } from "../../names";
import { gatewayLabel, managedLabel, rollbackLabel, stackLabel } from "./names";
import { asRoot, fail, inlineScript, script, shellQuote, sshPinOptions, type SshTarget } from "../shell";
import { hostScript, hostScriptFiles } from "./scripts";

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
    // The backup before an image change runs scripts/backup-gateway.sh, a bash script.
    `command -v bash >/dev/null 2>&1 || fail "host "${host}": bash is not installed, which the backup before an image change runs; install bash"`,
    `as_root docker info >/dev/null 2>&1 || fail "host "${host}": the Docker daemon does not answer; start it (systemctl start docker)"`,
    // The Docker provider reaches the daemon as this user, without sudo.
    `docker info >/dev/null 2>&1 || fail "host "${host}": user $(id -un) cannot use the Docker socket, which the Docker provider needs; run: sudo usermod -aG docker $(id -un) (then reconnect)"`,
    ...(tailscale
      ? [
          `command -v tailscale >/dev/null 2>&1 || fail "host "${host}": tailscale is not installed but hosts.${hostId}.tailscale.serve is true; install Tailscale or set serve: false"`,
        ]
      : []),
    `as_root mkdir -p ${root}/${stateLayout.users} ${root}/${stateLayout.shared}`,
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
  /** A folder only root writes in, on the same file system as `dir` (workDirOf): the file is made there. */
  readonly stagingDir: string;
}

/**
 * Writes stdin to `<dir>/<file>` atomically, mode 0600, owned by the gateway user. The file is made and chowned in
 * `stagingDir`, never in `dir`, which the tenant's gateway writes in: there it could swap the temp file for a link
 * and have root write or chown the link's target. It goes into place by a rename, which replaces a link planted at
 * `<dir>/<file>` instead of following it. An unchanged file is left alone, so a re-run does not trigger a reload.
 */
export function renderWriteFile({ dir, file, uid, stagingDir }: WriteFileArgs): string {
  const target = shellQuote(`${dir}/${file}`);
  return script(
    asRoot,
    `as_root mkdir -p ${shellQuote(stagingDir)}`,
    `as_root chmod 0700 ${shellQuote(stagingDir)}`,
    `tmp=$(as_root mktemp ${shellQuote(`${stagingDir}/.${file}.XXXXXX`)})`,
    `trap 'as_root rm -f "$tmp"' EXIT`,
    `as_root tee "$tmp" >/dev/null`,
    `if ! as_root test -L ${target} && as_root cmp -s "$tmp" ${target}; then exit 0; fi`,
    `as_root chmod 0600 "$tmp"`,
    `as_root chown ${uid}:${uid} "$tmp"`,
    `as_root mv -fT "$tmp" ${target}`,
  );
}

export interface WriteSecretsArgs {
  /** The folder on the host that the gateway's container mounts its credentials file from. */
  readonly dir: string;
  readonly file: string;
  readonly uid: number;
  readonly containerName: string;
  /** How the gateway's own CLI starts inside its container. */
  readonly cli: readonly string[];
  /** A folder only root writes in, on the same file system as `dir` (workDirOf): the file is made there. */
  readonly stagingDir: string;
}

/** Writes the credentials file from stdin and has a running gateway reload it (runtimes/docker/scripts/write-secrets.sh). */
export function renderWriteSecrets({ dir, file, uid, containerName, cli, stagingDir }: WriteSecretsArgs): string {
  return inlineScript("write-secrets", script(asRoot, fail, hostScript(hostScriptFiles.writeSecrets)), [dir, file, uid, containerName, stagingDir, ...cli]);
}

/** Deletes a gateway's credentials file and its folder: credentials are not state, and nothing keeps them once it is gone. */
export function renderRemoveSecrets({ dir }: { readonly dir: string }): string {
  return script(asRoot, `as_root rm -rf -- ${shellQuote(dir)}`);
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
  readonly ssh: SshTarget | undefined;
}

export interface MoveStateArgs {
  readonly from: StateEndpoint;
  readonly to: StateEndpoint;
  /** The tenant's gateway where it ran before, stopped before its state is copied. */
  readonly containerName: string;
  readonly uid: number;
}

/** A shell line that runs `inner` (a script) on an endpoint: here, or on its host over SSH with its key pinned. */
function onEndpoint(endpoint: StateEndpoint, inner: string): string {
  const body = shellQuote(`${asRoot}\n${inner}`);
  if (endpoint.ssh === undefined) return `sh -c ${body}`;
  const { host, user, port } = endpoint.ssh;
  return `ssh -o BatchMode=yes ${sshPinOptions(endpoint.ssh).map(shellQuote).join(" ")} -p ${port} ${shellQuote(`${user}@${host}`)} ${body}`;
}

/**
 * Moves a tenant's state to its new place (another host, or another id on the same host),
 * run from the machine that runs Pulumi: stops the old gateway, copies the state directory
 * with tar (owners and modes kept), then renames the old directory aside
 * (`<dir>.moved-<UTC time>`), so the old path is free for a later move back and the old
 * copy is kept. A re-run after the copy does nothing; a target that holds state while the
 * old directory does too is refused.
 */
export function renderMoveState({ from, to, containerName, uid }: MoveStateArgs): string {
  const source = shellQuote(from.dir);
  const target = shellQuote(to.dir);
  return script(
    fail,
    `if ! ${onEndpoint(from, `as_root test -e ${shellQuote(`${from.dir}/state`)}`)}; then`,
    `  if ${onEndpoint(to, `as_root test -e ${shellQuote(`${to.dir}/state`)}`)}; then exit 0; fi`,
    `  fail "${shellQuote(from.dir)} holds no gateway state to move; check movedFrom and renamedFrom"`,
    `fi`,
    `if ${onEndpoint(to, `as_root test -e ${shellQuote(`${to.dir}/state`)}`)}; then fail "${shellQuote(to.dir)} already holds gateway state; move it aside or remove movedFrom and renamedFrom"; fi`,
    onEndpoint(from, `as_root docker stop -t ${stopTimeoutSeconds} ${shellQuote(containerName)} >/dev/null 2>&1 || true`),
    onEndpoint(to, `as_root mkdir -p ${target}`),
    `${onEndpoint(from, `as_root tar -C ${source} -cf - .`)} | ${onEndpoint(to, `as_root tar -C ${target} -xpf -`)}`,
    onEndpoint(to, `as_root chown -R ${uid}:${uid} ${target} && as_root chmod 0700 ${target}`),
    onEndpoint(from, `as_root mv ${source} ${source}.moved-"$(date -u +%Y%m%dT%H%M%SZ)"`),
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

export interface ServeArgs {
  readonly httpsPort: number;
  readonly localPort: number;
}

/** Publishes 127.0.0.1:<localPort> on the tailnet as https://<node>:<httpsPort>/ (Serve, never Funnel; runtimes/docker/scripts/serve.sh). */
export function renderServeAdd({ httpsPort, localPort }: ServeArgs): string {
  return inlineScript("serve", script(asRoot, hostScript(hostScriptFiles.serve)), ["add", httpsPort, localPort]);
}

export interface ServeRemoveArgs extends ServeArgs {
  /** The gateway that owned the entry (`clawfleet.gateway` label). */
  readonly gateway: string;
}

/**
 * Removes the Serve entry unless another gateway publishes its local port by now (a deploy
 * that gives the port to a new gateway adds the new entry before the old one's delete runs).
 * An entry that is already gone is fine, any other failure is not.
 */
export function renderServeRemove({ httpsPort, localPort, gateway }: ServeRemoveArgs): string {
  return inlineScript("serve", script(asRoot, hostScript(hostScriptFiles.serve)), ["remove", httpsPort, localPort, gateway, gatewayLabel]);
}

export interface ClaimPortArgs {
  readonly hostId: string;
  readonly port: number;
  /** This gateway's `clawfleet.gateway` label and container name. */
  readonly gateway: string;
  readonly containerName: string;
  /** `clawfleet.stack` label: only this stack's gateways are ever stopped. */
  readonly stack: string;
}

/**
 * Frees a host port for a gateway before its container is created. Pulumi deletes removed
 * resources last, so a gateway this deploy removes (a renamed tenant or host, a port given
 * to another tenant) still holds the port when the new one starts: that gateway of the same
 * stack is stopped (SIGTERM, so its state lease is released) and removed first. A port held
 * by anything clawfleet does not manage for this stack is an error.
 */
export function renderClaimPort({ hostId, port, gateway, containerName, stack }: ClaimPortArgs): string {
  return inlineScript("claim-port", script(asRoot, fail, hostScript(hostScriptFiles.claimPort)), [
    hostId,
    port,
    gateway,
    containerName,
    stack,
    stopTimeoutSeconds,
    managedLabel,
    gatewayLabel,
    stackLabel,
  ]);
}

export interface HealthGateArgs {
  readonly containerName: string;
  readonly timeoutSeconds: number;
  /**
   * The way back (renderRollback) and the gateway's pre-upgrade folder: when a new image fails,
   * the gateway goes back on the image and state it had before, and the gate still fails.
   */
  readonly rollback?: { readonly script: string; readonly backupDir: string } | undefined;
}

/** The file in a gateway's pre-upgrade folder naming the archive of an image change still under way, and its new image. */
export const pendingFile = ".pending";

/** Restarts after a crash that the health gate lets pass before it fails. */
const allowedRestarts = 1;

/**
 * Shell function `health_of <container>`: sets `status` to Docker's health of the container (its
 * state when it has no health check; `restarting` while Docker restarts it after a crash, which
 * Docker reports as unhealthy; `gone` when there is no such container), `restarts` to its
 * restart count and `exitcode` to its last exit code. Needs `as_root`.
 */
export const healthOf = [
  `health_of() {`,
  `  info=$(as_root docker inspect --format ${shellQuote("{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}} {{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}")} "$1" 2>/dev/null) || { status=gone; restarts=0; exitcode=0; return 0; }`,
  // Not every caller reads every field.
  `  # shellcheck disable=SC2034`,
  `  read -r status state restarts exitcode <<EOF`,
  `$info`,
  `EOF`,
  `  [ "$state" != restarting ] || status=restarting`,
  `}`,
].join("\n");

/** Sets `exited` to how the container exited, naming what openclaw's exit code 78 means. */
export const exitReason = `case $exitcode in 78) exited="exited with code 78 (openclaw refuses to start: its config is invalid, or gateway.maintenance_required, a plugin the image does not bundle)" ;; *) exited="exited (code $exitcode)" ;; esac`;

/**
 * Waits until Docker reports the container healthy, and fails otherwise: unhealthy, exited,
 * restarted more than once after a crash, or not healthy in time. One restart is allowed: on a
 * busy host openclaw's first start can miss its state-lease heartbeat deadline and exit, and
 * Docker's restart then comes up fine. It is replaced with every new container, so a gateway that
 * never got healthy stops the rollout on every deploy, not only the first.
 */
export function renderHealthGate({ containerName, timeoutSeconds, rollback }: HealthGateArgs): string {
  return inlineScript("health-gate", script(asRoot, fail, healthOf, `exit_reason() { ${exitReason}; }`, hostScript(hostScriptFiles.healthGate)), [
    containerName,
    timeoutSeconds,
    allowedRestarts,
    rollbackLabel,
    ...(rollback === undefined ? [] : [rollback.script, `${rollback.backupDir}/${pendingFile}`]),
  ]);
}
