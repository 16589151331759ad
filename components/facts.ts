/**
 * What a component states about itself as it registers: its kind, its host, where its state
 * lives and the role of each child. The CLI's diff reads these instead of rebuilding them from
 * rendered scripts and resource names. Under `pulumi up` nothing collects them.
 */

export type ComponentKind = "host" | "dedicated" | "shared" | "purge";

/** How the runtime applies a change to one child's inputs, as the diff reports it. */
export interface RuntimeInputs {
  /** The declaration field each top-level input carries (`memory`: `memoryMb`); others are named by the input. */
  readonly fields: Readonly<Record<string, string>>;
  /** Inputs the runtime changes on the running gateway; a change to any other input, or a new provider, replaces it. */
  readonly inPlace: readonly string[];
}

export interface ComponentFacts {
  readonly kind: ComponentKind;
  /** The component's Pulumi type token (`componentType` in names.ts). */
  readonly type: string;
  /** The component's resource name: the tenant id or the host id. */
  readonly name: string;
  /** The host it runs on. */
  readonly host: string;
  /** Where the tenant's state lives on its host (tenants only). */
  readonly stateDir?: string | undefined;
  /** Each child's role, by the child's resource name (`alice-config`: `config`; `gw1-shared-config`: `shared-config`). */
  readonly roles: Readonly<Record<string, string>>;
  /** For the children that run a gateway, by role: how a change to their inputs reaches it (from the runtime). */
  readonly runtimeInputs?: Readonly<Record<string, RuntimeInputs>> | undefined;
}

let collector: ComponentFacts[] | undefined;

/** Called by each component once its children exist. */
export function recordFacts(facts: ComponentFacts): void {
  collector?.push(facts);
}

/** Runs `run` (a program run under the mock runtime) and returns its result with the facts recorded meanwhile. */
export async function collectFacts<T>(run: () => Promise<T>): Promise<{ result: T; facts: ComponentFacts[] }> {
  const previous = collector;
  const facts: ComponentFacts[] = [];
  collector = facts;
  try {
    return { result: await run(), facts };
  } finally {
    collector = previous;
  }
}
