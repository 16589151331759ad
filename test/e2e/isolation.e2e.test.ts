import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import type { PlannedResource } from "../../cli/mock-run";
import { gatewayImage } from "./gateway-image";
import { sshArgs, sshTarget, startSshAgent, startSshHost, stopSshHost, type SshAgent, type SshHost } from "./ssh-host";
import { EngineDeployer } from "./engine/deployer";
import { opsFor } from "./standin/deployer";
import type { StepEvent } from "./standin/engine";
import { poll } from "./wait";

/*
 * `isolation` on a real Docker daemon: the SSH test host's dockerd (scripts/ssh-test-host.sh) knows OCI runtime
 * clawfleet-test, this machine's runc registered under a second name, so a gateway declared with it can be told from
 * one under the daemon's default. A stack of this file's own (stack isolation, host isohost reached only over SSH,
 * tenant isoa, ports 18960-18969 on that host's loopback) is deployed with the real Pulumi engine and the real docker
 * provider plugin (./engine/deployer.ts; after every apply preview and refresh must find nothing to change), and
 * every container field is read with `docker inspect` on the host, over SSH. Needs root (the SSH host).
 */

const repo = resolve(__dirname, "..", "..");
const work = mkdtempSync(join(tmpdir(), "clawfleet-isolation-e2e-"));
const stackFile = join(work, "stacks", "Pulumi.isolation.yaml");
const log = (line: string) => process.stderr.write(`isolation-e2e: ${line}\n`);
const container = "clawfleet-tenant-isoa";
const port = 18961;
const testRuntime = "clawfleet-test";

let image = "";
let host: SshHost;
let agent: SshAgent | undefined;
let deployer: EngineDeployer;
let plan: PlannedResource[] = [];

function stackText(isolation: string | undefined): string {
  return [
    "config:",
    `  clawfleet:image: ${image}`,
    "  clawfleet:hosts:",
    "    isohost:",
    `      ssh: { host: ${host.address}, user: ${host.user}, port: ${host.port}, hostKey: "${host.hostKey}" }`,
    `      stateRoot: ${join(work, "remote-state")}`,
    "      ports: { from: 18960, to: 18969 }",
    "  clawfleet:tenants:",
    `    isoa: { tier: dedicated, host: isohost, port: ${port}${isolation === undefined ? "" : `, isolation: ${isolation}`} }`,
    "",
  ].join("\n");
}

function declare(isolation: string | undefined): void {
  writeFileSync(stackFile, stackText(isolation));
}

/** Plans the stack file as it stands (for its inputs) and deploys it with `pulumi up`, then the idempotence checks. */
async function deploy(isolation: string | undefined): Promise<StepEvent[]> {
  declare(isolation);
  const out = join(work, "plan.json");
  execFileSync(process.execPath, ["--import", "tsx", join(repo, "test", "e2e", "plan-revealed.ts"), stackFile, out], { cwd: repo, stdio: "inherit" });
  plan = JSON.parse(readFileSync(out, "utf8")) as PlannedResource[];
  deployer.configure(stackText(isolation));
  return deployer.deploy();
}

/** A command on the SSH host, as its deploy user. */
function onHost(command: string): string {
  const r = spawnSync("ssh", [...sshArgs(host), "-p", String(host.port), sshTarget(host), command], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, `ssh ${command}: ${r.stderr}`);
  return r.stdout.trim();
}

/** `docker inspect` of the gateway on the SSH host: its id, OCI runtime and health. */
function inspectOnHost(): { id: string; runtime: string; health: string } {
  const [id = "", runtime = "", health = ""] = onHost(`docker inspect --format '{{.Id}} {{.HostConfig.Runtime}} {{.State.Health.Status}}' ${container}`).split(
    " ",
  );
  return { id, runtime, health };
}

function doctor(): Promise<{ code: number; stdout: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [join(repo, "bin", "clawfleet.js"), "doctor", stackFile], {
      env: { ...process.env, ...agent?.env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.on("close", (code) => done({ code: code ?? 1, stdout }));
  });
}

before(async () => {
  image = gatewayImage(repo, log, { testTools: true });
  mkdirSync(join(work, "stacks"), { recursive: true });
  mkdirSync(join(work, "host"));
  log(`starting the SSH host with ${image}`);
  host = startSshHost(join(work, "host"), image);
  agent = startSshAgent(work, host.identityFile);
  deployer = await EngineDeployer.real({
    repo,
    work: join(work, "engine"),
    stack: "isolation",
    env: { ...process.env, ...agent.env },
    progress: log,
  });
});

