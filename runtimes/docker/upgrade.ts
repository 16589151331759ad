/**
 * Host commands that make an image change safe: a preflight of the new image on a copy of a
 * tenant's state, and a backup of each gateway's state right before its container is
 * replaced for a new image. POSIX sh, every value single-quoted, idempotent.
 */
import type { GatewayCommon, GatewaySpec } from "../../components/gateway-spec";
import { asRoot, fail, inlineScript, quotedText, readInlineScript, script, shellQuote, trialStateScript } from "../shell";
import { stopTimeoutSeconds } from "../../names";
import { rollbackLabel } from "./names";
import { exitReason, healthOf, pendingFile } from "./commands";
import { bare, confinementFlags, containerConfinementOf, envFlags, healthCheckOf } from "./container-settings";
import { hostScript, hostScriptFiles, operatorScript, operatorScriptFiles } from "./scripts";
import { previousImageSuffix } from "../../names";

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
      trialStateScript(),
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
  /** Archives go to `<backupDir>`, 0600 in a 0700 folder. */
  readonly backupDir: string;
  /** Archives kept per gateway; older ones are deleted. */
  readonly keep: number;
}

/** The here-document delimiter of the backup script inside the command. */
const backupScriptDelimiter = "CLAWFLEET_BACKUP";

/**
 * Backs up a gateway's state right before its container is replaced for a new image, with the operator's own backup
 * script (scripts/backup-gateway.sh: the gateway's `openclaw backup create --verify` in a throwaway container of the
 * image it runs now, on a copy of the state when it is stopped), then names the archive by the time it was taken,
 * records the image it ran beside it for the way back, and keeps the last `keep`. Does nothing when there is no
 * container yet or it already runs the new image, so a re-run takes no second backup.
 */
export function renderBackupBeforeUpgrade({ containerName, image, backupDir, keep }: BackupBeforeUpgradeArgs): string {
  const name = shellQuote(containerName);
  const dir = shellQuote(backupDir);
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
    // The script makes the folder (root's, 0700) and refuses one that is a link or someone else's.
    `backup_script=${quotedText(operatorScriptFiles.backup, operatorScript(operatorScriptFiles.backup), backupScriptDelimiter)}`,
    `made=$(as_root bash -c "$backup_script" backup-gateway ${name} ${dir}) || fail "gateway "${name}": the backup before the image change failed (above); no gateway was changed"`,
    // backup-gateway.sh names it <container>-<openclaw's name>; here it is <UTC time>-<openclaw's name>.
    `archive=$(basename "$made")`,
    `target=${dir}/"$(date -u +%Y%m%dT%H%M%SZ)-\${archive#${name}-}"`,
    `as_root mv -T "$made" "$target"`,
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
