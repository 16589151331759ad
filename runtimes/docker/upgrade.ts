/**
 * Host commands that make an image change safe: a preflight of the new image on a copy of a
 * tenant's state, and a backup of each gateway's state right before its container is
 * replaced for a new image. POSIX sh, every value single-quoted, idempotent.
 */
import type { GatewayCommon, GatewayEnv, GatewaySpec } from "../../components/gateway-spec";
import { asRoot, fail, script, shellQuote } from "../shell";
import { stopTimeoutSeconds } from "../../names";
import { rollbackLabel } from "./names";
import { exitReason, healthOf, pendingFile } from "./commands";
import { bare, confinementFlags, containerConfinementOf, envFlags, healthCmdFlag, toolContainerFlags } from "./container-settings";
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
  const timeoutSeconds = health.gateSeconds;
  const name = shellQuote(`clawfleet-preflight-${hostId}`);
  const img = shellQuote(image);
  const state = process.stateDir;
  const prepareCopy =
    `const fs=require('node:fs');const {DatabaseSync}=require('node:sqlite');` +
    `const db='${state}/state/openclaw.sqlite';if(fs.existsSync(db)){try{new DatabaseSync(db).exec('DELETE FROM state_leases')}catch(e){}}` +
    `const f='${state}/${fallbackConfig.file}';let c;try{c=JSON.parse(fs.readFileSync(f,'utf8'))}catch(e){c=${JSON.stringify(JSON.parse(fallbackConfig.text))}}` +
    `delete c.channels;fs.writeFileSync(f,JSON.stringify(c,null,2)+'\\n')`;
  // Confined like the gateway, and on no network.
  const flags = confinementFlags(gateway, bare);
  const hardening = [flags.user, ...flags.readOnly, ...flags.capabilities, ...flags.securityOpts, "--network none", ...flags.tmpfs].join(" ");
  const owner = containerConfinementOf(gateway).user;
  return script(
    asRoot,
    fail,
    healthOf,
    `as_root mkdir -p ${shellQuote(workDir)}`,
    `copy=`,
    `tarStatus=$(mktemp)`,
    `cleanup() { as_root docker rm -f ${name} >/dev/null 2>&1 || true; [ -z "$copy" ] || as_root rm -rf "$copy"; rm -f "$tarStatus"; }`,
    `trap cleanup EXIT`,
    // One trial on a copy of the state in $1 (empty: no state yet).
    `trial() {`,
    `  as_root docker rm -f ${name} >/dev/null 2>&1 || true`,
    `  [ -z "$copy" ] || as_root rm -rf "$copy"`,
    `  copy=$(as_root mktemp -d ${shellQuote(`${workDir}/preflight.XXXXXX`)})`,
    `  echo 0 >"$tarStatus"`,
    // The gateway writes while it is copied: files may vanish or change (tar exits 1), and its cache is left out.
    `  if [ -n "$1" ] && as_root test -d "$1"; then`,
    `    { as_root tar -C "$1" --anchored --exclude=./cache --ignore-failed-read --warning=no-file-changed --warning=no-file-removed -cf - . || echo "$?" >"$tarStatus"; } | as_root tar -C "$copy" -xpf -`,
    `    [ "$(cat "$tarStatus")" -le 1 ] || fail "host "${shellQuote(hostId)}": copying the state of $1 for the image preflight failed; no gateway was changed"`,
    `  fi`,
    `  as_root rm -f "$copy/.clawfleet-moved"`,
    `  as_root chown -R ${owner} "$copy"`,
    `  as_root chmod 0700 "$copy"`,
    `  as_root docker run --rm ${flags.user} --network none -v "$copy:${state}" --entrypoint node ${img} -e ${shellQuote(prepareCopy)} >/dev/null`,
    `  as_root docker run -d --name ${name} --hostname ${name} --restart on-failure:1 ${hardening} -v "$copy:${state}" ${envFlags(gateway.env, bare)} -e ${gateway.tokenEnv}="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \\n')" ${healthCmdFlag(health)} --health-interval 2s --health-retries 3 --health-start-period ${health.startPeriodSeconds}s ${img} >/dev/null`,
    `  deadline=$(($(date +%s) + ${timeoutSeconds}))`,
    `  while :; do`,
    // One restart after a crash, as the health gate allows: a busy host can delay the first start.
    `    health_of ${name}`,
    `    case $status in`,
    `      healthy) return 0 ;;`,
    `      unhealthy | exited | dead | gone)`,
    `        as_root docker logs --tail 5 ${name} >&2 2>&1 || true`,
    `        what="it is $status"`,
    `        [ "$status" != exited ] || { ${exitReason}; what="it $exited"; }`,
    `        fail "host "${shellQuote(hostId)}": the new image "${img}" did not start on a copy of a tenant's state ($what); no gateway was changed. Fix the image or go back to the previous one" ;;`,
    `    esac`,
    `    [ "$(date +%s)" -lt "$deadline" ] || fail "host "${shellQuote(hostId)}": the new image "${img}" was not healthy after ${timeoutSeconds} s on a copy of a tenant's state; no gateway was changed"`,
    `    sleep 2`,
    `  done`,
    `}`,
    ...(stateDirs.length === 0 ? [`trial ''`] : stateDirs.map((dir) => `trial ${shellQuote(dir)}`)),
  );
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
