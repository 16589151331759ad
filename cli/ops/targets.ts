import { readFile } from "node:fs/promises";
import { dedicatedGatewaySpec, sharedGatewaySpec, type GatewaySpec } from "../../components/gateway-spec";
import { parseFleet } from "../../declaration/parse";
import { readStackFile } from "../../declaration/stack-file";
import { compareIds, type Fleet, type Host, type SharedTenant, type Tenant } from "../../declaration/schema";
import { backupRootOf, stateRootOf, tenantStateOf } from "../../names";
import type { HostStateOps } from "../../runtimes/ops";
import { OpsError } from "./errors";
import { opsOf, runtimeChecks } from "../runtime";

/** One declared tenant, with everything a day-2 verb needs to find its gateway on its host. */
export interface TenantTarget {
  readonly id: string;
  readonly tier: "dedicated" | "shared";
  readonly host: Host;
  /** Its gateway as the program deploys it (the host's shared gateway for a shared tenant). */
  readonly spec: GatewaySpec;
  /** The container that runs the tenant's gateway: its own, or the host's shared gateway. */
  readonly container: string;
  /** Host port on 127.0.0.1 (the shared gateway's port for a shared tenant). */
  readonly port: number;
  /** Memory limit of that container, in MB. */
  readonly memoryMb: number;
  /** The tenant's state in its host's terms (tenantStateOf): its state directory, or its workspace in the shared gateway. */
  readonly stateDir: string;
  /** The gateway's whole state directory (the shared gateway's for a shared tenant). */
  readonly gatewayStateDir: string;
  /** The agent id inside the gateway that serves this tenant (`--agent` for a shared tenant). */
  readonly agentId: string | undefined;
  /** Names of environment variables that carry declared secrets into the container (most go in its credentials file). */
  readonly secretEnvNames: readonly string[];
  /** Chat channels the tenant's gateway has declared (telegram, discord, slack). */
  readonly channels: readonly string[];
  /** The size in MB its state should stay under (`stateLimitMb`); undefined: no limit. */
  readonly stateLimitMb: number | undefined;
  /** US dollars of estimated model cost per calendar month (`budget.usdPerMonth`); undefined: no budget. */
  readonly budgetUsdPerMonth: number | undefined;
  /** `budget.enforce`: at the budget, `watch` stops the gateway's channels (dedicated tenants only). */
  readonly budgetEnforce: boolean;
}

/** Reads and validates a stack file; a problem in it is a DeclarationError, as for plan and diff. */
export async function loadFleet(file: string): Promise<Fleet> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new OpsError(`cannot read stack file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  return parseFleet(file, readStackFile(file, text), runtimeChecks);
}

/** The verbs that reach every runtime; the others work on a host's state folders (RuntimeOps.hostState). */
const everyRuntimeVerbs = "status, logs, exec, pairing, devices, backup, restore, rollback, doctor, usage and watch";

/**
 * What `verb` needs of a host's runtime to work on its state folders: back up, restore, roll back, check. A host whose
 * runtime keeps state elsewhere (a Kubernetes volume) is refused, naming the host, the verbs that do reach it and the
 * kubectl command to use instead.
 */
export function hostStateOf(verb: string, host: Host, stackFile: string): HostStateOps {
  const ops = opsOf(host);
  if (ops.hostState !== undefined) return ops.hostState;
  const where = host.kubernetes === undefined ? "" : ` --namespace=${host.kubernetes.namespace}`;
  throw new OpsError(
    `clawfleet ${verb}: host ${host.id} of ${stackFile} runs on ${ops.name}, where its gateways' state is a volume that ${verb} does not reach yet (${everyRuntimeVerbs} do); use kubectl there, such as: kubectl${where} get pods`,
  );
}

/** A host's shared gateway as the program deploys it, serving the host's shared tenants; undefined when it declares none. */
function sharedGatewayOf(fleet: Fleet, host: Host): GatewaySpec | undefined {
  return sharedGatewaySpec(
    host,
    fleet.image,
    fleet.tenants.filter((t): t is SharedTenant => t.tier === "shared" && t.host === host.id),
  );
}

