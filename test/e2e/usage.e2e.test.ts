import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import type { PlannedResource } from "../../cli/mock-run";
import type { FleetUsage } from "../../cli/ops/usage";
import { dockerApi, dockerExec, inspectContainer } from "./docker-api";
import { startFakeModelProvider, type FakeModelProvider } from "./fake-model-provider";
import { Deployer } from "./standin/deployer";
import { poll } from "./wait";

/*
 * What a tenant's model turns cost, end to end: one dedicated gateway (stack usage, host ushost, tenant ua, ports
 * 18980-18989) whose model is served by the suite's own OpenAI-compatible provider (fake-model-provider.ts), priced
 * in the declaration at 3 and 15 USD per million input and output tokens, deployed through the engine stand-in like
 * routes.e2e.test.ts. The provider listens on the host's address on Docker's default bridge: a container reaches the
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
/** The declared key, and the key it is rotated to; the mock run's `[secret]` placeholder stands for the decrypted value. */
const secureKey = "v1:dXNhZ2UtZTJlLWtleQ==:v1:c2FsdA==";
const rotatedKey = "v1:cm90YXRlZC1rZXk=:v1:c2FsdA==";
const keyA = "sk-usage-e2e-key-A-0123456789";
const keyB = "sk-usage-e2e-key-B-9876543210";
const secretsDir = join(stateRoot, "secrets", container);
const secretsFile = join(secretsDir, "secrets.json");

/** The gateway's key as its host holds it. */
function keyOnHost(): string {
  return (JSON.parse(readFileSync(secretsFile, "utf8")) as Record<string, string>)["FAKEAI_API_KEY"] ?? "";
}

/** The program for the stack file as it is now (one mock run per process), its secret `key` decrypted as the engine would. */
function planNow(name: string, key: string): PlannedResource[] {
  const out = join(work, `${name}.json`);
  execFileSync(process.execPath, ["--import", "tsx", join(repo, "test", "e2e", "plan-revealed.ts"), stackFile, out], { cwd: repo, stdio: "inherit" });
  return JSON.parse(readFileSync(out, "utf8").replaceAll("[secret]", key)) as PlannedResource[];
}

let image = "";
let deployer: Deployer;
let plan: PlannedResource[] = [];
let cliEnv: NodeJS.ProcessEnv;
let provider: FakeModelProvider;

function stackText(baseUrl: string, key = secureKey): string {
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
    `      modelKeys: { fakeai: { secure: ${key} } }`,
    "      modelProviders:",
    "        fakeai:",
    `          baseUrl: ${baseUrl}`,
    `          models: [{ id: small, cost: { input: ${prices.input}, output: ${prices.output} } }]`,
    // 0.0081 USD a turn: one turn is 81% of it.
    "      budget: { usdPerMonth: 0.01 }",
    "",
  ].join("\n");
}

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI as a process, as users run it (asynchronously: the fake provider answers in this process). */
function clawfleet(...args: string[]): Promise<CliResult> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [join(repo, "bin", "clawfleet.js"), ...args], { cwd: repo, env: cliEnv, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", fail);
    child.on("close", (code) => done({ code: code ?? 1, stdout, stderr }));
  });
}

async function teardown(): Promise<void> {
  await deployer?.removeLocalDockerObjects(plan);
}

