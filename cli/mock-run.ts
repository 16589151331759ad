import { createHash } from "node:crypto";
import { dirname } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import { engineUrn, fastRegistration, urnTypePart, type MockAnswer, type RegisterRequest } from "./mock-register";

/** Resource options the engine would see, read from the registration request. */
export interface PlannedOptions {
  readonly dependsOn: string[];
  /** For each input, the resources its value came from (what the engine uses to find dependents to replace). */
  readonly propertyDependencies: Record<string, string[]>;
  readonly provider: string | undefined;
  readonly protect: boolean;
  readonly retainOnDelete: boolean;
  readonly deleteBeforeReplace: boolean;
  readonly replaceOnChanges: string[];
  readonly ignoreChanges: string[];
  readonly additionalSecretOutputs: string[];
}

/** One resource the program registered. `inputs` prints secrets as "[secret]". */
export interface PlannedResource {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly parent: string | undefined;
  readonly custom: boolean;
  readonly inputs: Record<string, unknown>;
  readonly options: PlannedOptions;
  /** Top-level input names whose value is (or holds) a secret. */
  readonly secretInputs: string[];
  /**
   * Inputs with secrets unwrapped: only for code that applies the plan (the e2e
   * applier); never printed.
   */
  readonly revealedInputs: Record<string, unknown>;
}

export const secretMarker = "[secret]";

/** The SDK version the fast registration path was written against and compared with (test/component/registration.test.ts). */
export const fastPathSdkVersion = "3.270.0";

/**
 * How the plan registers resources: `fast` (the default) through cli/mock-register.ts, or `sdk`
 * through the SDK's own registerResource, which the fast path must match byte for byte.
 * CLAWFLEET_REGISTRATION chooses; the fast path is used only with the SDK version it was compared
 * with, and any other installed version takes the SDK's own path.
 */
export function registrationPath(env: NodeJS.ProcessEnv, installed = sdkVersion()): "fast" | "sdk" {
  const chosen = env["CLAWFLEET_REGISTRATION"];
  if (chosen !== undefined && chosen !== "fast" && chosen !== "sdk") {
    throw new Error(`CLAWFLEET_REGISTRATION=${JSON.stringify(chosen)} is not a registration path; use fast or sdk (or leave it unset)`);
  }
  if (chosen === "sdk" || installed !== fastPathSdkVersion) return "sdk";
  return "fast";
}

/** The installed @pulumi/pulumi version. */
function sdkVersion(): string {
  return (require("@pulumi/pulumi/package.json") as { version: string }).version;
}

const sig = pulumi.runtime.specialSigKey;
const secretSig = pulumi.runtime.specialSecretSig;

function isSecretEnvelope(value: unknown): value is { value: unknown } {
  return typeof value === "object" && value !== null && (value as Record<string, unknown>)[sig] === secretSig;
}

/** Maps every secret in a value through `onSecret`, recursively. */
function mapSecrets(value: unknown, onSecret: (inner: unknown) => unknown): unknown {
  if (isSecretEnvelope(value)) return onSecret(value.value);
  if (Array.isArray(value)) return value.map((item) => mapSecrets(item, onSecret));
  if (typeof value === "object" && value !== null) {
    const mapped: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      const item = mapSecrets((value as Record<string, unknown>)[key], onSecret);
      // An own `__proto__` key stays a key, as Object.fromEntries keeps it.
      if (key === "__proto__") Object.defineProperty(mapped, key, { value: item, enumerable: true, writable: true, configurable: true });
      else mapped[key] = item;
    }
    return mapped;
  }
  return value;
}

function holdsSecret(value: unknown): boolean {
  if (isSecretEnvelope(value)) return true;
  if (Array.isArray(value)) return value.some(holdsSecret);
  if (typeof value === "object" && value !== null) return Object.values(value).some(holdsSecret);
  return false;
}

/** A stand-in random value: deterministic per stack, resource and keepers, and easy to find in a scan. */
export function mockRandomValue(stack: string, name: string, inputs: Record<string, unknown>): string {
  const length = typeof inputs["length"] === "number" ? inputs["length"] : 32;
  const seed = `${stack}/${name}/${JSON.stringify(mapSecrets(inputs["keepers"] ?? {}, (v) => v))}`;
  let text = "";
  for (let round = 0; text.length < length; round += 1) text += createHash("sha256").update(`${seed}/${round}`).digest("hex");
  return text.slice(0, length);
}

