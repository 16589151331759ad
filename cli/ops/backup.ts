import { readFileSync } from "node:fs";
import { join } from "node:path";
import { systemDirectoryProblem } from "../../declaration/machines";
import { healthGateSeconds, manualBackupDirOf, stateRootOf } from "../../names";
import { shippedFile } from "../../runtimes/shell";
import { openclawCli, inspectGateway, redactorOf, notRunningMessage } from "./gateway-access";
import { OpsError } from "./errors";
import type { Writers } from "./gateway-verbs";
import { describeHost, liveStderr, unreachableError, withProgress, type HostRunner } from "./host-shell";
import { opsOf } from "../runtime";
import type { VolumeStateOps } from "../../runtimes/ops";
import { hostStateOf, type TenantTarget } from "./targets";

/** Seconds a backup or restore may take on its host: an archive of several GB takes minutes to write or check. */
const scriptTimeoutSeconds = 3600;

/** One of the repository's scripts (in scripts/), found from this file (cli/ops/) or from the CLI bundle (dist/). */
export function scriptPath(name: string): string {
  try {
    return shippedFile(join("scripts", name));
  } catch (error) {
    throw new OpsError((error as Error).message);
  }
}

/**
 * The argv that runs one of the repository's scripts on a host: bash reads the script from
 * stdin, so the same text runs here and over SSH without copying files. The gateway CLI
 * path is handed over as the scripts' OPENCLAW_CLI.
 */
export function scriptArgv(args: readonly string[]): string[] {
  return ["env", `OPENCLAW_CLI=${openclawCli.join(" ")}`, "bash", "-s", "--", ...args];
}

export function lastLine(text: string): string {
  return (
    text
      .trim()
      .split("\n")
      .filter((l) => l.trim() !== "")
      .pop() ?? ""
  );
}

/**
 * Why `--to` cannot be a backup folder, or undefined when it can: the host's root creates it
 * and chmods it 0700, so it gets the same guard as a state root, and it must be written out
 * in full (no option-looking or relative value reaches the host's commands).
 */
export function backupFolderProblem(to: string): string | undefined {
  if (!/^\/[A-Za-z0-9._/-]*$/.test(to))
    return "must be an absolute path on the tenant's host such as /srv/clawfleet-backups, using only A-Z, a-z, 0-9, '.', '_', '-' and '/'";
  if (to.split("/").some((part) => part === ".." || part === ".")) return "must not contain . or .. segments; write the path out in full";
  return systemDirectoryProblem(to);
}

/** Backs up the tenant's gateway state on its host with the gateway's own tool; prints the archive's path on that host. */
export async function backup(runner: HostRunner, target: TenantTarget, stackFile: string, to: string | undefined, io: Writers): Promise<number> {
  const archive = await createBackup(runner, target, stackFile, to, io);
  io.out(archive);
  io.err(
    `clawfleet: backed up tenant ${target.id}: ${archive} on host ${describeHost(target.host)} (restore with: clawfleet restore ${stackFile} ${target.id} ${archive})`,
  );
  return 0;
}

/** Makes one archive of the tenant's gateway on its host; resolves to its path there. */
export async function createBackup(runner: HostRunner, target: TenantTarget, stackFile: string, to: string | undefined, io: Writers): Promise<string> {
  const volumeState = opsOf(target.host).volumeState;
  if (volumeState !== undefined) return createVolumeBackup(runner, target, volumeState, to, io);
  const problem = to === undefined ? undefined : backupFolderProblem(to);
  if (problem !== undefined) throw new OpsError(`clawfleet backup: --to ${JSON.stringify(to)} ${problem}`, 2);
  const tools = hostStateOf("backup", target.host, stackFile);
  const facts = await inspectGateway(runner, target);
  if (facts.status === "missing") throw new OpsError(notRunningMessage(target, facts, stackFile));
  const redactor = redactorOf(facts, target);
  const dir = to ?? manualBackupDirOf(stateRootOf(target.host), target.container);
  if (target.tier === "shared") {
    io.err(
      `clawfleet: note: ${target.id} is an agent in host ${target.host.id}'s shared gateway; the archive holds that whole gateway's state (all its tenants)`,
    );
  }
  io.err(`clawfleet: backing up ${target.container} on host ${target.host.id} into ${dir} with openclaw backup create --verify; the gateway keeps running`);
  const script = readFileSync(scriptPath(tools.scripts.backup));
  const result = await withProgress(
    io.err,
    `still backing up ${target.container}`,
    runner.run(target.host, scriptArgv([target.container, dir]), { root: true, stdin: script, timeoutSeconds: scriptTimeoutSeconds }),
  );
  const unreachable = unreachableError(target.host, result);
  if (unreachable !== undefined) throw unreachable;
  if (result.code !== 0) {
    const reason = lastLine(result.stderr).replace(/^backup-gateway: /, "");
    throw new OpsError(`backup of tenant ${target.id} failed on host ${target.host.id}: ${redactor.redact(reason)}`);
  }
  return lastLine(result.stdout);
}

