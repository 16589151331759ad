/*
 * What the Kubernetes runtime names and marks in a namespace: the labels that select a gateway's pod, and the
 * names of the objects each gateway has (its StatefulSet, Service and NetworkPolicy take the gateway's own name).
 */
import type { GatewayConfinement } from "../../components/gateway-spec";

/** Label on everything the runtime creates (the recommended `app.kubernetes.io/managed-by`). */
export const managedByLabel = "app.kubernetes.io/managed-by";
/** Label naming the gateway a pod runs: the StatefulSet's selector, and the NetworkPolicy's. */
export const gatewaySelectorLabel = "clawfleet.dev/gateway";
/** Label naming the host a gateway belongs to, so one namespace may hold several hosts' gateways. */
export const hostSelectorLabel = "clawfleet.dev/host";

/** The pod of a gateway's StatefulSet of one: its stable name. */
export function podOf(gateway: string): string {
  return `${gateway}-0`;
}

/** A container's securityContext as a gateway's pod has it, and the throwaway pods beside it. */
export interface ContainerConfinement {
  readonly runAsUser: number;
  readonly runAsGroup: number;
  readonly runAsNonRoot: boolean;
  readonly readOnlyRootFilesystem: boolean;
  readonly allowPrivilegeEscalation: boolean;
  readonly privileged: boolean;
  readonly capabilities: { readonly drop: string[]; readonly add?: string[] };
}

/**
 * The container confinement of a gateway and of its throwaway pods (the preflight's trial, a backup, a restore): the
 * gateway's user, its read-only root, no privilege, every capability it drops dropped and none added unless declared.
 * Doctor compares a running pod with it.
 */
export function containerConfinement(uid: number, confinement: GatewayConfinement): ContainerConfinement {
  return {
    runAsUser: uid,
    runAsGroup: uid,
    runAsNonRoot: true,
    readOnlyRootFilesystem: confinement.readOnlyRoot,
    allowPrivilegeEscalation: !confinement.noNewPrivileges,
    privileged: false,
    capabilities: {
      drop: [...confinement.dropCapabilities],
      ...(confinement.addCapabilities.length === 0 ? {} : { add: [...confinement.addCapabilities] }),
    },
  };
}

/** A pod spec's affinity to the node of `gateway`'s pod: a ReadWriteOnce volume in use is attached to that node. */
export function besideGatewayPod(gateway: string): object {
  return {
    affinity: {
      podAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [
          { labelSelector: { matchLabels: { [gatewaySelectorLabel]: gateway } }, topologyKey: "kubernetes.io/hostname" },
        ],
      },
    },
  };
}

/** The container inside each gateway pod. */
export const gatewayContainer = "gateway";
/** The init container of each gateway pod that writes its credentials file, from the gateway's image too. */
export const credentialsContainer = "credentials";

/** The ConfigMap holding a gateway's rendered openclaw.json: `<gateway>-config`. */
export function configMapOf(gateway: string): string {
  return `${gateway}-config`;
}

/** Where the ConfigMap is mounted as a directory: a ConfigMap mounted as one file (subPath) never updates, so hot reload needs the folder. */
export const configMountDir = "/etc/openclaw";

/** The keys of a gateway's Secret: its token, its credentials file, and each secret environment variable as `env.<NAME>`. */
export const secretKeys = {
  token: "gateway-token",
  credentials: "credentials.json",
  env: (name: string) => `env.${name}`,
} as const;

/**
 * The longest gateway name a StatefulSet takes: its pods carry a `controller-revision-hash` label of
 * `<name>-<hash>` (at most 63 characters, the hash up to 10), so longer names fail at the API server.
 */
export const maxGatewayNameLength = 52;

/** The `max-old-space-size` V8 gets: 75% of the memory limit (V8 sizes its heap from the machine, not the cgroup). */
export function heapLimitMbOf(memoryMb: number): number {
  return Math.floor(memoryMb * 0.75);
}
