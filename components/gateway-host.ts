import * as pulumi from "@pulumi/pulumi";
import type { Host, OffsiteDecl, SharedTenant } from "../declaration/schema";
import { GatewayResources, type GatewayPlacement } from "./gateway";
import { gatewayCommon, sharedGatewaySpec, trialConfig } from "./gateway-spec";
import { childName, childRole, componentType, dedicatedContainerName, sharedContainerName, sharedStateOf, tenantStateOf } from "../names";
import { recordFacts, type RuntimeChild } from "./facts";
import type { Runtime } from "./runtime";

export interface GatewayHostArgs {
  /** The validated host declaration. */
  readonly host: Host;
  /** Gateway image reference, pinned to a tag or digest. */
  readonly image: string;
  /** Shared-tier tenants on this host; their agents and bindings form the shared gateway's config. */
  readonly sharedTenants: readonly SharedTenant[];
  /** The dedicated tenant that goes first on this host; the image preflight runs on a copy of its state. */
  readonly canary: string | undefined;
  /** Its dedicated tenants by id; with `rollout.preflight: all` a new image is tried on a copy of each one's state. */
  readonly dedicated?: readonly string[] | undefined;
  /** What runs the host's gateways. */
  readonly runtime: Runtime;
  /** The host's off-host target (its own, else the stack's); with a schedule, the host backs its gateways up off it by itself. */
  readonly offsite?: OffsiteDecl | undefined;
}

/**
 * A gateway host: its preparation by the runtime (tools, state root 0700, image present, the
 * new image's trial) and, when declared, its shared-tier gateway.
 */
export class GatewayHost extends pulumi.ComponentResource {
  /** What every gateway on this host is placed with. */
  readonly placement: GatewayPlacement;
  private readonly componentName: string;
  private readonly host: Host;
  private readonly sharedTenants: readonly SharedTenant[];
  private sharedGateway: GatewayResources | undefined;

  constructor(name: string, args: GatewayHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType.gatewayHost, name, { host: args.host.id }, opts);
    this.componentName = name;
    const { host } = args;
    // A new image is tried on a copy of real state (the canary's, or the shared gateway's; with `rollout.preflight:
    // all`, every gateway's, the canary's first) before any gateway changes.
    const shared = host.shared === undefined ? [] : [{ gateway: sharedContainerName(host.id), state: sharedStateOf(host) }];
    const sample = (id: string) => ({ gateway: dedicatedContainerName(id), state: tenantStateOf(host, "dedicated", id) });
    const canary = args.canary === undefined ? [] : [sample(args.canary)];
    const others = (args.dedicated ?? []).filter((id) => id !== args.canary).map(sample);
    const samples = host.rollout.preflight === "all" ? [...canary, ...others, ...shared] : [...canary, ...shared].slice(0, 1);
    const sampleStateDirs = samples.map((s) => s.state);
    const sampleGateways = samples.map((s) => s.gateway);
    const schedule = args.offsite?.schedule;
    const scheduledOffsite = args.offsite === undefined || schedule === undefined ? undefined : { ...args.offsite, schedule };
    const runtime = args.runtime.prepareHost(
      name,
      { host, image: args.image, sampleStateDirs, sampleGateways, trialConfig, gateway: gatewayCommon, scheduledOffsite },
      this,
    );
    this.placement = { hostId: host.id, image: args.image, runtime };
    this.host = host;
    this.sharedTenants = args.sharedTenants;
  }

  /** The shared gateway's resources, once declared by `addSharedGateway` (none when the host declares no `shared`). */
  get shared(): GatewayResources | undefined {
    return this.sharedGateway;
  }

  /**
   * Declares the host's shared gateway, when it has one, and completes the host. The gateway waits for `after` (the
   * canary's health gate), so a bad image or config stops at one dedicated tenant instead of reaching every shared one.
   */
  addSharedGateway(after: readonly pulumi.Resource[]): void {
    const { host, componentName: name } = this;
    const spec = sharedGatewaySpec(host, this.placement.image, this.sharedTenants);
    this.sharedGateway =
      spec === undefined ? undefined : new GatewayResources(childName(name, childRole.shared), { spec, placement: this.placement, after }, this);

    const roles: Record<string, string> = { ...this.placement.runtime.roles };
    for (const [child, role] of Object.entries(this.sharedGateway?.roles ?? {})) roles[child] = `${childRole.shared}-${role}`;
    const runtimeChildren: Record<string, RuntimeChild> = { ...this.placement.runtime.children };
    for (const [role, child] of Object.entries(this.sharedGateway?.runtimeChildren ?? {})) runtimeChildren[`${childRole.shared}-${role}`] = child;
    recordFacts({
      kind: "host",
      type: componentType.gatewayHost,
      name,
      host: host.id,
      roles,
      runtimeChildren,
      summaries: { ...this.placement.runtime.summaries, ...this.sharedGateway?.summaries },
    });

    this.registerOutputs({ sharedUrl: this.sharedGateway?.tailnetUrl ?? this.sharedGateway?.loopbackUrl });
  }
}
