import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import type { FleetUsage } from "../../cli/ops/usage";
import { runClawfleet } from "./cli-process";
import { dockerApi, dockerExec, inspectContainer, removeHostObjects } from "./docker-api";
import { EngineDeployer } from "./engine/deployer";
import { startFakeModelProvider, type FakeModelProvider } from "./fake-model-provider";
import { startFakeTelegram, type FakeTelegram } from "./fake-telegram";
import { gatewayImage } from "./gateway-image";
import { poll } from "./wait";

/*
 * What a tenant's model turns cost, end to end: one dedicated gateway (stack usage, host ushost, tenant ua, ports
 * 18980-18989) whose model is served by the suite's own OpenAI-compatible provider (fake-model-provider.ts), priced
 * in the declaration at 3 and 15 USD per million input and output tokens, deployed with the real Pulumi engine and
 * the real docker provider plugin (./engine/deployer.ts; after the apply, preview and refresh find nothing to
 * change), its key a real Pulumi secret. The provider listens on the host's address on Docker's default bridge: a container reaches the
 * host there, and the address lives on this machine only.
 */

const repo = resolve(__dirname, "..", "..");
const work = mkdtempSync(join(tmpdir(), "clawfleet-usage-e2e-"));
const stateRoot = join(work, "state");
const stackFile = join(work, "stacks", "Pulumi.usage.yaml");
const log = (line: string) => process.stderr.write(`usage-e2e: ${line}\n`);
const container = "clawfleet-tenant-ua";
const prices = { input: 3, output: 15 };
const tokens = { promptTokens: 1200, completionTokens: 300 };
/** The declared key: a Pulumi secret in the stack file, which the engine decrypts for the gateway. */
let modelKey = `sk-usage-${randomBytes(12).toString("hex")}`;

let image = "";
let deployer: EngineDeployer | undefined;
let secureKey = "";
let cliEnv: NodeJS.ProcessEnv;
let provider: FakeModelProvider;
let telegram: FakeTelegram;
let botToken = "";
/** The declared budget in US dollars a month; the enforcement case raises it. */
let budgetUsd = 0.01;

function stackText(baseUrl: string): string {
  return [
    "config:",
    `  clawfleet:image: ${image}`,
    "  clawfleet:hosts:",
    "    ushost:",
    `      stateRoot: ${stateRoot}`,
    "      ports: { from: 18980, to: 18989 }",
    "  clawfleet:tenants:",
    "    ua:",
    "      tier: dedicated",
    "      host: ushost",
    "      port: 18981",
    "      model: fakeai/small",
    `      modelKeys: { fakeai: { secure: ${secureKey} } }`,
    "      modelProviders:",
    "        fakeai:",
    `          baseUrl: ${baseUrl}`,
    `          models: [{ id: small, cost: { input: ${prices.input}, output: ${prices.output} } }]`,
    // Its Telegram channel talks to the suite's own Bot API server (fake-telegram.ts).
    `      channels: { telegram: { apiRoot: "${telegram.apiRoot}", token: { secure: ${botToken} } } }`,
    // 0.0081 USD a turn: one turn is 81% of it.
    `      budget: { usdPerMonth: ${budgetUsd}, enforce: true }`,
    "",
  ].join("\n");
}

/** Runs the CLI as a process, as users run it (asynchronously: the fake provider answers in this process). */
const clawfleet = (...args: string[]) => runClawfleet(repo, args, { cwd: repo, env: cliEnv });

/**
 * This machine's address on Docker's default bridge, where a container reaches the host: the bridge's gateway as
 * Docker reports it, or (Docker 20.10 started afresh reports the subnet only) this machine's address inside its subnet.
 */
