/**
 * The way back from a failed image change, run on the gateway's host: the gateway's newest
 * pre-upgrade archive goes back into its state directory (the replaced state kept aside) and
 * the image it ran before that change runs on it, with the gateway's container settings. Used
 * by the health gate when a new image fails (`auto`) and by `clawfleet rollback` (`any`).
 * POSIX sh, every value single-quoted; running it again changes nothing more.
 */
import type { GatewayEnv, GatewaySpec } from "../../components/gateway-spec";
import { stopTimeoutSeconds } from "../../names";
import { gatewayLabel, hostLabel, managedLabel, rollbackLabel, stackLabel } from "./names";
import { asRoot, fail, script, shellQuote } from "../shell";
import { healthOf, pendingFile } from "./commands";
import { bare, confinementFlags, containerSettingsOf, envFlags, healthCmdFlag, toolContainerFlags } from "./container-settings";
import { gatewayLogDriver, gatewayLogOpts, healthTimings } from "./readback";

/** Beside each pre-upgrade archive: the image the gateway ran when it was taken. */
export const previousImageSuffix = ".image";

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
 * Puts one gateway back on the image it ran before its last image change. `$1` says when:
 * - `auto` (the health gate): only while the image change that the pre-upgrade backup recorded
 *   in `.pending` is the one the container runs;
 * - `any` (`clawfleet rollback`): whenever the container runs another image than the one
 *   recorded beside its newest pre-upgrade archive.
 * Then: the archive is unpacked and verified beside the state directory with the previous image's
 * own `openclaw backup restore`; the gateway's container is stopped and removed (its environment
 * and labels kept for the new one); the state is swapped (the replaced one kept at
 * `<state>.before-rollback-<time>`, the stack's openclaw.json kept); a container of the previous
 * image named like the gateway, labelled `clawfleet.rollback=<failed image>`, starts on it; and
 * the script waits until it is healthy. Prints one tab-separated line: `done`, the failed image,
 * the previous image, the archive, the kept state and the new container's health; or `none` and
 * why nothing was done.
 */
export function renderRollback({ spec, backupDir }: RollbackArgs): string {
  const name = shellQuote(spec.name);
  const dir = shellQuote(backupDir);
  const state = shellQuote(spec.stateDir);
  const { uid, cli } = spec.process;
  const envNames = ` ${gatewayEnvNames(spec).join(" ")} `;
  const labelNames = ` ${[managedLabel, gatewayLabel, stackLabel, hostLabel, ...Object.keys(spec.labels)].join(" ")} `;
  const timeout = spec.health.gateSeconds;
  // The archive is unpacked into the staging folder: the restore reads no gateway state, and its home is the writable /tmp.
  const restoreEnv: Pick<GatewayEnv, "OPENCLAW_STATE_DIR" | "HOME"> = { OPENCLAW_STATE_DIR: "/tmp/unused", HOME: "/tmp" };
  return script(
    asRoot,
    fail,
    healthOf,
    `none() { printf 'none\\t%s\\n' "$*"; exit 0; }`,
    `mode=\${1:-any}`,
    `tab=$(printf '\\t')`,
    `current=$(as_root docker inspect --format '{{.Config.Image}}' ${name} 2>/dev/null) || none "it has no container"`,
    `rolled=$(as_root docker inspect --format '{{index .Config.Labels "${rollbackLabel}"}}' ${name})`,
    `if [ "$mode" = auto ]; then`,
    `  pending=$(as_root cat ${shellQuote(`${backupDir}/${pendingFile}`)} 2>/dev/null) || none "no image change is under way"`,
    `  archive=\${pending%%"$tab"*}`,
    `  [ "\${pending#*"$tab"}" = "$current" ] || none "its image change to \${pending#*"$tab"} is not the one it runs"`,
    `else`,
    `  archive=$(as_root ls -1 ${dir} 2>/dev/null | sed -n '/^[0-9]\\{8\\}T[0-9]\\{6\\}Z-.*\\.tar\\.gz$/p' | while read -r a; do if as_root test -f ${dir}/"$a${previousImageSuffix}"; then echo "$a"; fi; done | tail -n 1)`,
    `  [ -n "$archive" ] || none "it has no pre-upgrade backup that names its previous image"`,
    `fi`,
    `archive=${dir}/"$archive"`,
    `previous=$(as_root cat "$archive${previousImageSuffix}" 2>/dev/null) || none "$archive names no previous image"`,
    `if [ "$current" = "$previous" ]; then`,
    `  [ -z "$rolled" ] || none "it runs $previous since its change to $rolled failed"`,
    `  none "it runs $previous, the image before its last change"`,
    `fi`,
    `from=$current`,
    `as_root docker image inspect "$previous" >/dev/null 2>&1 || fail "gateway "${name}": the previous image $previous is no longer on the host; nothing was changed"`,
    `printf 'clawfleet: gateway %s: putting %s back on %s from %s\\n' ${name} "$from" "$previous" "$archive" >&2`,
    `work=$(as_root mktemp -d "$(dirname ${state})/.rollback.XXXXXX")`,
    `trap 'as_root rm -rf "$work"' EXIT`,
    `as_root cp "$archive" "$work/archive.tar.gz"`,
    `as_root chown -R ${uid}:${uid} "$work"`,
    `as_root docker run --rm ${toolContainerFlags(spec)} ${envFlags(restoreEnv, bare)} -v "$work:/staging" --entrypoint ${cli[0]} "$previous" ${cli
      .slice(1)
      .map(shellQuote)
      .join(
        " ",
      )} backup restore /staging/archive.tar.gz --target /staging/out --json >/dev/null 2>&1 || fail "gateway "${name}": $previous cannot unpack $archive; nothing was changed"`,
    `payload=$(as_root find "$work/out" -mindepth 4 -maxdepth 4 -type d -path '*/payload/posix/state' | head -n 1)`,
    `[ -n "$payload" ] || fail "gateway "${name}": $archive holds no state; nothing was changed"`,
    // The new container gets the environment (the token and secrets) and labels of the one it replaces.
    `as_root docker inspect --format '{{range .Config.Env}}{{println .}}{{end}}' ${name} | awk -F= -v names=${shellQuote(envNames)} 'index(names, " " $1 " ")' | as_root tee "$work/env" >/dev/null`,
    // A Go template, not the shell's variables.
    `# shellcheck disable=SC2016`,
    `as_root docker inspect --format '{{range $k, $v := .Config.Labels}}{{$k}}={{$v}}{{println}}{{end}}' ${name} | awk -F= -v names=${shellQuote(labelNames)} 'index(names, " " $1 " ")' | as_root tee "$work/labels" >/dev/null`,
    `as_root docker stop -t ${stopTimeoutSeconds} ${name} >/dev/null 2>&1 || true`,
    `as_root docker rm -f ${name} >/dev/null`,
    `aside=${state}.before-rollback-"$(date -u +%Y%m%dT%H%M%SZ)"`,
    `as_root mv ${state} "$aside"`,
    `as_root mv "$payload" ${state}`,
    `as_root rm -f ${shellQuote(`${spec.stateDir}/${spec.config.file}`)}`,
    `if as_root test -f "$aside"/${shellQuote(spec.config.file)}; then as_root cp -P -p "$aside"/${shellQuote(spec.config.file)} ${shellQuote(`${spec.stateDir}/${spec.config.file}`)}; fi`,
    `as_root chown -R -h ${uid}:${uid} ${state}`,
    `as_root chmod 0700 ${state}`,
    `as_root docker create ${createArgs(spec)} >/dev/null || fail "gateway "${name}": Docker did not create the container of $previous; the restored state is in place and the replaced one at $aside"`,
    `as_root docker start ${name} >/dev/null || fail "gateway "${name}": the container of $previous did not start; the restored state is in place and the replaced one at $aside"`,
    `as_root rm -f ${shellQuote(`${backupDir}/${pendingFile}`)}`,
    `deadline=$(($(date +%s) + ${timeout}))`,
    `while :; do`,
    `  health_of ${name}`,
    `  case $status in healthy | unhealthy | exited | dead | gone) break ;; esac`,
    `  [ "$(date +%s)" -lt "$deadline" ] || break`,
    `  sleep 2`,
    `done`,
    `printf 'done\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$from" "$previous" "$archive" "$aside" "$status"`,
  );
}
