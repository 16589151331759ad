/**
 * What a component states about itself as it registers: its kind, its host, where its state
 * lives and the role of each child. The CLI's diff reads these instead of rebuilding them from
 * rendered scripts and resource names. Under `pulumi up` nothing collects them.
 */

export type ComponentKind = "host" | "dedicated" | "shared" | "purge";

/** How a change to one of the runtime's children reaches the gateway, as the diff reports it. */
export type RuntimeChild =
  /**
   * It runs the gateway: `fields` names the declaration field each top-level input carries (`memory`: `memoryMb`);
   * a change to an input outside `inPlace`, or a new provider, replaces it.
   */
  | { readonly kind: "gateway"; readonly fields: Readonly<Record<string, string>>; readonly inPlace: readonly string[] }
  /** It writes the rendered openclaw.json, which its input `input` carries (under `key` when that input is a map). */
  | { readonly kind: "config"; readonly input: string; readonly key?: string }
  /** Its changes follow the gateway's own (port, image, a new gateway), so the diff leaves it out. */
  | { readonly kind: "follows" }
  /** A change is reported by its role alone (a rendered script says nothing to a reviewer). */
  | { readonly kind: "named" }
  /**
   * It acts only when one of `runsOn` changes (it is replaced then), and is reported as `label`; a change to any other
   * input only updates what it keeps for next time, and is left out (the image preflight: it runs for a new image).
   */
  | { readonly kind: "runs-on"; readonly runsOn: readonly string[]; readonly label: string };

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
  /** How a change to each of the runtime's children reaches the gateway, by the child's role (stated by the runtime). */
  readonly runtimeChildren?: Readonly<Record<string, RuntimeChild>> | undefined;
  /** What a child does, in a few words, by the child's resource name (`alice-claim`: `claims port 18101`): plan's tree shows it. */
  readonly summaries?: Readonly<Record<string, string>> | undefined;
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
