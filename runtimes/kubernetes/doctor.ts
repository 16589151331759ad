/**
 * `clawfleet doctor` on a Kubernetes host: one `kubectl get` of every declared gateway's StatefulSet, pod and volumes,
 * compared with the declaration. A change made by hand (`kubectl edit`, `kubectl set image`, a pod patched) shows as
 * the field that differs, with the way back; a gateway that is not ready, a volume not bound, are named with where to
 * look. What Kubernetes cannot give one pod (a process limit) is said, as a fact, not a problem.
 */
import { backupClaimOf, stateClaimOf } from "../../names";
import { shellQuote } from "../shell";
import type { Check, DeclaredGateway } from "../ops";
import { kubectlFlags, type KubectlTarget } from "./kubectl";
import { containerConfinement, gatewayContainer, podOf, type ContainerConfinement } from "./names";

interface Container {
  readonly name?: string;
  readonly image?: string;
  readonly securityContext?: Partial<Record<keyof ContainerConfinement, unknown>>;
}

interface PodSpec {
  readonly automountServiceAccountToken?: boolean;
  readonly hostNetwork?: boolean;
  readonly hostPID?: boolean;
  readonly hostIPC?: boolean;
  readonly containers?: readonly Container[];
}

interface KubeObject {
  readonly kind?: string;
  readonly metadata?: { readonly name?: string };
  readonly spec?: PodSpec & { readonly template?: { readonly spec?: PodSpec } };
  readonly status?: {
    readonly phase?: string;
    readonly containerStatuses?: readonly { readonly name?: string; readonly ready?: boolean; readonly restartCount?: number }[];
  };
}

/** The probe: every declared gateway's StatefulSet, pod, state volume and backup volume, as one JSON List. */
export function kubernetesDoctorProbe(target: KubectlTarget, gateways: readonly DeclaredGateway[]): string {
  const names = gateways.flatMap(({ name }) => [
    `statefulset/${name}`,
    `pod/${podOf(name)}`,
    `persistentvolumeclaim/${stateClaimOf(name)}`,
    `persistentvolumeclaim/${backupClaimOf(name)}`,
  ]);
  return ["kubectl", ...kubectlFlags(target), "get", ...names, "--ignore-not-found", "--output=json"].map(shellQuote).join(" ");
}

/** How a live container's securityContext differs from the declared one: `readOnlyRootFilesystem false, not true`. */
function confinementDrift(live: Container["securityContext"], declared: ContainerConfinement): string[] {
  const drift: string[] = [];
  for (const [key, want] of Object.entries(declared) as [keyof ContainerConfinement, unknown][]) {
    const have = live?.[key];
    if (JSON.stringify(have) !== JSON.stringify(want)) drift.push(`${key} ${have === undefined ? "unset" : JSON.stringify(have)}, not ${JSON.stringify(want)}`);
  }
  return drift;
}

/** What differs on one pod spec (the StatefulSet's template, or the running pod) from what the program deploys. */
function specDrift(spec: PodSpec | undefined, gateway: DeclaredGateway): string[] {
  const image = gateway.spec.image;
  const container = spec?.containers?.find((c) => c.name === gatewayContainer);
  if (container === undefined) return [`no ${gatewayContainer} container`];
  const drift: string[] = [];
  if (container.image !== image) drift.push(`image ${container.image ?? "unset"}, not ${image}`);
  drift.push(...confinementDrift(container.securityContext, containerConfinement(gateway.spec.process.uid, gateway.spec.confinement)));
  if (spec?.automountServiceAccountToken !== false) drift.push("a service-account token mounted");
  for (const shared of ["hostNetwork", "hostPID", "hostIPC"] as const) if (spec?.[shared] === true) drift.push(`${shared} on`);
  return drift;
}

