/**
 * `clawfleet restore` on a Kubernetes host: a gateway's state put back from an archive on its backup volume
 * (`<gateway>-backups`, where the backup before each image change and `clawfleet backup` write), in two throwaway pods
 * of the image the gateway runs, as the gateway's user, with no capability and no service-account token.
 *
 * 1. The check, while the gateway keeps running (beside its pod: the volumes are ReadWriteOnce): the archive's unpacked
 *    size against the limit and the room on both volumes; the gateway's own `openclaw backup restore` unpacks and
 *    verifies it into a staging folder of the backup volume; no link in it may lead out of the state folder; the gateway
 *    it came from (read from the config inside it) must be this one unless named on purpose. Nothing is changed yet.
 * 2. The swap, with the gateway stopped (its StatefulSet scaled to 0): the current state is copied aside to
 *    `before-restore-<UTC time>` on the backup volume (kept, never rotated), and the checked state copied in, links
 *    copied as links, never followed. A failed copy puts the previous state back. The StatefulSet is then scaled back
 *    to what it was: a gateway that was stopped stays stopped.
 *
 * The config stays the ConfigMap's (the stack owns it); a `openclaw.json` in an archive's state folder is left out.
 */
import { backupClaimOf, previousImageSuffix, stateClaimOf } from "../../names";
import { script, shellQuote } from "../shell";
import type { GatewaySpec } from "../../components/gateway-spec";
import { kubectlPrelude, type KubectlTarget } from "./kubectl";
import { backupMountDir } from "./backup";
import { preflightLabel } from "./preflight";
import { configMountDir, containerConfinement, credentialsContainer, gatewayContainer, managedByLabel, podOf } from "./names";
import { runningImageLines, runningImagePlaceholder, runPodLines, throwawayPodSpec, throwawayResources } from "./throwaway";

/** The throwaway pods of a restore: the check, then the swap. */
export function restorePodsOf(gateway: string): { readonly check: string; readonly swap: string } {
  return { check: `${gateway}-restore-check`, swap: `${gateway}-restore` };
}

/** The staging folder on the backup volume: the archive unpacked and checked, removed once its state is in. */
const staging = ".restore";

/** Room left over on a volume beyond what a restore writes there. */
const marginBytes = 64 * 1024 * 1024;

export interface KubernetesRestoreArgs {
  readonly target: KubectlTarget;
  readonly spec: GatewaySpec;
  /** The archive's path on the gateway's backup volume, relative to its root (`manual/<archive>`). */
  readonly archive: string;
  /** The gateway the archive must come from: `tenant:<id>` or `shared`. */
  readonly origin: string;
  /** The other gateway an archive comes from, as the refusal names it, when its state goes in on purpose. */
  readonly fromOtherGateway: string | undefined;
  /** The most bytes the archive may unpack to. */
  readonly maxBytes: number;
  /** Seconds each pod has before it is given up. */
  readonly timeoutSeconds: number;
  /**
   * `clawfleet rollback`: the archive is the newest taken before an image change, and the gateway goes back to the image
   * recorded beside it; nothing is done when it runs that image already. `archive` is then unused.
   */
  readonly rollback?: boolean | undefined;
  /** Seconds the gateway has to be ready after a rollback. */
  readonly gateSeconds?: number | undefined;
}

/**
 * The check pod's script (its arguments are the gateway's CLI, `openclaw ...`): it ends well with the archive's state
 * at `<staging>/payload`, or prints `refused: <why>` as its last line and ends with 3. For a rollback (ROLLBACK set) it
 * takes the newest pre-upgrade archive that names the image before it, and prints `rollback <archive> <image>` last;
 * or `none <why>` when there is nothing to do.
 */