export interface MockRunOptions {
  readonly project: string;
  readonly stack: string;
  /** Config keys (`clawfleet:hosts`) to JSON or plain text, as `pulumi up` passes them. */
  readonly config: Record<string, string>;
  readonly secretKeys: readonly string[];
  /** Runs the program; it registers resources and may throw. */
  readonly program: () => unknown;
  /**
   * Outputs a resource has beyond its inputs, by resource name, as the engine would have them in state (a
   * command's `stdout`); none by default: the offline plan runs nothing.
   */
  readonly knownOutputs?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** The registration path to use, as CLAWFLEET_REGISTRATION would choose it; CLAWFLEET_REGISTRATION's own by default. */
  readonly registration?: "fast" | "sdk";
}

export interface MockRunResult {
  readonly resources: PlannedResource[];
  /** What the program returned (for a stack: its outputs). */
  readonly outputs: unknown;
  /** How many registrations went the SDK's own way: all with `sdk`; with `fast`, those setting an option only the SDK handles. */
  readonly sdkRegistrations: number;
}

/**
 * Evaluates a Pulumi program under the SDK's mock runtime and records every resource it
 * registers with inputs and options. Provider functions are not mocked: a call fails the run.
 * The runtime is process-wide: one run at a time.
 */
export async function runUnderMocks(options: MockRunOptions): Promise<MockRunResult> {
  // Chosen (or refused) before anything in the SDK is changed.
  const registration = registrationPath(options.registration === undefined ? process.env : { CLAWFLEET_REGISTRATION: options.registration });
  const resources: PlannedResource[] = [];
  const failures: Error[] = [];
  let current: RegisterRequest | undefined;

  // The SDK wraps every promise it makes for leak reports (a stack trace, three properties
  // and two more promises each) and captures a full, source-mapped stack trace per resource
  // for its source position. The mocks read neither, and together they were most of the
  // time and memory of a large stack, so they are switched off while the program runs.
  // Failures keep their messages, which is what the CLI prints.
  const stackTraceLimit = Error.stackTraceLimit;
  const resourceClass = pulumi.Resource as unknown as { callsites: () => unknown[] };
  const callsites = resourceClass.callsites;
  const debuggable = require("@pulumi/pulumi/runtime/debuggable") as { debuggablePromise: <T>(promise: Promise<T>, context: unknown) => Promise<T> };
  const debuggablePromise = debuggable.debuggablePromise;
  // Every output property of every resource also became an Output up front (about twenty
  // per resource, eight promises each) though the program reads a few; created on first
  // read instead, they no longer dominate the heap (see lazyTransferProperties).
  const rpc = require("@pulumi/pulumi/runtime/rpc") as { transferProperties: TransferProperties };
  const transferProperties = rpc.transferProperties;
  // Each registration passes its inputs, and the mock monitor its answer, through a protobuf
  // Struct: a message per value, built and read back in the same process. A Struct that
  // keeps the plain values gives the readers the same objects for far less (see PlainStruct).
  const struct = protobufStruct();
  const structFromJavaScript = struct.fromJavaScript;
  Error.stackTraceLimit = 0;
  resourceClass.callsites = () => [];
  debuggable.debuggablePromise = (promise) => promise;
  rpc.transferProperties = lazyTransferProperties;
  struct.fromJavaScript = plainStructOf(struct, structFromJavaScript);

  // The SDK registers each resource once its inputs settle, so arrival order follows promise timing;
  // the plan lists resources in the order the program constructed them instead.
  const sdkRegistrations = new Map<string, number>();
  const sequences: number[] = [];
  const answer = (request: RegisterRequest, type: string, name: string, custom: boolean, inputs: Record<string, unknown>, sequence: number): MockAnswer => {
    const secretOutputs = request.getAdditionalsecretoutputsList();
    let revealed: Record<string, unknown> | undefined;
    const record: PlannedResource = {
      urn: `urn:pulumi:${options.stack}::${options.project}::${qualifiedType(request)}::${name}`,
      type,
      name,
      parent: request.getParent() === "" ? undefined : request.getParent(),
      custom,
      inputs: mapSecrets(inputs, () => secretMarker) as Record<string, unknown>,
      secretInputs: Object.keys(inputs).filter((key) => holdsSecret(inputs[key])),
      // Read by code that applies a plan, never by plan itself: made when first read.
      get revealedInputs() {
        revealed ??= mapSecrets(inputs, (inner) => inner) as Record<string, unknown>;
        return revealed;
      },
      options: {
        dependsOn: request.getDependenciesList(),
        propertyDependencies: propertyDependenciesOf(request),
        provider: request.getProvider() === "" ? undefined : request.getProvider(),
        protect: request.getProtect(),
        retainOnDelete: request.getRetainondelete(),
        deleteBeforeReplace: request.getDeletebeforereplace(),
        replaceOnChanges: request.getReplaceonchangesList(),
        ignoreChanges: request.getIgnorechangesList(),
        additionalSecretOutputs: secretOutputs,
      },
    };
    resources.push(record);
    sequences.push(sequence);
    const state: Record<string, unknown> = { ...inputs, ...options.knownOutputs?.[name] };
    // A password the engine holds in state (known outputs) stays; a new one gets the mock value.
    if (type === "random:index/randomPassword:RandomPassword" && options.knownOutputs?.[name]?.["result"] === undefined)
      state["result"] = mockRandomValue(options.stack, name, inputs);
    return { id: custom ? `${name}-id` : "", state, secretOutputs: secretOutputs.filter((key) => key in state) };
  };
  const resourceRuntime = require("@pulumi/pulumi/runtime/resource") as { registerResource: (...args: unknown[]) => void };
  const registerResource = resourceRuntime.registerResource;
  // The SDK's own path: only the construction order is noted (registerResource(res, parent, type, name, ...)
  // is called in each constructor), so both paths list resources in the same order.
  const constructionOrder = new Map<string, number[]>();
  let constructed = 0;
  resourceRuntime.registerResource =
    registration === "fast"
      ? fastRegistration({
          sdkRegistration: registerResource,
          stack: options.stack,
          project: options.project,
          onSdkRegistration: (parentUrn, type, name, sequence) => sdkRegistrations.set(registrationKey(parentUrn, type, name), sequence),
          answer,
          fieldsOf: structFields,
          onFailure: (error) => failures.push(error),
        })
      : function (this: unknown, ...args: unknown[]) {
          const key = `${String(args[2])}::${String(args[3])}`;
          const order = constructionOrder.get(key) ?? [];
          constructionOrder.set(key, [...order, constructed++]);
          return registerResource.apply(this, args);
        };

  // The engine's URN rule on the SDK's path too (the mock monitor's own keeps only the parent's last type).
  const monitorUrn = (MockMonitor.prototype as unknown as { newUrn: (parent: string, type: string, name: string) => string }).newUrn;
  (MockMonitor.prototype as unknown as { newUrn: (parent: string, type: string, name: string) => string }).newUrn = (parent, type, name) =>
    engineUrn(options, parent, type, name);

  const original = MockMonitor.prototype.registerResource;
  MockMonitor.prototype.registerResource = function (this: MockMonitor, request: RegisterRequest, callback: unknown) {
    current = request;
    return original.call(this, request as never, callback as never);
  } as typeof original;

  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const request = current;
        current = undefined;
        if (request === undefined || request.getName() !== args.name) throw new Error(`registration of ${args.name} arrived without its request`);
        const sequence =
          sdkRegistrations.get(registrationKey(request.getParent(), args.type, args.name)) ??
          constructionOrder.get(`${args.type}::${args.name}`)?.shift() ??
          Number.MAX_SAFE_INTEGER;
        const { id, state, secretOutputs } = answer(request, args.type, args.name, args.custom ?? true, args.inputs as Record<string, unknown>, sequence);
        for (const key of secretOutputs) state[key] = pulumi.secret(state[key]);
        return { id, state };
      },
      call(args) {
        const error = new Error(`the program called ${args.token}, which the offline plan does not mock`);
        failures.push(error);
        throw error;
      },
    },
    options.project,
    options.stack,
    false,
  );
  pulumi.runtime.setAllConfig(options.config, [...options.secretKeys]);

  try {
    let outputs: unknown;
    try {
      outputs = await options.program();
      await pulumi.runtime.disconnect();
    } catch (error) {
      // The SDK re-wraps a failed call; report the call itself.
      throw failures[0] ?? error;
    }
    if (failures[0] !== undefined) throw failures[0];
    const inOrder = resources.map((_, index) => index).sort((a, b) => (sequences[a] as number) - (sequences[b] as number));
    return {
      resources: inOrder.map((index) => resources[index] as PlannedResource),
      outputs,
      sdkRegistrations: registration === "fast" ? sdkRegistrations.size : constructed,
    };
  } finally {
    MockMonitor.prototype.registerResource = original;
    (MockMonitor.prototype as unknown as { newUrn: unknown }).newUrn = monitorUrn;
    resourceRuntime.registerResource = registerResource;
    resourceClass.callsites = callsites;
    debuggable.debuggablePromise = debuggablePromise;
    rpc.transferProperties = transferProperties;
    struct.fromJavaScript = structFromJavaScript;
    Error.stackTraceLimit = stackTraceLimit;
  }
}

