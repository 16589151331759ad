import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { stringify } from "yaml";
import type { PlannedResource } from "../../cli/mock-run";
import { hostLabel } from "../../runtimes/docker/names";
import { dockerApi, dockerExec, inspectContainer, type DockerEndpoint } from "./docker-api";
import { gatewayImage } from "./gateway-image";
import { startSshAgent, startSshHost, stopSshHost, type SshAgent, type SshHost } from "./ssh-host";
import { EngineDeployer } from "./engine/deployer";
import { comparableSteps, knownTokens, standinPrediction } from "./engine/standin-prediction";
import type { StepEvent } from "./standin/engine";
import { fetchText, poll } from "./wait";

/*
 * The program under the real Pulumi engine: `pulumi up`, `preview`, `refresh` and `destroy` of the
 * CLI that scripts/install-pulumi.sh builds, running index.ts through the real Node.js language
 * host, with real docker and random provider plugins (the upstream Terraform providers through the
 * Terraform bridge, scripts/pulumi-resource-docker and -random) and the command stand-in
 * (../e2e/standin) served as a plugin (./engine/provider-plugin.ts), against real Docker and a real
 * shell. The stand-in engine's prediction, from the real state, is held against every apply: with
 * the real providers' state, that checks the docker and random stand-ins too. A stack of this file's
 * own (stack engine, host enginehost, tenants enga/engb/engc dedicated and engs shared, ports
 * 18800-18880, state under the test's work directory), local host and the SSH test host, no
 * Tailscale Serve.
 * Every apply is followed by `pulumi preview --expect-no-changes` and `pulumi refresh
 * --expect-no-changes`.
 */

const repo = resolve(__dirname, "..", "..");
const work = mkdtempSync(join(tmpdir(), "clawfleet-engine-e2e-"));
const stateRoot = join(work, "state");
const hostId = "enginehost";
const sharedName = `clawfleet-shared-${hostId}`;
const preflightName = `clawfleet-preflight-${hostId}`;
const healthBody = '{"ok":true,"status":"live"}';
const modelKey = "sk-ant-engine-e2e-0123456789";
const log = (line: string) => process.stderr.write(`engine-e2e: ${line}\n`);

let image = "";
let deployer: EngineDeployer;
/** The second host (scripts/ssh-test-host.sh), its daemon started with default log options; case (e) declares it. */
let remote: SshHost | undefined;
let agent: SshAgent | undefined;
let remoteDocker: DockerEndpoint;
const remoteId = "engineremote";
const remoteStateRoot = join(work, "remote-state");
let remoteDeclared = false;
let modelKeyCipher = "";
const started = Date.now();
/** Wall time of each case's apply and of its idempotence checks. */
const timings: { step: string; apply: number; checks: number }[] = [];

interface Tenant {
  tier: "dedicated" | "shared";
  host: string;
  port?: number;
  model?: string;
  memoryMb?: number;
  modelKeys?: Record<string, { secure: string }>;
}
const tenants: Record<string, Tenant> = {};

function stackConfig(): string {
  return stringify({
    config: {
      "clawfleet:image": image,
      "clawfleet:hosts": {
        [hostId]: {
          stateRoot,
          ports: { from: 18800, to: 18879 },
          shared: { port: 18880, model: "anthropic/claude-sonnet-4-5", memoryMb: 1536 },
          tailscale: { serve: false },
          // One gateway boots at a time: this 2-CPU machine runs other suites beside this one.
          rollout: { lanes: 1 },
        },
        ...(remoteDeclared && remote !== undefined
          ? {
              [remoteId]: {
                ssh: { host: remote.address, user: remote.user, port: remote.port, hostKey: remote.hostKey },
                stateRoot: remoteStateRoot,
                ports: { from: 18890, to: 18899 },
                tailscale: { serve: false },
              },
            }
          : {}),
      },
      "clawfleet:tenants": tenants,
    },
  });
}

