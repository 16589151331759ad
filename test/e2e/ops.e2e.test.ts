import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { basename, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { dockerApi, dockerExec, inspectContainer, removeHostObjects } from "./docker-api";
import { EngineDeployer } from "./engine/deployer";
import { gatewayImage } from "./gateway-image";
import { connectDevice as connectDeviceFrom, pairingStoreCommand, type ConnectOutcome } from "./device-client";
import { startControl, startLocalNode, type Control, type LocalNode } from "./real-tailscale";
import { fetchText, poll } from "./wait";

/*
 * The day-2 verbs (clawfleet status, logs, exec, pairing, devices, backup, restore, doctor)
 * against real gateways: a small stack of this file's own (stack day2ops, host opshost,
 * tenants opsa/opsb dedicated and opsc shared, ports 18500-18599 and 18889) deployed with the
 * real Pulumi engine and the real docker provider plugin (./engine/deployer.ts; after every
 * apply, preview and refresh find nothing to change); it shares no container, network, port or
 * state directory with another file. Local host only; the SSH command lines are
 * unit-tested (test/unit/ops.test.ts). Approvals start the way users start them: a device
 * connects over WebSocket with a new key and is told "pairing required"; a DM pairing request
 * is stored through the gateway's own pairing store, as its Telegram handler does.
 */

const repo = resolve(__dirname, "..", "..");
const work = mkdtempSync(join(tmpdir(), "clawfleet-ops-e2e-"));
const stateRoot = join(work, "state");
const stackFile = join(work, "stacks", "Pulumi.day2ops.yaml");
const log = (line: string) => process.stderr.write(`ops-e2e: ${line}\n`);
/** Tailscale's test control server and this machine's real tailscaled for this file (./real-tailscale.ts). */
let tailnet: Control | undefined;
let localTs: LocalNode | undefined;

let image = "";
let deployer: EngineDeployer | undefined;
/** opsa's Telegram bot token as a real Pulumi secret: `{ secure: <ciphertext> }`. */
let botToken = "";
/** Each gateway's token, read from its container after the deploy. */
const tokens = new Map<string, string>();
let cliEnv: NodeJS.ProcessEnv;

function stackText(): string {
  return [
    "config:",
    `  clawfleet:image: ${image}`,
    "  clawfleet:hosts:",
    "    opshost:",
    `      stateRoot: ${stateRoot}`,
    "      ports: { from: 18500, to: 18599 }",
    "      shared: { port: 18889, model: anthropic/claude-sonnet-4-5, memoryMb: 1536 }",
    "      tailscale: { serve: true, dnsName: gw.example-tailnet.ts.net }",
    "  clawfleet:tenants:",
    "    opsa:",
    "      tier: dedicated",
    "      host: opshost",
    "      port: 18501",
    // A bot token (the placeholder a secure value becomes here) makes the gateway run a Telegram account: it starts and
    // stays up offline, which is what the restart-loop breaker holds back.
    `      channels: { telegram: { dmPolicy: pairing, token: ${botToken} } }`,
    "    opsb: { tier: dedicated, host: opshost, port: 18502, stateLimitMb: 256 }",
    "    opsc:",
    "      tier: shared",
    "      host: opshost",
    "      bindings: [{ channel: telegram, peer: { kind: direct, id: '5550001' } }]",
    "",
  ].join("\n");
}

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
}

/** Runs `clawfleet <args>` as users do (bin/clawfleet.js), with this file's real tailscaled behind `tailscale` on PATH. */
function clawfleet(...args: string[]): Promise<CliResult> {
  const started = Date.now();
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [join(repo, "bin", "clawfleet.js"), ...args], { env: cliEnv, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", fail);
    child.on("close", (code) => done({ code: code ?? 1, stdout, stderr, seconds: (Date.now() - started) / 1000 }));
  });
}

function tokenOf(container: string): string {
  const token = tokens.get(container);
  assert.ok(token, `no token for ${container}`);
  return token;
}

/** Reads each gateway's token from its container's environment (where the engine put the random token). */
async function readTokens(): Promise<void> {
  for (const container of ["clawfleet-tenant-opsa", "clawfleet-tenant-opsb", "clawfleet-shared-opshost"]) {
    const env = ((await inspectContainer(container))?.Config["Env"] as string[] | undefined) ?? [];
    const entry = env.find((e) => e.startsWith("OPENCLAW_GATEWAY_TOKEN="));
    assert.ok(entry, `no token in ${container}'s environment`);
    tokens.set(container, entry.slice("OPENCLAW_GATEWAY_TOKEN=".length));
  }
}

/** Connects to a gateway as a device with this key, from a throw-away container on the gateway's network. */
function connectDevice(container: string, keyPem: string): ConnectOutcome {
  return connectDeviceFrom(image, container, `ws://${container}:18789`, tokenOf(container), keyPem);
}

/** Calls one function of the gateway's own pairing store inside its container. */
async function pairingStore(container: string, fn: string, args: unknown): Promise<unknown> {
  const result = await dockerExec(container, pairingStoreCommand(fn, args));
  assert.equal(result.code, 0, result.output);
  return JSON.parse(result.output.trim().split("\n").pop() ?? "null");
}

