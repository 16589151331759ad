import * as grpc from "@grpc/grpc-js";
import * as anyproto from "google-protobuf/google/protobuf/any_pb";
import * as emptyproto from "google-protobuf/google/protobuf/empty_pb";
import * as structproto from "google-protobuf/google/protobuf/struct_pb";
import * as plugproto from "@pulumi/pulumi/proto/plugin_pb";
import * as provrpc from "@pulumi/pulumi/proto/provider_grpc_pb";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import * as statusproto from "@pulumi/pulumi/proto/status_pb";
import { commandProvider, randomPasswordProvider } from "../standin/command-provider";
import { dockerContainerProvider, dockerNetworkProvider, type DockerProviderOptions } from "../standin/docker-provider";
import { PartialCreateError, unknown, type ProviderConfig, type ResourceProvider } from "../standin/engine";

/*
 * The provider stand-ins of ../standin served to the real Pulumi engine as provider plugins: one
 * package per process, speaking pulumirpc.ResourceProvider over gRPC the way a plugin does
 * (sdk/go/common/resource/plugin/provider_plugin.go in pulumi/pulumi is the engine's side of each
 * call below). The engine launches the plugin with its own address as the argument and reads the
 * port it listens on from the first line of stdout; everything else goes to stderr.
 *
 * P1 Configure keeps the provider's inputs (`args`, secrets unwrapped): the docker provider
 *    needs `host` and `sshOpts`. It accepts secrets, so the engine sends them wrapped (the
 *    4dabf18193072939515e22adb298388d signature key) and leaves their secretness to the plugin.
 *    supportsPreview is false: in a preview the engine answers Create and Update itself from the
 *    inputs (provider_plugin.go Create, `!protocol.supportsPreview`), so nothing reaches Docker.
 * P2 Outputs are re-wrapped the way the engine's annotateSecrets marks them for a plugin that
 *    takes no secrets: an output whose input holds a secret becomes secret, objects recursively.
 * P3 Check returns the new inputs as sent, unknowns and secrets included; CheckConfig too.
 * P4 DiffConfig: a change of the provider's inputs never replaces it (pulumi-docker,
 *    pulumi-command and pulumi-random ask for no provider replacement).
 * P5 Diff diffs the new inputs against the state read back (the `olds` of the request) through
 *    the stand-in, reports the changed keys and the ones that force a replacement, and never
 *    sets deleteBeforeReplace: the engine decides that from the resource's options. An input
 *    holding an unknown (04da6b54-80e4-46f7-96ec-b56ff0331ba9, a preview) counts as changed.
 * P6 A create that failed after the object existed answers with ErrorResourceInitFailed (id and
 *    properties), so the engine keeps the object in state with its init errors.
 * P7 Read answers an object that is gone with an empty id (the engine drops it from state), and
 *    otherwise the state read back and the inputs it was given.
 */

const sigKey = "4dabf18193072939515e22adb298388d";
const secretSig = "1b47061264138c4ac30d75fd1eb44270";
const unknownSentinel = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

type Props = Record<string, unknown>;

function isSecret(value: unknown): value is { value: unknown } {
  return typeof value === "object" && value !== null && (value as Props)[sigKey] === secretSig;
}

function isPlainObject(value: unknown): value is Props {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !isSecret(value);
}

function containsSecrets(value: unknown): boolean {
  if (isSecret(value)) return true;
  if (Array.isArray(value)) return value.some(containsSecrets);
  if (isPlainObject(value)) return Object.values(value).some(containsSecrets);
  return false;
}

function containsUnknowns(value: unknown): boolean {
  if (value === unknownSentinel) return true;
  if (isSecret(value)) return containsUnknowns(value.value);
  if (Array.isArray(value)) return value.some(containsUnknowns);
  if (isPlainObject(value)) return Object.values(value).some(containsUnknowns);
  return false;
}

/** Secrets unwrapped, recursively: the stand-ins take plain values. */
function reveal(value: unknown): unknown {
  if (isSecret(value)) return reveal(value.value);
  if (Array.isArray(value)) return value.map(reveal);
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, reveal(item)]));
  return value;
}

/** A request's properties as the stand-ins read them; a top-level input holding an unknown becomes `unknown` (P5). */
function propsOf(struct: structproto.Struct | undefined): Props {
  const raw = (struct?.toJavaScript() ?? {}) as Props;
  return Object.fromEntries(Object.entries(raw).map(([key, value]) => [key, containsUnknowns(value) ? unknown : reveal(value)]));
}

