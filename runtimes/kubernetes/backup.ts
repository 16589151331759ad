/**
 * The backup before an image change on a Kubernetes host: right before a gateway's StatefulSet takes a new image, a
 * throwaway pod of the image the gateway runs now runs the gateway's own `openclaw backup create --verify` on its state
 * volume and writes the archive to the gateway's backup volume (`<gateway>-backups`, kept when the gateway goes). The
 * pod goes on the node of the gateway's running pod (both volumes are ReadWriteOnce), as the gateway's user, with no
 * capability and, where the cluster enforces NetworkPolicies, no network (the preflight's deny-all policy selects it).
 * Each archive is named by the UTC time it was taken, with the image it was taken from beside it; the last `keep` are
 * kept. Nothing is backed up when the StatefulSet does not exist yet or already runs the new image.
 */
import { backupClaimOf, previousImageSuffix, stateClaimOf } from "../../names";
import { script, shellQuote } from "../shell";
import type { GatewaySpec } from "../../components/gateway-spec";
import { kubectlPrelude, type KubectlTarget } from "./kubectl";
import { preflightLabel } from "./preflight";
import { configMapOf, podOf, configMountDir, gatewayContainer, managedByLabel, containerConfinement } from "./names";
import { runningImageLines, runningImagePlaceholder, runPodLines, throwawayPodSpec, throwawayResources } from "./throwaway";

/** The throwaway pod that backs up `gateway`'s state: before an image change, or for `clawfleet backup` (`manual`). */
export function backupPodOf(gateway: string, manual = false): string {
  return manual ? `${gateway}-backup-manual` : `${gateway}-backup`;
}

/** The folder of the backup volume that `clawfleet backup` writes to, apart from the rotated archives of image changes. */
export const manualBackupFolder = "manual";

/** Where the backup pod mounts the gateway's backup volume. */
export const backupMountDir = "/clawfleet/backups";

export interface KubernetesBackupArgs {
  readonly target: KubectlTarget;
  /** The gateway: its name, state, config, process and confinement; and the image it is about to take. */
  readonly spec: GatewaySpec;
  /** Seconds the backup has before it is given up. */
  readonly timeoutSeconds: number;
  /**
   * `clawfleet backup`: whatever image the gateway runs, into the volume's `manual` folder, where nothing rotates.
   * Otherwise the backup before an image change, which does nothing unless the StatefulSet runs another image.
   */
  readonly manual?: boolean | undefined;
}

/**
 * The pod's own script: the gateway's tool writes the archive to a staging folder on the backup volume, which is then
 * renamed `<UTC time>-<openclaw's name>` (0600) with the image beside it, and older archives are pruned. Its arguments
 * are the gateway's CLI (`openclaw ...`).
 */
const podScript = [
  "set -eu",
  `cd ${backupMountDir}`,
  `[ -z "$FOLDER" ] || { mkdir -p -m 0700 "$FOLDER"; cd "$FOLDER"; }`,
  "rm -rf .staging",
  "mkdir -m 0700 .staging",
  `report=$("$@" backup create --verify --output "$PWD/.staging" --json) || { printf '%s\\n' "$report" >&2; exit 3; }`,
  `made=$(printf '%s\\n' "$report" | sed -n 's/^ *"archivePath": "\\([^"]*\\)",\\{0,1\\}$/\\1/p' | head -n 1)`,
  `[ -n "$made" ] && [ -f "$made" ] || { printf 'openclaw named no archive it made:\\n%s\\n' "$report" >&2; exit 4; }`,
  `name="$(date -u +%Y%m%dT%H%M%SZ)-$(basename "$made")"`,
  `mv "$made" "$name"`,
  `chmod 0600 "$name"`,
  `printf '%s\\n' "$RUNNING_IMAGE" > "$name${previousImageSuffix}"`,
  `chmod 0600 "$name${previousImageSuffix}"`,
  "rmdir .staging",
  // Only archives named by the time they were taken rotate.
  `[ "$KEEP" -eq 0 ] || ls -1t | sed -n '/^[0-9]\\{8\\}T[0-9]\\{6\\}Z-.*\\.tar\\.gz$/p' | tail -n +$((KEEP + 1)) | while read -r old; do rm -f -- "$old" "$old${previousImageSuffix}"; done`,
  `echo "archive \${FOLDER:+$FOLDER/}$name"`,
].join("\n");

