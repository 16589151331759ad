import * as pulumi from "@pulumi/pulumi";

/**
 * A resource registration under the mock runtime, in far fewer steps than the SDK's own
 * (runtime/resource.js registerResource and the mock monitor's registerResource, @pulumi/pulumi
 * 3.270.0): no protobuf request, no serialized operation chain, no promise per plain input value,
 * no second serialization of the mock's answer. What the mocks receive and what the resource's
 * outputs resolve to is the same: inputs serialized and read back as the SDK does (Outputs,
 * promises and resources through the SDK's own serializer), dependencies gathered in the same
 * order, the answer resolved through the SDK's resolveProperties. A registration using an
 * option this path does not cover goes the SDK's way.
 */

/** The registration request as the mocks read it (the protobuf request's getters). */
export interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getProvider(): string;
  getProtect(): boolean;
  getRetainondelete(): boolean;
  getDeletebeforereplace(): boolean;
  getDependenciesList(): string[];
  getPropertydependenciesMap(): { forEach(callback: (value: { getUrnsList(): string[] }, key: string) => void): void };
  getReplaceonchangesList(): string[];
  getIgnorechangesList(): string[];
  getAdditionalsecretoutputsList(): string[];
}

/** What the mock answers for one resource: its id, its state, and which state keys are secret. */
export interface MockAnswer {
  readonly id: string;
  readonly state: Record<string, unknown>;
  readonly secretOutputs: readonly string[];
}

type Resolver = (value: unknown, isKnown: boolean, isSecret: boolean, deps?: pulumi.Resource[], error?: Error) => void;
type Registration = (...args: unknown[]) => void;

interface Sdk {
  readonly rpc: {
    transferProperties(onto: object, label: string, props: Record<string, unknown>): Record<string, Resolver>;
    serializeProperty(ctx: string, prop: unknown, dependentResources: Set<pulumi.Resource>, opts: object): Promise<unknown>;
    serializeProperties(label: string, props: Record<string, unknown>): Promise<Record<string, unknown>>;
    deserializeProperties(struct: unknown, keepUnknowns?: boolean): Record<string, unknown>;
    deserializeProperty(prop: unknown, keepUnknowns?: boolean): unknown;
    isRpcSecret(value: unknown): boolean;
    unwrapRpcSecret(value: unknown): unknown;
    resolveProperties(
      res: object,
      resolvers: Record<string, Resolver>,
      t: string,
      name: string,
      allProps: Record<string, unknown>,
      deps: Record<string, pulumi.Resource[]>,
      err: Error | undefined,
      keepUnknowns: boolean,
    ): void;
  };
  readonly dependsOn: {
    gatherExplicitDependencies(dependsOn: unknown): Promise<pulumi.Resource[]>;
    getAllTransitivelyReferencedResourceURNs(resources: Set<pulumi.Resource>, exclude: Set<pulumi.Resource>): Promise<Set<string>>;
  };
  readonly settings: { rpcKeepAlive(): () => void; getMonitor(): unknown };
  readonly output: { isUnknown(value: unknown): boolean };
}

function sdk(): Sdk {
  return {
    rpc: require("@pulumi/pulumi/runtime/rpc") as Sdk["rpc"],
    dependsOn: require("@pulumi/pulumi/runtime/dependsOn") as Sdk["dependsOn"],
    settings: require("@pulumi/pulumi/runtime/settings") as Sdk["settings"],
    output: require("@pulumi/pulumi/output") as Sdk["output"],
  };
}

/** Every resource option the SDK has, for a custom or a component resource. */
type ResourceOptions = pulumi.CustomResourceOptions & pulumi.ComponentResourceOptions;