async function teardown(): Promise<void> {
  await removeHostObjects(["opshost"]);
}

before(async () => {
  image = gatewayImage(repo, log);
  tailnet = await startControl(join(work, "tailscale"));
  localTs = await startLocalNode(tailnet, "gw");
  const env = {
    ...process.env,
    PATH: `${localTs.pathDir}:${process.env["PATH"] ?? ""}`,
  };
  cliEnv = env;
  deployer = await EngineDeployer.real({
    repo,
    work: join(work, "engine"),
    stack: "day2ops",
    env,
    progress: log,
  });
  botToken = `{ secure: ${await deployer.encrypt("1234567:ops-e2e-offline-bot-token")} }`;
  mkdirSync(join(work, "stacks"), { recursive: true });
  writeFileSync(stackFile, stackText());
  deployer.configure(stackText());
  await teardown();
  log("deploying stack day2ops: opsa, opsb and the shared gateway of opshost");
  await deployer.deploy();
  await readTokens();
});

after(async () => {
  await teardown();
  await localTs?.stop();
  await tailnet?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** What status says of each tenant, as JSON. */
interface StatusJson {
  healthy: boolean;
  tenants: {
    tenant: string;
    tier: string;
    container: string;
    state: string;
    health: string;
    ready: boolean | null;
    notReady: string[] | null;
    channelsHeld: string[] | null;
    restarts: number;
    port: number;
    image: string;
    healthy: boolean;
  }[];
}

/**
 * Waits until opsa's gateway says its Telegram account cannot connect: it is offline here, and
 * openclaw counts a channel as failing once its 120 s connect grace after a start is over.
 */
async function opsaTelegramFailing(): Promise<StatusJson> {
  return poll("opsa's offline Telegram account counted as failing", 300, async () => {
    const status = JSON.parse((await clawfleet("status", stackFile, "--json")).stdout) as StatusJson;
    return status.tenants.find((t) => t.tenant === "opsa")?.notReady?.includes("telegram") === true ? status : undefined;
  });
}

describe("clawfleet status", () => {
  it("reports each declared tenant from one probe of the host, ready as each gateway itself says, and exits 1 naming one that is not", async () => {
    const status = await opsaTelegramFailing();
    assert.equal(status.healthy, false);
    assert.deepEqual(
      status.tenants.map((t) => [t.tenant, t.tier, t.container, t.state, t.health, t.ready, t.restarts, t.port, t.image, t.healthy]),
      [
        ["opsa", "dedicated", "clawfleet-tenant-opsa", "running", "healthy", false, 0, 18501, image, false],
        ["opsb", "dedicated", "clawfleet-tenant-opsb", "running", "healthy", true, 0, 18502, image, true],
        ["opsc", "shared", "clawfleet-shared-opshost", "running", "healthy", true, 0, 18889, image, true],
      ],
    );
    const result = await clawfleet("status", stackFile);
    assert.equal(result.code, 1);
    assert.equal(result.stderr.trim().split("\n").pop(), "clawfleet: 1 of 3 tenants are not healthy: opsa (not ready: telegram failing)");
    log(`status took ${result.seconds.toFixed(1)} s`);
  });

  it("finds nothing wrong with the host in doctor: Docker, image, Serve entries, state directories, memory", async () => {
    const result = await clawfleet("doctor", stackFile);
    assert.equal(result.code, 0, result.stdout);
    assert.match(result.stdout, /^host opshost: ok$/m);
    assert.match(result.stdout, /ok {2}Tailscale Serve matches the declaration \(3 entries\)/);
    assert.match(result.stdout, /ok {2}4 state directories are 0700, gateway directories owned by uid 1000/);
  });

  it("names a Serve entry that went missing in doctor, with the command that fixes it", async () => {
    execFileSync("tailscale", ["serve", "--https=18502", "off"], { env: cliEnv });
    const result = await clawfleet("doctor", stackFile);
    assert.equal(result.code, 1);
    assert.match(
      result.stdout,
      /FIX Serve has no entry for https port 18502 \(tenant opsb\)\n {6}fix: tailscale serve --bg --yes --https=18502 http:\/\/127\.0\.0\.1:18502 \(or run pulumi up\)/,
    );
    execFileSync("tailscale", ["serve", "--bg", "--yes", "--https=18502", "http://127.0.0.1:18502"], { env: cliEnv });
  });

  it("names a gateway published to the internet with Funnel in doctor, and its fix clears it", async () => {
    // Tailscale's test control server grants Funnel on 443 and 8080, as a tailnet whose policy allows it does.
    execFileSync("tailscale", ["funnel", "--bg", "--yes", "--https=443", "http://127.0.0.1:18502"], { env: cliEnv });
    const result = await clawfleet("doctor", stackFile);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /FIX Funnel is on for [a-z0-9.-]+:443: it is published to the internet\n {6}fix: tailscale funnel --https=443 off\n/);
    execFileSync("tailscale", ["funnel", "--https=443", "off"], { env: cliEnv });
    const fixed = await clawfleet("doctor", stackFile);
    assert.equal(fixed.code, 0, fixed.stdout);
    assert.match(fixed.stdout, /ok {2}Tailscale Serve matches the declaration \(3 entries\)/);
  });
});

/** doctor's problem lines about one gateway, each with its fix line. */
function problemsOf(doctorOutput: string, container: string): string[] {
  const lines = doctorOutput.split("\n");
  return lines.flatMap((line, i) => (line.startsWith(`  FIX ${container} `) ? [`${line.slice("  FIX ".length)} | ${(lines[i + 1] ?? "").trim()}`] : []));
}

async function healthy(container: string): Promise<void> {
  await poll(`${container} healthy`, 300, async () => ((await inspectContainer(container))?.State.Health?.Status === "healthy" ? true : undefined));
}

describe("drift and disk", () => {
  it("names a gateway whose limits were changed by hand with docker update, and the docker update each fix prints sets it back", async () => {
    const clean = await clawfleet("doctor", stackFile);
    assert.equal(clean.code, 0, clean.stdout);
    assert.match(
      clean.stdout,
      /ok {2}3 gateways as declared: image, user, read-only root, capabilities, no-new-privileges, memory, cpus, pids, loopback port, mounts, own network/,
    );
    execFileSync("docker", ["update", "--memory", "2g", "--memory-swap", "2g", "--pids-limit", "4096", "--cpus", "2", "clawfleet-tenant-opsb"]);
    const result = await clawfleet("doctor", stackFile);
    assert.equal(result.code, 1);
    const problems = problemsOf(result.stdout, "clawfleet-tenant-opsb");
    assert.deepEqual(problems, [
      "clawfleet-tenant-opsb (tenant opsb) memory: running 2048 MB, declared 1536 MB | fix: docker update --memory 1536m --memory-swap 1536m clawfleet-tenant-opsb",
      "clawfleet-tenant-opsb (tenant opsb) cpus: running 2.0, declared 1.0 | fix: docker update --cpus 1.0 clawfleet-tenant-opsb",
      "clawfleet-tenant-opsb (tenant opsb) pids limit: running 4096, declared 512 | fix: docker update --pids-limit 512 clawfleet-tenant-opsb",
    ]);
    assert.match(result.stdout, /ok {2}2 gateways as declared: /);
    // The operator runs the fixes as printed.
    for (const problem of problems) execFileSync("sh", ["-c", problem.split(" | fix: ")[1] ?? ""]);
    const after = await clawfleet("doctor", stackFile);
    assert.equal(after.code, 0, after.stdout);
  });

  it("names a gateway recreated by hand with an added capability, and docker rm -f then pulumi up --refresh puts the declared one back", async () => {
    const name = "clawfleet-tenant-opsb";
    const info = await inspectContainer(name);
    assert.ok(info);
    // Recreated by hand the way docker inspect shows it, plus NET_ADMIN: same name, labels, limits, network and port.
    await dockerApi("DELETE", `/containers/${name}?force=true`);
    await dockerApi("POST", `/containers/create?name=${name}`, {
      ...info.Config,
      HostConfig: { ...info.HostConfig, NetworkMode: name, CapAdd: ["NET_ADMIN"] },
    });
    await dockerApi("POST", `/containers/${name}/start`);
    const result = await clawfleet("doctor", stackFile);
    assert.equal(result.code, 1);
    assert.deepEqual(problemsOf(result.stdout, name), [
      `${name} (tenant opsb) capabilities added: running NET_ADMIN, declared none | fix: docker rm -f ${name}, then pulumi up --refresh, which creates it as declared`,
    ]);
    execFileSync("docker", ["rm", "-f", name], { stdio: "ignore" });
    log("pulumi up --refresh after docker rm -f of opsb's gateway");
    assert.ok(deployer);
    await deployer.deploy({ refresh: true });
    await healthy(name);
    assert.deepEqual((await inspectContainer(name))?.HostConfig["CapAdd"] ?? null, null);
    const after = await clawfleet("doctor", stackFile);
    assert.equal(after.code, 0, after.stdout);
  });

  it("shows each tenant's state size in status, and names a tenant over its stateLimitMb in status and doctor", async () => {
    const sizes = async () => {
      const result = await clawfleet("status", stackFile, "--json");
      return (JSON.parse(result.stdout) as { tenants: { tenant: string; stateMb: number | null; stateLimitMb: number | null }[] }).tenants;
    };
    const before = await sizes();
    assert.deepEqual(
      before.map((t) => [t.tenant, typeof t.stateMb === "number" && t.stateMb > 0, t.stateLimitMb]),
      [
        ["opsa", true, null],
        ["opsb", true, 256],
        ["opsc", true, null],
      ],
    );
    log(`state sizes (MB): ${before.map((t) => `${t.tenant} ${String(t.stateMb)}`).join(", ")}`);
    // A fresh gateway's state is about 55 MB here; filled to 32 MB over its limit, whatever it holds now.
    const fill = Math.ceil(256 - (before.find((t) => t.tenant === "opsb")?.stateMb ?? 0)) + 32;
    const filler = join(stateRoot, "users", "opsb", "clawfleet-e2e-filler");
    execFileSync("dd", ["if=/dev/zero", `of=${filler}`, "bs=1M", `count=${fill}`], { stdio: "ignore" });
    try {
      const table = await clawfleet("status", stackFile);
      const header = table.stdout.split("\n")[0] ?? "";
      const column = header.indexOf("STATE SIZE");
      assert.ok(column > 0, header);
      const opsb = table.stdout.split("\n").find((line) => line.startsWith("opsb ")) ?? "";
      assert.match(opsb.slice(column), /^\d+\/256 MB \(over\)/);
      const mb = (await sizes()).find((t) => t.tenant === "opsb")?.stateMb ?? 0;
      assert.ok(mb > 256 && mb < 320, String(mb));
      const doctor = await clawfleet("doctor", stackFile);
      assert.equal(doctor.code, 1);
      const dir = join(stateRoot, "users", "opsb");
      const escaped = dir.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
      assert.match(
        doctor.stdout,
        new RegExp(
          `\n {2}FIX tenant opsb's state ${escaped} is \\d+ MB, over its stateLimitMb of 256 MB\n {6}fix: see what grows \\(du -xh --max-depth 2 ${escaped} \\| sort -h \\| tail\\), back it up \\(clawfleet backup\\) and remove what is not needed, or raise tenants\\.opsb\\.stateLimitMb\n`,
        ),
      );
    } finally {
      rmSync(filler, { force: true });
    }
    const after = await clawfleet("doctor", stackFile);
    assert.equal(after.code, 0, after.stdout);
    assert.match(after.stdout, /ok {2}state of 1 tenant within stateLimitMb/);
  });
});

describe("DM pairing", () => {
  it("lists a sender's pending pairing code and approves it; the gateway's allowlist then admits the sender", async () => {
    const request = (await pairingStore("clawfleet-tenant-opsa", "upsertChannelPairingRequest", [
      { channel: "telegram", id: "4242001", meta: { username: "newuser" } },
    ])) as { code: string; created: boolean };
    assert.equal(request.created, true);

    const listed = await clawfleet("pairing", "list", stackFile, "opsa", "telegram");
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`^${request.code} +4242001 +default +username=newuser `, "m"));

    const approved = await clawfleet("pairing", "approve", stackFile, "opsa", "telegram", request.code);
    assert.equal(approved.code, 0, approved.stderr);
    assert.equal(approved.stdout.trim(), "approved telegram sender 4242001 on tenant opsa's gateway (clawfleet-tenant-opsa); they can write to the bot now");

    const allowed = (await pairingStore("clawfleet-tenant-opsa", "readChannelAllowFromStore", ["telegram"])) as string[];
    assert.ok(allowed.includes("4242001"), `the gateway's own allowlist lookup: ${JSON.stringify(allowed)}`);
    const after = await clawfleet("pairing", "list", stackFile, "opsa", "telegram", "--json");
    assert.deepEqual((JSON.parse(after.stdout) as { requests: unknown[] }).requests, []);
  });

  it("refuses a wrong code and a channel the tenant does not declare, in words", async () => {
    const wrong = await clawfleet("pairing", "approve", stackFile, "opsa", "telegram", "NOSUCH12");
    assert.equal(wrong.code, 1);
    assert.equal(
      wrong.stderr.trim().split("\n").pop(),
      'clawfleet: tenant opsa: telegram pairing code "NOSUCH12" was not approved: No pending pairing request found for code "NOSUCH12". Run openclaw pairing list --channel telegram to list pending requests.',
    );
    const undeclared = await clawfleet("pairing", "list", stackFile, "opsb", "telegram");
    assert.equal(undeclared.code, 1);
    assert.equal(
      undeclared.stderr.trim(),
      "clawfleet: tenant opsb (tenants.opsb.channels) declares no telegram channel, so there is nothing to pair; declared channels: (none)",
    );
  });
});

