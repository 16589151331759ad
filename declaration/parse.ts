import { DeclarationError, joinPath, type Problem } from "./errors";
import { checkSharedMachines } from "./machines";
import { gatewayRoutes } from "./gateway-routes";
import { allocatePorts, type HostPorts } from "./ports";
import { isRecord, namespace, type RawDeclaration } from "./raw";
import { checkRoutes } from "./routes";
import {
  backupsSchema,
  observabilitySchema,
  compareIds,
  dedicatedTenantSchema,
  hostSchema,
  idPattern,
  kubernetesDefaultPorts,
  idRule,
  imageSchema,
  sharedTenantSchema,
  tierSchema,
  type DedicatedTenant,
  type DedicatedTenantDecl,
  type Fleet,
  type Host,
  type PurgedTenant,
  type SharedTenant,
  type Tenant,
} from "./schema";
import { looksLikeCredential } from "./secret";
import { describeValue, parseWith } from "./wording";

const topLevelKeys = ["image", "hosts", "tenants", "backups", "observability"] as const;

const credentialScanMessage = "looks like a credential in plain text";

/** Flags credential-looking strings anywhere in the declaration (outside secure values). */
function findPlaintextCredentials(value: unknown, segments: PropertyKey[], problems: Problem[]): void {
  if (typeof value === "string" && looksLikeCredential(value)) {
    const path = joinPath(segments);
    problems.push({
      path,
      message: `${credentialScanMessage}; remove it from the file and keep it in secure config (pulumi config set --secret --path 'clawfleet:${path}' <value>)`,
    });
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => findPlaintextCredentials(item, [...segments, index], problems));
  } else if (isRecord(value)) {
    for (const [key, item] of Object.entries(value)) {
      if (looksLikeCredential(key)) {
        problems.push({
          path: joinPath(segments),
          message:
            "has a key that looks like a credential in plain text (not repeated here); remove it from the file and keep credentials in secure config (pulumi config set --secret)",
        });
        continue;
      }
      findPlaintextCredentials(item, [...segments, key], problems);
    }
  }
}

/** Names every JavaScript object has (`__proto__`, `constructor`): as ids they would break the rendered configs. */
const reservedIds = new Set(Object.getOwnPropertyNames(Object.prototype).filter((name) => idPattern.test(name)));

/** Parses a map whose keys are ids; reports bad ids and an empty or missing map. */
function parseIdMap(raw: RawDeclaration, key: "hosts" | "tenants", problems: Problem[]): [string, unknown][] {
  const value = raw[key];
  if ((value === undefined || value === null) && key === "tenants") return [];
  const example = key === "hosts" ? "gw1: { stateRoot: /data/clawfleet, ports: { from: 18100, to: 18999 } }" : "alice: { tier: dedicated, host: gw1 }";
  if (value === undefined || value === null) {
    problems.push({ path: key, message: `is required; declare at least one under clawfleet:${key}, such as ${example}` });
    return [];
  }
  if (!isRecord(value)) {
    problems.push({ path: key, message: `must be a map of ${key === "hosts" ? "host name" : "tenant id"} to settings, not ${describeValue(value)}` });
    return [];
  }
  const entries = Object.entries(value);
  // A stack may run its hosts with no tenant, so the last tenant can be removed.
  if (entries.length === 0 && key === "hosts") problems.push({ path: key, message: `is empty; declare at least one, such as ${example}` });
  return entries.filter(([id]) => {
    if (looksLikeCredential(id)) return false; // the credential scan reports it, without the id
    if (reservedIds.has(id)) {
      problems.push({
        path: joinPath([key, id]),
        message: `${JSON.stringify(id)} is a name every JavaScript object has, so clawfleet cannot use it as a ${key === "hosts" ? "host name" : "tenant id"}; pick another`,
      });
      return false;
    }
    if (idPattern.test(id)) return true;
    const foreign = [...id].find((char) => char > "\u007f");
    const hint =
      foreign === undefined
        ? ""
        : ` (it contains ${JSON.stringify(foreign)}, U+${(foreign.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}, which only looks like a Latin letter or sign)`;
    problems.push({
      path: joinPath([key, id]),
      message: `${JSON.stringify(id)} is not a valid ${key === "hosts" ? "host name" : "tenant id"}${hint}: ${idRule}`,
    });
    return false;
  });
}

