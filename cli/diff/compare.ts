// Compares two plans tenant by tenant and host by host, from what each component stated about itself, and words the warnings.
import type { ComponentFacts } from "../../components/facts";
import { childRole, replacementPauseSeconds, reservedLabelPrefix } from "../../names";

/** A resource as `clawfleet plan --json` prints it. */
export interface PlanJsonResource {
  urn: string;
  type: string;
  name: string;
  parent: string | null;
  inputs: Record<string, unknown>;
  options: { retainOnDelete: boolean; deleteBeforeReplace: boolean; replaceOnChanges: string[]; provider?: string };
}

export type Effect = "added" | "changed" | "replaced" | "removed";

export interface TenantChange {
  readonly id: string;
  readonly effect: Effect;
  readonly tier: string;
  readonly host: string;
  /** Fields that change, in the user's terms (`port`, `config agents.entries.alice.model`). */
  readonly fields: string[];
  readonly warnings: string[];
}

export interface HostChange {
  readonly id: string;
  readonly effect: Effect;
  readonly fields: string[];
  readonly warnings: string[];
}

export interface FleetDiff {
  readonly stack: string;
  readonly tenants: TenantChange[];
  readonly hosts: HostChange[];
}

/** A plan as the diff reads it: the resources and what each component stated about itself. */
export interface PlanForDiff {
  readonly resources: readonly PlanJsonResource[];
  readonly facts: readonly ComponentFacts[];
}

interface Group {
  readonly kind: ComponentFacts["kind"];
  readonly facts: ComponentFacts;
  /** Children by the role their component gave them. */
  readonly children: Map<string, PlanJsonResource>;
}

const groupKey = (facts: ComponentFacts): string => `${facts.kind === "host" ? "host" : "tenant"}:${facts.name}`;

/** Groups resources under the top-level component that stated them as its children, keyed `host:<id>` or `tenant:<id>`. */
function groupByComponent({ resources, facts }: PlanForDiff): Map<string, Group> {
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const factsOf = new Map(facts.map((f) => [`${f.type}::${f.name}`, f]));
  const groups = new Map<string, Group>();
  const topOf = (resource: PlanJsonResource): PlanJsonResource => {
    let current = resource;
    for (let parent = current.parent; parent !== null && byUrn.has(parent); parent = current.parent) current = byUrn.get(parent) as PlanJsonResource;
    return current;
  };
  for (const resource of resources) {
    const stated = factsOf.get(`${resource.type}::${resource.name}`);
    if (stated !== undefined && (resource.parent === null || !byUrn.has(resource.parent))) {
      groups.set(groupKey(stated), { kind: stated.kind, facts: stated, children: new Map() });
    }
  }
  for (const resource of resources) {
    const top = topOf(resource);
    if (top === resource) continue;
    const stated = factsOf.get(`${top.type}::${top.name}`);
    const role = stated?.roles[resource.name];
    if (stated !== undefined && role !== undefined) groups.get(groupKey(stated))?.children.set(role, resource);
  }
  return groups;
}

/** Paths (a.b[0].c) where two JSON values differ. */
export function changedPaths(before: unknown, after: unknown, prefix = ""): string[] {
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  if (isMap(before) && isMap(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((key) => changedPaths(before[key], after[key], prefix === "" ? key : `${prefix}.${key}`));
  }
  return [prefix === "" ? "(value)" : prefix];
}

/** The rendered openclaw.json a config child carries: its input `input`, or the entry `key` of that map. */
function configTextOf(inputs: Readonly<Record<string, unknown>>, child: { readonly input: string; readonly key?: string }): unknown {
  const value = inputs[child.input];
  if (child.key === undefined) return value;
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>)[child.key] : undefined;
}

function parseJson(text: unknown): unknown {
  try {
    return typeof text === "string" ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    return undefined;
  }
}

