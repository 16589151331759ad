/**
 * Throwaway pods on a Kubernetes host: a backup, the checks and the swap of a restore. Each runs a script of its own
 * once (`restartPolicy: Never`) from the image the gateway runs, as the gateway's user, with no service-account token,
 * and is driven from the machine that runs the CLI or Pulumi by a shell script that creates it, waits for its end and
 * reads its last lines.
 */
import { shellQuote } from "../shell";
import { besideGatewayPod } from "./names";

/** Placeholder for the image the gateway runs, read by the driving script when it runs and put into the manifest. */
export const runningImagePlaceholder = "@@CLAWFLEET_RUNNING_IMAGE@@";

/** A throwaway pod's own fields: run once, as `uid` (its volumes' group too), on the node of `beside`'s pod when given. */
export function throwawayPodSpec(uid: number, beside: string | undefined): object {
  return {
    restartPolicy: "Never",
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    terminationGracePeriodSeconds: 5,
    securityContext: { runAsUser: uid, runAsGroup: uid, fsGroup: uid, runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
    ...(beside === undefined ? {} : besideGatewayPod(beside)),
  };
}

/** Its container's resources: enough for openclaw's own CLI on a large state, little held back on the node. */
export const throwawayResources = { limits: { memory: "1536Mi", cpu: "1000m" }, requests: { memory: "256Mi", cpu: "50m" } };

/**
 * Driving-script lines that read the image the gateway's StatefulSet runs into `$current`: `missing` runs when it has
 * none; an image reference clawfleet would not write (odd characters for sed or a manifest) is refused with `refused`.
 */
export function runningImageLines(gateway: string, container: string, missing: string, refused: (why: string) => string): string[] {
  return [
    `current=$(k get ${shellQuote(`statefulset/${gateway}`)} --ignore-not-found --output=jsonpath='{.spec.template.spec.containers[?(@.name=="${container}")].image}')`,
    `[ -n "$current" ] || ${missing}`,
    // An image reference has none of sed's special characters but '.', which matches itself too.
    `case $current in *[!A-Za-z0-9./:@_-]*) ${refused(`cannot run: the StatefulSet names an image clawfleet does not write, \\"$current\\"`)} ;; esac`,
  ];
}

/**
 * Driving-script lines that create the pod named `$pod` from the manifest in `$manifest` (its image placeholder
 * replaced by `$current`), then wait for its end: `succeeded` runs when it ends well; on a failure or an image it
 * cannot run, its last lines go to stderr and `failed` runs with what was seen; after `timeoutSeconds`, `timedOut`.
 */
export function runPodLines(args: {
  readonly timeoutSeconds: number;
  readonly cannotCreate: string;
  readonly succeeded: readonly string[];
  readonly failed: (seen: string) => string;
  readonly timedOut: (seen: string) => string;
  /** How many of its last lines go to stderr on a failure (10; none with 0). */
  readonly tail?: number;
}): string[] {
  return [
    `printf '%s' "$manifest" | sed "s#${runningImagePlaceholder}#$current#g" | k apply -f - >/dev/null || ${args.cannotCreate}`,
    `deadline=$(($(date +%s) + ${args.timeoutSeconds}))`,
    `while :; do`,
    `  seen=$(k get pod "$pod" --output=jsonpath='{.status.phase} {.status.containerStatuses[0].state.waiting.reason}' 2>/dev/null | sed 's/ *$//' || true)`,
    `  case $seen in`,
    `    Succeeded*)`,
    ...args.succeeded.map((line) => `      ${line}`),
    `      break ;;`,
    `    Failed* | *ErrImagePull* | *ImagePullBackOff* | *ErrImageNeverPull* | *InvalidImageName* | *CreateContainerConfigError*)`,
    ...(args.tail === 0 ? [] : [`      k logs "$pod" --tail=${args.tail ?? 10} >&2 2>&1 || true`]),
    `      ${args.failed("$seen")} ;;`,
    `  esac`,
    `  [ "$(date +%s)" -lt "$deadline" ] || { k describe pod "$pod" 2>&1 | tail -n 5 >&2; ${args.timedOut("$seen")}; }`,
    `  sleep 2`,
    `done`,
  ];
}
