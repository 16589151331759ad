import type { RuntimeCheck } from "../declaration/parse";
import type { Host } from "../declaration/schema";
import { runtimeChecks as checks } from "../runtimes/checks";
import { dockerOps } from "../runtimes/docker/ops";
import { kubernetesOps } from "../runtimes/kubernetes/ops";
import type { ResourceView, RuntimeOps } from "../runtimes/ops";

/** The runtime a host's gateways run on, as the CLI's verbs speak to it: the one index.ts deploys that host with. */
export function opsOf(host: Host): RuntimeOps {
  const placement = host.kubernetes;
  if (placement === undefined) return dockerOps;
  return kubernetesOps(host.id, { kubeconfig: placement.kubeconfig, context: placement.context, namespace: placement.namespace });
}

/** Notes that `clawfleet plan` prints after a resource, from the runtime that owns its type. */
export function describeResource(resource: ResourceView): string[] | undefined {
  return dockerOps.describe(resource);
}

/** What that runtime cannot do exactly as declared: the CLI checks a stack file as the program does. */
export const runtimeChecks: readonly RuntimeCheck[] = checks;