/**
 * What the fast path does with each resource option the SDK has:
 * - `sent`: it reads the option into the registration request as the SDK does;
 * - `engineOnly`: the SDK only passes it on to the engine (which provider plugin to load); the mock
 *   monitor ignores it and the plan does not show it, so the fast path leaves it out as well
 *   (every provider package sets `version` on each of its resources);
 * - `sdkOnly`: only the SDK's path handles it, so a registration that sets it goes the SDK's way;
 * - `neverRegistered`: a resource with it is read or looked up, never registered (the SDK calls
 *   readResource or getResource instead), so it never reaches this path.
 * Typed over the SDK's own option interfaces: an option a new SDK adds fails to compile here
 * until it is sorted, instead of being ignored.
 */
const optionHandling: { readonly [K in keyof Required<ResourceOptions>]: "sent" | "engineOnly" | "sdkOnly" | "neverRegistered" } = {
  parent: "sent",
  dependsOn: "sent",
  protect: "sent",
  provider: "sent",
  retainOnDelete: "sent",
  deleteBeforeReplace: "sent",
  replaceOnChanges: "sent",
  ignoreChanges: "sent",
  additionalSecretOutputs: "sent",
  id: "neverRegistered",
  urn: "neverRegistered",
  providers: "sdkOnly",
  version: "engineOnly",
  pluginDownloadURL: "engineOnly",
  aliases: "sdkOnly",
  transformations: "sdkOnly",
  transforms: "sdkOnly",
  hooks: "sdkOnly",
  stateMigrations: "sdkOnly",
  replaceWith: "sdkOnly",
  deletedWith: "sdkOnly",
  replacementTrigger: "sdkOnly",
  import: "sdkOnly",
  customTimeouts: "sdkOnly",
  hideDiffs: "sdkOnly",
  envVarMappings: "sdkOnly",
};

const optionNames = Object.keys(optionHandling) as (keyof ResourceOptions)[];

/** Whether the fast path covers a registration: not a remote component, no package reference, no option only the SDK handles set. */
function coveredByFastPath(remote: boolean, opts: ResourceOptions, packageRef: unknown): boolean {
  if (remote || packageRef !== undefined) return false;
  for (const option of optionNames) {
    if (optionHandling[option] !== "sdkOnly") continue;
    const value: unknown = opts[option];
    if (value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0)) return false;
  }
  return true;
}

const notPlain = Symbol("not plain");

export interface FastRegistrationOptions {
  /** The SDK's registerResource, for what this path does not cover. */
  readonly sdkRegistration: Registration;
  readonly stack: string;
  readonly project: string;
  /** Called for a registration that goes the SDK's way, with its place in construction order. */
  readonly onSdkRegistration: (parentUrn: string, type: string, name: string, sequence: number) => void;
  /** The mocks' answer to a registration (the `sequence`-th resource constructed): records it and returns its id and state. */
  readonly answer: (request: RegisterRequest, type: string, name: string, custom: boolean, inputs: Record<string, unknown>, sequence: number) => MockAnswer;
  /** The fields of Struct.fromJavaScript(value) as its toJavaScript gives them (inputs and state are read back through it as the SDK does). */
  readonly fieldsOf: (value: Record<string, unknown>) => Record<string, unknown>;
  /** Called with a registration that failed. */
  readonly onFailure: (error: Error) => void;
}

