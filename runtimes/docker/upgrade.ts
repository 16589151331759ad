/**
 * Host commands that make an image change safe: a preflight of the new image on a copy of a
 * tenant's state, and a backup of each gateway's state right before its container is
 * replaced for a new image. POSIX sh, every value single-quoted, idempotent.
 */
import type { GatewayCommon, GatewayEnv, GatewaySpec } from "../../components/gateway-spec";
import { asRoot, fail, inlineScript, readInlineScript, script, shellQuote } from "../shell";
import { stopTimeoutSeconds } from "../../names";
import { rollbackLabel } from "./names";
import { exitReason, healthOf, pendingFile } from "./commands";
import { bare, confinementFlags, containerConfinementOf, envFlags, healthCheckOf, toolContainerFlags } from "./container-settings";
import { hostScript, hostScriptFiles } from "./scripts";
import { previousImageSuffix } from "./rollback";

export interface PreflightArgs {
  readonly hostId: string;
  readonly image: string;
  /**
   * The states copied, one trial after the other (the host's canary's, or every gateway's with
   * `rollout.preflight: all`); none: one trial on empty state. A directory not there yet is tried as empty state.
   */
  readonly stateDirs: readonly string[];
  /** Where the copy is made, on the same file system (under the state root). */
  readonly workDir: string;
  /** What every gateway has: the trial runs as the gateway does, and has the health check's `gateSeconds` to pass it. */
  readonly gateway: GatewayCommon;
  /** The config used when the copy holds none yet (the first deploy). */
  readonly fallbackConfig: GatewaySpec["config"];
}

/**
 * Runs the new image as a throwaway gateway, hardened like the real ones, on a copy of each
 * given tenant's state and config in turn (its owner lease removed, so the copy is free to
 * start, and its channels removed, so the trial never talks to chat services), published on no
 * port and on no network, and fails at the first copy Docker does not report healthy in time.
 * Nothing of the fleet is touched, and the script does not change with the tenants' configs, so
 * it runs only when the image does.
 */
export function renderPreflight({ hostId, image, stateDirs, workDir, gateway, fallbackConfig }: PreflightArgs): string {
  const { health, process } = gateway;
  // Confined like the gateway (its user included), and on no network (the script adds that).
  const flags = confinementFlags(gateway, bare);
  const [node, flag, probe] = healthCheckOf(health);
  return inlineScript(
    "clawfleet-preflight",
    script(asRoot, fail, healthOf, `exit_reason() { ${exitReason}; }`, hostScript(hostScriptFiles.preflight)),
    [
      hostId,
      image,
      workDir,
      health.gateSeconds,
      health.startPeriodSeconds,
      `${node} ${flag} ${shellQuote(probe)}`,
      gateway.tokenEnv,
      containerConfinementOf(gateway).user,
      process.stateDir,
      fallbackConfig.file,
      JSON.stringify(JSON.parse(fallbackConfig.text)),
      hostScript(hostScriptFiles.prepareTrialState),
      ...stateDirs,
    ],
    {
      TRIAL_FLAGS: [flags.user, ...flags.readOnly, ...flags.capabilities, ...flags.securityOpts, ...flags.tmpfs].join(" "),
      TRIAL_ENV: envFlags(gateway.env, bare),
    },
  );
}

/** How many values preflight.sh takes before the state directories. */
const preflightFixedArgs = 12;

/** The state directories a rendered preflight tries, in its order. */
export function preflightStateDirsOf(command: string): string[] {
  return readInlineScript(command).args.slice(preflightFixedArgs);
}

export interface BackupBeforeUpgradeArgs {
  readonly containerName: string;
  /** The image the container will run; nothing is backed up unless the running one differs. */
  readonly image: string;
  readonly stateDir: string;
  /** Archives go to `<backupDir>`, 0600 in a 0700 folder. */
  readonly backupDir: string;
  /** Archives kept per gateway; older ones are deleted. */
  readonly keep: number;
  /** Its user, confinement, state mount and CLI: the backup runs the gateway's own CLI as the gateway would. */
  readonly gateway: Pick<GatewayCommon, "process" | "confinement" | "env">;
}

/**
 * Backs up a gateway's state with the gateway's own `openclaw backup create --verify`, run in
 * a throwaway container of the image the gateway runs now, right before its container is
 * replaced for a new image. Does nothing when there is no container yet or it already runs
 * the new image, so a re-run takes no second backup. A stopped gateway's state is backed up
 * from a copy: it may be older than the image (restored for a rollback), and the backup tool
 * of a newer release migrates the state it reads.
 */