/** P2: provider_plugin.go annotateSecrets, over plain JavaScript values. */
export function annotateSecrets(outs: Props, ins: Props): Props {
  const annotated: Props = { ...outs };
  for (const [key, inValue] of Object.entries(ins)) {
    if (!(key in annotated)) continue;
    const outValue = annotated[key];
    if (isPlainObject(outValue) && isPlainObject(inValue)) annotated[key] = annotateSecrets(outValue, inValue);
    else if (!isSecret(outValue) && containsSecrets(inValue)) annotated[key] = { [sigKey]: secretSig, value: outValue };
  }
  return annotated;
}

/** A Struct from stand-in output: undefined fields dropped, as JSON would. */
function structOf(value: Props): structproto.Struct {
  return structproto.Struct.fromJavaScript(JSON.parse(JSON.stringify(value)) as Record<string, structproto.JavaScriptValue>);
}

/** The stand-ins of one package, by resource type. */
function providersOf(pkg: string, progress: (line: string) => void): Record<string, (urn: string) => ResourceProvider> {
  const stops: DockerProviderOptions["stops"] = [];
  const options: DockerProviderOptions = { env: process.env, progress, stops };
  switch (pkg) {
    case "docker": {
      const container = dockerContainerProvider(options);
      const network = dockerNetworkProvider(options);
      return { "docker:index/container:Container": () => container, "docker:index/network:Network": () => network };
    }
    case "command": {
      const local = commandProvider(process.env, false, progress);
      const remote = commandProvider(process.env, true, progress);
      return { "command:local:Command": () => local, "command:remote:Command": () => remote };
    }
    case "random":
      // The stand-in's value is a function of the stack, which the URN names: urn:pulumi:<stack>::<project>::...
      return { "random:index/randomPassword:RandomPassword": (urn) => randomPasswordProvider(urn.split("::")[0]?.split(":").pop() ?? "") };
    default:
      throw new Error(`provider-plugin: no stand-in for package ${pkg}`);
  }
}

type Unary<Req, Res> = (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>) => void;

/** A unary handler whose errors reach the engine as the call's error, with their message. */
function handler<Req, Res>(run: (request: Req) => Promise<Res> | Res): Unary<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => run(call.request))
      .then(
        (response) => callback(null, response),
        (error: unknown) => callback(grpcError(error), null),
      );
  };
}

/** P6: provider/server.js grpcResponseFromError, for a create that left an object behind. */
function grpcError(error: unknown): Partial<grpc.StatusObject> {
  const message = error instanceof Error ? error.message : String(error);
  const metadata = new grpc.Metadata();
  if (error instanceof PartialCreateError) {
    const status = new statusproto.Status();
    status.setCode(grpc.status.UNKNOWN);
    status.setMessage(message);
    const detail = new provproto.ErrorResourceInitFailed();
    detail.setId(error.id);
    detail.setProperties(structOf(error.outputs));
    detail.setReasonsList([message]);
    const details = new anyproto.Any();
    details.pack(detail.serializeBinary(), "pulumirpc.ErrorResourceInitFailed");
    status.addDetails(details);
    metadata.add("grpc-status-details-bin", Buffer.from(status.serializeBinary()));
  }
  return { code: grpc.status.UNKNOWN, details: message, metadata };
}

