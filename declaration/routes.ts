import type { Problem } from "./errors";
import { channelCredentials, type ChannelName, type ChannelsDecl, type Host, type ModelProvidersDecl, type Tenant } from "./schema";
import type { SecretValue } from "./secret";

/**
 * What the gateway image serves without installing anything at start: its model providers, the model keys it is
 * given and its chat channels. The table itself (gateway-routes.ts) is generated from the openclaw package in the
 * image by scripts/generate-gateway-routes.ts; this file is what the declaration makes of it.
 */

/** Where the plugin that serves a route comes from. */
export type RouteSource =
  /** bundled in the openclaw package */
  | "openclaw"
  /** installed into the gateway image by scripts/build-gateway-image.sh (scripts/gateway-image.json) */
  | "image"
  /** an official openclaw plugin on npm, not in the image: the gateway would install it at start */
  | "npm";

export interface ProviderRoute {
  /** The openclaw plugin that serves the provider. */
  readonly plugin: string;
  readonly from: RouteSource;
  /** Its npm package, where it is not part of openclaw itself. */
  readonly package?: string;
  /** What openclaw's start-up would install for a model of this provider in this image: empty when it starts. */
  readonly installsAtStart: readonly string[];
  /** The agent runtime the rendered config pins the provider's models to, keeping them on bundled code. */
  readonly pinRuntime?: string;
  /** What start-up would install without that pin. */
  readonly installsUnpinned?: readonly string[];
}

export interface KeyRoute {
  /** What openclaw's start-up would install when a gateway has this variable: empty when it starts. */
  readonly installsAtStart: readonly string[];
  /** The rendered config turns web search off, which keeps the variable from pulling in a web search plugin. */
  readonly webSearchOff?: boolean;
  /** What start-up would install with web search on. */
  readonly installsWithWebSearch?: readonly string[];
}

export interface ChannelRoute {
  readonly plugin: string;
  readonly from: RouteSource;
  readonly package?: string;
  readonly installsAtStart: readonly string[];
}

export interface GatewayRoutes {
  /** The openclaw version asked. */
  readonly openclaw: string;
  /** The plugin packages scripts/gateway-image.json bakes into the image. */
  readonly imagePlugins: readonly string[];
  readonly providers: Readonly<Record<string, ProviderRoute>>;
  /** Model key variables whose mere presence makes start-up install a plugin, or would without a rendered setting. */
  readonly keyEnvs: Readonly<Record<string, KeyRoute>>;
  readonly channels: Readonly<Record<ChannelName, ChannelRoute>>;
}

/** The variable a model provider's key is passed in: `anthropic` -> `ANTHROPIC_API_KEY`. */
export function modelKeyEnv(provider: string): string {
  return `${provider.toUpperCase().replaceAll("-", "_")}_API_KEY`;
}

/**
 * Whether a model key reaches the gateway through the credentials file, as `models.providers.<name>.apiKey`: a
 * provider the stack declares, or one the gateway image serves. Any other key (a web search key such as `brave`) has
 * no such place in openclaw's config and stays a `<NAME>_API_KEY` variable.
 */
export function keyInFile(name: string, providers: ModelProvidersDecl | undefined, routes: GatewayRoutes): boolean {
  if (providers?.[name] !== undefined) return true;
  const route = routes.providers[name];
  return route !== undefined && route.installsAtStart.length === 0;
}

/** The provider of a model reference: what comes before the first `/` (`openrouter/anthropic/claude-sonnet-4-5` -> openrouter). */
export function providerOf(model: string): string {
  return model.slice(0, model.indexOf("/"));
}

/** openclaw's provider-wide runtime policy (agents.defaults.models["<provider>/*"].agentRuntime) keeping a provider on one runtime. */
export function runtimePin(provider: string, runtime = "openclaw"): Record<string, { agentRuntime: { id: string } }> {
  return { [`${provider}/*`]: { agentRuntime: { id: runtime } } };
}

const imageFix = (pkg: string) =>
  `add ${pkg} to "plugins" in scripts/gateway-image.json (the build installs it from npm at the openclaw version), rebuild the image and run npx tsx scripts/generate-gateway-routes.ts`;

/** The providers a model may name: those whose models start without an install. */
export function servedProviders(routes: GatewayRoutes): string[] {
  return Object.entries(routes.providers)
    .filter(([, route]) => route.installsAtStart.length === 0)
    .map(([provider]) => provider)
    .sort();
}

