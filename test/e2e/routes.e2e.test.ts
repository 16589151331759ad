import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { gatewayRoutes } from "../../declaration/gateway-routes";
import { servedProviders } from "../../declaration/routes";
import { runNode } from "./cli-process";
import { dockerApi, dockerExec, inspectContainer, removeHostObjects } from "./docker-api";
import { EngineDeployer } from "./engine/deployer";
import { gatewayImage } from "./gateway-image";
import { poll } from "./wait";

/*
 * Every route a stack can declare starts a real gateway, offline, with stand-in credentials: one dedicated gateway
 * per chat channel (telegram, discord, slack), one for openai (pinned to openclaw's own runtime, or openclaw would
 * install the Codex harness) and one for a three-part OpenRouter reference with its key (web search off, or openclaw
 * would fetch the Perplexity plugin), and a shared gateway whose agents use one model of each provider the image
 * serves (declaration/gateway-routes.ts). Stack `routes`, host routehost, ports 18700-18749 and 18750, deployed
 * with the real Pulumi engine and the real docker provider plugin (./engine/deployer.ts; after the apply, preview
 * and refresh find nothing to change); no container, network, port or state directory is shared with another file.
 */

const repo = resolve(__dirname, "..", "..");
const work = mkdtempSync(join(tmpdir(), "clawfleet-routes-e2e-"));
const stateRoot = join(work, "state");
const stackFile = join(work, "stacks", "Pulumi.routes.yaml");
const log = (line: string) => process.stderr.write(`routes-e2e: ${line}\n`);
const served = servedProviders(gatewayRoutes);
/** A shared tenant per provider the image serves; ids follow the provider's name. */
const providerTenant = (provider: string) => `m-${provider}`;

let image = "";
let deployer: EngineDeployer | undefined;
/** A stand-in credential as a real Pulumi secret: `{ secure: <ciphertext> }`. */
let secure = "";
let cliEnv: NodeJS.ProcessEnv;

const channelTenants = [
  { tenant: "rtelegram", channel: "telegram", port: 18701 },
  { tenant: "rdiscord", channel: "discord", port: 18702 },
  { tenant: "rslack", channel: "slack", port: 18703 },
] as const;

function stackText(): string {
  return [
    "config:",
    `  clawfleet:image: ${image}`,
    "  clawfleet:hosts:",
    "    routehost:",
    `      stateRoot: ${stateRoot}`,
    "      ports: { from: 18700, to: 18749 }",
    "      shared: { port: 18750, model: anthropic/claude-sonnet-4-5, memoryMb: 2048 }",
    // One gateway starting at a time: openclaw refuses to start when its state lease is not renewed within 5 s, which a
    // busy two-core machine with several cold starts at once can miss.
    "      rollout: { lanes: 1 }",
    "  clawfleet:tenants:",
    ...channelTenants.map(
      ({ tenant, channel, port }) => `    ${tenant}: { tier: dedicated, host: routehost, port: ${port}, channels: { ${channel}: { token: ${secure} } } }`,
    ),
    `    ropenai: { tier: dedicated, host: routehost, port: 18704, model: openai/gpt-5.1, modelKeys: { openai: ${secure} } }`,
    `    rrouter: { tier: dedicated, host: routehost, port: 18705, model: openrouter/anthropic/claude-sonnet-4-5, modelKeys: { openrouter: ${secure} } }`,
    ...served.map((provider) => `    ${providerTenant(provider)}: { tier: shared, host: routehost, model: ${provider}/e2e-model }`),
    "",
  ].join("\n");
}

/** Runs a command of this repository as a process, as users run it. */
const run = (args: readonly string[]) => runNode(args, { cwd: repo, env: cliEnv });

const clawfleet = (...args: string[]) => run([join(repo, "bin", "clawfleet.js"), ...args]);

/**
 * Seconds from the container's start to the gateway's own "ready" log line, once Docker calls it healthy. Both are
 * waited for: /healthz answers before the channels have started (an offline Telegram account takes a while), and on a
 * busy machine a probe can miss its 5 s three times running, leaving the gateway unhealthy until the next one passes.
 */
async function secondsToReady(container: string): Promise<number> {
  const { info, ready } = await poll(`${container} healthy and ready`, 240, async () => {
    const now = await inspectContainer(container);
    const line = (await logsOf(container)).match(/(\d{4}-\d\d-\d\dT[\d:.]+[+-]\d\d:\d\d) \[gateway\] ready/);
    return now?.State.Health?.Status === "healthy" && line?.[1] !== undefined ? { info: now, ready: line[1] } : undefined;
  });
  assert.equal(info.RestartCount, 0, `${container} restarted`);
  return (Date.parse(ready) - Date.parse(info.State.StartedAt)) / 1000;
}

