import { isDeepStrictEqual } from "node:util";
import type { PlannedResource } from "../../../cli/mock-run";

/*
 * A stand-in for the Pulumi engine (pulumi/pulumi, pkg/resource/deploy), so the resources the
 * program registers under the mock runtime can be applied for real. Each rule below copies
 * the engine and names the source it copies; test/standin/engine.test.ts tests each one.
 *
 * E1 Steps for resources in the program run in dependency order, independent ones in
 *    parallel (deployment_executor.go, step_executor.go: a step waits for its dependencies).
 * E2 Resources that left the program are deleted LAST, after every create and update, in
 *    reverse dependency order (step_generator.go GenerateDeletes / ScheduleDeletes, run by
 *    deployment_executor.go once the program has finished registering).
 * E3 A diff compares the program's new inputs with the OUTPUTS the provider read back and
 *    stored in state, not with the inputs sent (step_generator.go diff → provider.Diff with
 *    olds = old outputs; the Terraform bridge diffs against prior state).
 * E4 A replacement creates the new object first and deletes the old one in the delete phase,
 *    unless deleteBeforeReplace is set (step_generator.go: CreateReplacement + ReplaceStep,
 *    the old copy's DeleteStep is pending-delete until the end).
 * E5 With deleteBeforeReplace, resources that depend on the replaced one through an input
 *    that would become unknown, and whose provider says that forces their replacement, are
 *    deleted first, dependents before what they depend on (step_generator.go
 *    calculateDependentReplacements).
 * E6 replaceOnChanges turns a change of a listed input ("*" = any) into a replacement
 *    (step_generator.go applyReplaceOnChanges).
 * E7 A provider change (another provider resource, e.g. another host's Docker) replaces the
 *    resource only when the provider's DiffConfig says so; pulumi-docker never does. A
 *    resource with unchanged inputs is "same" and from then on points at the new provider
 *    while its object stays where it was (step_generator.go providerChanged → DiffConfig).
 * E8 After a step fails no new step starts anywhere (step_executor.go cancels on the first
 *    error unless --continue-on-error); steps already running finish. A create that failed
 *    after the object existed is kept in state with init errors, and the next run sends an
 *    update for it even when nothing changed (step_generator.go: hasInitErrors → UpdateStep).
 * E9 retainOnDelete: the delete step drops the resource from state without calling the
 *    provider (step_executor.go / deployment.go retainOnDelete).
 * E10 refresh reads every resource back through its provider and stores what it read; an
 *    object that is gone leaves state (refresh.go / step.go RefreshStep).
 */

/** A value the engine does not know yet (a replaced dependency's output, during a plan). */
export const unknown: unique symbol = Symbol("unknown");

export interface ProviderConfig {
  /** The provider resource's URN, or `default:<package>`. */
  readonly urn: string;
  readonly inputs: Record<string, unknown>;
}

export interface Diff {
  /** Inputs whose new value differs from state. */
  readonly changed: string[];
  /** Those among them that the provider cannot change in place. */
  readonly replaces: string[];
}