/** `clawfleet backup` on a host whose gateways keep their state in volumes: onto the gateway's backup volume, from this machine. */
async function createVolumeBackup(runner: HostRunner, target: TenantTarget, volumeState: VolumeStateOps, to: string | undefined, io: Writers): Promise<string> {
  if (to !== undefined) {
    throw new OpsError(
      `clawfleet backup: --to names a folder on a Docker host; host ${target.host.id} runs on ${opsOf(target.host).name}, where the archive goes to the gateway's backup volume (${target.container}-backups, folder manual): leave --to out`,
      2,
    );
  }
  if (target.tier === "shared") {
    io.err(
      `clawfleet: note: ${target.id} is an agent in host ${target.host.id}'s shared gateway; the archive holds that whole gateway's state (all its tenants)`,
    );
  }
  const done = await runVolumeScript(runner, target, "backup", volumeState.backup(target.spec), scriptTimeoutSeconds, io);
  return lastLine(done.stdout);
}

/**
 * Runs a volume runtime's script from this machine and passes on what it says as it says it: its progress, and on a
 * failure the pod's last lines (openclaw's own words; the pods hold no credential) before the reason, which becomes
 * the error.
 */
async function runVolumeScript(
  runner: HostRunner,
  target: TenantTarget,
  verb: "backup" | "restore",
  script: string,
  timeoutSeconds: number,
  io: Writers,
): Promise<{ stdout: string; said: string }> {
  const live = liveStderr(io.err);
  const result = await withProgress(
    io.err,
    `still ${verb === "backup" ? "backing up" : "restoring"} ${target.container}`,
    runner.run(target.host, ["sh", "-c", script], { timeoutSeconds, onStderrLine: live.onStderrLine }),
  );
  const unreachable = unreachableError(target.host, result);
  if (unreachable !== undefined) throw unreachable;
  const reason = live.rest(result.stderr, result.code !== 0);
  if (result.code !== 0) throw new OpsError(`${verb} of tenant ${target.id} failed on host ${target.host.id}: ${(reason ?? "").replace(/^clawfleet: /, "")}`);
  return { stdout: result.stdout, said: result.stderr };
}

/** A restore of a shared tenant puts back its whole gateway: only with --whole-gateway. */
export function sharedRestoreRefusal(target: TenantTarget, sharedPeers: readonly string[]): OpsError {
  return new OpsError(
    `tenant ${target.id} is an agent in host ${target.host.id}'s shared gateway; a restore puts back the state of every tenant on it (${sharedPeers.join(", ")}); add --whole-gateway to do that`,
  );
}

export interface RestoreOptions {
  /** Restore a shared tenant: the archive holds, and the restore puts back, its whole gateway. */
  readonly wholeGateway: boolean;
  /** The other gateway an archive comes from, named as the refusal named it, when its state goes in on purpose. */
  readonly fromOtherGateway: string | undefined;
  /** The most bytes the archive may unpack to. */
  readonly maxBytes: number;
}

/** What `--max-size` takes: a whole number of GiB or MiB, as `20G` or `512M`. */
export function parseSize(text: string): number | undefined {
  const match = /^([1-9][0-9]{0,5})([GM])$/.exec(text);
  if (match === null) return undefined;
  return Number(match[1]) * (match[2] === "G" ? 1024 ** 3 : 1024 ** 2);
}

/**
 * Restores the tenant's gateway state from an archive on its host (the gateway stops, its
 * state is put back, the stack's openclaw.json is kept), then waits until it is healthy again.
 * The archive must hold this gateway's state, unpack within the size limit and hold no link
 * out of the state directory; a gateway that was stopped stays stopped.
 */
