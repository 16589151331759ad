import type { PlannedResource } from "../../../cli/mock-run";
import { Deployer } from "../standin/deployer";
import type { ProviderConfig, StateEntry, StepEvent } from "../standin/engine";

/*
 * What the engine stand-in (../standin/engine.ts) predicts for the state the real engine left:
 * the real stack's state (`pulumi stack export --show-secrets`) loaded into the stand-in, then its
 * plan for the program's mock run. Set beside the real engine's steps, any difference is a rule the
 * stand-in does not copy, or an input the mock run records otherwise than the SDK sends it.
 */

const sigKey = "4dabf18193072939515e22adb298388d";

interface ExportedResource {
  urn: string;
  type: string;
  custom?: boolean;
  id?: string;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
  dependencies?: string[];
  propertyDependencies?: Record<string, string[]>;
  provider?: string;
  retainOnDelete?: boolean;
  initErrors?: string[];
  delete?: boolean;
}

/** A value of an exported state with its secrets in plain text (`--show-secrets` writes them as `plaintext` JSON). */
function revealExported(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(revealExported);
  if (typeof value === "object" && value !== null) {
    const record = value as Record<string, unknown>;
    if (sigKey in record) {
      if (typeof record["plaintext"] !== "string") throw new Error("the exported state holds an encrypted secret: export it with --show-secrets");
      return revealExported(JSON.parse(record["plaintext"]));
    }
    return Object.fromEntries(Object.entries(record).map(([key, item]) => [key, revealExported(item)]));
  }
  return value;
}

const isDefaultProvider = (urn: string) => urn.includes("pulumi:providers:") && urn.slice(urn.lastIndexOf("::") + 2).startsWith("default");

/**
 * The real engine's state as the stand-in keeps it. The stack resource and the default providers
 * stay out (the mock run registers neither; the stand-in stands in for default providers itself),
 * and so do the `version` and `__internal` the engine adds to a provider's inputs.
 */
export function standinStateOf(exported: string): StateEntry[] {
  const deployment = JSON.parse(exported) as { deployment: { resources?: ExportedResource[] } };
  const resources = (deployment.deployment.resources ?? []).filter((r) => r.delete !== true);
  const inputsOf = (resource: ExportedResource): Record<string, unknown> => {
    const inputs = revealExported(resource.inputs ?? {}) as Record<string, unknown>;
    if (resource.type.startsWith("pulumi:providers:")) {
      delete inputs["version"];
      delete inputs["__internal"];
    }
    return inputs;
  };
  const providerOf = (reference: string | undefined): ProviderConfig | undefined => {
    if (reference === undefined || reference === "") return undefined;
    const urn = reference.slice(0, reference.lastIndexOf("::"));
    if (isDefaultProvider(urn)) return { urn: `default:${urn.split("::")[2]?.split(":").pop() ?? ""}`, inputs: {} };
    const provider = resources.find((r) => r.urn === urn);
    if (provider === undefined) throw new Error(`the exported state has no provider ${urn}`);
    return { urn, inputs: inputsOf(provider) };
  };
  return resources
    .filter((r) => r.type !== "pulumi:pulumi:Stack" && !isDefaultProvider(r.urn))
    .map((r) => ({
      urn: r.urn,
      type: r.type,
      name: r.urn.slice(r.urn.lastIndexOf("::") + 2),
      custom: r.custom === true,
      id: r.id ?? "",
      inputs: inputsOf(r),
      outputs: revealExported(r.outputs ?? {}) as Record<string, unknown>,
      provider: providerOf(r.provider),
      dependencies: r.dependencies ?? [],
      propertyDependencies: r.propertyDependencies ?? {},
      retainOnDelete: r.retainOnDelete === true,
      initErrors: r.initErrors ?? [],
    }));
}

/**
 * The outputs the engine hands the program from state that the mock run cannot make up: each gateway token the real
 * random provider made, by resource name (the mock run gives a new one its own value).
 */
export function knownTokens(exported: string): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    standinStateOf(exported)
      .filter((entry) => entry.type === "random:index/randomPassword:RandomPassword")
      .map((entry) => [entry.name, { result: entry.outputs["result"] }]),
  );
}

/** The stand-in's steps for `program` against the real state, after the stand-in's own refresh when asked. */
export async function standinPrediction(options: {
  stack: string;
  env: NodeJS.ProcessEnv;
  exported: string;
  program: readonly PlannedResource[];
  refresh: boolean;
}): Promise<StepEvent[]> {
  const { engine } = new Deployer(options.stack, options.env, () => undefined);
  for (const entry of standinStateOf(options.exported)) engine.state.set(entry.urn, entry);
  if (options.refresh) await engine.refresh();
  return engine.plan(options.program);
}

/** Steps the mock run also registers: the engine's stack resource and default providers left out. */
export function comparableSteps(steps: readonly StepEvent[]): StepEvent[] {
  return steps.filter((s) => s.type !== "pulumi:pulumi:Stack" && !isDefaultProvider(s.urn));
}