/**
 * What a runtime cannot do exactly as declared, checked on the tenants that are valid otherwise (the runtime gives its
 * own, such as runtimes/docker/checks.ts; the wiring passes them in, so the declaration names no runtime).
 */
export type RuntimeCheck = (tenants: readonly Tenant[], hosts: ReadonlyMap<string, Host>) => Problem[];

/**
 * The boundary: validates a raw declaration and returns the typed fleet, or throws one
 * DeclarationError that lists every problem, the runtime's own among them. Nothing past this function re-checks input.
 */
export function parseFleet(file: string, raw: RawDeclaration, runtimeChecks: readonly RuntimeCheck[] = []): Fleet {
  const problems: Problem[] = [];
  for (const key of Object.keys(raw)) {
    if (!(topLevelKeys as readonly string[]).includes(key)) {
      problems.push({
        path: joinPath([key]),
        message: `is not a clawfleet setting (${JSON.stringify(`${namespace}:${key}`).slice(1, -1)}); known settings: ${topLevelKeys.map((k) => `clawfleet:${k}`).join(", ")}`,
      });
    }
  }
  findPlaintextCredentials(raw, [], problems);

  const image =
    raw["image"] === undefined
      ? (problems.push({ path: "image", message: "is required: the gateway image reference, such as ghcr.io/openclaw/openclaw:2026.9.6" }), undefined)
      : parseWith(imageSchema, raw["image"], ["image"], problems);

  const backups = raw["backups"] === undefined ? undefined : parseWith(backupsSchema, raw["backups"], ["backups"], problems);
  const observability = raw["observability"] === undefined ? undefined : parseWith(observabilitySchema, raw["observability"], ["observability"], problems);

  const hosts = new Map<string, Host>();
  const invalidHosts = new Set<string>();
  for (const [id, value] of parseIdMap(raw, "hosts", problems)) {
    const host = parseWith(hostSchema, value, ["hosts", id], problems);
    // Checked on the raw map too, so a missing field shows beside the host's other problems.
    const missing = dockerHostRequirements(id, value);
    problems.push(...missing);
    if (host === undefined || missing.length > 0) invalidHosts.add(id);
    else {
      const parsed: Host = { ...host, id, ports: host.ports ?? kubernetesDefaultPorts };
      checkHost(parsed, problems);
      hosts.set(id, parsed);
    }
  }
  problems.push(...checkSharedMachines([...hosts.values()]));

  const dedicated: { id: string; decl: DedicatedTenantDecl }[] = [];
  const shared: SharedTenant[] = [];
  const purged: PurgedTenant[] = [];
  const hostsWithBadRefs = new Set<string>();
  for (const [id, entry] of parseIdMap(raw, "tenants", problems)) {
    const base = ["tenants", id];
    if (!isRecord(entry)) {
      problems.push({ path: joinPath(base), message: `must be a map of tenant settings, not ${describeValue(entry)}` });
      continue;
    }
    const value = { ...entry };
    const tier = tierSchema.safeParse(value["tier"]).data;
    if (tier === undefined) {
      problems.push({
        path: joinPath([...base, "tier"]),
        message:
          value["tier"] === undefined
            ? "is required; set tier: dedicated (its own gateway container) or tier: shared (an agent in the host's shared gateway)"
            : `must be dedicated or shared, not ${describeValue(value["tier"])}`,
      });
      continue;
    }
    if (tier === "dedicated" && "bindings" in value) {
      problems.push({
        path: joinPath([...base, "bindings"]),
        message: "bindings route chats inside a shared gateway; a dedicated tenant gets all of its gateway's chats. Remove bindings or set tier: shared",
      });
      // The remaining fields are still checked, so every problem shows in one pass.
      delete value["bindings"];
      hostsWithBadRefs.add(id);
    }
    const hostId = value["host"];
    if (typeof hostId === "string" && (invalidHosts.has(hostId) || (isRecord(raw["hosts"]) && Object.hasOwn(raw["hosts"], hostId) && !hosts.has(hostId)))) {
      // The host's own problems are reported under hosts.<id>; a second line here would only repeat them.
      hostsWithBadRefs.add(id);
    } else if (typeof hostId === "string" && !hosts.has(hostId)) {
      const declared = [...hosts.keys(), ...invalidHosts];
      const known = declared.length > 10 ? `${declared.slice(0, 10).join(", ")} (and ${declared.length - 10} more)` : declared.join(", ");
      problems.push({
        path: joinPath([...base, "host"]),
        message: `names host ${JSON.stringify(hostId)}, which is not declared; use one of: ${known === "" ? "(no valid hosts)" : known}`,
      });
      hostsWithBadRefs.add(id);
    }
    if (isRecord(value["purge"])) {
      const decl = tier === "dedicated" ? parseWith(dedicatedTenantSchema, value, base, problems) : parseWith(sharedTenantSchema, value, base, problems);
      if (decl === undefined || hostsWithBadRefs.has(id)) continue;
      if (decl.purge?.confirm !== id) {
        problems.push({
          path: joinPath([...base, "purge", "confirm"]),
          message: `must repeat the tenant id (${id}) to confirm deleting its state for good; remove purge to keep the state`,
        });
        continue;
      }
      purged.push({ id, tier, host: decl.host });
      continue;
    }
    if (tier === "dedicated") {
      const decl = parseWith(dedicatedTenantSchema, value, base, problems);
      if (decl === undefined || hostsWithBadRefs.has(id)) continue;
      if (decl.movedFrom !== undefined && (decl.movedFrom === decl.host || !hosts.has(decl.movedFrom))) {
        problems.push({
          path: joinPath([...base, "movedFrom"]),
          message:
            decl.movedFrom === decl.host
              ? `is the tenant's own host (${decl.host}); name the host it moves away from, or remove movedFrom`
              : `names host ${JSON.stringify(decl.movedFrom)}, which is not declared; keep the old host declared until the move is deployed`,
        });
        continue;
      }
      if (decl.renamedFrom !== undefined && (decl.renamedFrom === id || (isRecord(raw["tenants"]) && Object.hasOwn(raw["tenants"], decl.renamedFrom)))) {
        problems.push({
          path: joinPath([...base, "renamedFrom"]),
          message:
            decl.renamedFrom === id
              ? `is the tenant's own id; name the id it had before, or remove renamedFrom`
              : `names tenant ${decl.renamedFrom}, which is still declared; remove that tenant in the same change, or remove renamedFrom`,
        });
        continue;
      }
      const egressHost = hosts.get(decl.host);
      if (decl.egress?.allow !== undefined && decl.egress.allow.length > 0 && !(decl.egress.blockPrivate ?? egressHost?.egress.blockPrivate ?? true)) {
        problems.push({
          path: joinPath([...base, "egress", "allow"]),
          message: `has no effect: this gateway's egress is not blocked (egress.blockPrivate is false${decl.egress.blockPrivate === undefined ? ` on host ${decl.host}` : ""}); remove allow, or set tenants.${id}.egress.blockPrivate: true`,
        });
        continue;
      }
      dedicated.push({ id, decl });
    } else {
      const decl = parseWith(sharedTenantSchema, value, base, problems);
      if (decl === undefined || hostsWithBadRefs.has(id)) continue;
      if (decl.budget?.enforce === true) {
        problems.push({
          path: joinPath([...base, "budget", "enforce"]),
          message: `would stop the channels of host ${decl.host}'s shared gateway, which every shared tenant there uses; remove enforce (watch still alerts at the budget), or make the tenant dedicated`,
        });
        continue;
      }
      if (hosts.get(decl.host)?.shared === undefined) {
        problems.push({
          path: joinPath([...base, "host"]),
          message: `host ${decl.host} has no shared gateway; add hosts.${decl.host}.shared: { port: <port> } or set tier: dedicated`,
        });
        continue;
      }
      shared.push({ ...decl, id });
    }
  }

  const hostPorts = new Map<string, HostPorts>([...hosts].map(([id, host]) => [id, { range: host.ports, sharedPort: host.shared?.port }]));
  // Pinned ports claim first, then ids in code-point order: a derived port never takes a pinned one.
  const requests = [...dedicated]
    .sort((a, b) => Number(a.decl.port === undefined) - Number(b.decl.port === undefined) || compareIds(a.id, b.id))
    .map(({ id, decl }) => ({ tenant: id, host: decl.host, pinned: decl.port }));
  const allocation = allocatePorts(requests, hostPorts);
  problems.push(...allocation.problems);

  const tenants: Tenant[] = [];
  for (const { id, decl } of dedicated) {
    const assigned = allocation.ports.get(id);
    if (assigned === undefined) continue;
    const tenant: DedicatedTenant = { ...decl, id, port: assigned.port, portDerived: assigned.derived };
    tenants.push(tenant);
  }
  tenants.push(...shared);
  checkMemoryBudgets(hosts, tenants, problems);
  checkChatClaims(shared, problems);
  problems.push(...checkRoutes(gatewayRoutes, hosts.values(), tenants));
  checkCanaries(hosts, tenants, purged, raw, problems);
  for (const check of runtimeChecks) problems.push(...check(tenants, hosts));

  if (problems.length > 0 || image === undefined) throw new DeclarationError(file, withoutRepeats(problems));
  return {
    image,
    hosts: [...hosts.values()],
    tenants,
    purged,
    ...(backups === undefined ? {} : { backups }),
    ...(observability === undefined ? {} : { observability }),
  };
}

