import type { Problem } from "../../declaration/errors";
import type { RuntimeCheck } from "../../declaration/parse";
import { dedicatedContainerName, sharedContainerName } from "../../names";
import { maxGatewayNameLength } from "./names";

/** A name the API server takes for a StatefulSet, its Service (which must start with a letter) and its pod's hostname. */
const objectName = /^[a-z]([a-z0-9-]*[a-z0-9])?$/;

/** What Kubernetes takes as a label value. */
const labelValue = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;

function nameProblem(name: string): string | undefined {
  if (name.length > maxGatewayNameLength)
    return `is too long for Kubernetes: its gateway would be named ${name} (${name.length} characters, at most ${maxGatewayNameLength})`;
  if (!objectName.test(name))
    return `cannot name a Kubernetes object: its gateway would be named ${name}, and Kubernetes names take only a-z, 0-9 and -, ending with a letter or digit`;
  return undefined;
}

/** What only a Docker host has, refused on a Kubernetes host with what to use instead. */
const dockerOnlyFields: RuntimeCheck = (_tenants, hosts) =>
  [...hosts.values()].flatMap((host): Problem[] => {
    if (host.kubernetes === undefined) return [];
    const fields: [string, boolean, string][] = [
      ["ssh", host.ssh !== undefined, "the cluster is reached through kubernetes.kubeconfig and kubernetes.context"],
      ["stateRoot", host.stateRoot !== undefined, "each gateway keeps its state in a volume of its own (kubernetes.storageClass, kubernetes.storageGb)"],
      ["isolation", host.isolation !== undefined, "pick the pods' runtime with a RuntimeClass of the cluster instead; clawfleet does not set one yet"],
      [
        "tailscale.dnsName",
        host.tailscale.dnsName !== undefined,
        "each gateway gets a MagicDNS name of its own, <gateway>.<tailnet>: set tailscale.tailnet instead",
      ],
    ];
    const refused = fields
      .filter(([, declared]) => declared)
      .map(([field, , why]) => ({
        path: `hosts.${host.id}.${field}`,
        message: `is for Docker hosts and this host declares kubernetes: remove ${field}; ${why}`,
      }));
    const tailnet =
      host.tailscale.serve && host.tailscale.tailnet === undefined
        ? [
            {
              path: `hosts.${host.id}.tailscale.tailnet`,
              message:
                "is required when a Kubernetes host serves on the tailnet: the Tailscale operator makes each gateway's Ingress a device, <gateway>.<tailnet>; set the tailnet's MagicDNS domain, such as example.ts.net",
            },
          ]
        : [];
    return [...refused, ...tailnet];
  });

/**
 * Gateways on a Kubernetes host are objects named after the tenant (or the host, for the shared gateway): an id
 * Kubernetes refuses as such a name (an underscore, a trailing -, too long) is refused here, before any object is made.
 */
const objectNames: RuntimeCheck = (tenants, hosts) => {
  const problems: Problem[] = [];
  for (const host of hosts.values()) {
    if (host.kubernetes === undefined) continue;
    // The host id is a label value on every pod (clawfleet.dev/host), and Kubernetes refuses some ids as one.
    if (!labelValue.test(host.id)) {
      problems.push({
        path: `hosts.${host.id}`,
        message: `cannot be a Kubernetes label value, which each of its pods carries: at most 63 characters, starting and ending with a letter or digit; rename the host`,
      });
    }
    if (host.shared === undefined) continue;
    const problem = nameProblem(sharedContainerName(host.id));
    if (problem !== undefined)
      problems.push({ path: `hosts.${host.id}`, message: `${problem}; rename the host, or move its shared gateway to a host with a shorter name` });
  }
  for (const tenant of tenants) {
    if (tenant.tier !== "dedicated" || hosts.get(tenant.host)?.kubernetes === undefined) continue;
    const problem = nameProblem(dedicatedContainerName(tenant.id));
    if (problem !== undefined)
      problems.push({
        path: `tenants.${tenant.id}`,
        message: `${problem}; give the tenant an id such as ${
          tenant.id
            .replaceAll("_", "-")
            .replace(/-+$/, "")
            .slice(0, maxGatewayNameLength - dedicatedContainerName("").length) || "alice"
        } (renamedFrom keeps its state)`,
      });
    for (const [field, value] of [
      ["movedFrom", tenant.movedFrom],
      ["renamedFrom", tenant.renamedFrom],
    ] as const) {
      if (value === undefined) continue;
      problems.push({
        path: `tenants.${tenant.id}.${field}`,
        message: `cannot be carried out on host ${tenant.host}, which declares kubernetes: clawfleet does not copy state into a Kubernetes volume yet, and the gateway would start with none; remove ${field} and copy the state with clawfleet backup and kubectl cp`,
      });
    }
    if (tenant.isolation !== undefined) {
      problems.push({
        path: `tenants.${tenant.id}.isolation`,
        message: `is for Docker hosts, and host ${tenant.host} declares kubernetes: remove it; clawfleet does not set a RuntimeClass yet`,
      });
    }
  }
  for (const tenant of tenants) {
    if (tenant.tier !== "dedicated" || tenant.movedFrom === undefined || hosts.get(tenant.movedFrom)?.kubernetes === undefined) continue;
    if (hosts.get(tenant.host)?.kubernetes !== undefined) continue;
    problems.push({
      path: `tenants.${tenant.id}.movedFrom`,
      message: `names host ${tenant.movedFrom}, which declares kubernetes: clawfleet does not copy state out of a Kubernetes volume yet; remove movedFrom and copy the state with kubectl cp and clawfleet restore`,
    });
  }
  return problems;
};

/** What the Kubernetes runtime cannot do exactly as declared: the wiring passes these to parseFleet. */
export const kubernetesChecks: readonly RuntimeCheck[] = [dockerOnlyFields, objectNames];