export async function restore(
  runner: HostRunner,
  target: TenantTarget,
  stackFile: string,
  archive: string,
  options: RestoreOptions,
  sharedPeers: readonly string[],
  io: Writers,
): Promise<number> {
  const { wholeGateway } = options;
  const volumeState = opsOf(target.host).volumeState;
  if (volumeState !== undefined) return restoreVolume(runner, target, stackFile, archive, options, sharedPeers, volumeState, io);
  const tools = hostStateOf("restore", target.host, stackFile);
  if (!archive.startsWith("/")) {
    throw new OpsError(
      `clawfleet restore: the archive ${JSON.stringify(archive)} must be an absolute path on the tenant's host, as clawfleet backup printed it`,
      2,
    );
  }
  if (target.tier === "shared" && !wholeGateway) throw sharedRestoreRefusal(target, sharedPeers);
  const facts = await inspectGateway(runner, target);
  if (facts.status === "missing") throw new OpsError(notRunningMessage(target, facts, stackFile));
  const redactor = redactorOf(facts, target);
  const check = await runner.run(target.host, ["test", "-f", archive], { root: true });
  const unreachable = unreachableError(target.host, check);
  if (unreachable !== undefined) throw unreachable;
  if (check.code !== 0) {
    throw new OpsError(`archive ${archive} is not a file on host ${target.host.id}; give its path on the tenant's host, as clawfleet backup printed it`);
  }
  io.err(
    `clawfleet: restoring ${target.container} on host ${target.host.id} from ${archive}: the gateway stops, its state goes back to the archive's time, then it starts again`,
  );
  const script = readFileSync(scriptPath(tools.scripts.restore));
  const result = await withProgress(
    io.err,
    `still restoring ${target.container}`,
    runner.run(
      target.host,
      scriptArgv([
        "--gateway",
        target.tier === "shared" ? "shared" : `tenant:${target.id}`,
        ...(options.fromOtherGateway === undefined ? [] : ["--from-other-gateway", options.fromOtherGateway]),
        "--max-bytes",
        String(options.maxBytes),
        "--",
        target.container,
        archive,
      ]),
      { root: true, stdin: script, timeoutSeconds: scriptTimeoutSeconds },
    ),
  );
  const unreachableNow = unreachableError(target.host, result);
  if (unreachableNow !== undefined) throw unreachableNow;
  if (result.code !== 0) {
    const reason = lastLine(result.stderr).replace(/^restore-gateway: /, "");
    throw new OpsError(`restore of tenant ${target.id} failed on host ${target.host.id}: ${redactor.redact(reason)}`);
  }
  const aside = /the previous state is kept at (\S+)/.exec(result.stderr)?.[1];
  if (/left stopped on the restored state/.test(result.stderr)) {
    io.out(
      `restored tenant ${target.id} from ${archive}; the gateway was stopped and stays stopped${aside === undefined ? "" : `; the previous state is kept at ${aside} on host ${target.host.id}`}`,
    );
    return 0;
  }
  return waitHealthyAfterRestore(runner, target, stackFile, archive, aside, io);
}

/** Waits until the restored gateway is healthy again, at most the health gate's time, and says so. */
async function waitHealthyAfterRestore(
  runner: HostRunner,
  target: TenantTarget,
  stackFile: string,
  archive: string,
  aside: string | undefined,
  io: Writers,
): Promise<number> {
  io.err(`clawfleet: waiting until ${target.container} is healthy again (at most ${healthGateSeconds} s)`);
  const deadline = Date.now() + healthGateSeconds * 1000;
  const health = await withProgress(
    io.err,
    `waiting for ${target.container} to be healthy`,
    (async () => {
      for (;;) {
        const now = await inspectGateway(runner, target);
        if (now.health === "healthy" || now.status === "exited" || now.status === "dead" || Date.now() > deadline) return now;
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    })(),
  );
  if (health.health !== "healthy") {
    throw new OpsError(
      `tenant ${target.id}'s gateway did not become healthy after the restore (it is ${health.status}, ${health.health ?? "no health"}); read why with: clawfleet logs ${stackFile} ${target.id}`,
    );
  }
  io.out(
    `restored tenant ${target.id} from ${archive}; the gateway is healthy${aside === undefined ? "" : `; the previous state is kept at ${aside} on host ${target.host.id}`}`,
  );
  return 0;
}

/** `clawfleet restore` on a host whose gateways keep their state in volumes: from an archive on the gateway's backup volume. */
async function restoreVolume(
  runner: HostRunner,
  target: TenantTarget,
  stackFile: string,
  archive: string,
  options: RestoreOptions,
  sharedPeers: readonly string[],
  volumeState: VolumeStateOps,
  io: Writers,
): Promise<number> {
  const found = volumeState.archiveOf(target.spec, archive);
  if ("error" in found) throw new OpsError(`clawfleet restore: the archive ${JSON.stringify(archive)} ${found.error}`, 2);
  if (target.tier === "shared" && !options.wholeGateway) throw sharedRestoreRefusal(target, sharedPeers);
  io.err(
    `clawfleet: restoring ${target.container} on host ${target.host.id} from ${archive}: the archive is checked first, then the gateway stops, its state goes back to the archive's time, and it starts again`,
  );
  const request = {
    origin: target.tier === "shared" ? "shared" : `tenant:${target.id}`,
    fromOtherGateway: options.fromOtherGateway,
    maxBytes: options.maxBytes,
  };
  const { said } = await runVolumeScript(runner, target, "restore", volumeState.restore(target.spec, found.path, request), 3 * scriptTimeoutSeconds, io);
  const aside = /the previous state is kept at (\S+)/.exec(said)?.[1];
  if (/left stopped on the restored state/.test(said)) {
    io.out(
      `restored tenant ${target.id} from ${archive}; the gateway was stopped and stays stopped; the previous state is kept at ${aside ?? "its backup volume"}`,
    );
    return 0;
  }
  return waitHealthyAfterRestore(runner, target, stackFile, archive, aside, io);
}
