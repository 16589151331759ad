import { stateLayout } from "../../names";
import { gatewayRoutes } from "../../declaration/gateway-routes";
import { keyInFile, modelKeyEnv, providerOf, runtimePin, type GatewayRoutes } from "../../declaration/routes";
import type { SecretValue } from "../../declaration/secret";
import {
  channelCredentials,
  compareIds,
  type ChannelName,
  type ChannelsDecl,
  type DedicatedTenant,
  type Host,
  type ModelProvidersDecl,
  type SharedTenant,
} from "../../declaration/schema";

/** Facts about the gateway inside its container; one place for each. */
export const gateway = {
  /** The port the gateway listens on inside the container. */
  port: 18789,
  /** Where the tenant's state directory is mounted. */
  stateDir: "/state",
  /** Writable home (a tmpfs) for the non-root user. */
  home: "/home/node",
  /** Numeric user and group the gateway runs as; state directories are owned by it. */
  uid: 1000,
  /** The variable that carries the gateway token; the config only references it. */
  tokenEnv: "OPENCLAW_GATEWAY_TOKEN",
  /** The config file inside the state directory. */
  configFile: "openclaw.json",
  /** Where the gateway's credentials file is mounted, read-only, outside its state. */
  secretsDir: "/run/clawfleet",
  /** The credentials file: JSON, private to the gateway's user, read through openclaw's file secret provider. */
  secretsFile: "secrets.json",
  /** The name of that file provider in the config (`secrets.providers.clawfleet`). */
  secretsProvider: "clawfleet",
  /** How the gateway's own CLI starts inside the clawfleet gateway image. */
  cli: ["node", "/app/node_modules/openclaw/openclaw.mjs"],
} as const;

/** Probe run inside the container: /healthz must answer with the gateway's own body, not the Control UI page. */
export const healthProbe = `fetch('http://127.0.0.1:${gateway.port}/healthz').then(r=>r.text()).then(b=>process.exit(b.includes('"status":"live"')?0:1),()=>process.exit(1))`;

/**
 * Probe run inside a running gateway, asking its own /readyz with its own token (which this way never leaves the
 * container): `{"ready":<bool>,"failing":[...],"held":[...]}`: what keeps it from being ready (a channel that
 * cannot connect, the state database), and held being the channels openclaw's restart-loop breaker keeps from
 * starting (after 3 unclean boots within 5 minutes), or `?` when it cannot tell. Asked inside, the answer is this
 * gateway's own: another process on its host port cannot answer for it.
 */
export const gatewayReadyProbe = `fetch('http://127.0.0.1:${gateway.port}/readyz',{headers:{authorization:'Bearer '+process.env.${gateway.tokenEnv}},signal:AbortSignal.timeout(10000)}).then(r=>r.json()).then(b=>console.log(JSON.stringify({ready:b.ready===true,failing:Array.isArray(b.failing)?b.failing:[],held:Array.isArray(b.suppressed)?b.suppressed:[]})),()=>console.log('?'))`;

/**
 * The model a gateway uses when the declaration names none. Written out explicitly: a
 * gateway without a default model falls back to a provider whose plugin it downloads at run time.
 */
export const defaultModel = "anthropic/claude-sonnet-4-5";

/** A reference the gateway resolves from its environment at start. */
export interface EnvSecretRef {
  readonly source: "env";
  readonly provider: "default";
  readonly id: string;
}

export function envRef(id: string): EnvSecretRef {
  return { source: "env", provider: "default", id };
}

/**
 * A reference the gateway resolves from its credentials file (gateway.secretsFile), at start and again on
 * `secrets.reload`: a rotation rewrites the file and reloads, and the gateway keeps running. `id` is a JSON pointer.
 */
export interface FileSecretRef {
  readonly source: "file";
  readonly provider: typeof gateway.secretsProvider;
  readonly id: string;
}

export function fileRef(pointer: string): FileSecretRef {
  return { source: "file", provider: gateway.secretsProvider, id: pointer };
}

/** openclaw's file secret provider reading the credentials file. */
export interface SecretsSection {
  providers: Record<string, { source: "file"; path: string; mode: "json" }>;
}

function secretsSection(): SecretsSection {
  return { providers: { [gateway.secretsProvider]: { source: "file", path: `${gateway.secretsDir}/${gateway.secretsFile}`, mode: "json" } } };
}