describe("device approval", () => {
  it("approves a new browser that got 'pairing required'; it then connects", async () => {
    const key = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const first = connectDevice("clawfleet-tenant-opsa", key);
    assert.equal(first.ok, false);
    assert.equal(first.code, "PAIRING_REQUIRED");
    assert.ok(first.requestId);

    const listed = await clawfleet("devices", "list", stackFile, "opsa", "--json");
    assert.equal(listed.code, 0, listed.stderr);
    const pending = (JSON.parse(listed.stdout) as { pending: { requestId: string; deviceId: string; clientId: string }[] }).pending;
    assert.deepEqual(
      pending.map((p) => [p.requestId, p.deviceId, p.clientId]),
      [[first.requestId, first.deviceId, "openclaw-control-ui"]],
    );

    const ask = await clawfleet("devices", "approve", stackFile, "opsa");
    assert.equal(ask.code, 1, "no request named: it shows them and asks");
    assert.ok(ask.stdout.includes(first.requestId));
    assert.equal(
      ask.stderr.trim().split("\n").pop(),
      `clawfleet: name the request to approve: clawfleet devices approve ${stackFile} opsa <request> (check its client and address first)`,
    );

    const approved = await clawfleet("devices", "approve", stackFile, "opsa", first.requestId);
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(
      approved.stdout,
      new RegExp(`^approved device ${first.deviceId.slice(0, 12)}… \\(openclaw-control-ui from [0-9.]+, operator: operator\\.read\\) on tenant opsa's gateway`),
    );

    const again = connectDevice("clawfleet-tenant-opsa", key);
    assert.deepEqual(again, { deviceId: first.deviceId, ok: true }, "the gateway admits the approved device");
    const paired = await clawfleet("devices", "list", stackFile, "opsa", "--json");
    assert.deepEqual(
      (JSON.parse(paired.stdout) as { paired: { deviceId: string }[] }).paired.map((d) => d.deviceId),
      [first.deviceId],
    );
  });
});