const checkScript = [
  "set -eu",
  `cd ${backupMountDir}`,
  // A refused archive leaves nothing unpacked on the volume.
  `refuse() { rm -rf ${staging}; printf 'refused: %s\\n' "$*"; exit 3; }`,
  `if [ -n "$ROLLBACK" ]; then`,
  // Named by the UTC time they were taken: the last in order is the newest.
  `  ARCHIVE=$(ls -1 | sed -n '/^[0-9]\\{8\\}T[0-9]\\{6\\}Z-.*\\.tar\\.gz$/p' | while read -r a; do if [ -f "$a${previousImageSuffix}" ]; then echo "$a"; fi; done | tail -n 1)`,
  `  [ -n "$ARCHIVE" ] || { echo "none it has no pre-upgrade backup that names its previous image"; exit 0; }`,
  `  previous=$(cat "$ARCHIVE${previousImageSuffix}")`,
  `  [ "$previous" != "$RUNNING_IMAGE" ] || { echo "none it runs $previous, the image before its last image change"; exit 0; }`,
  `fi`,
  `[ -f "$ARCHIVE" ] && [ ! -L "$ARCHIVE" ] || refuse "$ARCHIVE is not a file on the backup volume $CLAIM; give its path there, as clawfleet backup printed it"`,
  `rm -rf ${staging}`,
  `mkdir -m 0700 ${staging}`,
  // The unpacked size, from the archive's own listing (nothing is written for it).
  `tar -tvzf "$ARCHIVE" > ${staging}/list 2>/dev/null || refuse "$ARCHIVE is not a gzip'ed tar archive; nothing was changed"`,
  `unpacked=$(awk '{ total += $3 } END { printf "%d", total }' ${staging}/list)`,
  `[ "$unpacked" -le "$MAX_BYTES" ] || refuse "$ARCHIVE unpacks to $unpacked bytes, more than the limit of $MAX_BYTES bytes (clawfleet restore --max-size); nothing was changed"`,
  // The backup volume holds the archive unpacked and the current state kept aside; the state volume the restored state.
  `current=$(du -sb "$STATE" | cut -f1)`,
  `free=$(df -P -B1 . | awk 'NR == 2 { print $4 }')`,
  `needed=$((unpacked + current + ${marginBytes}))`,
  `[ "$needed" -le "$free" ] || refuse "the backup volume $CLAIM has $free bytes free, and the restore needs $needed there (the archive unpacked and the current state kept aside); nothing was changed: remove old archives or before-restore folders from it first"`,
  `room=$(df -P -B1 "$STATE" | awk 'NR == 2 { print $2 }')`,
  `[ $((unpacked + ${marginBytes})) -le "$room" ] || refuse "$ARCHIVE unpacks to $unpacked bytes, and the state volume $STATE_CLAIM holds $room; nothing was changed: declare a larger state volume first"`,
  // Unpacked and verified by the gateway's own tool, away from any state of its own.
  `OPENCLAW_STATE_DIR=/tmp/unused "$@" backup restore "$ARCHIVE" --target "$PWD/${staging}/out" --json > ${staging}/openclaw.out 2>&1 || {`,
  `  reason=$(sed -n 's/^ *"message": "\\(.*\\)",\\{0,1\\}$/\\1/p' ${staging}/openclaw.out | head -n 1)`,
  `  [ -n "$reason" ] || reason=$(grep -v -e '^\\[openclaw\\]' -e '^ *$' ${staging}/openclaw.out | head -n 1)`,
  `  refuse "openclaw refused the archive: \${reason:-no reason given}; nothing was changed"`,
  `}`,
  // openclaw keeps each path under its absolute path: <top>/payload/posix<state folder>, the config beside it.
  `payload=$(find "$PWD/${staging}/out" -mindepth 3 -maxdepth 8 -type d -path "*/payload/posix$STATE" | head -n 1)`,
  `[ -n "$payload" ] || refuse "the archive holds no $STATE payload; nothing was changed"`,
  // No link in the state that goes in may lead out of it, followed as the gateway would follow it. (The config beside
  // it is a link into the ConfigMap's folder, and is never put anywhere.)
  `bad=$(find "$payload" -type l -exec sh -c 'for l; do r=$(realpath -m -- "$l"); case "$r/" in "$0"/*) ;; *) printf "%s -> %s\\n" "\${l#"$0"/}" "$(readlink -- "$l")"; exit 0 ;; esac; done' "$payload" {} + | head -n 1)`,
  `[ -z "$bad" ] || refuse "the archive holds a link that leads out of the state directory ($bad); refused, nothing was changed"`,
  // The gateway it came from, read from the config it holds: from a Kubernetes host the ConfigMap's file, which openclaw
  // keeps in the ConfigMap's own timestamped folder beside the link that names it; from a Docker host the state's own.
  `posix=\${payload%"$STATE"}`,
  `mapped=$(find "$posix\${CONFIG%/*}" -mindepth 2 -maxdepth 2 -type f -name "$CONFIG_FILE" 2>/dev/null | head -n 1)`,
  `origin=$(node -e '`,
  `  const [state, ...files] = process.argv.slice(1);`,
  `  let config;`,
  `  for (const file of files) { try { config = JSON.parse(require("fs").readFileSync(file, "utf8")); break; } catch {} }`,
  `  const entries = (config && config.agents && config.agents.entries) || {};`,
  `  const ids = Object.keys(entries).sort();`,
  `  const at = (id, dir) => entries[id] && entries[id].workspace === dir;`,
  `  if (ids.length === 1 && at(ids[0], state + "/workspace")) console.log("tenant:" + ids[0]);`,
  `  else if (ids.length > 0 && ids.every((id) => at(id, state + "/workspaces/" + id))) console.log("shared");`,
  `  else console.log("unknown");`,
  `' "$STATE" "$posix$CONFIG" "\${mapped:-none}" "$payload/$CONFIG_FILE")`,
  `if [ "$origin" != "$GATEWAY" ]; then`,
  `  from=\${origin#tenant:}`,
  `  describe() { case "$1" in tenant:*) echo "tenant \${1#tenant:}'s gateway" ;; shared) echo "a shared gateway" ;; *) echo "no gateway clawfleet knows" ;; esac; }`,
  `  [ "$FROM_OTHER" = "$from" ] || refuse "$ARCHIVE holds the state of $(describe "$origin"), not of $(describe "$GATEWAY"); nothing was changed. To put that state into $NAME on purpose, add --from-other-gateway $from"`,
  `fi`,
  `mv "$payload" ${staging}/payload`,
  `rm -f ${staging}/payload/"$CONFIG_FILE"`,
  `rm -rf ${staging}/out ${staging}/list ${staging}/openclaw.out`,
  `echo "checked $ARCHIVE: $unpacked bytes, the state of $origin"`,
  `[ -z "$ROLLBACK" ] || echo "rollback $ARCHIVE $previous"`,
].join("\n");