function propertyDependenciesOf(request: RegisterRequest): Record<string, string[]> {
  const dependencies: Record<string, string[]> = {};
  request.getPropertydependenciesMap().forEach((value, key) => {
    const urns = value.getUrnsList();
    if (urns.length > 0) dependencies[key] = urns;
  });
  return dependencies;
}

const sdkErrors = require("@pulumi/pulumi/errors") as { isGrpcError: (error: unknown) => boolean };

type Resolver = (value: unknown, isKnown: boolean, isSecret: boolean, deps?: pulumi.Resource[], error?: Error) => void;
type TransferProperties = (onto: Record<string, unknown>, label: string, props: Record<string, unknown>) => Record<string, Resolver>;

/**
 * The SDK's transferProperties (runtime/rpc.js), rule by rule, except that each property's
 * Output is made when it is first read rather than at registration: the same Output (value,
 * known, secret, dependencies) whenever it is read, before or after the engine answers.
 * As there: `id` and `urn` are skipped, a property already on the resource is an error,
 * and a gRPC error settles nothing.
 */
const lazyTransferProperties: TransferProperties = (onto, label, props) => {
  const { isGrpcError } = sdkErrors;
  const resolvers: Record<string, Resolver> = {};
  for (const key of Object.keys(props)) {
    if (key === "id" || key === "urn") continue;
    if (Object.prototype.hasOwnProperty.call(onto, key)) throw new Error(`Property '${key}' is already initialized on target '${label}`);
    let settle: Resolver | undefined;
    let settled: Parameters<Resolver> | undefined;
    let made: pulumi.Output<unknown> | undefined;
    const make = (): pulumi.Output<unknown> => {
      if (made !== undefined) return made;
      const parts = [0, 1, 2, 3].map(() => {
        let resolve: (value: unknown) => void = () => undefined;
        let reject: (error: unknown) => void = () => undefined;
        const promise = new Promise<unknown>((yes, no) => {
          resolve = yes;
          reject = no;
        });
        return { promise, resolve, reject };
      });
      const [value, known, secret, deps] = parts as [(typeof parts)[0], (typeof parts)[0], (typeof parts)[0], (typeof parts)[0]];
      settle = (v, isKnown, isSecret, dependencies = [], error) => {
        if (error !== undefined && error !== null) for (const part of parts) part.reject(error);
        else {
          value.resolve(v);
          known.resolve(isKnown);
          secret.resolve(isSecret);
          deps.resolve(dependencies);
        }
      };
      const OutputClass = pulumi.Output as unknown as new (...args: unknown[]) => pulumi.Output<unknown>;
      made = new OutputClass(onto, value.promise, known.promise, secret.promise, deps.promise);
      if (settled !== undefined) settle(...settled);
      return made;
    };
    resolvers[key] = (...args) => {
      const error = args[4];
      if (error !== undefined && error !== null && isGrpcError(error)) return;
      if (settle !== undefined) settle(...args);
      else settled = args;
    };
    Object.defineProperty(onto, key, { get: make, enumerable: true, configurable: true });
  }
  return resolvers;
};