describe("exec and logs", () => {
  it("runs the gateway's CLI for a shared tenant's agent, adding --agent where the command takes it", async () => {
    const result = await clawfleet("exec", stackFile, "opsc", "--", "agents", "list", "--json");
    assert.equal(result.code, 0, result.stderr);
    const agents = JSON.parse(result.stdout.slice(result.stdout.indexOf("["))) as { id: string }[];
    assert.deepEqual(
      agents.map((a) => a.id),
      ["opsc"],
    );
    const sessions = await clawfleet("exec", stackFile, "opsc", "--", "sessions", "--json");
    assert.equal(sessions.code, 0, sessions.stderr);
    assert.match(sessions.stderr, /running for agent opsc in host opshost's shared gateway \(--agent opsc\)/);
  });

  it("prints the gateway's logs with its token redacted", async () => {
    const token = tokenOf("clawfleet-tenant-opsa");
    // The container's init process writes to the log stream: a line holding the token, as a careless plugin might print it.
    const leak = await dockerExec("clawfleet-tenant-opsa", ["sh", "-c", 'echo "leak check token=$OPENCLAW_GATEWAY_TOKEN end" > /proc/1/fd/1']);
    assert.equal(leak.code, 0, leak.output);
    const raw = await dockerApi<string>("GET", "/containers/clawfleet-tenant-opsa/logs?stdout=true&stderr=true&tail=5", undefined, { text: true });
    assert.ok(raw.includes(token), "the raw log holds the token");

    const result = await clawfleet("logs", stackFile, "opsa", "--tail", "20");
    assert.equal(result.code, 0, result.stderr);
    assert.ok(!result.stdout.includes(token) && !result.stderr.includes(token), "no token in clawfleet's output");
    assert.match(result.stdout, /^leak check token=\[redacted OPENCLAW_GATEWAY_TOKEN\] end$/m);
    const exec = await clawfleet("exec", stackFile, "opsa", "--", "config", "get", "gateway.auth.token");
    assert.ok(!exec.stdout.includes(token) && !exec.stderr.includes(token));
  });
});

/**
 * A copy of a real archive, changed as a hostile or careless hand would change it: unpacked,
 * edited in place (its root folder is given), packed again. Nothing signs an archive.
 */
function editedArchive(archive: string, name: string, change: (root: string) => void): string {
  const dir = mkdtempSync(join(work, "archive-"));
  execFileSync("tar", ["-xzf", archive, "-C", dir]);
  const [root = ""] = readdirSync(dir);
  change(join(dir, root));
  const edited = join(work, name);
  execFileSync("tar", ["-czf", edited, "-C", dir, root]);
  return edited;
}

let opsaArchive = "";

describe("backup and restore through the CLI", () => {
  it("backs up a running tenant into the host's backup folder, which status then reports", async () => {
    const result = await clawfleet("backup", stackFile, "opsa");
    assert.equal(result.code, 0, result.stderr);
    const archive = result.stdout.trim();
    opsaArchive = archive;
    assert.ok(archive.startsWith(join(stateRoot, "backups", "manual", "clawfleet-tenant-opsa", "clawfleet-tenant-opsa-")), archive);
    assert.equal(statSync(archive).mode & 0o777, 0o600);
    const status = JSON.parse((await clawfleet("status", stackFile, "--json")).stdout) as { tenants: { tenant: string; lastBackup: string | null }[] };
    const opsa = status.tenants.find((t) => t.tenant === "opsa");
    assert.ok(opsa?.lastBackup !== null && Date.now() - Date.parse(opsa?.lastBackup ?? "") < 10 * 60 * 1000, JSON.stringify(opsa));
    assert.equal(status.tenants.find((t) => t.tenant === "opsb")?.lastBackup, null);

    // A sender approved after the backup is gone after the restore: the state went back to the archive's time.
    const request = (await pairingStore("clawfleet-tenant-opsa", "upsertChannelPairingRequest", [{ channel: "telegram", id: "4242002" }])) as { code: string };
    assert.equal((await clawfleet("pairing", "approve", stackFile, "opsa", "telegram", request.code)).code, 0);
    const restored = await clawfleet("restore", stackFile, "opsa", archive);
    assert.equal(restored.code, 0, restored.stderr);
    assert.match(
      restored.stdout,
      /^restored tenant opsa from .*; the gateway is healthy; the previous state is kept at .*\/users\/opsa\.before-restore-\d+T\d+ on host opshost$/m,
    );
    const allowed = (await pairingStore("clawfleet-tenant-opsa", "readChannelAllowFromStore", ["telegram"])) as string[];
    assert.deepEqual(allowed, ["4242001"]);
  });

  it("refuses an archive with a link out of the state directory: the host file it leads to stays untouched, the gateway keeps running", async () => {
    const victim = join(work, "host-file");
    writeFileSync(victim, "belongs to the host\n", { mode: 0o644 });
    // openclaw restores a link its manifest lists as external; the link takes the config's place.
    const evil = editedArchive(opsaArchive, "link-out.tar.gz", (root) => {
      const config = join(root, "payload", "posix", "state", "openclaw.json");
      rmSync(config);
      symlinkSync(victim, config);
      const manifest = JSON.parse(readFileSync(join(root, "manifest.json"), "utf8")) as Record<string, unknown>;
      manifest["externalSymbolicLinks"] = [{ entryPath: `${basename(root)}/payload/posix/state/openclaw.json`, linkpath: victim }];
      writeFileSync(join(root, "manifest.json"), JSON.stringify(manifest, null, 2));
    });
    const asides = () => readdirSync(join(stateRoot, "users")).filter((d) => d.startsWith("opsa.before-restore-")).length;
    const before = asides();
    const result = await clawfleet("restore", stackFile, "opsa", evil);
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr.trim().split("\n").pop(),
      `clawfleet: restore of tenant opsa failed on host opshost: the archive holds a link that leads out of the state directory (openclaw.json -> ${victim}); refused, nothing was changed`,
    );
    assert.equal(readFileSync(victim, "utf8"), "belongs to the host\n");
    assert.deepEqual([statSync(victim).uid, statSync(victim).mode & 0o777], [0, 0o644]);
    assert.equal(asides(), before, "the state was not swapped");
    assert.equal((await inspectContainer("clawfleet-tenant-opsa"))?.State.Running, true);
  });

  it("refuses another tenant's archive, naming it, and puts it in when the copy is meant", async () => {
    const refused = await clawfleet("restore", stackFile, "opsb", opsaArchive);
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr.trim().split("\n").pop(),
      `clawfleet: restore of tenant opsb failed on host opshost: ${opsaArchive} holds the state of tenant opsa's gateway, not of tenant opsb's gateway; nothing was changed. To put that state into clawfleet-tenant-opsb on purpose, add --from-other-gateway opsa`,
    );
    const meant = await clawfleet("restore", stackFile, "opsb", opsaArchive, "--from-other-gateway", "opsa");
    assert.equal(meant.code, 0, meant.stderr);
    assert.match(meant.stdout, /^restored tenant opsb from .*; the gateway is healthy; /m);
    // The stack's own config stays: opsb's gateway still serves opsb.
    assert.match(readFileSync(join(stateRoot, "users", "opsb", "openclaw.json"), "utf8"), /"opsb": \{/);
  });

  it("refuses an archive that unpacks to more than --max-size, and a file that is no openclaw archive with openclaw's own reason", async () => {
    const big = await clawfleet("restore", stackFile, "opsa", opsaArchive, "--max-size", "1M");
    assert.equal(big.code, 1);
    assert.match(
      big.stderr.trim().split("\n").pop() ?? "",
      /^clawfleet: restore of tenant opsa failed on host opshost: \S+ unpacks to \d+ bytes, more than the limit of 1048576 bytes \(clawfleet restore --max-size\); nothing was changed$/,
    );
    const foreign = editedArchive(opsaArchive, "no-manifest.tar.gz", (root) => rmSync(join(root, "manifest.json")));
    const notOurs = await clawfleet("restore", stackFile, "opsa", foreign);
    assert.equal(
      notOurs.stderr.trim().split("\n").pop(),
      "clawfleet: restore of tenant opsa failed on host opshost: openclaw refused the archive: Backup archive verification failed: /staging/archive.tar.gz. Expected exactly one backup manifest entry, found 0.; nothing was changed",
    );
  });

  it("refuses to restore a shared tenant alone, since that restores every tenant of its gateway", async () => {
    const result = await clawfleet("restore", stackFile, "opsc", "/nonexistent.tar.gz");
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr.trim(),
      "clawfleet: tenant opsc is an agent in host opshost's shared gateway; a restore puts back the state of every tenant on it (opsc); add --whole-gateway to do that",
    );
  });
});

