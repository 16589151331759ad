// Writes declaration/gateway-routes.ts: which model providers, model keys and chat channels the gateway image serves,
// asked of the openclaw package inside the image itself (npx tsx scripts/generate-gateway-routes.ts [--image <ref>]).
// With --check it writes nothing and exits 1 when the committed table differs from what the image answers.
//
// The inventory comes from the package's own files: the bundled plugins' manifests (dist/extensions/*) and openclaw's
// catalogs of its official external plugins (scripts/lib/official-external-*-catalog.json). What a gateway would
// install at start comes from openclaw's own start-up check (detectConfiguredPluginInstallHealthIssues, the function
// doctor and the start-up repair use), run for one minimal config per provider, key and channel in a throw-away
// container of the image: no guess of ours decides which routes need a plugin.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { format, resolveConfig } from "prettier";
import { channelCredentials, type ChannelName } from "../declaration/schema";
import { modelKeyEnv, runtimePin, type ChannelRoute, type GatewayRoutes, type ProviderRoute } from "../declaration/routes";

const repo = join(__dirname, "..");
const outFile = join(repo, "declaration", "gateway-routes.ts");
const imageFile = join(repo, "scripts", "gateway-image.json");

/** Lists what the package holds: bundled plugins (with the image's own), external catalogs. Runs in the image. */
const inventoryScript = `
import { readdirSync, readFileSync, existsSync } from "node:fs";
const root = "/app/node_modules/openclaw";
const json = (file) => JSON.parse(readFileSync(file, "utf8"));
const bundled = [];
for (const dir of readdirSync(root + "/dist/extensions")) {
  const manifestFile = root + "/dist/extensions/" + dir + "/openclaw.plugin.json";
  if (!existsSync(manifestFile)) continue;
  const manifest = json(manifestFile);
  const pkgFile = root + "/dist/extensions/" + dir + "/package.json";
  const pkg = existsSync(pkgFile) ? json(pkgFile) : {};
  // A plugin's "providers" are its model providers; speech, transcription and media providers are set up elsewhere.
  bundled.push({
    id: manifest.id,
    package: pkg.name ?? null,
    providers: manifest.providers || [],
    channels: manifest.channels || [],
    models: Object.fromEntries(Object.entries((manifest.modelCatalog && manifest.modelCatalog.providers) || {}).map(([id, p]) => [id, ((p.models || [])[0] || {}).id || null])),
  });
}
const catalog = (name) => json(root + "/scripts/lib/official-external-" + name + "-catalog.json").entries;
// Every variable an external plugin says it reads (providers, web search, channels): its presence may pull the plugin in.
const envVarsOf = (value, key) =>
  Array.isArray(value)
    ? (["envVars", "anyOf", "allOf"].includes(key) ? value.filter((v) => typeof v === "string") : value.flatMap((v) => envVarsOf(v)))
    : value && typeof value === "object"
      ? Object.entries(value).flatMap(([k, v]) => envVarsOf(v, k))
      : [];
const external = [...catalog("provider"), ...catalog("channel"), ...catalog("plugin")].map((entry) => ({
  id: (entry.openclaw.plugin && entry.openclaw.plugin.id) || (entry.openclaw.channel && entry.openclaw.channel.id) || null,
  package: entry.name,
  providers: (entry.openclaw.providers || []).map((p) => ({ id: p.id, aliases: p.aliases || [] })),
  channel: (entry.openclaw.channel && entry.openclaw.channel.id) || null,
  envVars: [...new Set(envVarsOf(entry.openclaw))],
}));
console.log(JSON.stringify({ version: json(root + "/package.json").version, bundled, external }));
`;

/** Runs openclaw's own start-up install check for each probe; prints the install specs each one would fetch. */
const probeScript = `
import { readdirSync } from "node:fs";
const dist = "/app/node_modules/openclaw/dist/";
const wanted = "detectConfiguredPluginInstallHealthIssues";
let detect;
for (const file of readdirSync(dist).filter((f) => f.startsWith("missing-configured-plugin-install-") && f.endsWith(".mjs"))) {
  detect ??= Object.values(await import(dist + file)).find((v) => typeof v === "function" && v.name === wanted);
}
if (detect === undefined) throw new Error("openclaw has no " + wanted + " in dist/missing-configured-plugin-install-*.mjs any more; read how its start-up decides which plugins to install");
const probes = JSON.parse(process.env.ROUTE_PROBES);
const results = {};
for (const [name, probe] of Object.entries(probes)) {
  const issues = await detect({ cfg: probe.config, env: { ...process.env, ...probe.env } });
  results[name] = issues.map((issue) => issue.installSpec ?? issue.pluginId + " (" + issue.kind + ")").sort();
}
console.log(JSON.stringify(results));
`;