/** A plain-text secret at a secret path is reported by its field; the credential scan's line would repeat it. */
function withoutRepeats(problems: readonly Problem[]): Problem[] {
  const isScanLine = (problem: Problem) => problem.message.startsWith(credentialScanMessage);
  const fieldLines = new Set(problems.filter((problem) => !isScanLine(problem)).map((problem) => problem.path));
  return problems.filter((problem) => !isScanLine(problem) || !fieldLines.has(problem.path));
}

/**
 * A chat (channel, account, peer, guild, team) routes to one agent of a shared gateway:
 * two tenants on one host that claim the same one are an error naming both.
 */
function checkChatClaims(shared: readonly SharedTenant[], problems: Problem[]): void {
  const owners = new Map<string, string>();
  for (const tenant of shared) {
    tenant.bindings.forEach((binding, index) => {
      const key = JSON.stringify([tenant.host, binding.channel, binding.accountId, binding.peer?.kind, binding.peer?.id, binding.guildId, binding.teamId]);
      const path = `tenants.${tenant.id}.bindings[${index}]`;
      const owner = owners.get(key);
      if (owner === undefined) {
        owners.set(key, path);
        return;
      }
      if (owner.startsWith(`tenants.${tenant.id}.`)) return; // the same tenant twice routes the same way
      const chat = binding.peer === undefined ? `every ${binding.channel} chat` : `${binding.channel} ${binding.peer.kind} ${binding.peer.id}`;
      problems.push({
        path,
        message: `claims the same chat (${chat}) as ${owner} in host ${tenant.host}'s shared gateway; a chat goes to one agent: remove one of the two bindings`,
      });
    });
  }
}

