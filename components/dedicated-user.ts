import * as pulumi from "@pulumi/pulumi";
import type { DedicatedTenant, Host } from "../declaration/schema";
import { GatewayResources, type GatewayPlacement } from "./gateway";
import { dedicatedGatewaySpec } from "./gateway-spec";
import { componentType } from "../names";
import { recordFacts } from "./facts";

export interface DedicatedUserArgs {
  /** The validated tenant (its port already allocated). */
  readonly tenant: DedicatedTenant;
  /** The host it runs on (`GatewayHost.placement`). */
  readonly placement: GatewayPlacement;
  /** The host it runs on; the tenant's state is `<stateRoot>/users/<id>` there. */
  readonly host: Host;
  /** Where the tenant's state was before (`movedFrom` host and/or `renamedFrom` id): it is copied over once. */
  readonly movedFrom?: { readonly host: Host; readonly id: string } | undefined;
  /** Health gates it waits for: the host's canary and the gateway before it in its rollout lane. */
  readonly after?: readonly pulumi.Resource[] | undefined;
}

/** A dedicated-tier user: an own gateway with its own token, port, state and config. */
export class DedicatedUser extends pulumi.ComponentResource {
  readonly port: number;
  readonly host: string;
  /** The gateway token (secret). */
  readonly token: pulumi.Output<string>;
  readonly loopbackUrl: string;
  readonly tailnetUrl: string | undefined;
  readonly gateway: GatewayResources;

  constructor(name: string, args: DedicatedUserArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType.dedicatedUser, name, { host: args.placement.hostId, tier: "dedicated" }, opts);
    const { tenant, placement } = args;
    const spec = dedicatedGatewaySpec(tenant, args.host, placement.image, args.movedFrom);
    this.gateway = new GatewayResources(name, { spec, placement, after: args.after }, this);
    recordFacts({
      kind: "dedicated",
      type: componentType.dedicatedUser,
      name,
      host: placement.hostId,
      stateDir: spec.stateDir,
      roles: this.gateway.roles,
      runtimeChildren: this.gateway.runtimeChildren,
      summaries: this.gateway.summaries,
    });
    this.port = tenant.port;
    this.host = placement.hostId;
    this.token = this.gateway.token.result;
    this.loopbackUrl = this.gateway.loopbackUrl;
    this.tailnetUrl = this.gateway.tailnetUrl;
    this.registerOutputs({ port: this.port, host: this.host, loopbackUrl: this.loopbackUrl, tailnetUrl: this.tailnetUrl, token: this.token });
  }
}
