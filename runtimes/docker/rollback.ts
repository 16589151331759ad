/**
 * The way back from a failed image change, run on the gateway's host: the gateway's newest
 * pre-upgrade archive goes back into its state directory (the replaced state kept aside) and
 * the image it ran before that change runs on it, with the gateway's container settings. Used
 * by the health gate when a new image fails (`auto`) and by `clawfleet rollback` (`any`).
 * POSIX sh, every value single-quoted; running it again changes nothing more.
 */
import type { GatewayEnv, GatewaySpec } from "../../components/gateway-spec";
import { previousImageSuffix, stopTimeoutSeconds } from "../../names";
import { gatewayLabel, hostLabel, managedLabel, rollbackLabel, stackLabel } from "./names";
import { asRoot, fail, script, shellQuote } from "../shell";
import { hostScript, hostScriptFiles } from "./scripts";
import { healthOf, pendingFile } from "./commands";
import { bare, confinementFlags, containerSettingsOf, envFlags, healthCmdFlag, toolContainerFlags } from "./container-settings";
import { gatewayLogDriver, gatewayLogOpts, healthTimings } from "./readback";

export interface RollbackArgs {
  /** The gateway as the program deploys it: name, port, state, limits, health check, environment names. */
  readonly spec: GatewaySpec;
  /** Its pre-upgrade archives (upgradeBackupDirOf). */
  readonly backupDir: string;
}

/** The environment variables a gateway container is given (values are copied from the container, never rendered). */
export function gatewayEnvNames(spec: GatewaySpec): string[] {
  return [...Object.keys(spec.env), spec.tokenEnv, ...Object.keys(spec.secrets.env)];
}

/**
 * `docker create` of the gateway on `$previous`: the settings the program gives its container,
 * its environment and labels from the files `$work/env` and `$work/labels`, and the rollback
 * label naming the image that failed (`$from`).
 */
function createArgs(spec: GatewaySpec): string {
  const settings = containerSettingsOf(spec);
  const flags = confinementFlags(spec);
  const timings = healthTimings(spec.health);
  const q = shellQuote;
  const { port } = settings;
  return [
    `--name ${q(spec.name)} --hostname ${q(spec.name)} ${flags.user}`,
    `--env-file "$work/env" --label-file "$work/labels" --label ${rollbackLabel}="$from"`,
    `--publish ${q(`${port.ip}:${port.external}:${port.internal}/${port.protocol}`)}`,
    ...settings.mounts.map((m) => `--mount ${q(`type=bind,source=${m.source},target=${m.target}${m.readOnly ? ",readonly" : ""}`)}`),
    ...flags.tmpfs,
    ...flags.readOnly,
    ...flags.capabilities,
    ...flags.securityOpts,
    `--init`,
    `--memory ${settings.memoryMb}m --memory-swap ${settings.memoryMb}m --cpus ${settings.cpus} --pids-limit ${settings.pidsLimit}`,
    `--restart unless-stopped --network ${q(settings.network)}`,
    // The OCI runtime the gateway is declared with (isolation); none: the daemon's default.
    ...(settings.runtime === undefined ? [] : [`--runtime ${q(settings.runtime)}`]),
    `${healthCmdFlag(spec.health)} --health-interval ${timings.intervalSeconds}s --health-timeout ${timings.timeoutSeconds}s --health-start-period ${timings.startPeriodSeconds}s --health-retries ${timings.retries}`,
    `--stop-signal SIGTERM --stop-timeout ${stopTimeoutSeconds}`,
    `--log-driver ${gatewayLogDriver} ${Object.entries(gatewayLogOpts)
      .map(([key, value]) => `--log-opt ${q(`${key}=${value}`)}`)
      .join(" ")}`,
    `"$previous"`,
  ].join(" ");
}

/**
 * Puts one gateway back on the image it ran before its last image change (runtimes/docker/scripts/rollback.sh, which
 * says when and how). The command sets the gateway's values as quoted variables and defines, from its spec, the
 * Docker create of the gateway on the previous image and the previous image's restore of the archive; the script
 * does the rest. Run as `sh -c <command> rollback auto|any`.
 */
export function renderRollback({ spec, backupDir }: RollbackArgs): string {
  const { uid, cli } = spec.process;
  // The archive is unpacked into the staging folder: the restore reads no gateway state, and its home is the writable /tmp.
  const restoreEnv: Pick<GatewayEnv, "OPENCLAW_STATE_DIR" | "HOME"> = { OPENCLAW_STATE_DIR: "/tmp/unused", HOME: "/tmp" };
  const values: Record<string, string | number> = {
    name: spec.name,
    backup_dir: backupDir,
    state: spec.stateDir,
    config_file: spec.config.file,
    uid,
    pending_file: pendingFile,
    image_suffix: previousImageSuffix,
    stop_seconds: stopTimeoutSeconds,
    gate_seconds: spec.health.gateSeconds,
    env_names: ` ${gatewayEnvNames(spec).join(" ")} `,
    label_names: ` ${[managedLabel, gatewayLabel, stackLabel, hostLabel, ...Object.keys(spec.labels)].join(" ")} `,
    rollback_label: rollbackLabel,
  };
  const restore = `as_root docker run --rm ${toolContainerFlags(spec)} ${envFlags(restoreEnv, bare)} -v "$work:/staging" --entrypoint ${cli[0]} "$previous" ${cli
    .slice(1)
    .map(shellQuote)
    .join(" ")} backup restore /staging/archive.tar.gz --target /staging/out --json`;
  return script(
    asRoot,
    fail,
    healthOf,
    ...Object.entries(values).map(([key, value]) => `${key}=${shellQuote(value)}`),
    `create_gateway() { as_root docker create ${createArgs(spec)}; }`,
    `restore_archive() { ${restore}; }`,
    hostScript(hostScriptFiles.rollback),
  );
}