interface Inventory {
  readonly version: string;
  readonly bundled: { id: string; package: string | null; providers: string[]; channels: string[]; models: Record<string, string | null> }[];
  readonly external: { id: string | null; package: string; providers: { id: string; aliases: string[] }[]; channel: string | null; envVars: string[] }[];
}

interface Probe {
  readonly config: unknown;
  readonly env: Record<string, string>;
}

function arg(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index === -1 ? undefined : process.argv[index + 1];
}

/** Runs a node script in a throw-away, hardened container of the image, as the gateway runs, and parses its last line. */
function runInImage<T>(image: string, script: string, env: Record<string, string> = {}): T {
  const envArgs = Object.keys(env).flatMap((key) => ["-e", key]);
  const output = execFileSync(
    "docker",
    [
      ...["run", "--rm", "--read-only", "--cap-drop", "ALL", "--network", "none"],
      ...["--tmpfs", "/tmp", "--tmpfs", "/home/node:uid=1000,gid=1000", "-e", "OPENCLAW_STATE_DIR=/tmp/state", ...envArgs],
      ...["--entrypoint", "node", image, "--input-type=module", "-e", script],
    ],
    { encoding: "utf8", env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024, stdio: ["ignore", "pipe", "inherit"] },
  );
  return JSON.parse(output.trim().split("\n").pop() ?? "null") as T;
}

/** The config openclaw gets when a gateway's keys would otherwise pull in a web search plugin the image lacks. */
const webSearchOff = { web: { search: { enabled: false } } };

function agentsWith(model: string, pin?: string): unknown {
  return {
    defaults: { model, ...(pin === undefined ? {} : { models: runtimePin(pin) }) },
    entries: { probe: { name: "probe", workspace: "/tmp/workspace", model } },
  };
}