/**
 * The program's resources for the declaration, from a mock run in a process of its own, secrets revealed; `known`
 * are outputs the engine hands the program from state (the gateway tokens the real random provider made).
 */
function mockPlan(known: Record<string, Record<string, unknown>>): PlannedResource[] {
  const dir = mkdtempSync(join(work, "mock-"));
  mkdirSync(join(dir, "stacks"));
  const file = join(dir, "stacks", "Pulumi.engine.yaml");
  writeFileSync(file, stackConfig());
  const out = join(dir, "plan.json");
  const knownFile = join(dir, "known.json");
  writeFileSync(knownFile, JSON.stringify(known), { mode: 0o600 });
  execFileSync(process.execPath, ["--import", "tsx", join(repo, "test", "e2e", "plan-revealed.ts"), file, out, knownFile], { cwd: repo, stdio: "inherit" });
  // The mock run cannot decrypt: the one secure value of this stack reads "[secret]" there.
  return JSON.parse(readFileSync(out, "utf8").replaceAll("[secret]", modelKey)) as PlannedResource[];
}

/** The steps that did something, as `<op> <name>`, sorted, without the stack and default providers (the mock run has neither). */
function comparable(steps: readonly StepEvent[]): string[] {
  return changes(comparableSteps(steps));
}

/**
 * What the engine stand-in predicts from the real engine's state (see engine/standin-prediction.ts) for the program as
 * declared now, or for none (a destroy).
 */
async function prediction(program: "declared" | "none", refresh: boolean): Promise<string[]> {
  const exported = (await deployer.pulumi(["stack", "export", "--show-secrets"])).stdout;
  const resources = program === "none" ? [] : mockPlan(knownTokens(exported));
  return comparable(await standinPrediction({ stack: "engine", env: process.env, exported, program: resources, refresh }));
}

/**
 * Writes the declaration and deploys it with the idempotence checks; returns the apply's steps.
 * Every apply is also held against the engine stand-in's prediction for it.
 */
async function deploy(step: string, options: { refresh?: boolean } = {}): Promise<StepEvent[]> {
  deployer.configure(stackConfig());
  const predicted = await prediction("declared", options.refresh === true);
  const first = deployer.timings.length;
  const steps = await deployer.deploy(options);
  const runs = deployer.timings.slice(first);
  // The two checks run at once: their wall time is the longer one.
  timings.push({ step, apply: runs[0]?.seconds ?? 0, checks: Math.max(0, ...runs.slice(1).map((run) => run.seconds)) });
  log(
    `${step}: up ${runs[0]?.seconds ?? 0} s, checks ${runs
      .slice(1)
      .map((r) => r.seconds)
      .join(" and ")} s, at once`,
  );
  for (const s of steps.filter((s) => s.op !== "same")) {
    log(`  ${s.op} ${s.name}${s.changed.length > 0 ? ` (${s.changed.join(", ")})` : ""}: the engine's ops ${deployer.opsOf(s.name).join(", ")}`);
  }
  assert.deepEqual(comparable(steps), predicted, `${step}: the engine stand-in predicted the real engine's steps`);
  return steps;
}

/** The steps that did something, as `<op> <name>`, sorted. */
function changes(steps: readonly StepEvent[]): string[] {
  return steps
    .filter((s) => s.op !== "same")
    .map((s) => `${s.op} ${s.name}`)
    .sort();
}

function stepOf(steps: readonly StepEvent[], name: string): StepEvent {
  const found = steps.find((s) => s.name === name);
  assert.ok(found, `no step for ${name}`);
  return found;
}

/** /healthz of the gateway published on a loopback port, once it answers. */
function healthz(port: number): Promise<string> {
  return poll(`/healthz on 127.0.0.1:${port}`, 180, async () => {
    const body = await fetchText(`http://127.0.0.1:${port}/healthz`, 10_000);
    return body === healthBody ? body : undefined;
  });
}

/** Whether anything accepts a connection on a loopback port. */
async function answers(port: number): Promise<boolean> {
  return fetchText(`http://127.0.0.1:${port}/healthz`, 10_000).then(
    () => true,
    () => false,
  );
}