async function logsOf(container: string): Promise<string> {
  return dockerApi<string>("GET", `/containers/${container}/logs?stdout=true&stderr=true`, undefined, { text: true });
}

/** The gateway's own config as it runs, read inside its container. */
async function runningConfig(container: string): Promise<Record<string, unknown>> {
  const read = await dockerExec(container, ["node", "-e", "process.stdout.write(require('fs').readFileSync('/state/openclaw.json','utf8'))"]);
  assert.equal(read.code, 0, read.output);
  return JSON.parse(read.output.slice(read.output.indexOf("{"))) as Record<string, unknown>;
}

async function teardown(): Promise<void> {
  await removeHostObjects(["routehost"]);
}

before(async () => {
  image = gatewayImage(repo, log);
  // routehost does not publish on Tailscale (serve is off): nothing here runs tailscale.
  cliEnv = { ...process.env };
  deployer = await EngineDeployer.real({
    repo,
    work: join(work, "engine"),
    stack: "routes",
    env: cliEnv,
    progress: log,
  });
  secure = `{ secure: ${await deployer.encrypt("routes-e2e-stand-in-credential")} }`;
  mkdirSync(join(work, "stacks"), { recursive: true });
  writeFileSync(stackFile, stackText());
  deployer.configure(stackText());
  await teardown();
  const started = Date.now();
  log(`deploying stack routes: ${channelTenants.length + 2} dedicated gateways and a shared one with ${served.length} providers' agents`);
  await deployer.deploy().catch(async (error: unknown) => {
    // The teardown removes the containers: say here why a gateway did not come up.
    const filters = encodeURIComponent(JSON.stringify({ label: ["clawfleet.host=routehost"] }));
    const listed = await dockerApi<{ Names: string[] }[]>("GET", `/containers/json?all=true&filters=${filters}`);
    for (const name of listed.map((c) => (c.Names[0] ?? "").replace(/^\//, ""))) {
      const info = await inspectContainer(name);
      if (info === undefined || info.State.Health?.Status === "healthy") continue;
      const tail = (await logsOf(name).catch(() => "")).trim().split("\n").slice(-15).join("\n");
      log(`${name}: ${info.State.Status}, health ${info.State.Health?.Status ?? "none"}, ${info.RestartCount} restarts; its log ends:\n${tail}`);
    }
    throw error;
  });
  log(`deployed, every health gate passed, in ${((Date.now() - started) / 1000).toFixed(0)} s`);
});

after(async () => {
  await teardown();
  rmSync(work, { recursive: true, force: true });
});

describe("every channel a stack can declare", () => {
  for (const { tenant, channel } of channelTenants) {
    it(`starts a gateway with a ${channel} channel that loads its plugin, and pairing list answers for it`, async () => {
      const container = `clawfleet-tenant-${tenant}`;
      log(`${container}: healthy, ready ${(await secondsToReady(container)).toFixed(1)} s after its start`);
      const logs = await logsOf(container);
      const listening = logs.match(/http server listening \(\d+ plugins: ([^;]+);/);
      assert.ok(listening?.[1]?.split(", ").includes(channel), `the gateway loads the ${channel} plugin: ${listening?.[0] ?? "no listening line"}`);
      assert.doesNotMatch(logs, /gateway\.maintenance_required|npm view/);

      const listed = await clawfleet("pairing", "list", stackFile, tenant, channel);
      assert.equal(listed.code, 0, listed.stderr);
      assert.equal(listed.stdout.trim(), `No pending ${channel} pairing requests on tenant ${tenant}'s gateway.`);
      const json = await clawfleet("pairing", "list", stackFile, tenant, channel, "--json");
      assert.equal(json.code, 0, json.stderr);
      assert.deepEqual((JSON.parse(json.stdout) as { requests: unknown[] }).requests, []);
      const approve = await clawfleet("pairing", "approve", stackFile, tenant, channel, "NOSUCH12");
      assert.equal(approve.code, 1);
      assert.equal(
        approve.stderr.trim().split("\n").pop(),
        `clawfleet: tenant ${tenant}: ${channel} pairing code "NOSUCH12" was not approved: No pending pairing request found for code "NOSUCH12". Run openclaw pairing list --channel ${channel} to list pending requests.`,
      );
    });
  }
});

describe("every model provider a stack can declare", () => {
  it("starts an openai gateway on openclaw's own runtime with its key: no Codex harness to install, and openclaw accepts the config", async () => {
    const container = "clawfleet-tenant-ropenai";
    log(`${container}: healthy, ready ${(await secondsToReady(container)).toFixed(1)} s after its start`);
    const config = await runningConfig(container);
    assert.deepEqual((config["agents"] as { defaults: unknown }).defaults, {
      model: "openai/gpt-5.1",
      models: { "openai/*": { agentRuntime: { id: "openclaw" } } },
    });
    const logs = await logsOf(container);
    assert.match(logs, /agent model: openai\/gpt-5\.1/);
    assert.doesNotMatch(logs, /gateway\.maintenance_required|codex/i);
    const validate = await clawfleet("exec", stackFile, "ropenai", "--", "config", "validate");
    assert.equal(validate.code, 0, validate.stdout + validate.stderr);
  });

  it("starts a gateway on a three-part OpenRouter reference with an OpenRouter key, web search off so no search plugin is fetched", async () => {
    const container = "clawfleet-tenant-rrouter";
    log(`${container}: healthy, ready ${(await secondsToReady(container)).toFixed(1)} s after its start`);
    const config = await runningConfig(container);
    assert.deepEqual(config["tools"], { web: { search: { enabled: false } } });
    assert.match(await logsOf(container), /agent model: openrouter\/anthropic\/claude-sonnet-4-5/);
    const validate = await clawfleet("exec", stackFile, "rrouter", "--", "config", "validate");
    assert.equal(validate.code, 0, validate.stdout + validate.stderr);
  });

  it(`starts one gateway whose agents use a model of each of the ${served.length} providers the image serves`, async () => {
    const container = "clawfleet-shared-routehost";
    log(`${container}: healthy, ready ${(await secondsToReady(container)).toFixed(1)} s after its start`);
    const listed = await clawfleet("exec", stackFile, providerTenant("anthropic"), "--", "agents", "list", "--json");
    assert.equal(listed.code, 0, listed.stderr);
    const agents = JSON.parse(listed.stdout.slice(listed.stdout.indexOf("["))) as { id: string; model?: string }[];
    assert.deepEqual(agents.map((a) => a.id).sort(), served.map(providerTenant).sort());
    assert.doesNotMatch(await logsOf(container), /gateway\.maintenance_required|npm view/);
    const status = await poll("status of every route healthy", 240, async () => {
      const result = await clawfleet("status", stackFile, "--json");
      return result.code === 0 ? result : undefined;
    });
    const tenants = (JSON.parse(status.stdout) as { tenants: { tenant: string; healthy: boolean }[] }).tenants;
    assert.equal(tenants.length, channelTenants.length + 2 + served.length);
    assert.ok(
      tenants.every((t) => t.healthy),
      JSON.stringify(tenants.filter((t) => !t.healthy)),
    );
  });
});

describe("what the image cannot serve", () => {
  it("is the table the openclaw package in the image gives now (declaration/gateway-routes.ts)", async () => {
    const check = await run(["--import", "tsx", join(repo, "scripts", "generate-gateway-routes.ts"), "--image", image, "--check"]);
    assert.equal(check.code, 0, check.stderr);
  });

  it("is refused by plan before anything is deployed: a model of an unbundled provider, and a key that pulls one in", async () => {
    const refused = join(work, "stacks", "Pulumi.refused.yaml");
    writeFileSync(
      refused,
      stackText().replace(
        "    ropenai: {",
        `    rmistral: { tier: dedicated, host: routehost, port: 18706, model: mistral/mistral-large-latest, modelKeys: { groq: ${secure} } }\n    ropenai: {`,
      ),
    );
    const result = await clawfleet("plan", refused);
    assert.equal(result.code, 1);
    const lines = result.stderr.trim().split("\n");
    assert.ok(
      lines.includes(
        `${refused}: tenants.rmistral.model: mistral/mistral-large-latest: openclaw 2026.9.6 does not bundle provider mistral, so the gateway would try to install @openclaw/mistral-provider at start and never become ready; use a model of a provider the image serves (${served.join(", ")}), or add @openclaw/mistral-provider to "plugins" in scripts/gateway-image.json (the build installs it from npm at the openclaw version), rebuild the image and run npx tsx scripts/generate-gateway-routes.ts`,
      ),
      result.stderr,
    );
    assert.ok(
      lines.some((line) =>
        line.startsWith(
          `${refused}: tenants.rmistral.modelKeys.groq: is passed as GROQ_API_KEY, which makes openclaw 2026.9.6 install @openclaw/groq-provider at start`,
        ),
      ),
      result.stderr,
    );
    assert.equal(await inspectContainer("clawfleet-tenant-rmistral"), undefined);
  });
});
