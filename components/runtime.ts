import type * as pulumi from "@pulumi/pulumi";
import type { RuntimeChild } from "./facts";
import type { GatewayCommon, GatewaySpec } from "./gateway-spec";
import type { Host, OffsiteDecl } from "../declaration/schema";

/**
 * How gateways run: what the components ask of a runtime, in their own words (a host, a gateway, a tenant's
 * workspace, a purge of a tenant); where and how that lands (paths, users, containers) is the runtime's. A runtime
 * builds its resources as children of the component that asks, named `<component name>-<role>` (childName in
 * names.ts).
 */
export interface Runtime {
  /** Makes a host ready to run gateways: tools, state root, the image and its trial run. */
  prepareHost(name: string, args: HostPreparation, parent: pulumi.Resource): RuntimeHost;
}

export interface HostPreparation {
  readonly host: Host;
  readonly image: string;
  /** The state a new image is first tried on, one copy after the other (the canary's, or the shared gateway's; or every gateway's); none: no trial. */
  readonly sampleStateDirs: readonly string[];
  /** The gateways whose state those are, in the same order. */
  readonly sampleGateways: readonly string[];
  /** The config the trial uses when its copy of the state holds none yet. */
  readonly trialConfig: GatewaySpec["config"];
  /** What every gateway of the host has (process, environment, confinement, health check): the trial runs with it too. */
  readonly gateway: GatewayCommon;
  /** The host's off-host target when it is declared with a schedule: the host then backs up its gateways off it by itself. */
  readonly scheduledOffsite?: (OffsiteDecl & { readonly schedule: string }) | undefined;
}

/** What a gateway needs from the component that declares it. */
export interface GatewayRunArgs {
  /** The gateway token (secret). */
  readonly token: pulumi.Output<string>;
  /** Readiness gates this gateway waits for: the host's canary, and the one before it in its rollout lane. */
  readonly after: readonly pulumi.Resource[];
  /** The name of the child with `role`, recorded with its role, and what it does in a few words (`claims port 18101`), in the component's facts. */
  readonly child: (role: string, summary?: string) => string;
  readonly parent: pulumi.Resource;
}

/** A gateway as its runtime runs it. */
export interface RunningGateway {
  /** Its state, once a shared tenant's workspace can be made in it: a Docker host's directory, a Kubernetes gateway's ready pod. */
  readonly stateDir: pulumi.Resource;
  /** Succeeds once the current gateway is healthy; the next gateway of its lane waits for it. */
  readonly ready: pulumi.Resource;
  /** How a change to each of its children reaches the gateway, by the child's role. */
  readonly children: Readonly<Record<string, RuntimeChild>>;
}

/** A prepared host. */
export interface RuntimeHost {
  /** The preparation's children's roles, by resource name. */
  readonly roles: Readonly<Record<string, string>>;
  /** What each of the preparation's children does, in a few words, by resource name. */
  readonly summaries: Readonly<Record<string, string>>;
  /** How a change to each of the preparation's children reaches the gateways, by role. */
  readonly children: Readonly<Record<string, RuntimeChild>>;
  /** Runs one gateway as `spec` describes it, its children named by `args.child`. */
  runGateway(spec: GatewaySpec, args: GatewayRunArgs): RunningGateway;
  /** A shared tenant's workspace inside the host's shared gateway, kept for good (it outlives the binding); after `after`. */
  ensureWorkspace(name: string, args: { readonly tenantId: string; readonly after: pulumi.Resource }, parent: pulumi.Resource): pulumi.Resource;
  /** Deletes a tenant's state for good, after removing its own gateway if it still runs (a dedicated tenant's). */
  purgeTenant(name: string, args: { readonly tier: "dedicated" | "shared"; readonly tenantId: string }, parent: pulumi.Resource): pulumi.Resource;
}