async function containerId(name: string): Promise<string> {
  const info = await inspectContainer(name);
  assert.ok(info, `${name} exists`);
  return info.Id;
}

/** `docker events` watchers still running: a case that fails before it stops its own leaves it to after(). */
const watchers = new Set<{ kill: () => boolean }>();

/** Docker's events for one container name while a deploy runs (actions such as create, start, die, destroy). */
function watchContainer(name: string): { stop: () => string[] } {
  const actions: string[] = [];
  const child = spawn(
    "docker",
    ["events", "--since", String(Math.floor(Date.now() / 1000) - 1), "--filter", "type=container", "--filter", `container=${name}`, "--format", "{{.Action}}"],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  child.stdout.on("data", (chunk: Buffer) =>
    actions.push(
      ...chunk
        .toString()
        .split("\n")
        .filter((line) => line !== ""),
    ),
  );
  watchers.add(child);
  return {
    stop: () => {
      child.kill();
      watchers.delete(child);
      return actions;
    },
  };
}

/** Containers and networks of this file's host, by Docker label. */
async function dockerObjects(): Promise<{ containers: string[]; networks: string[] }> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`${hostLabel}=${hostId}`] }));
  const containers = await dockerApi<{ Names: string[] }[]>("GET", `/containers/json?all=true&filters=${filters}`);
  const networks = await dockerApi<{ Name: string }[]>("GET", `/networks?filters=${filters}`);
  return { containers: containers.map((c) => (c.Names[0] ?? "").replace(/^\//, "")).sort(), networks: networks.map((n) => n.Name).sort() };
}

async function removeDockerObjects(): Promise<void> {
  const { containers, networks } = await dockerObjects();
  for (const name of [...containers, preflightName]) await dockerApi("DELETE", `/containers/${name}?force=true`).catch(() => undefined);
  for (const name of networks) await dockerApi("DELETE", `/networks/${name}`).catch(() => undefined);
}

before(async () => {
  image = gatewayImage(repo, log);
  log(`image ${image}`);
  log("starting the SSH test host, its dockerd with default log options (scripts/ssh-test-host.sh)");
  process.env["CLAWFLEET_GW2_LOG_OPTS"] = "1";
  remote = startSshHost(join(work, "gw2"), image);
  agent = startSshAgent(join(work, "gw2"), remote.identityFile);
  const socket = remote.dockerSocket;
  remoteDocker = { connect: () => createConnection(socket) };
  deployer = await EngineDeployer.real({
    repo,
    work,
    stack: "engine",
    // The docker plugin reaches the SSH host with the key in this agent, as a user's would.
    env: { ...process.env, ...agent.env },
    progress: log,
  });
  await removeDockerObjects();
  modelKeyCipher = await deployer.encrypt(modelKey);
});

after(async () => {
  for (const watcher of watchers) watcher.kill();
  await removeDockerObjects();
  if (agent !== undefined) process.kill(Number(agent.env.SSH_AGENT_PID));
  if (remote !== undefined) stopSshHost(join(work, "gw2"));
  log(`timings (s): ${timings.map((t) => `${t.step}: up ${t.apply.toFixed(0)} + checks ${t.checks.toFixed(0)}`).join("; ")}`);
  log(`whole file: ${((Date.now() - started) / 1000).toFixed(0)} s`);
  rmSync(work, { recursive: true, force: true });
});

describe("the program under the real Pulumi engine", () => {
  it("(a) first deploy: two dedicated gateways and a shared one with its tenant, all healthy; secrets stay secret", async () => {
    tenants["engb"] = { tier: "dedicated", host: hostId, port: 18802, modelKeys: { anthropic: { secure: modelKeyCipher } } };
    tenants["engc"] = { tier: "dedicated", host: hostId, port: 18803 };
    tenants["engs"] = { tier: "shared", host: hostId };
    const preflight = watchContainer(preflightName);
    const steps = await deploy("(a) first deploy");
    const preflightActions = preflight.stop();

    assert.deepEqual([...new Set(steps.map((s) => s.op))], ["create"]);
    assert.equal(steps.length, 45, "the stack, 4 components, 3 providers and 37 resources");
    assert.equal(await healthz(18802), healthBody);
    assert.equal(await healthz(18803), healthBody);
    assert.equal(await healthz(18880), healthBody);
    for (const name of ["clawfleet-tenant-engb", "clawfleet-tenant-engc", sharedName])
      assert.equal((await inspectContainer(name))?.State.Health?.Status, "healthy", name);
    assert.ok(preflightActions.includes("start"), `the image preflight ran on the first deploy (docker events: ${preflightActions.join(", ")})`);

    const engb = await inspectContainer("clawfleet-tenant-engb");
    assert.ok(engb);
    const env = engb.Config["Env"] as string[];
    const token = env.find((e) => e.startsWith("OPENCLAW_GATEWAY_TOKEN="))?.slice("OPENCLAW_GATEWAY_TOKEN=".length) ?? "";
    assert.equal(token.length > 0, true);
    // The secure model key reaches the gateway in its credentials file, private to its user, not in its environment.
    const credentials = join(stateRoot, "secrets", "clawfleet-tenant-engb", "secrets.json");
    assert.equal((JSON.parse(readFileSync(credentials, "utf8")) as { modelKeys: Record<string, string> }).modelKeys["anthropic"], modelKey);
    assert.deepEqual([statSync(credentials).mode & 0o777, statSync(credentials).uid], [0o600, 1000]);
    assert.equal(statSync(join(credentials, "..")).mode & 0o777, 0o700);
    assert.equal((await dockerExec("clawfleet-tenant-engb", ["cat", "/run/clawfleet/secrets.json"])).output, readFileSync(credentials, "utf8"));
    assert.ok(!env.some((e) => e.includes(modelKey)), "the key is not in the gateway's environment");
    const state = await deployer.exportState();
    assert.equal(state.includes(token), false, "the gateway token is encrypted in the state");
    assert.equal(state.includes(modelKey), false, "the model key is encrypted in the state");
    const outputs = (await deployer.output("tenants")) as Record<string, { token: string; port: number }>;
    assert.equal(outputs["engb"]?.token, token, "the stack output gives the gateway's own token");
    assert.equal(outputs["engs"]?.port, 18880);
  });

  it("(b) a gateway stopped by hand comes back healthy with `pulumi up --refresh`", async () => {
    const before = await containerId("clawfleet-tenant-engc");
    execFileSync("docker", ["stop", "clawfleet-tenant-engc"], { stdio: "ignore" });
    assert.equal(await answers(18803), false);
    // The check that follows every apply sees this: a preview that refreshes first plans the change and fails.
    const drifted = await deployer.preview({ refresh: true });
    assert.deepEqual(changes(drifted.steps), ["replace engc-container", "replace engc-limits", "replace engc-ready"]);
    assert.notEqual(drifted.code, 0, "pulumi preview --expect-no-changes fails on it");
    const steps = await deploy("(b) stopped by hand", { refresh: true });
    // The refresh reads a stopped container's ports back empty (and mustRun false); ports force a new
    // container, delete first: the engine replaces it, it does not start it.
    assert.deepEqual(changes(steps), ["replace engc-container", "replace engc-limits", "replace engc-ready"]);
    assert.deepEqual(stepOf(steps, "engc-container").changed.sort(), ["mustRun", "ports"]);
    assert.deepEqual(deployer.opsOf("engc-container"), ["refresh", "delete-replaced", "replace", "create-replacement"]);
    assert.notEqual(await containerId("clawfleet-tenant-engc"), before);
    assert.equal(await healthz(18803), healthBody);
  });

  it("(c) a tenant that sorts before the canary becomes the canary without an image preflight", async () => {
    tenants["enga"] = { tier: "dedicated", host: hostId, port: 18801 };
    const preflight = watchContainer(preflightName);
    const steps = await deploy("(c) new canary");
    const preflightActions = preflight.stop();
    assert.equal(stepOf(steps, `${hostId}-preflight`).op, "update");
    assert.deepEqual(stepOf(steps, `${hostId}-preflight`).changed, ["create"]);
    assert.deepEqual(preflightActions, [], "no preflight container ran");
    assert.deepEqual(
      changes(steps),
      [
        "create enga",
        "create enga-backup",
        "create enga-claim",
        "create enga-config",
        "create enga-container",
        "create enga-egress",
        "create enga-limits",
        "create enga-network",
        "create enga-ready",
        "create enga-secrets",
        "create enga-state",
        "create enga-token",
        `update ${hostId}-preflight`,
      ].sort(),
    );
    assert.equal(await healthz(18801), healthBody);
  });

  it("(d) a port change replaces the container, old one first; the old port stops answering", async () => {
    (tenants["engc"] as Tenant).port = 18804;
    const steps = await deploy("(d) port");
    assert.deepEqual(changes(steps), ["replace engc-container", "replace engc-limits", "replace engc-ready", "update engc-claim"]);
    assert.deepEqual(deployer.opsOf("engc-container"), ["delete-replaced", "replace", "create-replacement"]);
    // The commands that take the container's id go with it, before it: the far end of the chain first.
    const deleted = deployer.finished("delete-replaced");
    assert.deepEqual(deleted.slice(0, 2).sort(), ["engc-limits", "engc-ready"]);
    assert.equal(deleted[2], "engc-container");
    assert.equal(await healthz(18804), healthBody);
    assert.equal(await answers(18803), false);
  });

  it("(e) on a host over SSH whose daemon merges default log options, the real provider's read-back converges", async () => {
    remoteDeclared = true;
    tenants["engr"] = { tier: "dedicated", host: remoteId, port: 18890 };
    // deploy() follows the apply with preview and refresh --expect-no-changes: what the provider reads back from
    // that daemon (log options merged with its defaults, health-check timings) equals what the program sent.
    const steps = await deploy("(e) ssh host");
    assert.deepEqual(
      changes(steps).filter((step) => !step.startsWith("create engr")),
      [`create ${remoteId}`, `create ${remoteId}-docker`, `create ${remoteId}-preflight`, `create ${remoteId}-prepare`, `create ${remoteId}-readback`].sort(),
    );
    const info = await inspectContainer("clawfleet-tenant-engr", remoteDocker);
    assert.equal(info?.State.Health?.Status, "healthy");
    const logConfig = info?.HostConfig["LogConfig"] as { Type: string; Config: Record<string, string> };
    assert.deepEqual(Object.keys(logConfig.Config).sort(), ["labels", "max-file", "max-size", "tag"], "the daemon's defaults merged into the gateway's own");
    assert.equal(await inspectContainer("clawfleet-tenant-engr"), undefined, "nothing of it on this machine's daemon");
  });

  it("(f) `pulumi destroy` removes every container and network of the stack; state directories stay", async () => {
    const predicted = await prediction("none", false);
    const first = deployer.timings.length;
    const steps = await deployer.destroy();
    assert.deepEqual(comparable(steps), predicted, "the engine stand-in predicted the real engine's destroy");
    timings.push({ step: "(f) destroy", apply: deployer.timings[first]?.seconds ?? 0, checks: 0 });
    assert.deepEqual([...new Set(steps.map((s) => s.op))].sort(), ["delete", "retain"]);
    assert.deepEqual(await dockerObjects(), { containers: [], networks: [] });
    assert.equal(await inspectContainer("clawfleet-tenant-engr", remoteDocker), undefined, "the SSH host's gateway is gone too");
    for (const dir of ["users/enga", "users/engb", "users/engc", "shared"]) assert.equal(existsSync(join(stateRoot, dir, "openclaw.json")), true, dir);
  });
});