/** The subset of OpenClaw's config schema that clawfleet writes. */
export interface GatewayConfig {
  gateway: {
    mode: "local";
    port: number;
    bind: "lan";
    auth: { mode: "token"; token: EnvSecretRef };
    tailscale: { mode: "off" };
  };
  agents: {
    ownership?: "explicit";
    defaults: { model: string; models?: Record<string, { agentRuntime: { id: string } }>; systemAgent?: { agentId: string } };
    entries: Record<string, { name: string; workspace: string; model: string }>;
  };
  secrets?: SecretsSection;
  models?: { providers: Record<string, ProviderConfig | { apiKey: FileSecretRef }> };
  tools?: { web: { search: { enabled: false } } };
  bindings?: {
    agentId: string;
    comment?: string;
    match: { channel: string; accountId?: string; peer?: { kind: string; id: string }; guildId?: string; teamId?: string };
  }[];
  channels?: Record<string, { dmPolicy: string; groupPolicy: string; allowFrom?: (string | number)[]; [credential: string]: unknown }>;
}

export { modelKeyEnv };

/** A model provider of the stack's own, as openclaw's `models.providers.<id>` takes it. */
export interface ProviderConfig {
  baseUrl: string;
  api: string;
  apiKey?: FileSecretRef;
  models: {
    id: string;
    name: string;
    cost: { input: number; output: number; cacheRead: number; cacheWrite: number };
    contextWindow?: number;
    maxTokens?: number;
  }[];
}

/** Where a model provider's key sits in the credentials file. */
export function modelKeyPointer(provider: string): string {
  return `/modelKeys/${provider}`;
}

/** Where a channel's credential sits in the credentials file. */
export function channelTokenPointer(channel: ChannelName): string {
  return `/channels/${channel}`;
}

/**
 * The declared providers as openclaw's config, with each model's price per million tokens (which openclaw's usage
 * records cost by); and every model key kept in the credentials file, only as a reference to it.
 */
export function renderModelProviders(
  providers: ModelProvidersDecl | undefined,
  modelKeys: Readonly<Record<string, SecretValue>> | undefined,
): GatewayConfig["models"] {
  const keyed = Object.keys(modelKeys ?? {}).filter((name) => keyInFile(name, providers, gatewayRoutes));
  const ids = [...new Set([...Object.keys(providers ?? {}), ...keyed])].sort();
  if (ids.length === 0) return undefined;
  const rendered: NonNullable<GatewayConfig["models"]>["providers"] = {};
  for (const id of ids) {
    const apiKey = modelKeys?.[id] === undefined ? undefined : fileRef(modelKeyPointer(id));
    const provider = providers?.[id];
    if (provider === undefined) {
      if (apiKey !== undefined) rendered[id] = { apiKey };
      continue;
    }
    rendered[id] = {
      baseUrl: provider.baseUrl,
      api: provider.api,
      ...(apiKey === undefined ? {} : { apiKey }),
      models: provider.models.map((model) => ({
        id: model.id,
        name: model.id,
        cost: { input: model.cost.input, output: model.cost.output, cacheRead: model.cost.cacheRead, cacheWrite: model.cost.cacheWrite },
        ...(model.contextWindow === undefined ? {} : { contextWindow: model.contextWindow }),
        ...(model.maxTokens === undefined ? {} : { maxTokens: model.maxTokens }),
      })),
    };
  }
  return { providers: rendered };
}

/**
 * What keeps a gateway's models and keys on code the image holds (declaration/gateway-routes.ts): a provider whose
 * models openclaw would otherwise hand to a plugin runtime (openai to the Codex harness) is pinned to its own runtime,
 * and web search is turned off where a key would make openclaw fetch a web search plugin at start.
 */
export function routeSettings(
  models: readonly string[],
  modelKeys: Readonly<Record<string, SecretValue>> | undefined,
  routes: GatewayRoutes = gatewayRoutes,
): { models?: Record<string, { agentRuntime: { id: string } }>; tools?: GatewayConfig["tools"] } {
  const pins: Record<string, { agentRuntime: { id: string } }> = {};
  for (const provider of [...new Set(models.map(providerOf))].sort()) {
    const runtime = routes.providers[provider]?.pinRuntime;
    if (runtime !== undefined) Object.assign(pins, runtimePin(provider, runtime));
  }
  const webSearchOff = Object.keys(modelKeys ?? {}).some((name) => routes.keyEnvs[modelKeyEnv(name)]?.webSearchOff === true);
  return {
    ...(Object.keys(pins).length === 0 ? {} : { models: pins }),
    ...(webSearchOff ? { tools: { web: { search: { enabled: false } } } } : {}),
  };
}

function gatewaySection(): GatewayConfig["gateway"] {
  // Inside a container the gateway must bind the container's interface; the host
  // publishes the port on 127.0.0.1 only. Tailscale is handled on the host, not here.
  return { mode: "local", port: gateway.port, bind: "lan", auth: { mode: "token", token: envRef(gateway.tokenEnv) }, tailscale: { mode: "off" } };
}