/** The doctor's checks of a Kubernetes host from its probe's output. */
export function kubernetesDoctorChecks(
  target: KubectlTarget,
  output: { readonly code: number; readonly stdout: string; readonly stderr: string },
  gateways: readonly DeclaredGateway[],
): Check[] {
  const kubectl = `kubectl ${kubectlFlags(target).join(" ")}`;
  if (output.code !== 0) {
    return [
      {
        ok: false,
        what: `kubectl get failed: ${output.stderr.trim().split("\n").pop() ?? ""}`,
        fix: `check the host's kubeconfig, context and namespace: ${kubectl} get pods`,
      },
    ];
  }
  let objects: KubeObject[];
  try {
    const value = JSON.parse(output.stdout.trim() === "" ? "{}" : output.stdout) as { kind?: string; items?: KubeObject[] };
    objects = value.kind === "List" ? (value.items ?? []) : value.kind === undefined ? [] : [value as KubeObject];
  } catch {
    return [{ ok: false, what: `kubectl get answered something clawfleet cannot read: ${JSON.stringify(output.stdout.slice(0, 80))}` }];
  }
  const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata?.name === name);
  const checks: Check[] = [];
  let sound = 0;
  for (const gateway of gateways) {
    const { name, owner } = gateway;
    const statefulSet = find("StatefulSet", name);
    if (statefulSet === undefined) {
      checks.push({ ok: false, what: `${owner}: no StatefulSet ${name} in namespace ${target.namespace}`, fix: "run pulumi up, which creates it" });
      continue;
    }
    const problems: Check[] = [];
    const template = specDrift(statefulSet.spec?.template?.spec, gateway);
    if (template.length > 0) {
      problems.push({
        ok: false,
        what: `${owner}: StatefulSet ${name} was changed outside the stack: ${template.join("; ")}`,
        fix: `run pulumi up --refresh, which puts the declared template back (${kubectl} get statefulset/${name} --output=yaml shows it now)`,
      });
    }
    const pod = find("Pod", podOf(name));
    if (pod === undefined) {
      problems.push({ ok: false, what: `${owner}: no pod ${podOf(name)} runs`, fix: `see why with: ${kubectl} describe statefulset/${name}` });
    } else {
      // The pod itself, changed while its template was not (kubectl set image on the pod, or a pod made by hand).
      const running = template.length > 0 ? [] : specDrift(pod.spec, gateway);
      if (running.length > 0) {
        problems.push({
          ok: false,
          what: `${owner}: pod ${podOf(name)} does not run as its StatefulSet declares: ${running.join("; ")}`,
          fix: `${kubectl} delete pod/${podOf(name)} (its StatefulSet makes it again as declared)`,
        });
      }
      const status = pod.status?.containerStatuses?.find((c) => c.name === gatewayContainer);
      if (status?.ready !== true) {
        problems.push({
          ok: false,
          what: `${owner}: pod ${podOf(name)} is not ready (${(pod.status?.phase ?? "unknown").toLowerCase()}, ${status?.restartCount ?? 0} restarts)`,
          fix: `see why with: ${kubectl} describe pod/${podOf(name)}, and clawfleet logs`,
        });
      }
    }
    for (const claim of [stateClaimOf(name), backupClaimOf(name)]) {
      const volume = find("PersistentVolumeClaim", claim);
      const phase = volume?.status?.phase;
      if (phase !== "Bound") {
        problems.push({
          ok: false,
          what: `${owner}: volume ${claim} is ${phase === undefined ? "missing" : phase.toLowerCase()}, not bound`,
          fix:
            phase === undefined
              ? "run pulumi up, which creates it (its archives or state are gone if it was deleted)"
              : `see why with: ${kubectl} describe persistentvolumeclaim/${claim}`,
        });
      }
    }
    checks.push(...problems);
    if (problems.length === 0) sound += 1;
  }
  if (sound > 0)
    checks.push({
      ok: true,
      what: `${sound} gateway${sound === 1 ? "" : "s"} ready as declared: the image, uid ${[...new Set(gateways.map((g) => g.spec.process.uid))].join(", ")}, read-only root, no capability, no service-account token, state and backup volumes bound`,
    });
  const limited = gateways.filter((g) => g.spec.limits.pidsLimit > 0);
  if (limited.length > 0) {
    checks.push({
      ok: true,
      what: `process limit: not applied per pod (pidsLimit ${[...new Set(limited.map((g) => g.spec.limits.pidsLimit))].sort((a, b) => a - b).join(", ")} declared): Kubernetes limits processes per pod only with the kubelet's podPidsLimit, one value for every pod of a node`,
    });
  }
  return checks;
}