/** The backup pod's manifest, on the node of the gateway's running pod (`besidePod`) or wherever its volumes are. */
export function backupPod(args: KubernetesBackupArgs, besidePod: boolean): object {
  const { spec, target } = args;
  const { process, confinement } = spec;
  const uid = process.uid;
  const securityContext = containerConfinement(uid, confinement);
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: backupPodOf(spec.name, args.manual),
      namespace: target.namespace,
      labels: { [managedByLabel]: "clawfleet", [preflightLabel]: spec.hostId },
    },
    spec: {
      ...throwawayPodSpec(uid, besidePod ? spec.name : undefined),
      containers: [
        {
          name: "backup",
          image: runningImagePlaceholder,
          imagePullPolicy: "IfNotPresent",
          command: ["sh", "-c", podScript, "backup", ...process.cli],
          env: [
            ...Object.entries(spec.env).map(([name, value]) => ({ name, value })),
            { name: "OPENCLAW_CONFIG_PATH", value: `${configMountDir}/${spec.config.file}` },
            { name: "RUNNING_IMAGE", value: runningImagePlaceholder },
            { name: "FOLDER", value: args.manual === true ? manualBackupFolder : "" },
            // Archives kept in the folder; 0 keeps every one.
            { name: "KEEP", value: String(args.manual === true ? 0 : spec.upgradeBackups) },
          ],
          securityContext,
          resources: throwawayResources,
          volumeMounts: [
            { name: "state", mountPath: process.stateDir },
            { name: "backups", mountPath: backupMountDir },
            { name: "config", mountPath: configMountDir, readOnly: true },
            { name: "tmp", mountPath: "/tmp" },
            { name: "home", mountPath: process.home },
          ],
        },
      ],
      volumes: [
        { name: "state", persistentVolumeClaim: { claimName: stateClaimOf(spec.name) } },
        { name: "backups", persistentVolumeClaim: { claimName: backupClaimOf(spec.name) } },
        { name: "config", configMap: { name: configMapOf(spec.name) } },
        { name: "tmp", emptyDir: { sizeLimit: "1Gi" } },
        { name: "home", emptyDir: { sizeLimit: "256Mi" } },
      ],
    },
  };
}

/**
 * The backup before an image change, run on the machine that runs Pulumi right before the gateway's StatefulSet is
 * updated: the deploy stops, with no gateway changed, when the backup fails or does not end in time.
 */
export function renderKubernetesBackup(args: KubernetesBackupArgs): string {
  const { spec, target, timeoutSeconds } = args;
  const manual = args.manual === true;
  const gateway = spec.name;
  const pod = backupPodOf(gateway, manual);
  const where = `${target.namespace}/${backupClaimOf(gateway)}`;
  const failed = (why: string) =>
    manual ? `fail "gateway ${gateway}: the backup ${why}"` : `fail "gateway ${gateway}: the backup before the image change ${why}; no gateway was changed"`;
  return script(
    ...kubectlPrelude(target),
    ...runningImageLines(
      gateway,
      gatewayContainer,
      manual
        ? `fail ${shellQuote(`gateway ${gateway} has no StatefulSet in namespace ${target.namespace}; deploy it with pulumi up first`)}`
        : // A first deploy has nothing to back up.
          "exit 0",
      failed,
    ),
    // A re-run after the StatefulSet took the image takes no second backup.
    ...(manual ? [] : [`image=${shellQuote(spec.image)}`, `[ "$current" != "$image" ] || exit 0`]),
    `pod=${shellQuote(pod)}`,
    `cleanup() { k delete pod "$pod" --ignore-not-found --wait=false >/dev/null 2>&1 || true; }`,
    `trap cleanup EXIT`,
    `k delete pod "$pod" --ignore-not-found --wait=true --timeout=60s >/dev/null`,
    // The manifests are data in single quotes: the $ in the pod's script is for the pod's shell, not this one.
    "# shellcheck disable=SC2016",
    `beside=${shellQuote(JSON.stringify(backupPod(args, true)))}`,
    "# shellcheck disable=SC2016",
    `alone=${shellQuote(JSON.stringify(backupPod(args, false)))}`,
    `if k get ${shellQuote(`pod/${podOf(gateway)}`)} >/dev/null 2>&1; then manifest=$beside; else manifest=$alone; fi`,
    manual
      ? `echo "gateway ${gateway}: backing up its state with $current's openclaw into ${where}, folder ${manualBackupFolder} (pod $pod, at most ${timeoutSeconds} s); the gateway keeps running" >&2`
      : `echo "gateway ${gateway}: backing up its state with $current's openclaw before it takes $image (pod $pod, at most ${timeoutSeconds} s)"`,
    ...runPodLines({
      timeoutSeconds,
      cannotCreate: failed("could not create its pod $pod"),
      succeeded: [
        `archive=$(k logs "$pod" | sed -n 's/^archive //p' | tail -n 1)`,
        // clawfleet backup reads where the archive is from the last line.
        manual ? `echo "${where}:$archive"` : `echo "gateway ${gateway}: state backed up to ${where}: $archive"`,
      ],
      failed: (seen) => failed(`failed (${seen}; its pod's last lines above)`),
      timedOut: (seen) => failed(`did not end within ${timeoutSeconds} s (${seen})`),
    }),
  );
}