/** A Docker host (one without `kubernetes`) needs its state root and its port range. */
function dockerHostRequirements(id: string, value: unknown): Problem[] {
  if (!isRecord(value) || value["kubernetes"] !== undefined) return [];
  const problems: Problem[] = [];
  if (value["stateRoot"] === undefined) {
    problems.push({
      path: `hosts.${id}.stateRoot`,
      message: "is required: an absolute path such as /data/clawfleet (on a Docker host; declare kubernetes instead to run the host's gateways on a cluster)",
    });
  }
  if (value["ports"] === undefined) {
    problems.push({
      path: `hosts.${id}.ports`,
      message: "is required on a Docker host: the host ports for dedicated gateways, such as { from: 18100, to: 18999 }",
    });
  }
  return problems;
}

function checkHost(host: Host, problems: Problem[]): void {
  const base = `hosts.${host.id}`;
  // A Docker host serves its gateways under its own name; a Kubernetes host's each get one (its runtime checks that).
  if (host.kubernetes === undefined && host.tailscale.serve && host.tailscale.dnsName === undefined && !(host.ssh?.host.endsWith(".ts.net") ?? false)) {
    problems.push({
      path: `${base}.tailscale.dnsName`,
      message: "is required when serve is true and ssh.host is not a .ts.net name; set the host's MagicDNS name, such as gw1.example.ts.net",
    });
  }
  if (host.kubernetes === undefined && host.tailscale.tailnet !== undefined) {
    problems.push({
      path: `${base}.tailscale.tailnet`,
      message:
        "is for Kubernetes hosts, whose gateways each get a MagicDNS name of their own; a Docker host serves them under its own name: remove tailnet (and set dnsName when ssh.host is not a .ts.net name)",
    });
  }
}