async function defaultBridgeAddress(): Promise<string> {
  const bridge = await dockerApi<{ IPAM: { Config: { Gateway?: string; Subnet?: string }[] } }>("GET", "/networks/bridge");
  const reported = bridge.IPAM.Config.find((c) => c.Gateway !== undefined)?.Gateway;
  if (reported !== undefined) return reported;
  const subnet = bridge.IPAM.Config.find((c) => c.Subnet?.includes(".") === true)?.Subnet ?? "";
  const [base = "", bits = "32"] = subnet.split("/");
  const network = (ip: string) => Math.floor(ip.split(".").reduce((n, part) => n * 256 + Number(part), 0) / 2 ** (32 - Number(bits)));
  // From `ip`: Node's interface list leaves out docker0 while no container is on it (the link is down).
  const addresses = [...execFileSync("ip", ["-4", "-o", "addr", "show"], { encoding: "utf8" }).matchAll(/ inet (\d+\.\d+\.\d+\.\d+)\//g)].map(
    (m) => m[1] ?? "",
  );
  const inside = addresses.find((address) => network(address) === network(base));
  assert.ok(inside !== undefined, `this machine has an address on Docker's default bridge (${subnet})`);
  return inside;
}

/** The gateway's credentials file, as its host keeps it. */
function credentials(): { modelKeys: Record<string, string>; channels: Record<string, string> } {
  const file = join(stateRoot, "secrets", container, "secrets.json");
  assert.deepEqual([statSync(file).mode & 0o777, statSync(file).uid], [0o600, 1000], "private to the gateway's user");
  return JSON.parse(readFileSync(file, "utf8")) as { modelKeys: Record<string, string>; channels: Record<string, string> };
}

async function teardown(): Promise<void> {
  await removeHostObjects(["ushost"]);
}

before(async () => {
  image = gatewayImage(repo, log);
  const address = await defaultBridgeAddress();
  provider = await startFakeModelProvider({ address, model: "small", usage: tokens });
  log(`fake model provider at ${provider.baseUrl}`);
  telegram = await startFakeTelegram(address);
  log(`fake Telegram Bot API at ${telegram.apiRoot}`);
  // ushost does not publish on Tailscale (serve is off): nothing here runs tailscale.
  cliEnv = { ...process.env };
  deployer = await EngineDeployer.real({
    repo,
    work: join(work, "engine"),
    stack: "usage",
    env: cliEnv,
    progress: log,
  });
  secureKey = await deployer.encrypt(modelKey);
  botToken = await deployer.encrypt("7654321:usage-e2e-bot-token");
  mkdirSync(join(work, "stacks"), { recursive: true });
  writeFileSync(stackFile, stackText(provider.baseUrl));
  deployer.configure(stackText(provider.baseUrl));
  await teardown();
  const started = Date.now();
  await deployer.deploy();
  log(`deployed, health gate passed, in ${((Date.now() - started) / 1000).toFixed(0)} s`);
});

after(async () => {
  await teardown();
  await provider?.close();
  await telegram?.close();
  rmSync(work, { recursive: true, force: true });
});

describe("clawfleet usage on a real gateway", () => {
  it("reports the tokens and the cost the gateway recorded for a real chat turn: the provider's token counts times the declared prices", async () => {
    // The key reaches the gateway in its credentials file; the config only points into it.
    const key = credentials().modelKeys["fakeai"];
    assert.equal(key, modelKey, "the declared key, decrypted by the engine, is in the gateway's credentials file");
    const config = (await dockerExec(container, ["cat", "/state/openclaw.json"])).output;
    assert.match(config, /"apiKey": \{\s*"source": "file",\s*"provider": "clawfleet",\s*"id": "\/modelKeys\/fakeai"\s*\}/);
    assert.ok(!config.includes(key), "the key's value is not in the config");
    const env = ((await inspectContainer(container))?.Config["Env"] as string[] | undefined) ?? [];
    assert.ok(!env.some((e) => e.includes(key)), "nor in the gateway's environment");

    let started = Date.now();
    const turn = await clawfleet("exec", stackFile, "ua", "--", "agent", "--agent", "ua", "--message", "ping", "--json");
    log(`chat turn through the gateway: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(turn.code, 0, turn.stderr);
    assert.match(turn.stdout, /"text": "pong"/);
    assert.equal(provider.completions, 1);
    const completion = provider.requests.find((r) => r.path.endsWith("/chat/completions"));
    assert.equal(completion?.apiKey, key, "the declared key reached the provider");

    started = Date.now();
    const usage = await poll("usage --json with the turn counted", 180, async () => {
      const result = await clawfleet("usage", stackFile, "--json");
      const parsed = JSON.parse(result.stdout) as FleetUsage;
      return result.code === 0 && (parsed.tenants[0]?.totals?.totalTokens ?? 0) > 0 ? { result, parsed } : undefined;
    });
    log(`clawfleet usage answered with the turn after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const ua = usage.parsed.tenants[0];
    assert.equal(ua?.tenant, "ua");
    assert.equal(ua?.cache, "fresh");
    assert.equal(ua?.totals?.input, tokens.promptTokens);
    assert.equal(ua?.totals?.output, tokens.completionTokens);
    assert.equal(ua?.totals?.totalTokens, tokens.promptTokens + tokens.completionTokens);
    const expected = (tokens.promptTokens * prices.input + tokens.completionTokens * prices.output) / 1e6;
    assert.ok(Math.abs((ua?.totals?.totalCost ?? 0) - expected) < 1e-12, `cost ${ua?.totals?.totalCost} is ${expected}`);
    assert.deepEqual(
      usage.parsed.hosts.map((h) => [h.host, h.totals.totalTokens, h.error]),
      [["ushost", 1500, null]],
    );
    log(`usage: ${JSON.stringify(ua?.totals)}`);

    const table = await clawfleet("usage", stackFile);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^ua +ushost +dedicated +1,200 +300 +0 +0 +1,500 +\$0\.0081 +\$0\.01\/month \(81% spent\)$/m);

    started = Date.now();
    const watched = await clawfleet("watch", stackFile, "--once", "--json");
    log(`watch --once: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const events = watched.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { event: string; kind: string; text: string });
    assert.deepEqual(
      events.map((e) => [e.event, e.kind, e.text]),
      [
        [
          "alert",
          "budget-warning",
          `tenant ua (host ushost) has spent 80% of its monthly budget: its estimated model cost in ${new Date().toISOString().slice(0, 7)} (UTC) is $0.0081, 81% of its budget of $0.01 a month`,
        ],
      ],
    );
    assert.equal(watched.code, 1);
    assert.ok((await inspectContainer(container))?.State.Running);
  });

  it("with budget.enforce, stops the tenant's channel at its budget and starts it again under it, in the same running gateway", async () => {
    const channel = async () => {
      const status = await clawfleet("exec", stackFile, "ua", "--", "gateway", "call", "channels.status", "--json");
      assert.equal(status.code, 0, status.stderr);
      return (JSON.parse(status.stdout.slice(status.stdout.indexOf("{"))) as { channels: { telegram: { running: boolean } } }).channels.telegram;
    };
    const startedAt = (await inspectContainer(container))?.State.StartedAt;
    assert.equal((await channel()).running, true, "the channel runs against the suite's Bot API server");
    assert.ok(telegram.calls.some((c) => c.method === "getUpdates" && c.token === "7654321:usage-e2e-bot-token"));

    const turn = await clawfleet("exec", stackFile, "ua", "--", "agent", "--agent", "ua", "--message", "ping again", "--json");
    assert.equal(turn.code, 0, turn.stderr);
    const spent = (2 * (tokens.promptTokens * prices.input + tokens.completionTokens * prices.output)) / 1e6;
    await poll("usage --json with the second turn counted", 180, async () => {
      const result = await clawfleet("usage", stackFile, "--json");
      const cost = (JSON.parse(result.stdout) as FleetUsage).tenants[0]?.totals?.totalCost ?? 0;
      return result.code === 0 && Math.abs(cost - spent) < 1e-12 ? true : undefined;
    });
    const month = new Date().toISOString().slice(0, 7);

    const over = await clawfleet("watch", stackFile, "--once", "--json");
    assert.ok(
      over.stderr.includes(
        `clawfleet watch: tenant ua (host ushost): its budget is spent ($0.02 of $0.01 in ${month}, UTC): stopped its telegram channel; its credentials and pairings are kept, and it starts again once the month's spend is under the budget\n`,
      ),
      over.stderr,
    );
    assert.deepEqual(
      over.stdout
        .trim()
        .split("\n")
        .map((line) => (JSON.parse(line) as { kind: string }).kind),
      ["budget-warning", "budget-exceeded"],
    );
    assert.equal((await channel()).running, false, "the channel is stopped");

    // A new month, or a larger budget: the spend is under it again.
    budgetUsd = 1;
    writeFileSync(stackFile, stackText(provider.baseUrl));
    const under = await clawfleet("watch", stackFile, "--once", "--json");
    assert.ok(
      under.stderr.includes(
        `clawfleet watch: tenant ua (host ushost): its spend in ${month} ($0.02) is under its budget of $1.00: started its telegram channel again\n`,
      ),
      under.stderr,
    );
    assert.equal((await channel()).running, true, "the channel runs again");
    assert.equal((await inspectContainer(container))?.State.StartedAt, startedAt, "the same gateway, never restarted");
    assert.ok(!`${over.stdout}${over.stderr}${under.stdout}${under.stderr}`.includes("usage-e2e-bot-token"), "the bot token is in no output");
  });

  it("rotates the model key in the running gateway: the credentials file is rewritten and reloaded, and the provider sees the new key with no restart", async () => {
    const before = await inspectContainer(container);
    modelKey = `sk-usage-rotated-${randomBytes(12).toString("hex")}`;
    secureKey = await deployer!.encrypt(modelKey);
    writeFileSync(stackFile, stackText(provider.baseUrl));
    deployer!.configure(stackText(provider.baseUrl));
    const started = Date.now();
    await deployer!.deploy();
    log(`rotated the key in ${((Date.now() - started) / 1000).toFixed(0)} s (apply, then preview and refresh find nothing to change)`);
    assert.equal(credentials().modelKeys["fakeai"], modelKey);

    const after = await inspectContainer(container);
    assert.deepEqual([after?.Id, after?.State.StartedAt], [before?.Id, before?.State.StartedAt], "the same container, never restarted");
    const turn = await clawfleet("exec", stackFile, "ua", "--", "agent", "--agent", "ua", "--message", "ping with the new key", "--json");
    assert.equal(turn.code, 0, turn.stderr);
    assert.equal(provider.requests.filter((r) => r.path.endsWith("/chat/completions")).at(-1)?.apiKey, modelKey, "the provider saw the new key");
    assert.ok(!`${turn.stdout}${turn.stderr}`.includes(modelKey), "the key is in no output");
  });
});