describe("openclaw's restart-loop breaker", () => {
  it("shows in status when 3 unclean starts within 5 minutes keep a gateway's channels stopped, and exec starts them again", async () => {
    const readyz = async (): Promise<true | undefined> => {
      return /"ready":true/.test(await fetchText("http://127.0.0.1:18501/readyz", 3000)) ? true : undefined;
    };
    // The breaker holds a channel that was starting when its gateway died. Offline, opsa's Telegram account stops
    // counting as starting 120 s after a boot, so a clean restart first puts every kill inside that window.
    await dockerApi("POST", "/containers/clawfleet-tenant-opsa/restart?t=30");
    await poll("opsa ready after a clean restart", 240, readyz);
    for (const round of [1, 2, 3]) {
      const before = await inspectContainer("clawfleet-tenant-opsa");
      assert.ok(before?.State.Running);
      process.kill(before.State.Pid, "SIGKILL");
      await poll(`opsa back after SIGKILL ${round}`, 240, async () => {
        const now = await inspectContainer("clawfleet-tenant-opsa");
        return now?.State.Running === true && now.State.Pid !== before.State.Pid ? true : undefined;
      });
      await poll(`opsa ready after SIGKILL ${round}`, 240, readyz);
      log(`opsa: SIGKILL ${round}, ready again`);
    }
    const held = await poll("status naming the held channel", 240, async () => {
      const result = await clawfleet("status", stackFile, "--json");
      log(`status: ${JSON.stringify((JSON.parse(result.stdout) as StatusJson).tenants.find((t) => t.tenant === "opsa"))}`);
      const opsa = (JSON.parse(result.stdout) as { tenants: { tenant: string; channelsHeld: string[] | null; healthy: boolean }[] }).tenants.find(
        (t) => t.tenant === "opsa",
      );
      return opsa?.channelsHeld?.length === 1 ? { result, opsa } : undefined;
    });
    assert.deepEqual(held.opsa.channelsHeld, ["telegram"]);
    assert.equal(held.opsa.healthy, false);
    assert.equal(held.result.code, 1);
    const table = await clawfleet("status", stackFile);
    assert.equal(table.code, 1);
    assert.deepEqual(table.stderr.trim().split("\n").slice(-2), [
      "clawfleet: 1 of 3 tenants are not healthy: opsa (restart-loop breaker holds telegram)",
      `clawfleet: after 3 unclean starts within 5 minutes openclaw keeps a gateway's channels stopped until 5 minutes pass without another; start one now with: clawfleet exec ${stackFile} opsa -- gateway call channels.start --params '{"channel":"telegram"}'`,
    ]);

    const start = await clawfleet("exec", stackFile, "opsa", "--", "gateway", "call", "channels.start", "--params", '{"channel":"telegram"}');
    assert.equal(start.code, 0, start.stderr);
    assert.match(start.stdout, /"started": true/);
    const released = await poll("status with no channel held", 240, async () => {
      const status = JSON.parse((await clawfleet("status", stackFile, "--json")).stdout) as StatusJson;
      return status.tenants.find((t) => t.tenant === "opsa")?.channelsHeld?.length === 0 ? status : undefined;
    });
    assert.deepEqual(released.tenants.find((t) => t.tenant === "opsa")?.state, "running");
  });
});