function renderChannels(channels: ChannelsDecl | undefined): GatewayConfig["channels"] {
  if (channels === undefined) return undefined;
  const rendered: NonNullable<GatewayConfig["channels"]> = {};
  for (const name of Object.keys(channelCredentials) as ChannelName[]) {
    const declared = channels[name];
    if (declared === undefined) continue;
    const { field } = channelCredentials[name];
    // Policies are always written: the gateway's own defaults may change between versions.
    rendered[name] = {
      dmPolicy: declared.dmPolicy,
      groupPolicy: declared.groupPolicy,
      ...(declared.allowFrom === undefined ? {} : { allowFrom: declared.allowFrom }),
      ...(declared.token === undefined ? {} : { [field]: fileRef(channelTokenPointer(name)) }),
      ...("apiRoot" in declared && declared.apiRoot !== undefined ? { apiRoot: declared.apiRoot } : {}),
    };
  }
  return Object.keys(rendered).length === 0 ? undefined : rendered;
}

/** Workspace of a gateway's only agent, inside its state directory. */
const ownWorkspace = `${gateway.stateDir}/workspace`;

/** The whole `openclaw.json` of a dedicated tenant's gateway: one agent, named after the tenant. */
export function renderDedicatedConfig(tenant: DedicatedTenant): GatewayConfig {
  const channels = renderChannels(tenant.channels);
  const model = tenant.model ?? defaultModel;
  const { models, tools } = routeSettings([model], tenant.modelKeys);
  const providers = renderModelProviders(tenant.modelProviders, tenant.modelKeys);
  return {
    gateway: gatewaySection(),
    secrets: secretsSection(),
    ...(providers === undefined ? {} : { models: providers }),
    agents: {
      defaults: { model, ...(models === undefined ? {} : { models }) },
      entries: { [tenant.id]: { name: tenant.name ?? tenant.id, workspace: ownWorkspace, model } },
    },
    ...(tools === undefined ? {} : { tools }),
    ...(channels === undefined ? {} : { channels }),
  };
}

/** A minimal gateway for the image preflight when the state it copies holds no config yet. */
export function renderPreflightConfig(): GatewayConfig {
  return {
    gateway: gatewaySection(),
    agents: {
      defaults: { model: defaultModel },
      entries: { preflight: { name: "preflight", workspace: ownWorkspace, model: defaultModel } },
    },
  };
}

/** Workspace of a shared tenant's agent, inside the shared gateway's state directory. */
export function sharedWorkspace(tenantId: string): string {
  return `${gateway.stateDir}/${stateLayout.workspaces}/${tenantId}`;
}

/**
 * The `openclaw.json` of a host's shared gateway: one agent per shared tenant plus
 * their bindings. With two or more agents OpenClaw needs `ownership: "explicit"`, and
 * an owner for ambient work: the first tenant by id (stable as others come and go).
 */
export function renderSharedConfig(host: Host, tenants: readonly SharedTenant[]): GatewayConfig {
  const sorted = [...tenants].sort((a, b) => compareIds(a.id, b.id));
  const sharedModel = host.shared?.model ?? defaultModel;
  const entries: GatewayConfig["agents"]["entries"] = {};
  for (const tenant of sorted) {
    entries[tenant.id] = { name: tenant.name ?? tenant.id, workspace: sharedWorkspace(tenant.id), model: tenant.model ?? sharedModel };
  }
  const owner = sorted[0]?.id;
  const bindings = sorted.flatMap((tenant) =>
    tenant.bindings.map(({ comment, ...match }) => ({ agentId: tenant.id, ...(comment === undefined ? {} : { comment }), match })),
  );
  const channels = renderChannels(host.shared?.channels);
  const { models, tools } = routeSettings([sharedModel, ...Object.values(entries).map((entry) => entry.model)], host.shared?.modelKeys);
  const providers = renderModelProviders(host.shared?.modelProviders, host.shared?.modelKeys);
  return {
    gateway: gatewaySection(),
    secrets: secretsSection(),
    ...(providers === undefined ? {} : { models: providers }),
    agents: {
      ...(sorted.length >= 2 ? { ownership: "explicit" as const } : {}),
      defaults: {
        model: sharedModel,
        ...(models === undefined ? {} : { models }),
        ...(sorted.length >= 2 && owner !== undefined ? { systemAgent: { agentId: owner } } : {}),
      },
      entries,
    },
    ...(bindings.length === 0 ? {} : { bindings }),
    ...(tools === undefined ? {} : { tools }),
    ...(channels === undefined ? {} : { channels }),
  };
}

/** The file text: stable key order as rendered, two-space indent, trailing newline. */
export function serializeConfig(config: GatewayConfig): string {
  return `${JSON.stringify(config, null, 2)}\n`;
}