function modelProblem(routes: GatewayRoutes, path: string, model: string, own: ModelProvidersDecl = {}): Problem | undefined {
  const provider = providerOf(model);
  // A provider of the gateway's own is configured, not installed: its models need only be listed.
  const declared = own[provider];
  if (declared !== undefined) {
    const id = model.slice(provider.length + 1);
    if (declared.models.some((m) => m.id === id)) return undefined;
    return {
      path,
      message: `names model ${id}, which modelProviders.${provider} does not list; add it there with its price, or use one of: ${declared.models.map((m) => m.id).join(", ")}`,
    };
  }
  const route = routes.providers[provider];
  const served = servedProviders(routes).join(", ");
  if (route === undefined) {
    return {
      path,
      message: `names provider ${provider}, which openclaw ${routes.openclaw} does not know; use a model of a provider the gateway image serves: ${served}`,
    };
  }
  if (route.installsAtStart.length === 0) return undefined;
  const installs = route.installsAtStart.join(", ");
  const why =
    route.from === "npm" ? `openclaw ${routes.openclaw} does not bundle provider ${provider}` : `provider ${provider} needs more than the gateway image holds`;
  const fix = route.from === "npm" && route.package !== undefined ? `, or ${imageFix(route.package)}` : "";
  return {
    path,
    message: `${model}: ${why}, so the gateway would try to install ${installs} at start and never become ready; use a model of a provider the image serves (${served})${fix}`,
  };
}

function keyProblems(
  routes: GatewayRoutes,
  base: string,
  modelKeys: Readonly<Record<string, SecretValue>> | undefined,
  providers: ModelProvidersDecl | undefined,
): Problem[] {
  // A key in the credentials file is no variable: only the variables' presence makes openclaw install a plugin.
  return Object.keys(modelKeys ?? {}).flatMap((name) => {
    if (keyInFile(name, providers, routes)) return [];
    const env = modelKeyEnv(name);
    const installs = routes.keyEnvs[env]?.installsAtStart;
    if (installs === undefined || installs.length === 0) return [];
    return [
      {
        path: `${base}.modelKeys.${name}`,
        message: `is passed as ${env}, which makes openclaw ${routes.openclaw} install ${installs.join(", ")} at start (not in the gateway image), so the gateway would never become ready; remove the key, or ${imageFix(installs.join(" and "))}`,
      },
    ];
  });
}

function channelProblems(routes: GatewayRoutes, base: string, channels: ChannelsDecl | undefined): Problem[] {
  return (Object.keys(channelCredentials) as ChannelName[]).flatMap((channel) => {
    const route = routes.channels[channel];
    if (channels?.[channel] === undefined || route.installsAtStart.length === 0) return [];
    const pkg = route.package ?? route.installsAtStart.join(" and ");
    return [
      {
        path: `${base}.channels.${channel}`,
        message: `the gateway image has no ${channel} plugin, so the gateway would try to install ${route.installsAtStart.join(", ")} at start and never become ready; remove the channel, or ${imageFix(pkg)}`,
      },
    ];
  });
}

/**
 * Every model, model key and channel the declaration gives a gateway must start in the gateway image: openclaw
 * installs a missing plugin at start, which a gateway (no npm, read-only root) cannot do, so it would never become
 * ready. One problem per field, naming the tenant or host, the field and the fix.
 */
export function checkRoutes(routes: GatewayRoutes, hosts: Iterable<Host>, tenants: readonly Tenant[]): Problem[] {
  const problems: Problem[] = [];
  const add = (problem: Problem | undefined) => {
    if (problem !== undefined) problems.push(problem);
  };
  const sharedProviders = new Map<string, ModelProvidersDecl>();
  for (const host of hosts) {
    const shared = host.shared;
    if (shared?.modelProviders !== undefined) sharedProviders.set(host.id, shared.modelProviders);
    if (shared === undefined) continue;
    const base = `hosts.${host.id}.shared`;
    if (shared.model !== undefined) add(modelProblem(routes, `${base}.model`, shared.model, shared.modelProviders));
    problems.push(...keyProblems(routes, base, shared.modelKeys, shared.modelProviders), ...channelProblems(routes, base, shared.channels));
  }
  for (const tenant of tenants) {
    const base = `tenants.${tenant.id}`;
    const own = tenant.tier === "dedicated" ? tenant.modelProviders : sharedProviders.get(tenant.host);
    if (tenant.model !== undefined) add(modelProblem(routes, `${base}.model`, tenant.model, own));
    if (tenant.tier === "dedicated")
      problems.push(...keyProblems(routes, base, tenant.modelKeys, tenant.modelProviders), ...channelProblems(routes, base, tenant.channels));
  }
  return problems;
}