/** A webhook receiver of this suite's own on loopback: records every POSTed body and answers 200. */
async function webhookReceiver(): Promise<{ url: string; bodies: string[]; close: () => void }> {
  const bodies: string[] = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      bodies.push(body);
      response.writeHead(200).end();
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  // A path that stands for the secret a webhook URL often carries: it must never be printed.
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook/e2e-secret-path-8c1f2a9d`;
  return {
    url,
    bodies,
    close: () => {
      server.close();
      server.closeAllConnections();
    },
  };
}

describe("clawfleet watch", () => {
  it("posts exactly one alert when a gateway is stopped by hand, and one resolved message when it is started again", async () => {
    // opsa's offline Telegram account is counted as failing 120 s after a start; from then on only opsb changes.
    await opsaTelegramFailing();
    const hook = await webhookReceiver();
    const interval = 2;
    const watch = spawn(process.execPath, [join(repo, "bin", "clawfleet.js"), "watch", stackFile, "--interval", String(interval), "--timeout", "60"], {
      env: { ...cliEnv, CLAWFLEET_WEBHOOK_URL: hook.url },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    watch.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    watch.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = once(watch, "exit");
    const payloads = () =>
      hook.bodies.map(
        (b) => JSON.parse(b) as { event: string; kind: string; key: string; tenants: string[]; reason: string; text: string; durationSeconds: number | null },
      );
    const opsb = () => payloads().filter((p) => p.key === "gateway/opshost/clawfleet-tenant-opsb");
    try {
      // The first poll alerts what is already wrong: opsa's channel.
      const first = await poll("watch's first poll to reach the webhook", 180, async () =>
        payloads().find((p) => p.key === "channel/opshost/clawfleet-tenant-opsa/telegram/disconnected"),
      );
      assert.equal(first.event, "alert");
      assert.equal(first.text, "tenant opsa (host opshost): the telegram channel cannot connect");
      assert.deepEqual(opsb(), []);

      await dockerApi("POST", "/containers/clawfleet-tenant-opsb/stop?t=30");
      const alert = await poll("the alert for opsb", 120, async () => opsb()[0]);
      assert.deepEqual([alert.event, alert.kind, alert.tenants], ["alert", "gateway-down", ["opsb"]]);
      // A poll during the stop (about 1.5 s) finds the container still running but no answer from inside it.
      assert.ok(["exited", "readiness unknown"].includes(alert.reason), alert.reason);
      assert.equal(alert.text, `tenant opsb (host opshost) is not healthy: ${alert.reason}`);

      await dockerApi("POST", "/containers/clawfleet-tenant-opsb/start");
      const resolved = await poll("the resolved message for opsb", 300, async () => opsb().find((p) => p.event === "resolved"));
      assert.match(resolved.text, /^tenant opsb \(host opshost\) is healthy again after /);
      // The gateway was down (stopped, then starting) for several polls, and said so once.
      assert.ok((resolved.durationSeconds ?? 0) >= 3 * interval, `down for ${resolved.durationSeconds} s`);
      const status = await poll("status to count opsb healthy", 120, async () => {
        const result = JSON.parse((await clawfleet("status", stackFile, "--json")).stdout) as StatusJson;
        return result.tenants.find((t) => t.tenant === "opsb")?.healthy === true ? result : undefined;
      });
      assert.ok(status);
      assert.deepEqual(
        opsb().map((p) => p.event),
        ["alert", "resolved"],
      );
      assert.equal(
        stdout
          .trim()
          .split("\n")
          .filter((l) => l.includes("tenant opsb")).length,
        2,
        stdout,
      );
      for (const container of ["clawfleet-tenant-opsa", "clawfleet-tenant-opsb", "clawfleet-shared-opshost"]) {
        assert.ok(!hook.bodies.join("\n").includes(tokenOf(container)) && !stdout.includes(tokenOf(container)) && !stderr.includes(tokenOf(container)));
      }
      assert.ok(!stderr.includes("e2e-secret-path"), stderr);
    } finally {
      watch.kill("SIGTERM");
      hook.close();
    }
    const [code] = (await exited) as [number | null];
    assert.equal(code, 143, stderr);
  });
});

describe("a stopped gateway", () => {
  it("shows in status, which exits 1 naming it", async () => {
    await dockerApi("POST", "/containers/clawfleet-tenant-opsb/stop?t=30");
    await poll("opsb stopped", 60, async () => ((await inspectContainer("clawfleet-tenant-opsb"))?.State.Running === false ? true : undefined));
    await opsaTelegramFailing();
    const result = await clawfleet("status", stackFile);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /^opsb +opshost +dedicated +exited +/m);
    assert.match(result.stdout, /^opsa +opshost +dedicated +running +healthy +no +/m);
    assert.equal(result.stderr.trim().split("\n").pop(), "clawfleet: 2 of 3 tenants are not healthy: opsa (not ready: telegram failing), opsb (exited)");
  });

  it("is refused by exec and the approvals with what to do, and its logs can still be read", async () => {
    const exec = await clawfleet("exec", stackFile, "opsb", "--", "status");
    assert.equal(exec.code, 1);
    assert.equal(
      exec.stderr.trim(),
      `clawfleet: tenant opsb's gateway (container clawfleet-tenant-opsb) on host opshost is not running (exited); start it with pulumi up, and read why it stopped with: clawfleet logs ${stackFile} opsb`,
    );
    const devices = await clawfleet("devices", "list", stackFile, "opsb");
    assert.equal(devices.stderr.trim(), exec.stderr.trim());
    const logs = await clawfleet("logs", stackFile, "opsb", "--tail", "5");
    assert.equal(logs.code, 0, logs.stderr);
  });

  it("stays stopped after a restore", async () => {
    const result = await clawfleet("restore", stackFile, "opsb", opsaArchive, "--from-other-gateway", "opsa");
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^restored tenant opsb from .*; the gateway was stopped and stays stopped; the previous state is kept at /m);
    assert.equal((await inspectContainer("clawfleet-tenant-opsb"))?.State.Running, false);
  });

  it("names an unknown tenant and lists the declared ones", async () => {
    const result = await clawfleet("logs", stackFile, "nobody");
    assert.equal(result.code, 1);
    assert.equal(result.stderr.trim(), `clawfleet: tenant "nobody" is not declared in ${stackFile}; declared tenants: opsa, opsb, opsc`);
  });
});

describe("teardown", () => {
  it("leaves no container or network of this stack behind", async () => {
    await teardown();
    for (const name of ["clawfleet-tenant-opsa", "clawfleet-tenant-opsb", "clawfleet-shared-opshost"]) assert.equal(await inspectContainer(name), undefined);
    const networks = await dockerApi<{ Name: string }[]>("GET", "/networks");
    assert.deepEqual(
      networks.map((n) => n.Name).filter((n) => ["clawfleet-tenant-opsa", "clawfleet-tenant-opsb", "clawfleet-shared-opshost"].includes(n)),
      [],
    );
  });
});