interface StructMessage {
  toJavaScript(): Record<string, unknown>;
  getFieldsMap(): unknown;
}
interface StructClass {
  new (): StructMessage;
  fromJavaScript(value: Record<string, unknown>): StructMessage;
}

/** The protobuf Struct class the SDK and its mock monitor use (google-protobuf, as @pulumi/pulumi resolves it). */
function protobufStruct(): StructClass {
  const sdk = dirname(require.resolve("@pulumi/pulumi"));
  return (require(require.resolve("google-protobuf/google/protobuf/struct_pb", { paths: [sdk] })) as { Struct: StructClass }).Struct;
}

/**
 * Struct.fromJavaScript and toJavaScript (google-protobuf's struct_pb.js), rule by rule,
 * over plain values instead of a message per value. As there: only strings, numbers,
 * booleans, null, arrays and objects (each enumerable key, inherited too) are values, anything
 * else is "Unexpected struct type."; the values are taken when the Struct is made; each read
 * gives new objects whose keys come in sorted order (jspb.Map sorts them); a `__proto__` key is
 * dropped (the map's plain-object store loses it). It is a Struct, so a request holds it as
 * one; a reader of its fields map gets the real message.
 */
function plainStructOf(struct: StructClass, fromJavaScript: StructClass["fromJavaScript"]): StructClass["fromJavaScript"] {
  class PlainStruct extends struct {
    readonly #fields: Record<string, unknown>;
    #message: StructMessage | undefined;
    constructor(fields: Record<string, unknown>) {
      super();
      this.#fields = fields;
    }
    override toJavaScript(): Record<string, unknown> {
      return copyPlain(this.#fields) as Record<string, unknown>;
    }
    override getFieldsMap(): unknown {
      this.#message ??= fromJavaScript(this.toJavaScript());
      return this.#message.getFieldsMap();
    }
  }
  return (value) => new PlainStruct(structFields(value));
}

function structValue(value: unknown): unknown {
  if (value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean") return value;
  if (Array.isArray(value)) {
    const items: unknown[] = [];
    for (let index = 0; index < value.length; index += 1) items.push(structValue(value[index]));
    return items;
  }
  if (typeof value === "object") return structFields(value as Record<string, unknown>);
  throw new Error("Unexpected struct type.");
}

function structFields(value: Record<string, unknown>): Record<string, unknown> {
  const keys: string[] = [];
  const converted: unknown[] = [];
  let sorted = true;
  for (const key in value) {
    if (keys.length > 0 && !((keys[keys.length - 1] as string) < key)) sorted = false;
    keys.push(key);
    converted.push(structValue(value[key]));
  }
  // Keys are unique, so an index order by key is the order jspb.Map's sort gives them.
  const order = sorted ? keys.map((_, index) => index) : keys.map((_, index) => index).sort((a, b) => ((keys[a] as string) < (keys[b] as string) ? -1 : 1));
  const fields: Record<string, unknown> = {};
  for (const index of order) {
    const key = keys[index] as string;
    if (key !== "__proto__") fields[key] = converted[index];
  }
  return fields;
}

/** A copy of plain values (as structFields keeps them), keys in the same order. */
function copyPlain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(copyPlain);
  if (typeof value === "object" && value !== null) {
    const copy: Record<string, unknown> = {};
    for (const key of Object.keys(value)) copy[key] = copyPlain((value as Record<string, unknown>)[key]);
    return copy;
  }
  return value;
}

function registrationKey(parentUrn: string, type: string, name: string): string {
  return `${parentUrn}\n${type}\n${name}`;
}

/** The URN type part: parent types joined with `$`, as the engine builds it. */
function qualifiedType(request: RegisterRequest): string {
  const parent = request.getParent();
  if (parent === "") return request.getType();
  const parentType = urnTypePart(parent);
  return `${parentType}$${request.getType()}`;
}