before(async () => {
  execFileSync("bash", [join(repo, "scripts", "docker-up.sh")], { stdio: ["ignore", "inherit", "inherit"] });
  const built = execFileSync("bash", [join(repo, "scripts", "build-gateway-image.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  image = built.trim().split("\n").pop() ?? "";
  const bridge = await dockerApi<{ IPAM: { Config: { Gateway?: string }[] } }>("GET", "/networks/bridge");
  const address = bridge.IPAM.Config.find((c) => c.Gateway !== undefined)?.Gateway;
  assert.ok(address !== undefined, "Docker's default bridge has a gateway address");
  provider = await startFakeModelProvider({ address, model: "small", usage: tokens });
  log(`fake model provider at ${provider.baseUrl}`);
  mkdirSync(join(work, "stacks"), { recursive: true });
  writeFileSync(stackFile, stackText(provider.baseUrl));
  // ushost does not publish on Tailscale (serve is off): nothing here runs tailscale.
  cliEnv = { ...process.env };
  plan = planNow("plan", keyA);
  deployer = new Deployer("usage", cliEnv, log);
  await teardown();
  const started = Date.now();
  await deployer.deploy(plan);
  log(`deployed, health gate passed, in ${((Date.now() - started) / 1000).toFixed(0)} s`);
});

after(async () => {
  await teardown();
  await provider?.close();
  rmSync(work, { recursive: true, force: true });
});

describe("clawfleet usage on a real gateway", () => {
  it("reports the tokens and the cost the gateway recorded for a real chat turn: the provider's token counts times the declared prices", async () => {
    // The key reaches the gateway in a file only its user may read, mounted read-only; the config refers to it there.
    const key = keyOnHost();
    assert.equal(key, keyA, "the declared key is in the gateway's secrets file");
    const dir = statSync(secretsDir);
    const file = statSync(secretsFile);
    assert.deepEqual([dir.mode & 0o777, dir.uid, file.mode & 0o777, file.uid, file.nlink], [0o700, 1000, 0o600, 1000, 1]);
    const inspected = await inspectContainer(container);
    const env = (inspected?.Config["Env"] as string[] | undefined) ?? [];
    assert.ok(!env.some((e) => e.includes(key)), "the key is not in the container's environment");
    const mounts = (inspected as unknown as { Mounts: { Source: string; Destination: string; RW: boolean }[] }).Mounts;
    assert.deepEqual(
      mounts.filter((m) => m.Destination === "/run/clawfleet").map((m) => [m.Source, m.RW]),
      [[secretsDir, false]],
    );
    const config = (await dockerExec(container, ["cat", "/state/openclaw.json"])).output;
    assert.match(config, /"apiKey": \{\s*"source": "file",\s*"provider": "clawfleet",\s*"id": "\/FAKEAI_API_KEY"\s*\}/);
    assert.ok(!config.includes(key), "the key's value is not in the config");
    const validate = await clawfleet("exec", stackFile, "ua", "--", "config", "validate");
    assert.equal(validate.code, 0, validate.stdout + validate.stderr);
    assert.equal(provider.completions, 0);

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

  it("rotates the key in place: the file is rewritten, the same container re-reads it, and the next turn carries the new key", async () => {
    const before = await inspectContainer(container);
    const oldKey = keyOnHost();
    writeFileSync(stackFile, stackText(provider.baseUrl, rotatedKey));
    plan = planNow("rotated", keyB);
    const started = Date.now();
    const steps = await deployer.deploy(plan);
    log(`key rotated, secrets reloaded, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.deepEqual(
      steps.filter((s) => s.op !== "same").map((s) => `${s.op} ${s.name}`),
      ["update ua-secrets"],
    );
    const newKey = keyOnHost();
    assert.deepEqual([oldKey, newKey], [keyA, keyB]);
    const after = await inspectContainer(container);
    assert.equal(after?.Id, before?.Id, "the same container");
    assert.equal(after?.State.StartedAt, before?.State.StartedAt, "not restarted");
    const env = JSON.stringify(after?.Config["Env"]);
    assert.ok(!env.includes(oldKey) && !env.includes(newKey), "neither key is in the container's environment");

    const served = provider.requests.filter((r) => r.path.endsWith("/chat/completions")).length;
    const turn = await clawfleet("exec", stackFile, "ua", "--", "agent", "--agent", "ua", "--message", "ping again", "--json");
    assert.equal(turn.code, 0, turn.stderr);
    const completions = provider.requests.filter((r) => r.path.endsWith("/chat/completions"));
    assert.deepEqual(
      completions.map((r) => r.apiKey === newKey),
      [...completions.slice(0, served).map(() => false), ...completions.slice(served).map(() => true)],
      "the turns before the rotation carried the old key, the turn after it the new one",
    );
    assert.ok(completions.length > served && completions.slice(0, served).every((r) => r.apiKey === oldKey));
    const logs = execFileSync("/bin/sh", ["-c", `docker logs ${container} 2>&1`], { encoding: "utf8" });
    assert.ok(!logs.includes(oldKey) && !logs.includes(newKey), "no key in the gateway's log");
  });
});