export function renderBackupBeforeUpgrade({ containerName, image, stateDir, backupDir, keep, gateway }: BackupBeforeUpgradeArgs): string {
  const name = shellQuote(containerName);
  const dir = shellQuote(backupDir);
  const { process, env } = gateway;
  const cli = process.cli;
  // The gateway's state and config switches; its home is the writable /tmp (no tmpfs here: the root stays writable).
  const toolEnv: Pick<GatewayEnv, "OPENCLAW_STATE_DIR" | "OPENCLAW_CONFIG_READONLY" | "HOME"> = {
    OPENCLAW_STATE_DIR: env.OPENCLAW_STATE_DIR,
    OPENCLAW_CONFIG_READONLY: env.OPENCLAW_CONFIG_READONLY,
    HOME: "/tmp",
  };
  return script(
    asRoot,
    fail,
    `as_root rm -f ${shellQuote(`${backupDir}/${pendingFile}`)}`,
    `current=$(as_root docker inspect --format '{{.Config.Image}}' ${name} 2>/dev/null) || exit 0`,
    // A container put back on the previous image by a rollback is Pulumi's no more: it goes right before the deploy creates the gateway's own.
    `rolled=$(as_root docker inspect --format '{{index .Config.Labels "${rollbackLabel}"}}' ${name})`,
    `remove_rolled_back() {`,
    `  [ -n "$rolled" ] || return 0`,
    `  printf 'clawfleet: gateway %s: removing the container that runs %s since %s failed on it; %s starts on the same state\\n' ${name} "$current" "$rolled" ${shellQuote(image)} >&2`,
    `  as_root docker stop -t ${stopTimeoutSeconds} ${name} >/dev/null 2>&1 || true`,
    `  as_root docker rm -f ${name} >/dev/null`,
    `}`,
    // The image that failed declared again: Pulumi's container is unchanged, so the rolled-back one stays (the health gate says so).
    `[ "$rolled" != ${shellQuote(image)} ] || exit 0`,
    `if [ "$current" = ${shellQuote(image)} ]; then remove_rolled_back; exit 0; fi`,
    `as_root mkdir -p ${dir}`,
    `as_root chmod 0700 ${dir}`,
    `staging=$(as_root mktemp -d ${shellQuote(`${backupDir}/.staging.XXXXXX`)})`,
    `trap 'as_root rm -rf "$staging"' EXIT`,
    `as_root mkdir "$staging/out"`,
    `as_root chown ${containerConfinementOf(gateway).user} "$staging" "$staging/out"`,
    `source=${shellQuote(stateDir)}`,
    `if [ "$(as_root docker inspect --format '{{.State.Running}}' ${name})" != true ]; then`,
    `  source="$staging/state"`,
    `  as_root cp -a ${shellQuote(`${stateDir}/.`)} "$source"`,
    `fi`,
    `report=$(as_root docker run --rm ${toolContainerFlags(gateway)} ${envFlags(toolEnv, bare)} -v "$source:${process.stateDir}" -v "$staging/out:/backup" --entrypoint ${cli[0]} "$current" ${cli.slice(1).map(shellQuote).join(" ")} backup create --verify --output /backup --json) || fail "gateway "${name}": the backup before the image change failed; no gateway was changed"`,
    `archive=$(printf '%s\\n' "$report" | sed -n 's/^ *"archivePath": "\\([^"]*\\)",\\{0,1\\}$/\\1/p' | head -n 1)`,
    `[ -n "$archive" ] || fail "gateway "${name}": the gateway reported no backup archive"`,
    `target=${dir}/"$(date -u +%Y%m%dT%H%M%SZ)-$(basename "$archive")"`,
    `as_root mv "$staging/out/$(basename "$archive")" "$target"`,
    `as_root chown 0:0 "$target"`,
    `as_root chmod 0600 "$target"`,
    // The image it ran, for the way back; and the change under way, which the health gate undoes if the new image fails.
    `printf '%s\\n' "$current" | as_root tee "$target${previousImageSuffix}" >/dev/null`,
    `as_root chmod 0600 "$target${previousImageSuffix}"`,
    `printf '%s\\t%s\\n' "$(basename "$target")" ${shellQuote(image)} | as_root tee ${shellQuote(`${backupDir}/${pendingFile}`)} >/dev/null`,
    `printf 'clawfleet: gateway %s: state backed up to %s before the image change\\n' ${name} "$target" >&2`,
    // Only its own archives (named by the time they were taken) rotate: others in the folder stay.
    `as_root ls -1t ${dir} | sed -n '/^[0-9]\\{8\\}T[0-9]\\{6\\}Z-.*\\.tar\\.gz$/p' | tail -n +${keep + 1} | while read -r old; do as_root rm -f -- ${dir}/"$old" ${dir}/"$old${previousImageSuffix}"; done`,
    `remove_rolled_back`,
  );
}