/** A declared canary must be a dedicated tenant of its host (a tenant with problems of its own is reported there). */
function checkCanaries(
  hosts: ReadonlyMap<string, Host>,
  tenants: readonly Tenant[],
  purged: readonly PurgedTenant[],
  raw: RawDeclaration,
  problems: Problem[],
): void {
  for (const host of hosts.values()) {
    const canary = host.rollout.canary;
    if (canary === undefined) continue;
    const tenant = tenants.find((t) => t.id === canary);
    if (tenant?.tier === "dedicated" && tenant.host === host.id) continue;
    const declared = isRecord(raw["tenants"]) && Object.hasOwn(raw["tenants"], canary);
    if (tenant === undefined && declared && !purged.some((t) => t.id === canary)) continue;
    const candidates = tenants
      .filter((t) => t.tier === "dedicated" && t.host === host.id)
      .map((t) => t.id)
      .sort(compareIds);
    const why =
      tenant === undefined
        ? declared
          ? "which is being purged"
          : "which is not declared"
        : tenant.tier === "shared"
          ? "a shared tenant, which has no gateway of its own"
          : `a tenant of host ${tenant.host}`;
    problems.push({
      path: `hosts.${host.id}.rollout.canary`,
      message: `names tenant ${JSON.stringify(canary)}, ${why}; name a dedicated tenant of host ${host.id}${candidates.length === 0 ? "" : ` (${candidates.slice(0, 10).join(", ")}${candidates.length > 10 ? ", ..." : ""})`}, or remove canary`,
    });
  }
}

function checkMemoryBudgets(hosts: ReadonlyMap<string, Host>, tenants: readonly Tenant[], problems: Problem[]): void {
  const byHost = new Map<string, DedicatedTenant[]>();
  for (const tenant of tenants) {
    if (tenant.tier !== "dedicated") continue;
    const list = byHost.get(tenant.host);
    if (list === undefined) byHost.set(tenant.host, [tenant]);
    else list.push(tenant);
  }
  for (const host of hosts.values()) {
    if (host.memoryMb === undefined) continue;
    const dedicated = byHost.get(host.id) ?? [];
    const used = dedicated.reduce((sum, t) => sum + t.memoryMb, 0) + (host.shared?.memoryMb ?? 0);
    if (used > host.memoryMb) {
      problems.push({
        path: `hosts.${host.id}.memoryMb`,
        message: `${host.memoryMb} MB is less than the ${used} MB the gateways on this host may use (${dedicated.length} dedicated${host.shared === undefined ? "" : " + shared"}); raise memoryMb, lower tenants' memoryMb or move tenants to another host`,
      });
    }
  }
}
