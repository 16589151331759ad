import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { childName, childRole, dedicatedContainerName, sharedContainerName, stateClaimOf, stateLayout } from "../../names";
import { runKubernetesGateway, type KubernetesHost } from "./gateway";
import { renderEnsureWorkspace, renderPurge, type KubectlTarget } from "./kubectl";
import { renderPreflight } from "./preflight";
import { managedByLabel } from "./names";
import type { Host } from "../../declaration/schema";
import type { HostPreparation, Runtime, RuntimeHost } from "../../components/runtime";

/** Runs a kubectl script on the machine that runs Pulumi. */
function kubectlCommand(name: string, create: string, opts: pulumi.CustomResourceOptions): command.local.Command {
  return new command.local.Command(name, { create, interpreter: ["/bin/sh", "-c"], addPreviousOutputInEnv: false }, opts);
}

/** The placement of a Kubernetes host (its `kubernetes` block); the declaration check guarantees it on such a host. */
function placementOf(host: Host): NonNullable<Host["kubernetes"]> {
  if (host.kubernetes === undefined) throw new Error(`host ${host.id} declares no kubernetes placement, which the Kubernetes runtime needs`);
  return host.kubernetes;
}

/**
 * Gateways as Kubernetes workloads: per host a Kubernetes provider (the declared kubeconfig and context) and a
 * namespace; per gateway a StatefulSet of one pod with a state volume of its own, a Secret, a ConfigMap, a Service
 * and, when its egress is blocked, a NetworkPolicy. A new image is first tried on a copy of the canary's state
 * (preflight.ts), then rolls out canary first, each gateway backed up right before its StatefulSet takes the image
 * (backup.ts) and waiting for the one before it in its lane to be ready. The Docker runtime's automatic way back is not
 * done here yet.
 */
export const kubernetesRuntime: Runtime = {
  prepareHost(name: string, { host, image, gateway, sampleGateways, trialConfig }: HostPreparation, parent: pulumi.Resource): RuntimeHost {
    const placement = placementOf(host);
    const provider = new k8s.Provider(
      childName(name, childRole.kubernetes),
      {
        ...(placement.kubeconfig === undefined ? {} : { kubeconfig: placement.kubeconfig }),
        ...(placement.context === undefined ? {} : { context: placement.context }),
        // The provider replaces a ConfigMap or Secret whose data changes unless told they may change (diff.go): a
        // replacement deletes the named object first, so the pod's mounted config would vanish before it came back.
        // Updated in place, the new config reaches the running gateway, which hot-reloads it.
        enableConfigMapMutable: true,
        enableSecretMutable: true,
      },
      { parent },
    );
    // Kept when the host is removed: it holds the gateways' state volumes.
    const namespace = new k8s.core.v1.Namespace(
      childName(name, childRole.namespace),
      { metadata: { name: placement.namespace, labels: { [managedByLabel]: "clawfleet" } } },
      { parent, provider, retainOnDelete: true },
    );
    const target: KubectlTarget = { kubeconfig: placement.kubeconfig, context: placement.context, namespace: placement.namespace };
    // Replaced (and run) whenever the image changes: the new image must be ready on a copy of real state before any
    // StatefulSet takes it. Its script names the gateways it tries, which change when tenants come, go or are
    // renamed; the command provider would run create again on such an update, so update does nothing.
    const preflight =
      sampleGateways.length === 0
        ? undefined
        : new command.local.Command(
            childName(name, childRole.preflight),
            {
              create: renderPreflight({ target, hostId: host.id, image, gateways: sampleGateways, gateway, fallbackConfig: trialConfig }),
              interpreter: ["/bin/sh", "-c"],
              addPreviousOutputInEnv: false,
              triggers: [image],
              update: "true",
            },
            { parent, dependsOn: [namespace] },
          );
    const kubernetesHost: KubernetesHost = {
      hostId: host.id,
      provider,
      namespace,
      placement,
      image,
      preflight,
    };
    const sharedGateway = sharedContainerName(host.id);
    return {
      roles: {
        [childName(name, childRole.kubernetes)]: childRole.kubernetes,
        [childName(name, childRole.namespace)]: childRole.namespace,
        ...(preflight === undefined ? {} : { [childName(name, childRole.preflight)]: childRole.preflight }),
      },
      summaries: {
        [childName(name, childRole.namespace)]: `the namespace ${placement.namespace}, kept when the host is removed`,
        ...(preflight === undefined
          ? {}
          : {
              [childName(name, childRole.preflight)]:
                sampleGateways.length === 1
                  ? `tries a new image on a copy of ${sampleGateways.join("")}'s state`
                  : `tries a new image on a copy of each gateway's state, one after the other: ${sampleGateways.join(", ")}`,
            }),
      },
      // The preflight runs only when it is replaced, for a new image; a new canary only changes the script kept for next time.
      children: {
        [childRole.namespace]: { kind: "named" },
        [childRole.preflight]: { kind: "runs-on", runsOn: ["triggers"], label: "image preflight" },
      },
      runGateway: (spec, args) => runKubernetesGateway(spec, args, kubernetesHost),
      ensureWorkspace: (childResource, { tenantId, after }, owner) =>
        kubectlCommand(
          childResource,
          renderEnsureWorkspace({
            target,
            gateway: sharedGateway,
            dir: `${gateway.process.stateDir}/${stateLayout.workspaces}/${tenantId}`,
            timeoutSeconds: gateway.health.gateSeconds,
          }),
          { parent: owner, dependsOn: [after], retainOnDelete: true },
        ),
      purgeTenant: (childResource, { tier, tenantId }, owner) => {
        const dedicated = dedicatedContainerName(tenantId);
        return kubectlCommand(
          childResource,
          renderPurge(
            tier === "dedicated"
              ? { target, dedicated: { gateway: dedicated, claim: stateClaimOf(dedicated) } }
              : { target, shared: { gateway: sharedGateway, dir: `${gateway.process.stateDir}/${stateLayout.workspaces}/${tenantId}` } },
          ),
          { parent: owner, dependsOn: [namespace] },
        );
      },
    };
  },
};
