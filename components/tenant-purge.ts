import * as pulumi from "@pulumi/pulumi";
import type { PurgedTenant } from "../declaration/schema";
import type { GatewayPlacement } from "../runtimes/docker/gateway";
import { childName, childRole, componentType, dedicatedContainerName, tenantStateDir } from "../names";
import { recordFacts } from "./facts";
import { renderPurge } from "../runtimes/docker/commands";

export interface TenantPurgeArgs {
  /** The tenant whose declaration confirms `purge`. */
  readonly tenant: PurgedTenant;
  readonly placement: GatewayPlacement;
  readonly stateRoot: string;
}

/**
 * The one way clawfleet deletes state: a tenant declared with `purge: { confirm: <id> }`.
 * Its gateway is gone from the declaration; this removes its container (if still there)
 * and then its state directory. Remove the tenant from the stack afterwards.
 */
export class TenantPurge extends pulumi.ComponentResource {
  constructor(name: string, args: TenantPurgeArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType.tenantPurge, name, { host: args.placement.hostId, tier: args.tenant.tier }, opts);
    const { tenant } = args;
    const purge = childName(name, childRole.purge);
    const stateDir = tenantStateDir(args.stateRoot, tenant.tier, tenant.id);
    args.placement.run(
      purge,
      {
        create: renderPurge({
          dir: stateDir,
          containerName: tenant.tier === "dedicated" ? dedicatedContainerName(tenant.id) : undefined,
        }),
      },
      { parent: this, dependsOn: [args.placement.prepared] },
    );
    recordFacts({ kind: "purge", type: componentType.tenantPurge, name, host: args.placement.hostId, stateDir, roles: { [purge]: childRole.purge } });
    this.registerOutputs({});
  }
}