function targetOf(fleet: Fleet, tenant: Tenant): TenantTarget {
  const host = fleet.hosts.find((h) => h.id === tenant.host);
  // parseFleet guarantees every tenant's host is declared.
  if (host === undefined) throw new OpsError(`tenant ${tenant.id}: host ${tenant.host} is not declared`);
  // The same pure spec the program deploys: name, port, limits, state and secrets are worked out once.
  const spec = tenant.tier === "dedicated" ? dedicatedGatewaySpec(tenant, host, fleet.image) : sharedGatewayOf(fleet, host);
  if (spec === undefined) throw new OpsError(`tenant ${tenant.id}: host ${host.id} has no shared gateway`);
  const channels = tenant.tier === "dedicated" ? tenant.channels : host.shared?.channels;
  return {
    id: tenant.id,
    tier: tenant.tier,
    host,
    spec,
    container: spec.name,
    port: spec.port,
    memoryMb: spec.limits.memoryMb,
    stateDir: tenantStateOf(host, tenant.tier, tenant.id),
    gatewayStateDir: spec.stateDir,
    agentId: tenant.tier === "shared" ? tenant.id : undefined,
    secretEnvNames: Object.keys(spec.secrets.env),
    channels: Object.keys(channels ?? {}),
    stateLimitMb: tenant.stateLimitMb,
    budgetUsdPerMonth: tenant.budget?.usdPerMonth,
    budgetEnforce: tenant.budget?.enforce === true,
  };
}

/** A gateway the program runs on a host, and whose it is, as doctor names it. */
export interface HostGateway {
  readonly spec: GatewaySpec;
  /** `the shared gateway` or `tenant <id>`. */
  readonly owner: string;
  /** The dedicated tenant whose gateway it is; none for the shared gateway. */
  readonly tenant?: string;
}

/** The gateways of a host as the program deploys them: its shared gateway (when it declares one), then each dedicated tenant's in id order. */
export function hostGateways(fleet: Fleet, host: Host): HostGateway[] {
  const shared = sharedGatewayOf(fleet, host);
  const dedicated = allTargets(fleet).filter((t) => t.tier === "dedicated" && t.host.id === host.id);
  return [
    ...(shared === undefined ? [] : [{ spec: shared, owner: "the shared gateway" }]),
    ...dedicated.map((t) => ({ spec: t.spec, owner: `tenant ${t.id}`, tenant: t.id })),
  ];
}

/** Every declared tenant in id order (purged tenants run nothing and are left out). */
export function allTargets(fleet: Fleet): TenantTarget[] {
  return [...fleet.tenants].sort((a, b) => compareIds(a.id, b.id)).map((tenant) => targetOf(fleet, tenant));
}

/** The tenant named on the command line, or an error that lists the declared ones. */
export function findTarget(fleet: Fleet, file: string, id: string): TenantTarget {
  const tenant = fleet.tenants.find((t) => t.id === id);
  if (tenant === undefined) {
    const purged = fleet.purged.some((t) => t.id === id);
    const known = [...fleet.tenants].map((t) => t.id).sort(compareIds);
    throw new OpsError(
      purged
        ? `tenant ${JSON.stringify(id)} is being purged in ${file} (purge: confirm); it has no gateway any more`
        : `tenant ${JSON.stringify(id)} is not declared in ${file}; declared tenants: ${known.length === 0 ? "(none)" : known.join(", ")}`,
    );
  }
  return targetOf(fleet, tenant);
}

/** The host named by `--host`, or an error that lists the declared ones. */
export function findHost(fleet: Fleet, file: string, id: string): Host {
  const host = fleet.hosts.find((h) => h.id === id);
  if (host === undefined) {
    throw new OpsError(`host ${JSON.stringify(id)} is not declared in ${file}; declared hosts: ${fleet.hosts.map((h) => h.id).join(", ")}`);
  }
  return host;
}

/** Backups on a host: one folder per gateway container below it (`clawfleet backup`, and before an image change). */
export function backupDirOf(host: Host): string {
  return backupRootOf(stateRootOf(host));
}