function compareChildren(before: Group, after: Group): { fields: string[]; replaced: boolean } {
  const fields = new Set<string>();
  let replaced = false;
  const roles = [...new Set([...before.children.keys(), ...after.children.keys()])];
  for (const role of roles) {
    const old = before.children.get(role);
    const neu = after.children.get(role);
    if (old === undefined || neu === undefined) {
      fields.add(`${role} ${old === undefined ? "added" : "removed"}`);
      continue;
    }
    // The runtime states how a change to each of its children reaches the gateway.
    const child = after.facts.runtimeChildren?.[role];
    if (child?.kind === "config") {
      const { input } = child;
      for (const path of changedPaths(parseJson(configTextOf(old.inputs, child)), parseJson(configTextOf(neu.inputs, child)))) fields.add(`config ${path}`);
      for (const path of changedPaths({ ...old.inputs, [input]: undefined }, { ...neu.inputs, [input]: undefined })) fields.add(`config file ${path}`);
      continue;
    }
    if (child?.kind === "follows") continue;
    const paths = changedPaths(withoutOwnLabels(old.inputs), withoutOwnLabels(neu.inputs));
    if (child?.kind === "runs-on") {
      if (paths.some((p) => child.runsOn.includes(p.split(".")[0] ?? ""))) fields.add(child.label);
      continue;
    }
    if (child?.kind === "gateway") {
      const providerMoved = withoutStack(old.options.provider) !== withoutStack(neu.options.provider);
      if (providerMoved) fields.add("host");
      const unshared = role.replace(new RegExp(`^${childRole.shared}-`), "");
      for (const path of paths) fields.add(child.fields[path.split(".")[0] ?? ""] ?? `${unshared} ${path}`);
      if (paths.some((p) => !child.inPlace.includes(p.split(".")[0] ?? "")) || providerMoved) replaced = true;
      continue;
    }
    if (role.endsWith(childRole.token)) {
      // A new token reaches the container through its (secret) environment: it restarts.
      if (paths.some((p) => p.startsWith("keepers"))) {
        fields.add("token rotation");
        replaced = true;
      }
      continue;
    }
    if (paths.length > 0)
      fields.add(
        child?.kind === "named" ? role.replace(new RegExp(`^${childRole.shared}-`), `${childRole.shared} `) : paths.map((p) => `${role} ${p}`).join(", "),
      );
  }
  return { fields: [...fields], replaced };
}

/** Inputs without clawfleet's own labels (gateway, host, stack), which change only with what they name. */
function withoutOwnLabels(inputs: Record<string, unknown>): Record<string, unknown> {
  const labels = inputs["labels"];
  if (!Array.isArray(labels)) return inputs;
  return { ...inputs, labels: (labels as { label: string }[]).filter((l) => !l.label.startsWith(reservedLabelPrefix)) };
}

/** A provider reference without its stack, so two stack files of one fleet compare. */
function withoutStack(reference: string | undefined): string | undefined {
  return reference?.replace(/^urn:pulumi:[^:]+::/, "");
}

function tierOf(group: Group): string {
  return group.kind;
}

function hostOf(group: Group): string {
  return group.facts.host;
}

/** Attributes shared-gateway config changes to the shared tenants whose agent or bindings moved. */
function sharedAgentChanges(before: Map<string, Group>, after: Map<string, Group>): Map<string, string[]> {
  const changes = new Map<string, string[]>();
  const sharedConfig = (groups: Map<string, Group>, host: string): Record<string, unknown> | undefined => {
    const group = groups.get(`host:${host}`);
    const role = `${childRole.shared}-${childRole.config}`;
    const child = group?.facts.runtimeChildren?.[role];
    const inputs = group?.children.get(role)?.inputs;
    return child?.kind === "config" && inputs !== undefined ? (parseJson(configTextOf(inputs, child)) as Record<string, unknown> | undefined) : undefined;
  };
  for (const [key, group] of after) {
    if (group.kind !== "shared" || before.get(key)?.kind !== "shared") continue;
    const id = group.facts.name;
    const oldHost = hostOf(before.get(key) as Group);
    const newHost = hostOf(group);
    const agentOf = (config: Record<string, unknown> | undefined) => {
      const agents = config?.["agents"] as { entries?: Record<string, unknown> } | undefined;
      const bindings = ((config?.["bindings"] ?? []) as { agentId: string }[]).filter((b) => b.agentId === id);
      return { agent: agents?.entries?.[id], bindings };
    };
    const paths = changedPaths(agentOf(sharedConfig(before, oldHost)), agentOf(sharedConfig(after, newHost)));
    if (paths.length > 0)
      changes.set(
        id,
        paths.map((p) => p.replace(/^agent\./, "agent ").replace(/^bindings/, "bindings")),
      );
  }
  return changes;
}