after(() => {
  agent?.stop();
  // Stops the host's dockerd and everything it runs; its data root is under the workdir.
  stopSshHost(join(work, "host"));
  rmSync(work, { recursive: true, force: true });
});

describe("isolation: an OCI runtime per gateway", () => {
  it("runs a gateway declared with isolation under that runtime, healthy, and doctor finds the runtime registered", async () => {
    assert.equal(onHost("docker info --format '{{.DefaultRuntime}}'"), "runc", "the daemon's default is another runtime");
    log(`deploying tenant isoa with isolation: ${testRuntime}`);
    await deploy(testRuntime);
    const planned = plan.find((r) => r.name === "isoa-container");
    assert.equal(planned?.revealedInputs["runtime"], testRuntime);
    const running = await poll("isoa healthy on the SSH host", 300, async () => {
      const info = inspectOnHost();
      return info.health === "healthy" ? info : undefined;
    });
    assert.equal(running.runtime, testRuntime);
    assert.equal(onHost(`curl -fsS -m 10 http://127.0.0.1:${port}/healthz`), '{"ok":true,"status":"live"}');

    const result = await doctor();
    assert.equal(result.code, 0, result.stdout);
    assert.match(result.stdout, /^host isohost: ok$/m);
    assert.match(result.stdout, /^ {2}ok {2}OCI runtime clawfleet-test is registered with Docker \(tenant isoa\)$/m);
    assert.match(result.stdout, /ok {2}1 gateway as declared: /);
  });

  it("names a declared runtime the daemon lacks, and the gateway running under another, each with its fix", async () => {
    declare("kata");
    const registered = Object.keys(JSON.parse(onHost("docker info --format '{{json .Runtimes}}'")) as Record<string, unknown>);
    assert.ok(registered.includes(testRuntime) && !registered.includes("kata"), registered.join(", "));
    const result = await doctor();
    assert.equal(result.code, 1, result.stdout);
    assert.ok(
      result.stdout.includes(
        [
          `  FIX OCI runtime kata, declared for tenant isoa, is not registered with Docker (it has ${registered.join(", ")})`,
          `      fix: install it and add it to /etc/docker/daemon.json "runtimes" (then reload dockerd), or change isolation`,
        ].join("\n"),
      ),
      result.stdout,
    );
    assert.ok(
      result.stdout.includes(
        [
          `  FIX ${container} (tenant isoa) runtime: running clawfleet-test, declared kata`,
          `      fix: docker rm -f ${container}, then pulumi up --refresh, which creates it as declared`,
        ].join("\n"),
      ),
      result.stdout,
    );
  });

  it("keeps the runtime when isolation is removed (doctor names it), and replaces the gateway when another is declared", async () => {
    const before = inspectOnHost();
    log("removing isolation from tenant isoa");
    const removed = await deploy(undefined);
    // The provider's runtime is Optional+Computed: left out, the one in state stands, and preview and refresh agree.
    assert.deepEqual(opsFor(removed, "isoa-container"), ["same"], "left out, the runtime is not compared: no change");
    assert.deepEqual(inspectOnHost(), before, "the same container, under the same runtime");
    const drifted = await doctor();
    assert.equal(drifted.code, 1, drifted.stdout);
    assert.ok(
      drifted.stdout.includes(
        [
          `  FIX ${container} (tenant isoa) runtime: running clawfleet-test, declared the daemon's default runc (no isolation is declared)`,
          `      fix: docker rm -f ${container}, then pulumi up --refresh, which creates it as declared, or declare isolation: clawfleet-test`,
        ].join("\n"),
      ),
      drifted.stdout,
    );

    log("declaring isolation: runc, the daemon's default, by name");
    const declared = await deploy("runc");
    assert.deepEqual(opsFor(declared, "isoa-container"), ["replace"]);
    const after = await poll("the new isoa healthy", 300, async () => {
      const info = inspectOnHost();
      return info.health === "healthy" ? info : undefined;
    });
    assert.notEqual(after.id, before.id);
    assert.equal(after.runtime, "runc");
    const healthy = await doctor();
    assert.equal(healthy.code, 0, healthy.stdout);
    assert.match(healthy.stdout, /^ {2}ok {2}OCI runtime runc is registered with Docker \(tenant isoa\)$/m);
  });
});