/** Thrown by a create that failed after the object existed (E8). */
export class PartialCreateError extends Error {
  constructor(
    message: string,
    readonly id: string,
    readonly outputs: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** What a provider does for one resource type; copies of the real providers live beside this file. */
export interface ResourceProvider {
  diff(olds: Record<string, unknown>, news: Record<string, unknown>): Diff;
  create(inputs: Record<string, unknown>, provider: ProviderConfig, urn: string): Promise<{ id: string; outputs: Record<string, unknown> }>;
  update(id: string, olds: Record<string, unknown>, news: Record<string, unknown>, provider: ProviderConfig): Promise<Record<string, unknown>>;
  delete(id: string, outputs: Record<string, unknown>, provider: ProviderConfig): Promise<void>;
  /** The object's state as the provider reads it back, or undefined when it is gone. */
  read(id: string, outputs: Record<string, unknown>, provider: ProviderConfig): Promise<Record<string, unknown> | undefined>;
}

export interface StateEntry {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly custom: boolean;
  readonly id: string;
  /** The inputs last sent. */
  readonly inputs: Record<string, unknown>;
  /** What the provider read back after the last create or update (E3 diffs against these). */
  readonly outputs: Record<string, unknown>;
  readonly provider: ProviderConfig | undefined;
  readonly dependencies: string[];
  readonly propertyDependencies: Record<string, string[]>;
  readonly retainOnDelete: boolean;
  readonly initErrors: string[];
}

export type Op = "create" | "update" | "replace" | "delete" | "same" | "retain";

export interface StepEvent {
  readonly urn: string;
  readonly name: string;
  readonly type: string;
  readonly op: Op;
  /** Inputs that changed, for update and replace. */
  readonly changed: string[];
}

export class DeploymentError extends Error {
  constructor(
    message: string,
    readonly events: StepEvent[],
  ) {
    super(message);
  }
}

/** Where a resource's provider reference points: a provider resource's URN, or the package default. */
function providerUrnOf(resource: PlannedResource): string | undefined {
  if (!resource.custom || resource.type.startsWith("pulumi:providers:")) return undefined;
  const reference = resource.options.provider;
  if (reference === undefined) return `default:${resource.type.split(":")[0]}`;
  return reference.slice(0, reference.lastIndexOf("::"));
}

function isProviderType(type: string): boolean {
  return type.startsWith("pulumi:providers:");
}

export class Engine {
  /** The stack's state: what the last runs left, by URN. */
  readonly state = new Map<string, StateEntry>();
  /** Every step taken, in order, across runs. */
  readonly events: StepEvent[] = [];

  constructor(
    /** Providers by resource type; provider resources themselves are handled here. */
    private readonly providers: Readonly<Record<string, ResourceProvider>>,
    private readonly progress: (line: string) => void = () => undefined,
  ) {}

  private providerFor(type: string): ResourceProvider {
    const provider = this.providers[type];
    if (provider === undefined) throw new Error(`stand-in: no provider model for ${type}`);
    return provider;
  }

  private providerConfig(urn: string | undefined): ProviderConfig | undefined {
    if (urn === undefined) return undefined;
    if (urn.startsWith("default:")) return { urn, inputs: {} };
    const entry = this.state.get(urn);
    if (entry === undefined) throw new Error(`stand-in: provider ${urn} is not in state`);
    return { urn, inputs: entry.inputs };
  }

  /** Mock ids (`<name>-id`) in the program's inputs, replaced with the real ids in state. */
  private resolve(value: unknown, byName: Map<string, string>, pendingReplace: Set<string>): unknown {
    if (typeof value === "string" && value.endsWith("-id")) {
      const urn = byName.get(value.slice(0, -3));
      if (urn !== undefined) {
        if (pendingReplace.has(urn)) return unknown;
        const entry = this.state.get(urn);
        if (entry !== undefined) return entry.id;
      }
    }
    if (Array.isArray(value)) return value.map((item) => this.resolve(item, byName, pendingReplace));
    if (typeof value === "object" && value !== null) {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, this.resolve(item, byName, pendingReplace)]));
    }
    return value;
  }

  /** What one resource's step would be, against the current state. */
  private decide(resource: PlannedResource, inputs: Record<string, unknown>): { op: Op; changed: string[] } {
    const old = this.state.get(resource.urn);
    if (old === undefined) return { op: "create", changed: [] };
    if (!resource.custom) return { op: "same", changed: [] };
    if (isProviderType(resource.type)) {
      // E7: DiffConfig of pulumi-docker / -command / -random never asks for replacement.
      const changed = Object.keys({ ...old.inputs, ...inputs }).filter((key) => !isDeepStrictEqual(old.inputs[key], inputs[key]));
      return { op: changed.length > 0 ? "update" : "same", changed };
    }
    // E3: against what the provider read back.
    const diff = this.providerFor(resource.type).diff(old.outputs, inputs);
    // E6
    const onChanges = resource.options.replaceOnChanges;
    const forced = diff.changed.filter((key) => onChanges.includes("*") || onChanges.includes(key));
    const replaces = [...new Set([...diff.replaces, ...forced])];
    if (replaces.length > 0) return { op: "replace", changed: diff.changed };
    // E8: init errors mean an update, changed or not.
    if (diff.changed.length > 0 || old.initErrors.length > 0) return { op: "update", changed: diff.changed };
    return { op: "same", changed: [] };
  }

  /** The steps `pulumi preview` would show for this program against the current state. */
  plan(program: readonly PlannedResource[]): StepEvent[] {
    const byName = new Map(program.map((r) => [r.name, r.urn]));
    const replaced = new Set<string>();
    const steps: StepEvent[] = [];
    for (const resource of topological(program)) {
      const inputs = this.resolve(resource.revealedInputs, byName, replaced) as Record<string, unknown>;
      const { op, changed } = this.decide(resource, inputs);
      if (op === "replace" || op === "create") replaced.add(resource.urn);
      steps.push({ urn: resource.urn, name: resource.name, type: resource.type, op, changed });
    }
    const planned = new Set(program.map((r) => r.urn));
    for (const entry of this.deleteOrder([...this.state.values()].filter((e) => !planned.has(e.urn)))) {
      steps.push({ urn: entry.urn, name: entry.name, type: entry.type, op: entry.retainOnDelete ? "retain" : "delete", changed: [] });
    }
    return steps;
  }

  /** `pulumi up`: brings the world to the program, step by step, as the engine does. */
  async apply(program: readonly PlannedResource[]): Promise<StepEvent[]> {
    const start = this.events.length;
    const byName = new Map(program.map((r) => [r.name, r.urn]));
    const byUrn = new Map(program.map((r) => [r.urn, r]));
    const pendingDeletes: StateEntry[] = [];
    /** Dependents a delete-first replacement removed (E5): their next step shows as a replacement. */
    const replacedEarly = new Set<string>();
    const failures: Error[] = [];
    const done = new Map<string, Promise<void>>();

    const schedule = (resource: PlannedResource): Promise<void> => {
      const existing = done.get(resource.urn);
      if (existing !== undefined) return existing;
      const dependencies = [...resource.options.dependsOn, ...(resource.options.provider === undefined ? [] : [providerUrnOf(resource) ?? ""])]
        .map((urn) => byUrn.get(urn))
        .filter((r): r is PlannedResource => r !== undefined);
      if (resource.parent !== undefined && byUrn.has(resource.parent)) dependencies.push(byUrn.get(resource.parent) as PlannedResource);
      const promise = Promise.all(dependencies.map(schedule)).then(async () => {
        // E8: no new step after a failure.
        if (failures.length > 0) return;
        try {
          await this.step(resource, byName, pendingDeletes, replacedEarly);
        } catch (error) {
          failures.push(error as Error);
        }
      });
      done.set(resource.urn, promise);
      return promise;
    };
    await Promise.all(program.map(schedule));
    if (failures.length > 0) {
      throw new DeploymentError(failures.map((f) => f.message).join("\n"), this.events.slice(start));
    }

    // E2 and E4: removed resources and the old copies of replaced ones go last.
    const planned = new Set(program.map((r) => r.urn));
    const removed = [...this.state.values()].filter((e) => !planned.has(e.urn));
    for (const entry of this.deleteOrder([...removed, ...pendingDeletes])) {
      try {
        await this.deleteEntry(entry, !pendingDeletes.includes(entry));
      } catch (error) {
        throw new DeploymentError((error as Error).message, this.events.slice(start));
      }
    }
    return this.events.slice(start);
  }

  /** Entries in reverse dependency order: dependents first. */
  private deleteOrder(entries: StateEntry[]): StateEntry[] {
    const urns = new Set(entries.map((e) => e.urn));
    const ordered: StateEntry[] = [];
    const visited = new Set<StateEntry>();
    const visit = (entry: StateEntry): void => {
      if (visited.has(entry)) return;
      visited.add(entry);
      // Everything that depends on this entry is deleted before it.
      for (const other of entries) {
        if (other !== entry && (other.dependencies.includes(entry.urn) || other.provider?.urn === entry.urn) && urns.has(other.urn)) visit(other);
      }
      ordered.push(entry);
    };
    for (const entry of entries) visit(entry);
    return ordered;
  }

  private record(entry: { urn: string; name: string; type: string }, op: Op, changed: string[] = []): void {
    this.events.push({ urn: entry.urn, name: entry.name, type: entry.type, op, changed });
    if (op !== "same") this.progress(`${op} ${entry.name}${changed.length > 0 ? ` (${changed.join(", ")})` : ""}`);
  }

  private async deleteEntry(entry: StateEntry, fromState: boolean): Promise<void> {
    if (fromState) this.state.delete(entry.urn);
    // E9
    if (entry.retainOnDelete) {
      this.record(entry, "retain");
      return;
    }
    if (entry.custom && !isProviderType(entry.type))
      await this.providerFor(entry.type).delete(entry.id, entry.outputs, entry.provider ?? { urn: "", inputs: {} });
    this.record(entry, "delete");
  }

  private entryFor(resource: PlannedResource, inputs: Record<string, unknown>, id: string, outputs: Record<string, unknown>, initErrors: string[]): StateEntry {
    return {
      urn: resource.urn,
      type: resource.type,
      name: resource.name,
      custom: resource.custom,
      id,
      inputs,
      outputs,
      provider: this.providerConfig(providerUrnOf(resource)),
      dependencies: resource.options.dependsOn,
      propertyDependencies: resource.options.propertyDependencies,
      retainOnDelete: resource.options.retainOnDelete,
      initErrors,
    };
  }

  private async create(resource: PlannedResource, inputs: Record<string, unknown>): Promise<void> {
    if (!resource.custom || isProviderType(resource.type)) {
      this.state.set(resource.urn, this.entryFor(resource, inputs, `${resource.name}-id`, inputs, []));
      return;
    }
    const provider = this.providerConfig(providerUrnOf(resource)) as ProviderConfig;
    try {
      const { id, outputs } = await this.providerFor(resource.type).create(inputs, provider, resource.urn);
      this.state.set(resource.urn, this.entryFor(resource, inputs, id, outputs, []));
    } catch (error) {
      // E8: an object that exists stays in state, marked.
      if (error instanceof PartialCreateError) this.state.set(resource.urn, this.entryFor(resource, inputs, error.id, error.outputs, [error.message]));
      throw error;
    }
  }

  /** E5: what must be deleted before `target` when it is replaced delete-first. */
  private dependentsToReplace(target: StateEntry): StateEntry[] {
    const found: StateEntry[] = [];
    const visit = (replaced: StateEntry): void => {
      for (const entry of this.state.values()) {
        if (found.includes(entry) || entry === target || !entry.custom || isProviderType(entry.type)) continue;
        const affected = Object.entries(entry.propertyDependencies)
          .filter(([, urns]) => urns.includes(replaced.urn))
          .map(([key]) => key);
        if (affected.length === 0) continue;
        const inputs = { ...entry.inputs, ...Object.fromEntries(affected.map((key) => [key, unknown])) };
        if (this.providerFor(entry.type).diff(entry.outputs, inputs).replaces.length === 0) continue;
        visit(entry);
        found.push(entry);
      }
    };
    visit(target);
    // Found depth first, each after its own dependents: dependents of dependents go first, as the engine
    // deletes them in reverse dependency order (pkg/resource/deploy/step_generator.go, delete-before-replace dependents).
    return found;
  }

  private async step(resource: PlannedResource, byName: Map<string, string>, pendingDeletes: StateEntry[], replacedEarly: Set<string>): Promise<void> {
    const inputs = this.resolve(resource.revealedInputs, byName, new Set()) as Record<string, unknown>;
    const old = this.state.get(resource.urn);
    const { op, changed } = this.decide(resource, inputs);
    switch (op) {
      case "same":
        // E7: a "same" resource still takes the new provider reference.
        if (old !== undefined) this.state.set(resource.urn, { ...old, provider: this.providerConfig(providerUrnOf(resource)) });
        this.record(resource, "same");
        return;
      case "create":
        await this.create(resource, inputs);
        this.record(resource, replacedEarly.has(resource.urn) ? "replace" : "create");
        return;
      case "update": {
        const entry = old as StateEntry;
        if (isProviderType(resource.type)) {
          this.state.set(resource.urn, this.entryFor(resource, inputs, entry.id, inputs, []));
        } else {
          const provider = this.providerConfig(providerUrnOf(resource)) as ProviderConfig;
          const outputs = await this.providerFor(resource.type).update(entry.id, entry.outputs, inputs, provider);
          this.state.set(resource.urn, this.entryFor(resource, inputs, entry.id, outputs, []));
        }
        this.record(resource, "update", changed);
        return;
      }
      case "replace": {
        const entry = old as StateEntry;
        if (resource.options.deleteBeforeReplace) {
          // E5, then the old object, with the provider that made it.
          for (const dependent of this.dependentsToReplace(entry)) {
            this.state.delete(dependent.urn);
            await this.providerFor(dependent.type).delete(dependent.id, dependent.outputs, dependent.provider as ProviderConfig);
            replacedEarly.add(dependent.urn);
          }
          this.state.delete(entry.urn);
          await this.providerFor(resource.type).delete(entry.id, entry.outputs, entry.provider as ProviderConfig);
          await this.create(resource, inputs);
        } else {
          // E4: the old copy waits for the delete phase; if the new one cannot be made, the old one stays.
          this.state.delete(entry.urn);
          try {
            await this.create(resource, inputs);
          } catch (error) {
            if (!this.state.has(entry.urn)) this.state.set(entry.urn, entry);
            throw error;
          }
          pendingDeletes.push(entry);
        }
        this.record(resource, "replace", changed);
        return;
      }
      default:
        throw new Error(`stand-in: unexpected step ${op}`);
    }
  }

  /** E10: `pulumi refresh`. Returns the resources whose state changed (drift). */
  async refresh(): Promise<{ urn: string; name: string; fields: string[] }[]> {
    const drift: { urn: string; name: string; fields: string[] }[] = [];
    for (const entry of [...this.state.values()]) {
      if (!entry.custom || isProviderType(entry.type)) continue;
      const read = await this.providerFor(entry.type).read(entry.id, entry.outputs, entry.provider as ProviderConfig);
      if (read === undefined) {
        this.state.delete(entry.urn);
        drift.push({ urn: entry.urn, name: entry.name, fields: ["(gone)"] });
        continue;
      }
      // Property maps have no key order (resource/properties.go DeepEquals).
      const fields = Object.keys({ ...entry.outputs, ...read }).filter((key) => !isDeepStrictEqual(entry.outputs[key], read[key]));
      if (fields.length > 0) drift.push({ urn: entry.urn, name: entry.name, fields });
      this.state.set(entry.urn, { ...entry, outputs: read });
    }
    return drift;
  }
}

/** The program's resources with every dependency before its dependents. */
export function topological(program: readonly PlannedResource[]): PlannedResource[] {
  const byUrn = new Map(program.map((r) => [r.urn, r]));
  const ordered: PlannedResource[] = [];
  const seen = new Set<string>();
  const visit = (resource: PlannedResource): void => {
    if (seen.has(resource.urn)) return;
    seen.add(resource.urn);
    const provider = resource.options.provider === undefined ? undefined : resource.options.provider.slice(0, resource.options.provider.lastIndexOf("::"));
    for (const urn of [
      ...resource.options.dependsOn,
      ...(provider === undefined ? [] : [provider]),
      ...(resource.parent === undefined ? [] : [resource.parent]),
    ]) {
      const dependency = byUrn.get(urn);
      if (dependency !== undefined) visit(dependency);
    }
    ordered.push(resource);
  };
  for (const resource of program) visit(resource);
  return ordered;
}