/** The registerResource the SDK's Resource constructor calls, for a run under the mocks. */
export function fastRegistration(options: FastRegistrationOptions): Registration {
  const { rpc, dependsOn, settings, output } = sdk();
  const sig = pulumi.runtime.specialSigKey;
  const secretSig = pulumi.runtime.specialSecretSig;
  const OutputClass = pulumi.Output as unknown as new (...args: unknown[]) => pulumi.Output<unknown>;
  // Kept on the resource under symbols rather than in WeakMaps: a young-generation GC walks every weak table that holds young keys.
  const urnKey = Symbol("clawfleet.urn");
  const cellKey = Symbol("clawfleet.registration");
  const urnOf = (resource: object): string | undefined => (resource as Record<symbol, string | undefined>)[urnKey];
  let constructed = 0;
  const providerRefs = new WeakMap<object, Promise<string | undefined>>();

  // One keep-alive for all pending registrations instead of one promise chained per resource.
  let pending = 0;
  let keepAlive: (() => void) | undefined;
  const started = () => {
    if (pending++ === 0) keepAlive = settings.rpcKeepAlive();
  };
  const finished = () => {
    if (--pending === 0) keepAlive?.();
  };

  /** A promise, Output, resource, asset, archive or unknown: what serializeProperty does not take as it is (their isInstance checks, inline). */
  const special = (object: object): boolean => {
    const flags = object as Record<string, unknown>;
    return (
      object instanceof Promise ||
      flags["__pulumiOutput"] === true ||
      flags["__pulumiResource"] === true ||
      flags["__pulumiAsset"] === true ||
      flags["__pulumiArchive"] === true ||
      output.isUnknown(object)
    );
  };

  /** serializeProperty's result for a value without Outputs, promises, resources, assets or unknowns; else notPlain. */
  const plain = (value: unknown): unknown => {
    if (typeof value === "function") return undefined;
    if (value === undefined || value === null || typeof value === "boolean" || typeof value === "number" || typeof value === "string") return value;
    if (typeof value !== "object") return notPlain;
    const object: object = value;
    if (special(object)) return notPlain;
    if (object instanceof Array) {
      const items: unknown[] = [];
      for (const item of object as unknown[]) {
        const serialized = plain(item);
        if (serialized === notPlain) return notPlain;
        items.push(serialized === undefined ? null : serialized);
      }
      return items;
    }
    const fields: Record<string, unknown> = {};
    for (const key of Object.keys(object)) {
      const serialized = plain((object as Record<string, unknown>)[key]);
      if (serialized === notPlain) return notPlain;
      if (serialized !== undefined) fields[key] = serialized;
    }
    return fields;
  };

  /** Whether serializeProperty gives back the value as it is: nothing but null, booleans, numbers, strings, arrays and plain objects. */
  const isPlain = (value: unknown): boolean => {
    if (value === null || typeof value === "boolean" || typeof value === "number" || typeof value === "string") return true;
    if (typeof value !== "object") return false;
    const object: object = value;
    if (special(object)) return false;
    if ((object as unknown) instanceof Array) return (object as unknown[]).every((item) => item !== undefined && isPlain(item));
    for (const key of Object.keys(object)) if (!isPlain((object as Record<string, unknown>)[key])) return false;
    return true;
  };
  const asStruct = (fields: Record<string, unknown>) => ({ toJavaScript: () => fields });

  /** serializeResourceProperties: each input serialized, and the resources each depends on. */
  const serializeInputs = async (label: string, props: Record<string, unknown>): Promise<[Record<string, unknown>, Map<string, Set<pulumi.Resource>>]> => {
    const serialized: Record<string, unknown> = {};
    const dependencies = new Map<string, Set<pulumi.Resource>>();
    for (const key of Object.keys(props)) {
      if (key === "id" || key === "urn") continue;
      const resources = new Set<pulumi.Resource>();
      let value = plain(props[key]);
      if (value === notPlain) {
        try {
          value = await rpc.serializeProperty(`${label}.${key}`, props[key], resources, {
            keepOutputValues: false,
            excludeResourceReferencesFromDependencies: false,
          });
        } catch (error) {
          if (error instanceof Error) {
            error.message = `error serializing property "${key}": ${error.message}`;
            throw error;
          }
          throw new Error(`error serializing property "${key}": ${String(error)}`);
        }
      }
      if (value !== undefined) {
        serialized[key] = value;
        dependencies.set(key, resources);
      }
    }
    return [serialized, dependencies];
  };

  /** getAllTransitivelyReferencedResourceURNs, at once when every resource is a custom one whose URN is known. */
  const urnsOf = async (resources: Iterable<pulumi.Resource>, exclude: Set<pulumi.Resource>): Promise<Set<string>> => {
    const known = new Set<string>();
    for (const resource of resources) {
      const urn = urnOf(resource);
      if (!pulumi.CustomResource.isInstance(resource) || urn === undefined)
        return dependsOn.getAllTransitivelyReferencedResourceURNs(new Set(resources), exclude);
      if (!exclude.has(resource)) known.add(urn);
    }
    return known;
  };

  /** The resources `dependsOn` names, at once when it is a resource or a list of resources. */
  const explicitDependencies = async (value: unknown): Promise<pulumi.Resource[]> => {
    if (value === undefined || value === null) return [];
    const list = Array.isArray(value) ? value : [value];
    if (list.every((item) => pulumi.Resource.isInstance(item))) return list as pulumi.Resource[];
    return dependsOn.gatherExplicitDependencies(value);
  };

  const providerRef = (provider: pulumi.ProviderResource): Promise<string | undefined> => {
    let ref = providerRefs.get(provider);
    if (ref === undefined) {
      ref = (pulumi.ProviderResource as unknown as { register(p: pulumi.ProviderResource): Promise<string | undefined> }).register(provider);
      providerRefs.set(provider, ref);
    }
    return ref;
  };

  /**
   * What a registration settled to: the resource's URN, id and output properties. Its `urn`, `id`
   * and outputs are Outputs made when first read (most never are), over one promise per resource.
   */
  interface Cell {
    readonly res: object;
    readonly custom: boolean;
    readonly keys: ReadonlySet<string>;
    settled?: { readonly urn: string; readonly id: string | undefined; readonly props: () => Record<string, unknown> } | undefined;
    failure?: Error | undefined;
    waiting?: {
      readonly promise: Promise<NonNullable<Cell["settled"]>>;
      readonly resolve: (value: NonNullable<Cell["settled"]>) => void;
      readonly reject: (error: Error) => void;
    };
    outputs?: Map<string, pulumi.Output<unknown>>;
  }

  const settledOf = (cell: Cell): Promise<NonNullable<Cell["settled"]>> => {
    if (cell.settled !== undefined) return Promise.resolve(cell.settled);
    if (cell.failure !== undefined) return Promise.reject(cell.failure);
    if (cell.waiting === undefined) {
      let resolve: (value: NonNullable<Cell["settled"]>) => void = () => undefined;
      let reject: (error: Error) => void = () => undefined;
      const promise = new Promise<NonNullable<Cell["settled"]>>((yes, no) => {
        resolve = yes;
        reject = no;
      });
      cell.waiting = { promise, resolve, reject };
    }
    return cell.waiting.promise;
  };

  /** The Output the SDK would have put on the resource for `key` (prepareResource's urn and id, transferProperties' outputs). */
  const outputOf = (cell: Cell, key: string): pulumi.Output<unknown> => {
    const made = cell.outputs?.get(key);
    if (made !== undefined) return made;
    const settled = settledOf(cell);
    let output: pulumi.Output<unknown>;
    if (key === "urn")
      output = new OutputClass(
        cell.res,
        settled.then((s) => s.urn),
        settled.then(() => true),
        Promise.resolve(false),
        Promise.resolve(cell.res),
      );
    else if (key === "id")
      output = new OutputClass(
        cell.res,
        settled.then((s) => s.id),
        settled.then((s) => s.id !== undefined),
        Promise.resolve(false),
        Promise.resolve(cell.res),
      );
    else {
      // resolveProperties: a secret is unwrapped and marked; an output the answer lacks is undefined, and known.
      const value = settled.then((s) => {
        const props = s.props();
        return Object.prototype.hasOwnProperty.call(props, key) ? props[key] : undefined;
      });
      output = new OutputClass(
        cell.res,
        value.then((v) => rpc.unwrapRpcSecret(v)),
        value.then(() => true),
        value.then((v) => rpc.isRpcSecret(v)),
        value.then(() => []),
      );
    }
    (cell.outputs ??= new Map()).set(key, output);
    return output;
  };

  const getters = new Map<string, PropertyDescriptor>();
  /** One getter per property name, shared by every resource (it finds the resource's cell). */
  const descriptorOf = (key: string): PropertyDescriptor => {
    let descriptor = getters.get(key);
    if (descriptor === undefined) {
      descriptor = {
        get(this: object) {
          return outputOf((this as Record<symbol, Cell>)[cellKey] as Cell, key);
        },
        // The SDK's urn and id are plain properties: a write replaces them.
        set(this: object, value: unknown) {
          Object.defineProperty(this, key, { value, writable: true, enumerable: true, configurable: true });
        },
        enumerable: true,
        configurable: true,
      };
      getters.set(key, descriptor);
    }
    return descriptor;
  };

  return function register(this: unknown, ...args: unknown[]): void {
    const [res, parent, type, name, custom, remote, , props, opts, , , packageRef] = args as [
      pulumi.Resource & { urn: pulumi.Output<string>; id?: pulumi.Output<string> },
      pulumi.Resource | undefined,
      string,
      string,
      boolean,
      boolean,
      unknown,
      Record<string, unknown>,
      ResourceOptions,
      unknown,
      unknown,
      unknown,
    ];
    const parentUrn = parent === undefined ? "" : urnOf(parent);
    const urn = engineUrn(options, parentUrn ?? "", type, name);
    const sequence = constructed++;
    Object.defineProperty(res, urnKey, { value: urn });
    if (!coveredByFastPath(remote, opts, packageRef) || parentUrn === undefined) {
      options.onSdkRegistration(parentUrn ?? "", type, name, sequence);
      return options.sdkRegistration.apply(this, args);
    }

    const label = `resource:${name}[${type}]`;
    started();
    // As in prepareResource: the resource's urn, id and outputs exist before anything is awaited.
    const keys = new Set<string>();
    if (custom) {
      for (const key of Object.keys(props)) {
        if (key === "id" || key === "urn") continue;
        if (Object.prototype.hasOwnProperty.call(res, key)) throw new Error(`Property '${key}' is already initialized on target '${label}`);
        keys.add(key);
      }
    }
    const cell: Cell = { res, custom, keys };
    Object.defineProperty(res, cellKey, { value: cell });
    Object.defineProperty(res, "urn", descriptorOf("urn"));
    if (custom) Object.defineProperty(res, "id", descriptorOf("id"));
    for (const key of keys) Object.defineProperty(res, key, descriptorOf(key));

    const run = async () => {
      const explicit = await explicitDependencies(opts.dependsOn);
      const [serialized, inputDependencies] = await serializeInputs(label, props);
      const provider = custom && opts.provider !== undefined ? await providerRef(opts.provider) : undefined;
      const exclude = new Set<pulumi.Resource>([res]);
      const dependencyUrns = await urnsOf(new Set(explicit), exclude);
      const propertyUrns = new Map<string, Set<string>>();
      for (const [key, resources] of inputDependencies) {
        const keyUrns = await urnsOf(resources, exclude);
        for (const dependency of keyUrns) dependencyUrns.add(dependency);
        propertyUrns.set(key, keyUrns);
      }
      const request: RegisterRequest = {
        getType: () => type,
        getName: () => name,
        getParent: () => parentUrn,
        getCustom: () => custom,
        getProvider: () => provider ?? "",
        getProtect: () => opts.protect ?? false,
        getRetainondelete: () => opts.retainOnDelete ?? false,
        getDeletebeforereplace: () => opts.deleteBeforeReplace || false,
        getDependenciesList: () => [...dependencyUrns],
        // As a protobuf map iterates: keys in sorted order.
        getPropertydependenciesMap: () => ({
          forEach: (callback) => {
            for (const key of [...propertyUrns.keys()].sort()) callback({ getUrnsList: () => [...(propertyUrns.get(key) as Set<string>)] }, key);
          },
        }),
        getReplaceonchangesList: () => [...(opts.replaceOnChanges ?? [])],
        getIgnorechangesList: () => [...(opts.ignoreChanges ?? [])],
        getAdditionalsecretoutputsList: () => [...(opts.additionalSecretOutputs ?? [])],
      };
      const inputs = rpc.deserializeProperties(asStruct(options.fieldsOf(serialized)));
      const answer = options.answer(request, type, name, custom, inputs, sequence);
      const state = await serializeState(answer);
      // The mock monitor's record of the resource, which registerResourceOutputs updates.
      (settings.getMonitor() as { resources: Map<string, unknown> }).resources.set(urn, { urn, id: answer.id, state });
      // resolveOutputs: the answer's state, then any input it left out (serialized again, which gives the same value).
      const leftOut: Record<string, unknown> = {};
      for (const key of keys) {
        if (!Object.prototype.hasOwnProperty.call(state, key) && Object.prototype.hasOwnProperty.call(serialized, key)) leftOut[key] = serialized[key];
      }
      let outputs: Record<string, unknown> | undefined;
      // Read back only when an output is read (few are): resolveProperties' values for the resource's own outputs.
      const readProps = () => {
        if (outputs !== undefined) return outputs;
        const allProps = rpc.deserializeProperties(asStruct(options.fieldsOf(state)), false);
        outputs = {};
        for (const key of keys) {
          if (Object.prototype.hasOwnProperty.call(allProps, key)) outputs[key] = allProps[key];
          else if (Object.prototype.hasOwnProperty.call(leftOut, key)) outputs[key] = rpc.deserializeProperty(leftOut[key], false);
        }
        return outputs;
      };
      cell.settled = { urn, id: answer.id || undefined, props: readProps };
      cell.waiting?.resolve(cell.settled);
    };

    /** The mock monitor's serializeProperties of the state, with each secret output a secret. */
    const serializeState = async (answer: MockAnswer): Promise<Record<string, unknown>> => {
      const state: Record<string, unknown> = {};
      let complete = true;
      for (const key of Object.keys(answer.state)) {
        const value = answer.state[key];
        if (value === undefined) continue;
        // Plain values serialize to themselves (the answer's are read-only from here on).
        if (!isPlain(value)) complete = false;
        else state[key] = answer.secretOutputs.includes(key) ? { [sig]: secretSig, value } : value;
      }
      if (complete) return state;
      const withSecrets: Record<string, unknown> = { ...answer.state };
      for (const key of answer.secretOutputs) withSecrets[key] = pulumi.secret(withSecrets[key]);
      return rpc.serializeProperties("", withSecrets);
    };

    run().then(finished, (error: unknown) => {
      const failure = error instanceof Error ? error : new Error(String(error));
      cell.failure = failure;
      cell.waiting?.reject(failure);
      options.onFailure(failure);
      finished();
    });
  };
}

/**
 * The URN the engine gives a resource: the whole chain of its parents' types, then its own
 * (resource.NewURN with the parent's qualified type). The SDK's mock monitor keeps only the
 * parent's own type, which agrees only one level down; the plan uses the engine's rule on both
 * of its registration paths.
 */
export function engineUrn(options: { stack: string; project: string }, parentUrn: string, type: string, name: string): string {
  const parentType = urnTypePart(parentUrn);
  // The stack's own type is never part of a child's.
  const qualified = parentType === "" || parentType === "pulumi:pulumi:Stack" ? type : `${parentType}$${type}`;
  return `urn:pulumi:${options.stack}::${options.project}::${qualified}::${name}`;
}

/** `urn.split("::")[2] ?? ""` (the URN's type part), without the array. */
export function urnTypePart(urn: string): string {
  const first = urn.indexOf("::");
  const second = first === -1 ? -1 : urn.indexOf("::", first + 2);
  if (second === -1) return "";
  const third = urn.indexOf("::", second + 2);
  return third === -1 ? urn.slice(second + 2) : urn.slice(second + 2, third);
}
