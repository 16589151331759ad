import * as pulumi from "@pulumi/pulumi";
import { offsiteOf } from "../declaration/backups";
import { compareIds, type Fleet, type Host, type SharedTenant, type Tenant } from "../declaration/schema";
import { DedicatedUser } from "./dedicated-user";
import { GatewayHost } from "./gateway-host";
import { SharedBinding } from "./shared-binding";
import { TenantPurge } from "./tenant-purge";
import type { Runtime } from "./runtime";

/** What `pulumi stack output tenants` shows for one tenant; the token is a secret. */
export interface TenantOutput {
  tier: "dedicated" | "shared";
  host: string;
  port: number;
  loopbackUrl: string;
  tailnetUrl: string | undefined;
  token: pulumi.Output<string>;
}

/**
 * Creates every resource a fleet declares: one GatewayHost per host, one DedicatedUser
 * or SharedBinding per tenant, their gateways run by the runtime `runtimeOf` picks for their host (each host's own, so
 * one fleet can hold hosts of different runtimes). Components are top-level and named by host name or tenant
 * id, so a tenant's resources keep their identity when other tenants come and go.
 */
export function deployFleet(fleet: Fleet, runtimeOf: (host: Host) => Runtime): Record<string, TenantOutput> {
  const sharedByHost = new Map<string, SharedTenant[]>();
  for (const tenant of fleet.tenants) {
    if (tenant.tier === "shared") sharedByHost.set(tenant.host, [...(sharedByHost.get(tenant.host) ?? []), tenant]);
  }
  // The canary (declared, or the first dedicated tenant by id) goes first on its host; the image preflight uses its state.
  const canaries = new Map<string, string>();
  for (const host of fleet.hosts) if (host.rollout.canary !== undefined) canaries.set(host.id, host.rollout.canary);
  const byId = [...fleet.tenants].sort((a, b) => compareIds(a.id, b.id));
  for (const tenant of byId) if (tenant.tier === "dedicated" && !canaries.has(tenant.host)) canaries.set(tenant.host, tenant.id);
  // A declared canary is created first; otherwise the canary is already its host's first by id.
  const declared = new Set(fleet.hosts.flatMap((host) => host.rollout.canary ?? []));
  const ordered = [...byId.filter((tenant) => declared.has(tenant.id)), ...byId.filter((tenant) => !declared.has(tenant.id))];
  const hosts = new Map(
    fleet.hosts.map((host) => [
      host.id,
      {
        host,
        component: new GatewayHost(host.id, {
          host,
          image: fleet.image,
          sharedTenants: sharedByHost.get(host.id) ?? [],
          canary: canaries.get(host.id),
          dedicated: byId.filter((tenant) => tenant.tier === "dedicated" && tenant.host === host.id).map((tenant) => tenant.id),
          runtime: runtimeOf(host),
          offsite: offsiteOf(fleet, host)?.decl,
        }),
      },
    ]),
  );

  const outputs = new Map<string, TenantOutput>();
  const lanes = new Map<string, DedicatedUser[]>();
  const hostOf = (tenant: Tenant) => {
    const entry = hosts.get(tenant.host);
    if (entry === undefined) throw new Error(`tenant ${tenant.id} names host ${tenant.host}, which the declaration check should have rejected`);
    return entry;
  };
  for (const tenant of ordered) {
    if (tenant.tier !== "dedicated") continue;
    const { host, component } = hostOf(tenant);
    // Gateways replaced or created at the same time after the canary: hostLanes[0] is the canary, and every other gateway
    // waits for it and for the one `lanes` places before it, so a failing health check stops its lane instead of taking
    // down every tenant.
    const hostLanes = lanes.get(host.id) ?? [];
    const canary = hostLanes[0];
    const previous = hostLanes.length > host.rollout.lanes ? hostLanes[hostLanes.length - host.rollout.lanes] : undefined;
    const after = [canary, previous].filter((user): user is DedicatedUser => user !== undefined).map((user) => user.gateway.ready);
    const previousHost = tenant.movedFrom === undefined ? undefined : hosts.get(tenant.movedFrom)?.host;
    const movedFrom =
      previousHost === undefined && tenant.renamedFrom === undefined ? undefined : { host: previousHost ?? host, id: tenant.renamedFrom ?? tenant.id };
    const user = new DedicatedUser(tenant.id, { tenant, placement: component.placement, host, movedFrom, after });
    hostLanes.push(user);
    lanes.set(host.id, hostLanes);
    outputs.set(tenant.id, {
      tier: "dedicated",
      host: host.id,
      port: user.port,
      loopbackUrl: user.loopbackUrl,
      tailnetUrl: user.tailnetUrl,
      token: user.token,
    });
  }
  // A shared gateway serves many tenants, so it waits for its host's canary like every other gateway there.
  for (const { host, component } of hosts.values()) component.addSharedGateway((lanes.get(host.id) ?? []).slice(0, 1).map((canary) => canary.gateway.ready));
  for (const tenant of ordered) {
    if (tenant.tier !== "shared") continue;
    const { host, component } = hostOf(tenant);
    const sharedGateway = component.shared;
    if (sharedGateway === undefined)
      throw new Error(`tenant ${tenant.id} is shared but host ${host.id} has no shared gateway, which the declaration check should have rejected`);
    const binding = new SharedBinding(tenant.id, { tenant, placement: component.placement, sharedGateway, host });
    outputs.set(tenant.id, {
      tier: "shared",
      host: host.id,
      port: binding.port,
      loopbackUrl: binding.loopbackUrl,
      tailnetUrl: binding.tailnetUrl,
      token: binding.token,
    });
  }
  for (const tenant of fleet.purged) {
    const entry = hosts.get(tenant.host);
    if (entry === undefined) throw new Error(`tenant ${tenant.id} names host ${tenant.host}, which the declaration check should have rejected`);
    new TenantPurge(tenant.id, { tenant, placement: entry.component.placement, host: entry.host });
  }
  return Object.fromEntries(ordered.flatMap((tenant) => (outputs.has(tenant.id) ? [[tenant.id, outputs.get(tenant.id) as TenantOutput]] : [])));
}