/**
 * The swap pod's script, with the gateway stopped: the current state copied aside, the checked state copied in, the
 * staging folder removed. Its last line is `aside <folder>`, or `failed: <why>` (ending with 5) once the previous state
 * is back.
 */
const swapScript = [
  "set -eu",
  `cd ${backupMountDir}`,
  `[ -d ${staging}/payload ] || { echo "failed: the checked state is gone from the backup volume ($CLAIM, ${staging}/payload); nothing was changed"; exit 5; }`,
  `aside="before-restore-$(date -u +%Y%m%dT%H%M%SZ)"`,
  `mkdir -m 0700 "$aside"`,
  // -P -R: links are copied as links, never followed.
  `cp -PR --preserve=mode,timestamps "$STATE/." "$aside/" || { rm -rf "$aside"; echo "failed: the current state could not be copied aside; nothing was changed"; exit 5; }`,
  `clear() { find "$STATE" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +; }`,
  `if ! { clear && cp -PR --preserve=mode,timestamps ${staging}/payload/. "$STATE/"; }; then`,
  `  clear || true`,
  `  cp -PR --preserve=mode,timestamps "$aside/." "$STATE/"`,
  `  echo "failed: the restored state could not be copied in; the previous state is back"`,
  `  exit 5`,
  `fi`,
  `rm -rf ${staging}`,
  `echo "aside $aside"`,
].join("\n");

/** One of the restore's pods: the check (the state volume read-only, beside the gateway's pod) or the swap. */
export function restorePod(args: KubernetesRestoreArgs, kind: "check" | "swap", besidePod: boolean): object {
  const { spec, target } = args;
  const { process, confinement } = spec;
  const pods = restorePodsOf(spec.name);
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: pods[kind],
      namespace: target.namespace,
      // The preflight's deny-all NetworkPolicy selects it: an archive is no reason to reach anything.
      labels: { [managedByLabel]: "clawfleet", [preflightLabel]: spec.hostId },
    },
    spec: {
      ...throwawayPodSpec(process.uid, besidePod ? spec.name : undefined),
      containers: [
        {
          name: kind,
          image: runningImagePlaceholder,
          imagePullPolicy: "IfNotPresent",
          command: ["sh", "-c", kind === "check" ? checkScript : swapScript, kind, ...process.cli],
          env: [
            { name: "HOME", value: process.home },
            { name: "STATE", value: process.stateDir },
            { name: "CLAIM", value: `${target.namespace}/${backupClaimOf(spec.name)}` },
            ...(kind === "check"
              ? [
                  { name: "ARCHIVE", value: args.rollback === true ? "" : args.archive },
                  { name: "ROLLBACK", value: args.rollback === true ? "1" : "" },
                  { name: "RUNNING_IMAGE", value: runningImagePlaceholder },
                  { name: "MAX_BYTES", value: String(args.maxBytes) },
                  { name: "GATEWAY", value: args.origin },
                  { name: "FROM_OTHER", value: args.fromOtherGateway ?? "" },
                  { name: "NAME", value: spec.name },
                  { name: "STATE_CLAIM", value: `${target.namespace}/${stateClaimOf(spec.name)}` },
                  { name: "CONFIG", value: `${configMountDir}/${spec.config.file}` },
                  { name: "CONFIG_FILE", value: spec.config.file },
                ]
              : []),
          ],
          securityContext: containerConfinement(process.uid, confinement),
          resources: throwawayResources,
          volumeMounts: [
            { name: "state", mountPath: process.stateDir, readOnly: kind === "check" },
            { name: "backups", mountPath: backupMountDir },
            { name: "tmp", mountPath: "/tmp" },
            { name: "home", mountPath: process.home },
          ],
        },
      ],
      volumes: [
        { name: "state", persistentVolumeClaim: { claimName: stateClaimOf(spec.name), readOnly: kind === "check" } },
        { name: "backups", persistentVolumeClaim: { claimName: backupClaimOf(spec.name) } },
        { name: "tmp", emptyDir: { sizeLimit: "1Gi" } },
        { name: "home", emptyDir: { sizeLimit: "256Mi" } },
      ],
    },
  };
}