async function main(): Promise<void> {
  const imageDecl = JSON.parse(readFileSync(imageFile, "utf8")) as { openclaw: string; plugins?: string[] };
  const image =
    arg("--image") ??
    execFileSync("bash", [join(repo, "scripts", "build-gateway-image.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] })
      .trim()
      .split("\n")
      .pop() ??
    "";
  process.stderr.write(`gateway routes: asking openclaw in ${image}\n`);
  const inventory = runInImage<Inventory>(image, inventoryScript);
  if (inventory.version !== imageDecl.openclaw)
    throw new Error(`${image} holds openclaw ${inventory.version}, not ${imageDecl.openclaw} (scripts/gateway-image.json)`);
  const imagePlugins = new Set(imageDecl.plugins ?? []);

  // Every provider id the package knows, with the plugin that serves it and where that plugin comes from.
  const known = new Map<string, Omit<ProviderRoute, "installsAtStart">>();
  const sampleModel = new Map<string, string>();
  for (const plugin of inventory.bundled) {
    const from = plugin.package !== null && imagePlugins.has(plugin.package) ? "image" : "openclaw";
    for (const provider of plugin.providers) {
      known.set(provider, { plugin: plugin.id, from, ...(from === "image" && plugin.package !== null ? { package: plugin.package } : {}) });
      const model = plugin.models[provider];
      if (model !== null && model !== undefined) sampleModel.set(provider, model);
    }
  }
  for (const entry of inventory.external) {
    for (const provider of entry.providers) {
      for (const id of [provider.id, ...provider.aliases]) {
        if (!known.has(id)) known.set(id, { plugin: entry.id ?? provider.id, from: "npm", package: entry.package });
      }
    }
  }
  // A model key is passed as <NAME>_API_KEY: every provider's own, and every such variable an external plugin reads.
  const keyEnvs = [...new Set([...[...known.keys()].map(modelKeyEnv), ...inventory.external.flatMap((entry) => entry.envVars)])]
    .filter((env) => /^[A-Z][A-Z0-9_]*_API_KEY$/.test(env))
    .sort();
  const channels = Object.keys(channelCredentials) as ChannelName[];
  const baseModel = "anthropic/claude-sonnet-4-5";

  const probes: Record<string, Probe> = {};
  const providers = [...known.keys()].sort();
  for (const provider of providers) {
    const model = `${provider}/${sampleModel.get(provider) ?? "probe-model"}`;
    probes[`model ${provider}`] = { config: { agents: agentsWith(model) }, env: {} };
    probes[`pinned ${provider}`] = { config: { agents: agentsWith(model, provider) }, env: {} };
  }
  for (const env of keyEnvs) {
    probes[`key ${env}`] = { config: { agents: agentsWith(baseModel) }, env: { [env]: "stand-in" } };
    probes[`key ${env} without web search`] = { config: { agents: agentsWith(baseModel), tools: webSearchOff }, env: { [env]: "stand-in" } };
  }
  for (const channel of channels) {
    const { field, env } = channelCredentials[channel];
    probes[`channel ${channel}`] = {
      config: { agents: agentsWith(baseModel), channels: { [channel]: { dmPolicy: "pairing", [field]: { source: "env", provider: "default", id: env } } } },
      env: { [env]: "stand-in" },
    };
  }
  const results = runInImage<Record<string, string[]>>(image, probeScript, { ROUTE_PROBES: JSON.stringify(probes) });
  const resultOf = (name: string): string[] => {
    const result = results[name];
    if (result === undefined) throw new Error(`no answer for probe ${name}`);
    return result;
  };

  const channelRoutes = {} as Record<ChannelName, ChannelRoute>;
  for (const channel of channels) {
    const plugin = inventory.bundled.find((p) => p.channels.includes(channel));
    const external = inventory.external.find((e) => e.channel === channel);
    const from = plugin === undefined ? "npm" : plugin.package !== null && imagePlugins.has(plugin.package) ? "image" : "openclaw";
    const pkg = from === "openclaw" ? undefined : (plugin?.package ?? external?.package ?? undefined);
    const route: ChannelRoute = {
      plugin: plugin?.id ?? external?.id ?? channel,
      from,
      ...(pkg === undefined ? {} : { package: pkg }),
      installsAtStart: resultOf(`channel ${channel}`),
    };
    channelRoutes[channel] = route;
  }

  const routes: GatewayRoutes = {
    openclaw: inventory.version,
    imagePlugins: [...imagePlugins].sort(),
    providers: Object.fromEntries(
      providers.map((provider) => {
        const route = known.get(provider);
        if (route === undefined) throw new Error(`lost provider ${provider}`);
        const plain = resultOf(`model ${provider}`);
        const pinned = resultOf(`pinned ${provider}`);
        // A runtime pin is rendered only where it keeps a route on bundled code that would otherwise install a plugin.
        const pin = plain.length > 0 && pinned.length < plain.length;
        return [provider, { ...route, installsAtStart: pin ? pinned : plain, ...(pin ? { pinRuntime: "openclaw", installsUnpinned: plain } : {}) }];
      }),
    ),
    keyEnvs: Object.fromEntries(
      keyEnvs.flatMap((env) => {
        const plain = resultOf(`key ${env}`);
        if (plain.length === 0) return [];
        const off = resultOf(`key ${env} without web search`);
        // Turning web search off is rendered only where it is what keeps the key from pulling in a plugin.
        return [[env, off.length < plain.length ? { installsAtStart: off, webSearchOff: true, installsWithWebSearch: plain } : { installsAtStart: plain }]];
      }),
    ),
    channels: channelRoutes,
  };

  const text = [
    `// Generated by scripts/generate-gateway-routes.ts from openclaw ${routes.openclaw} in the gateway image (scripts/gateway-image.json); do not edit.`,
    "// Rerun it after changing the openclaw version or the image's plugins: npx tsx scripts/generate-gateway-routes.ts",
    `import type { GatewayRoutes } from "./routes";`,
    "",
    `export const gatewayRoutes: GatewayRoutes = ${JSON.stringify(routes)};`,
    "",
  ].join("\n");
  const formatted = await format(text, { ...(await resolveConfig(outFile)), filepath: outFile });
  if (process.argv.includes("--check")) {
    const committed = readFileSync(outFile, "utf8");
    if (committed !== formatted) {
      const [ours, theirs] = [committed.split("\n"), formatted.split("\n")];
      const line = ours.findIndex((text, index) => text !== theirs[index]);
      throw new Error(
        `declaration/gateway-routes.ts differs from what ${image} answers, first at line ${line + 1}:\n- ${ours[line] ?? ""}\n+ ${theirs[line] ?? ""}\nrun npx tsx scripts/generate-gateway-routes.ts`,
      );
    }
    process.stderr.write(`gateway routes: declaration/gateway-routes.ts is what ${image} answers\n`);
    return;
  }
  writeFileSync(outFile, formatted);
  const usable = Object.entries(routes.providers).filter(([, r]) => r.installsAtStart.length === 0).length;
  process.stderr.write(`gateway routes: ${usable} of ${providers.length} providers start without an install; wrote ${outFile}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`gateway routes: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