/** " at <state dir> on host <host>": where a tenant's state lives. */
function where(group: Group): string {
  const state = group.facts.stateDir;
  return `${state === undefined ? "" : ` at ${state}`} on host ${hostOf(group)}`;
}

function removal(id: string, old: Group, fields: string[], warning: string): TenantChange {
  return { id, effect: "removed", tier: tierOf(old), host: hostOf(old), fields, warnings: [`${id}: ${warning}`] };
}

/** Compares two plans tenant by tenant and host by host. */
export function diffPlans(stack: string, base: PlanForDiff, head: PlanForDiff): FleetDiff {
  const before = groupByComponent(base);
  const after = groupByComponent(head);
  const tenants: TenantChange[] = [];
  const hosts: HostChange[] = [];
  const sharedChanges = sharedAgentChanges(before, after);
  const keys = [...new Set([...before.keys(), ...after.keys()])].sort();
  for (const key of keys) {
    const old = before.get(key);
    const neu = after.get(key);
    const [kind, id] = key.split(":") as [string, string];
    if (kind === "host") {
      if (old === undefined) hosts.push({ id, effect: "added", fields: [], warnings: [] });
      else if (neu === undefined)
        hosts.push({
          id,
          effect: "removed",
          fields: [],
          warnings: [`host ${id} is removed: its shared gateway (if any) stops; state under its stateRoot is kept`],
        });
      else {
        const { fields, replaced } = compareChildren(old, neu);
        const warnings = replaced
          ? [`host ${id}: the shared gateway container is recreated (its tenants' chats pause for about ${replacementPauseSeconds} s)`]
          : [];
        if (fields.includes("image preflight"))
          warnings.push(
            `host ${id}: a new image: it first runs on a copy of one gateway's state and must become healthy, or no gateway changes; each gateway's state is backed up right before its container is replaced; the canary (first dedicated tenant by id) goes first`,
          );
        if (fields.length > 0) hosts.push({ id, effect: replaced ? "replaced" : "changed", fields, warnings });
      }
      continue;
    }
    if (old === undefined && neu !== undefined) {
      tenants.push({ id, effect: "added", tier: tierOf(neu), host: hostOf(neu), fields: [], warnings: [] });
    } else if (neu === undefined && old !== undefined) {
      const what = old.kind === "dedicated" ? "gateway container and Serve entry are removed" : "agent and bindings leave the shared gateway";
      tenants.push(removal(id, old, [], `${what}; state is kept${where(old)} (to delete it, declare the tenant with purge: { confirm: ${id} })`));
    } else if (old !== undefined && neu !== undefined) {
      if (neu.kind === "purge") {
        tenants.push(removal(id, old, ["purge"], `PURGE: its gateway is removed and its state${where(old)} is deleted for good`));
        continue;
      }
      if (old.kind !== neu.kind) {
        tenants.push({
          id,
          effect: "replaced",
          tier: `${old.kind} -> ${neu.kind}`,
          host: hostOf(neu),
          fields: ["tier"],
          warnings: [`${id}: moves from the ${old.kind} to the ${neu.kind} tier; the new gateway starts with the state at its new location`],
        });
        continue;
      }
      const { fields, replaced } = compareChildren(old, neu);
      fields.push(...(sharedChanges.get(id) ?? []));
      if (fields.length === 0) continue;
      const warnings: string[] = [];
      const oldHost = hostOf(old);
      const newHost = hostOf(neu);
      if (oldHost !== newHost) {
        warnings.push(
          neu.children.has(childRole.move)
            ? `${id}: moves from host ${oldHost} to ${newHost}; the old gateway stops and its state is copied to ${newHost} before the new one starts (the copy on ${oldHost} is renamed aside and kept)`
            : `${id}: moves from host ${oldHost} to ${newHost}; its state stays on ${oldHost}: add movedFrom: ${oldHost} to copy it (README, Operations)`,
        );
      }
      if (replaced) warnings.push(`${id}: the gateway container is recreated (chats pause for about ${replacementPauseSeconds} s; state is kept)`);
      if (fields.includes("token rotation"))
        warnings.push(`${id}: the gateway token changes; hand out the new one (pulumi stack output tenants --show-secrets)`);
      tenants.push({ id, effect: replaced ? "replaced" : "changed", tier: tierOf(neu), host: newHost, fields, warnings });
    }
  }
  return { stack, tenants, hosts };
}
