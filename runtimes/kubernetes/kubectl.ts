/**
 * The few things the Kubernetes runtime does through `kubectl` where Pulumi sees them: a shared tenant's workspace
 * inside the running shared gateway, and a purge (an object the program deletes would be kept: state volumes are
 * retained on delete). Each script runs on the machine that runs Pulumi, with its kubeconfig.
 */
import { fail, script, shellQuote } from "../shell";
import { gatewayContainer } from "./names";

/** How kubectl reaches the host's namespace. */
export interface KubectlTarget {
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
  readonly namespace: string;
}

/** kubectl's flags that reach the target's namespace, one word each. */
export function kubectlFlags(target: KubectlTarget): string[] {
  return [
    ...(target.kubeconfig === undefined ? [] : [`--kubeconfig=${target.kubeconfig}`]),
    ...(target.context === undefined ? [] : [`--context=${target.context}`]),
    `--namespace=${target.namespace}`,
  ];
}

/** A shell function `k` that runs kubectl against the target, after checking that kubectl is there. */
export function kubectlPrelude(target: KubectlTarget): string[] {
  return [
    fail,
    `command -v kubectl >/dev/null 2>&1 || fail "kubectl is not on PATH of the machine that runs Pulumi; install kubectl (the cluster's minor version or one next to it)"`,
    // Each flag's value quoted on its own: `--namespace='ns'`.
    `k() { kubectl ${kubectlFlags(target)
      .map((flag) => flag.replace(/=(.*)$/s, (_, value: string) => `=${shellQuote(value)}`))
      .join(" ")} "$@"; }`,
  ];
}

export interface WorkspaceArgs {
  readonly target: KubectlTarget;
  /** The shared gateway's StatefulSet. */
  readonly gateway: string;
  /** The workspace folder inside the gateway (its state volume). */
  readonly dir: string;
  /** Seconds the shared gateway has to become ready first. */
  readonly timeoutSeconds: number;
}

/** Creates a shared tenant's workspace inside the running shared gateway, as the gateway's own user (mode 0700). */
export function renderEnsureWorkspace({ target, gateway, dir, timeoutSeconds }: WorkspaceArgs): string {
  return script(
    ...kubectlPrelude(target),
    `k rollout status ${shellQuote(`statefulset/${gateway}`)} --timeout=${timeoutSeconds}s >/dev/null || fail ${shellQuote(`the shared gateway ${gateway} did not become ready in ${timeoutSeconds}s; see kubectl -n ${target.namespace} describe pod ${gateway}-0`)}`,
    `k exec ${shellQuote(`${gateway}-0`)} -c ${gatewayContainer} -- mkdir -p ${shellQuote(dir)}`,
    `k exec ${shellQuote(`${gateway}-0`)} -c ${gatewayContainer} -- chmod 0700 ${shellQuote(dir)}`,
  );
}

export interface RolloutGateArgs {
  readonly target: KubectlTarget;
  /** The gateway's StatefulSet. */
  readonly gateway: string;
  /** Seconds its pod has to run the current template and be ready. */
  readonly timeoutSeconds: number;
}

/**
 * Waits until the gateway's StatefulSet has rolled its pod to its current template and the pod is ready: kubectl's
 * rollout status reads the controller's observed generation and revisions, so a change just applied is never taken for
 * the state before it. The next gateway of the lane waits for this.
 */
export function renderRolloutGate({ target, gateway, timeoutSeconds }: RolloutGateArgs): string {
  return script(
    ...kubectlPrelude(target),
    `k rollout status ${shellQuote(`statefulset/${gateway}`)} --watch --timeout=${timeoutSeconds}s >/dev/null || fail ${shellQuote(`gateway ${gateway} did not run its new template ready within ${timeoutSeconds}s; see kubectl --namespace=${target.namespace} describe pod ${gateway}-0, and its logs`)}`,
    `echo ${shellQuote(`gateway ${gateway} is ready`)}`,
  );
}

export interface PurgeArgs {
  readonly target: KubectlTarget;
  /** A dedicated tenant's gateway: its StatefulSet goes first, then its state volume. */
  readonly dedicated?: { readonly gateway: string; readonly claim: string } | undefined;
  /** A shared tenant's workspace inside the shared gateway. */
  readonly shared?: { readonly gateway: string; readonly dir: string } | undefined;
}

/** Deletes a tenant's state for good: a dedicated tenant's gateway and volume, or a shared tenant's workspace. */
export function renderPurge({ target, dedicated, shared }: PurgeArgs): string {
  const lines = kubectlPrelude(target);
  if (dedicated !== undefined) {
    lines.push(
      // Foreground: the pod is gone before the volume is deleted, so the volume is not held while it is.
      `k delete ${shellQuote(`statefulset/${dedicated.gateway}`)} --ignore-not-found --cascade=foreground --wait=true --timeout=180s`,
      `k delete ${shellQuote(`pod/${dedicated.gateway}-0`)} --ignore-not-found --wait=true --timeout=180s`,
      `k delete ${shellQuote(`persistentvolumeclaim/${dedicated.claim}`)} --ignore-not-found --wait=true --timeout=180s`,
    );
  }
  if (shared !== undefined) {
    lines.push(
      `k get ${shellQuote(`pod/${shared.gateway}-0`)} >/dev/null || fail ${shellQuote(`the shared gateway ${shared.gateway} is not running, and its workspace folder ${shared.dir} is reached only through it; deploy the host's shared gateway, then purge again`)}`,
      `k exec ${shellQuote(`${shared.gateway}-0`)} -c ${gatewayContainer} -- rm -rf -- ${shellQuote(shared.dir)}`,
    );
  }
  return script(...lines);
}