/**
 * The script `clawfleet restore` runs on this machine for a gateway on a Kubernetes host. Progress and the outcome go
 * to stderr (`... the previous state is kept at <namespace>/<gateway>-backups:before-restore-<time>`, and `left stopped
 * on the restored state` for a gateway that was stopped); a refusal or failure is its last line.
 *
 * For `clawfleet rollback` (`rollback`), the same steps on the newest pre-upgrade archive, the StatefulSet then set to
 * the image recorded beside it and waited for until ready. It prints the line the rollback reads (as on a Docker host):
 * `done`, the image that failed, the image put back, the archive, the state kept aside and the health, tab-separated;
 * or `none` and why nothing was done.
 */
export function renderKubernetesRestore(args: KubernetesRestoreArgs): string {
  const { spec, target, timeoutSeconds } = args;
  const gateway = spec.name;
  const pods = restorePodsOf(gateway);
  const claim = `${target.namespace}/${backupClaimOf(gateway)}`;
  const statefulSet = shellQuote(`statefulset/${gateway}`);
  const refusal = (why: string) => `fail "gateway ${gateway}: the restore ${why}; nothing was changed"`;
  // The pod's last line: its refusal or failure without the word that marks it, or what stopped its shell.
  const lastWords = `$(k logs "$pod" --tail=1 2>/dev/null | sed 's/^refused: //; s/^failed: //')`;
  const rollback = args.rollback === true;
  const gate = args.gateSeconds ?? timeoutSeconds;
  const what = rollback ? `the newest archive of ${claim} taken before an image change` : `${claim}:${args.archive}`;
  return script(
    ...kubectlPrelude(target),
    ...runningImageLines(
      gateway,
      gatewayContainer,
      `fail ${shellQuote(`gateway ${gateway} has no StatefulSet in namespace ${target.namespace}; deploy it with pulumi up first`)}`,
      refusal,
    ),
    `replicas=$(k get ${statefulSet} --output=jsonpath='{.spec.replicas}')`,
    `cleanup() { k delete pod ${shellQuote(pods.check)} ${shellQuote(pods.swap)} --ignore-not-found --wait=false >/dev/null 2>&1 || true; }`,
    `trap cleanup EXIT`,
    `k delete pod ${shellQuote(pods.check)} ${shellQuote(pods.swap)} --ignore-not-found --wait=true --timeout=60s >/dev/null`,
    // The manifests are data in single quotes: the $ in the pods' scripts is for their shell, not this one.
    "# shellcheck disable=SC2016",
    `beside=${shellQuote(JSON.stringify(restorePod(args, "check", true)))}`,
    "# shellcheck disable=SC2016",
    `alone=${shellQuote(JSON.stringify(restorePod(args, "check", false)))}`,
    `pod=${shellQuote(pods.check)}`,
    `if k get ${shellQuote(`pod/${podOf(gateway)}`)} >/dev/null 2>&1; then manifest=$beside; else manifest=$alone; fi`,
    `echo ${shellQuote(`gateway ${gateway}: checking ${what} with `)}"$current's openclaw (pod $pod, at most ${timeoutSeconds} s); the gateway keeps running" >&2`,
    ...runPodLines({
      timeoutSeconds,
      cannotCreate: refusal("could not create its pod $pod"),
      succeeded: [],
      // The pod's refusal is its last line; its lines before it are openclaw's or the shell's.
      failed: () => `fail "gateway ${gateway}: ${lastWords}"`,
      timedOut: (seen) => refusal(`check did not end within ${timeoutSeconds} s (${seen})`),
      tail: 0,
    }),
    ...(rollback
      ? [
          `said=$(k logs "$pod")`,
          `none=$(printf '%s\\n' "$said" | sed -n 's/^none //p' | tail -n 1)`,
          `if [ -n "$none" ]; then printf 'none\\t%s\\n' "$none"; exit 0; fi`,
          `line=$(printf '%s\\n' "$said" | sed -n 's/^rollback //p' | tail -n 1)`,
          `archive=\${line%% *}`,
          `previous=\${line#* }`,
          `case $previous in '' | *[!A-Za-z0-9./:@_-]*) fail "gateway ${gateway}: the image recorded beside $archive, \\"$previous\\", is not one clawfleet writes; nothing was changed" ;; esac`,
          `echo "gateway ${gateway}: going back to $previous on ${claim}:$archive, taken before it took $current" >&2`,
        ]
      : []),
    `k delete pod "$pod" --wait=true --timeout=60s >/dev/null`,
    // From here the gateway is down until its StatefulSet is scaled back: every way out scales it back, after the swap's
    // pod is gone, unless the swap may have been cut short.
    `restart() { [ "$replicas" -eq 0 ] || k scale ${statefulSet} --replicas="$replicas" >/dev/null; }`,
    `unsure=0`,
    `finish() { k delete pod ${shellQuote(pods.swap)} --ignore-not-found --wait=true --timeout=60s >/dev/null 2>&1 || true; [ "$unsure" -eq 1 ] || restart; }`,
    `if [ "$replicas" -gt 0 ]; then`,
    `  echo ${shellQuote(`gateway ${gateway}: stopping it (its StatefulSet scaled to 0)`)} >&2`,
    `  trap finish EXIT`,
    `  k scale ${statefulSet} --replicas=0 >/dev/null`,
    `  k wait --for=delete ${shellQuote(`pod/${podOf(gateway)}`)} --timeout=${timeoutSeconds}s >/dev/null 2>&1 || ! k get ${shellQuote(`pod/${podOf(gateway)}`)} >/dev/null 2>&1 \\`,
    `    || fail ${shellQuote(`gateway ${gateway}: its pod did not stop within ${timeoutSeconds} s; nothing was changed, the gateway starts again`)}`,
    `fi`,
    "# shellcheck disable=SC2016",
    `manifest=${shellQuote(JSON.stringify(restorePod(args, "swap", false)))}`,
    `pod=${shellQuote(pods.swap)}`,
    ...runPodLines({
      timeoutSeconds,
      cannotCreate: `fail "gateway ${gateway}: the restore could not create its pod $pod; nothing was changed, the gateway starts again"`,
      succeeded: [`aside=$(k logs "$pod" | sed -n 's/^aside //p' | tail -n 1)`],
      failed: () => `fail "gateway ${gateway}: ${lastWords}"`,
      timedOut: (seen) =>
        `unsure=1; fail "gateway ${gateway}: the restore's swap did not end within ${timeoutSeconds} s (${seen}); the gateway stays stopped: the state may be half copied. Its state before the restore is in the newest before-restore folder of ${claim}"`,
      tail: 0,
    }),
    `trap - EXIT`,
    `k delete pod "$pod" --ignore-not-found --wait=true --timeout=60s >/dev/null 2>&1 || true`,
    ...(rollback
      ? [
          // Both of the pod's containers run the gateway's image.
          `k set image ${statefulSet} ${gatewayContainer}="$previous" ${credentialsContainer}="$previous" >/dev/null`,
          `if [ "$replicas" -eq 0 ]; then health="stopped (its StatefulSet has 0 replicas)"; else`,
          `  restart`,
          `  if k rollout status ${statefulSet} --watch --timeout=${gate}s >/dev/null 2>&1; then health=healthy; else health="not ready after ${gate} s"; fi`,
          `fi`,
          `printf 'done\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$current" "$previous" "${claim}:$archive" "${claim}:$aside" "$health"`,
        ]
      : [
          `if [ "$replicas" -eq 0 ]; then`,
          `  echo "gateway ${gateway}: left stopped on the restored state (its StatefulSet has 0 replicas); the previous state is kept at ${claim}:$aside" >&2`,
          `  exit 0`,
          `fi`,
          `restart`,
          `echo "gateway ${gateway}: started again on the restored state; the previous state is kept at ${claim}:$aside" >&2`,
        ]),
  );
}
