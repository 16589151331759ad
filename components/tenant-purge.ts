import * as pulumi from "@pulumi/pulumi";
import type { Host, PurgedTenant } from "../declaration/schema";
import type { GatewayPlacement } from "./gateway";
import { childName, childRole, componentType, tenantStateOf } from "../names";
import { recordFacts } from "./facts";

export interface TenantPurgeArgs {
  /** The tenant whose declaration confirms `purge`. */
  readonly tenant: PurgedTenant;
  readonly placement: GatewayPlacement;
  /** Its host: the state to delete is found there. */
  readonly host: Host;
}

/**
 * The one way clawfleet deletes state: a tenant declared with `purge: { confirm: <id> }`.
 * Its gateway is gone from the declaration; this removes the gateway (if still there)
 * and then its state directory. Remove the tenant from the stack afterwards.
 */
export class TenantPurge extends pulumi.ComponentResource {
  constructor(name: string, args: TenantPurgeArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType.tenantPurge, name, { host: args.placement.hostId, tier: args.tenant.tier }, opts);
    const { tenant } = args;
    const purge = childName(name, childRole.purge);
    const stateDir = tenantStateOf(args.host, tenant.tier, tenant.id);
    args.placement.runtime.purgeTenant(purge, { tier: tenant.tier, tenantId: tenant.id }, this);
    recordFacts({
      kind: "purge",
      type: componentType.tenantPurge,
      name,
      host: args.placement.hostId,
      stateDir,
      roles: { [purge]: childRole.purge },
      summaries: { [purge]: `${tenant.tier === "dedicated" ? "removes the gateway and deletes" : "deletes"} ${stateDir} for good` },
    });
    this.registerOutputs({});
  }
}