export function providerServer(pkg: string, version: string, progress: (line: string) => void): Partial<provrpc.IResourceProviderServer> {
  const providers = providersOf(pkg, progress);
  let config: ProviderConfig = { urn: `default:${pkg}`, inputs: {} };
  const providerFor = (urn: string): ResourceProvider => {
    const type = urn.split("::")[2]?.split("$").pop() ?? "";
    const make = providers[type];
    if (make === undefined) throw new Error(`provider-plugin ${pkg}: no stand-in for resource type ${type}`);
    return make(urn);
  };

  return {
    getPluginInfo: handler(() => new plugproto.PluginInfo().setVersion(version)),
    getSchema: handler(() => new provproto.GetSchemaResponse().setSchema("{}")),
    // P3
    checkConfig: handler((request: provproto.CheckRequest) => new provproto.CheckResponse().setInputs(request.getNews())),
    // P4
    diffConfig: handler((request: provproto.DiffRequest) => {
      const olds = propsOf(request.getOldInputs());
      const news = propsOf(request.getNews());
      const changed = [...new Set([...Object.keys(olds), ...Object.keys(news)])].filter((key) => JSON.stringify(olds[key]) !== JSON.stringify(news[key]));
      return new provproto.DiffResponse()
        .setChanges(changed.length > 0 ? provproto.DiffResponse.DiffChanges.DIFF_SOME : provproto.DiffResponse.DiffChanges.DIFF_NONE)
        .setDiffsList(changed);
    }),
    // P1
    configure: handler((request: provproto.ConfigureRequest) => {
      config = { urn: request.getUrn() ?? `default:${pkg}`, inputs: propsOf(request.getArgs()) };
      return new provproto.ConfigureResponse().setAcceptsecrets(true).setSupportspreview(false).setAcceptresources(false).setAcceptoutputs(false);
    }),
    // P3
    check: handler((request: provproto.CheckRequest) => new provproto.CheckResponse().setInputs(request.getNews())),
    // P5
    diff: handler((request: provproto.DiffRequest) => {
      const diff = providerFor(request.getUrn()).diff(propsOf(request.getOlds()), propsOf(request.getNews()));
      return new provproto.DiffResponse()
        .setChanges(diff.changed.length > 0 ? provproto.DiffResponse.DiffChanges.DIFF_SOME : provproto.DiffResponse.DiffChanges.DIFF_NONE)
        .setDiffsList(diff.changed)
        .setReplacesList(diff.replaces)
        .setDeletebeforereplace(false);
    }),
    create: handler(async (request: provproto.CreateRequest) => {
      const raw = (request.getProperties()?.toJavaScript() ?? {}) as Props;
      // P1: never reached in a preview; kept out of Docker if it ever is.
      if (request.getPreview()) return new provproto.CreateResponse().setProperties(request.getProperties());
      const { id, outputs } = await providerFor(request.getUrn())
        .create(propsOf(request.getProperties()), config, request.getUrn())
        .catch((error: unknown) => {
          if (error instanceof PartialCreateError) throw new PartialCreateError(error.message, error.id, annotateSecrets(error.outputs, raw));
          throw error;
        });
      return new provproto.CreateResponse().setId(id).setProperties(structOf(annotateSecrets(outputs, raw)));
    }),
    update: handler(async (request: provproto.UpdateRequest) => {
      const raw = (request.getNews()?.toJavaScript() ?? {}) as Props;
      if (request.getPreview()) return new provproto.UpdateResponse().setProperties(request.getNews());
      const outputs = await providerFor(request.getUrn()).update(request.getId(), propsOf(request.getOlds()), propsOf(request.getNews()), config);
      return new provproto.UpdateResponse().setProperties(structOf(annotateSecrets(outputs, raw)));
    }),
    delete: handler(async (request: provproto.DeleteRequest) => {
      await providerFor(request.getUrn()).delete(request.getId(), propsOf(request.getProperties()), config);
      return new emptyproto.Empty();
    }),
    // P7
    read: handler(async (request: provproto.ReadRequest) => {
      const raw = (request.getProperties()?.toJavaScript() ?? {}) as Props;
      const read = await providerFor(request.getUrn()).read(request.getId(), propsOf(request.getProperties()), config);
      const response = new provproto.ReadResponse();
      if (read === undefined) return response.setId("");
      return response
        .setId(request.getId())
        .setProperties(structOf(annotateSecrets(read, raw)))
        .setInputs(request.getInputs());
    }),
    cancel: handler(() => new emptyproto.Empty()),
  };
}

/** `provider-plugin.ts <package> <version> [engine address]`: serves until the engine ends it. */
async function main(): Promise<void> {
  const [pkg, version] = process.argv.slice(2);
  if (pkg === undefined || version === undefined) throw new Error("usage: provider-plugin.ts <package> <version> [engine address]");
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  const server = new grpc.Server({ "grpc.max_receive_message_length": 400 * 1024 * 1024 });
  server.addService(provrpc.ResourceProviderService, providerServer(pkg, version, progress) as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))),
  );
  // The engine reads the port from the first line of stdout.
  process.stdout.write(`${port}\n`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`provider-plugin: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
