import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { dockerExec, inspectContainer, removeHostObjects } from "./docker-api";
import { EngineDeployer } from "./engine/deployer";
import { gatewayImage } from "./gateway-image";
import { opsFor } from "./standin/deployer";
import type { StepEvent } from "./standin/engine";
import { addApproval, approvals } from "./pairing-state";
import { fetchText, poll } from "./wait";

/*
 * A real upgrade of real gateways: a stack of this file's own (stack upgrade, host uphost,
 * dedicated tenant upa, the canary, and shared tenant upc on the host's shared gateway; ports
 * 18600-18699 and 18989) deployed on openclaw 2026.9.5, then declared on 2026.9.6, then rolled
 * back, with the real Pulumi engine and the real docker provider plugin (./engine/deployer.ts; after
 * every apply, preview and refresh find nothing to change). Both images come from
 * scripts/build-gateway-image.sh (the older one with --openclaw). Pairing approvals are rows of
 * the gateway's own state database, made before and between the version changes, so each
 * step shows whose approvals a user keeps.
 */

const repo = resolve(__dirname, "..", "..");
const work = mkdtempSync(join(tmpdir(), "clawfleet-upgrade-e2e-"));
const stateRoot = join(work, "state");
const log = (line: string) => process.stderr.write(`upgrade-e2e: ${line}\n`);
const olderVersion = "2026.9.5";
const upa = "clawfleet-tenant-upa";
const shared = "clawfleet-shared-uphost";

let older = "";
let newer = "";
let newerVersion = "";
let deployer: EngineDeployer | undefined;

function stackText(image: string): string {
  return [
    "config:",
    `  clawfleet:image: ${image}`,
    "  clawfleet:hosts:",
    "    uphost:",
    `      stateRoot: ${stateRoot}`,
    "      ports: { from: 18600, to: 18699 }",
    "      shared: { port: 18989, model: anthropic/claude-sonnet-4-5, memoryMb: 1536 }",
    "  clawfleet:tenants:",
    "    upa: { tier: dedicated, host: uphost, port: 18601 }",
    "    upc:",
    "      tier: shared",
    "      host: uphost",
    "      bindings: [{ channel: telegram, peer: { kind: direct, id: '5550002' } }]",
    "",
  ].join("\n");
}

async function deployImage(image: string): Promise<StepEvent[]> {
  assert.ok(deployer);
  deployer.configure(stackText(image));
  return deployer.deploy();
}

/** The openclaw version the running container reports (`openclaw --version`). */
async function runningVersion(container: string): Promise<string> {
  const result = await dockerExec(container, ["node", "/app/node_modules/openclaw/openclaw.mjs", "--version"]);
  assert.equal(result.code, 0, result.output);
  return result.output.trim().split("\n").pop() ?? "";
}

async function ready(port: number): Promise<void> {
  await poll(`127.0.0.1:${port} /readyz`, 300, async () => {
    const body = JSON.parse(await fetchText(`http://127.0.0.1:${port}/readyz`, 2000)) as { ready: boolean };
    return body.ready ? true : undefined;
  });
}

/** A gateway's pre-upgrade archives (each has a `.image` file beside it naming the image it ran). */
const backupsOf = (container: string) =>
  readdirSync(join(stateRoot, "backups", container))
    .filter((file) => file.endsWith(".tar.gz"))
    .sort();

/** Removes uphost's containers, networks and egress chains (found by their host label) and the preflight's container. */
async function teardown(): Promise<void> {
  await removeHostObjects(["uphost"], ["clawfleet-preflight-uphost"]);
}

before(async () => {
  log(`the gateway images: openclaw ${olderVersion}, and the default from scripts/gateway-image.json`);
  older = gatewayImage(repo, log, { args: ["--openclaw", olderVersion] });
  newer = gatewayImage(repo, log);
  newerVersion = (JSON.parse(readFileSync(join(repo, "scripts", "gateway-image.json"), "utf8")) as { openclaw: string }).openclaw;
  assert.notEqual(newerVersion, olderVersion, "the default image is the newer release");
  log(`images ${older} and ${newer}`);
  // uphost does not publish on Tailscale (serve is off): nothing here runs tailscale.
  const env = { ...process.env };
  deployer = await EngineDeployer.real({
    repo,
    work: join(work, "engine"),
    stack: "upgrade",
    env,
    progress: log,
  });
  await teardown();
  log(`deploying stack upgrade on openclaw ${olderVersion}: upa and the shared gateway of uphost`);
  await deployImage(older);
});

// Pending fetches to a booting gateway do not keep Node alive on their own.
const keepAlive = setInterval(() => undefined, 60_000);

after(async () => {
  clearInterval(keepAlive);
  await teardown();
  rmSync(work, { recursive: true, force: true });
});

describe(`a real upgrade, openclaw ${olderVersion} to the default release, and back`, () => {
  it(`tags each image with the release it holds, and the gateways run ${olderVersion}`, async () => {
    assert.match(older, new RegExp(`^clawfleet/openclaw-gateway:${olderVersion.replaceAll(".", "\\.")}-[0-9a-f]{12}$`));
    assert.match(newer, new RegExp(`^clawfleet/openclaw-gateway:${newerVersion.replaceAll(".", "\\.")}-[0-9a-f]{12}$`));
    for (const container of [upa, shared]) assert.match(await runningVersion(container), new RegExp(`\\b${olderVersion.replaceAll(".", "\\.")}\\b`));
    await addApproval(upa, "before-upgrade");
    await addApproval(shared, "shared-before-upgrade");
  });

  it("upgrades: preflight on a copy of the canary's state first, each gateway backed up right before its replacement, pairings kept", async () => {
    const events = await deployImage(newer);
    const order = events.filter((e) => e.op !== "same").map((e) => `${e.op} ${e.name}`);
    const at = (step: string) => {
      const index = order.indexOf(step);
      assert.ok(index >= 0, `${step} in ${order.join(", ")}`);
      return index;
    };
    assert.ok(at("replace uphost-preflight") < at("replace upa-backup"));
    assert.ok(at("replace upa-backup") < at("replace upa-container"));
    assert.ok(at("replace uphost-shared-backup") < at("replace uphost-shared-container"));
    assert.ok(at("replace upa-ready") < at("replace uphost-shared-container"), "the canary is healthy before the shared gateway goes");
    const backups = join(stateRoot, "backups", upa);
    assert.equal(statSync(backups).mode & 0o777, 0o700);
    assert.equal(backupsOf(upa).length, 1, backupsOf(upa).join(", "));
    assert.equal(statSync(join(backups, backupsOf(upa)[0] ?? "")).mode & 0o777, 0o600);
    assert.equal(backupsOf(shared).length, 1);
    // What a rollback goes back to: the image each gateway ran when its archive was taken.
    for (const container of [upa, shared]) {
      const archive = join(stateRoot, "backups", container, backupsOf(container)[0] ?? "");
      assert.equal(readFileSync(`${archive}.image`, "utf8").trim(), older);
    }
    for (const container of [upa, shared]) {
      assert.equal((await inspectContainer(container))?.Config["Image"], newer);
      assert.match(await runningVersion(container), new RegExp(`\\b${newerVersion.replaceAll(".", "\\.")}\\b`));
    }
    await ready(18601);
    await ready(18989);
    assert.deepEqual(await approvals(upa), ["before-upgrade"]);
    assert.deepEqual(await approvals(shared), ["shared-before-upgrade"]);
    await addApproval(upa, "made-on-newer");
  });

  it(`refuses an image-only rollback: ${olderVersion} will not start on the state the newer release migrated, so its preflight stops the deploy and no gateway changes`, async () => {
    const before = await Promise.all([upa, shared].map(async (name) => (await inspectContainer(name))?.Id));
    await assert.rejects(deployImage(older), (error: unknown) => {
      assert.ok(error instanceof Error);
      // The state database is always migrated by the newer release; the agent's own database only once the newer
      // gateway has opened it, which it does at a time of its own choosing, so the refusal lists one or two.
      const stateDb = "state database /state/state/openclaw.sqlite uses schema 18; this build supports 17;";
      const agentDb = `agent database for agent upa /state/agents/upa/agent/openclaw-agent.sqlite uses schema 23; this build supports 21; writer build ${newerVersion}.`;
      const refusedOne = `Gateway refused startup because 1 OpenClaw database schema(s) are newer than this build. ${stateDb}`;
      const refusedTwo = `Gateway refused startup because 2 OpenClaw database schema(s) are newer than this build. ${stateDb}`;
      assert.ok(error.message.includes(refusedOne) || (error.message.includes(refusedTwo) && error.message.includes(agentDb)), error.message);
      assert.ok(error.message.includes("or stop the service and restore your pre-upgrade backup created with openclaw backup create."), error.message);
      assert.ok(
        error.message.includes(
          `clawfleet: host uphost: the new image ${older} did not start on a copy of a tenant's state (it is unhealthy); no gateway was changed. Fix the image or go back to the previous one`,
        ),
        error.message,
      );
      return true;
    });
    assert.deepEqual(await Promise.all([upa, shared].map(async (name) => (await inspectContainer(name))?.Id)), before, "no container was replaced");
    assert.equal(backupsOf(upa).length, 1, "nothing was backed up");
    await ready(18601);
    assert.deepEqual(await approvals(upa), ["before-upgrade", "made-on-newer"]);
  });

  it(`rolls back with the pre-upgrade backups: restore-gateway.sh --no-start for each gateway, then ${olderVersion} declared again; the state is the pre-upgrade one`, async () => {
    for (const container of [upa, shared]) {
      const preUpgrade = join(stateRoot, "backups", container, backupsOf(container)[0] ?? "");
      const restore = spawnSync("bash", [join(repo, "scripts", "restore-gateway.sh"), "--no-start", container, preUpgrade], { encoding: "utf8" });
      assert.equal(restore.status, 0, restore.stderr);
      assert.match(restore.stderr, /left stopped on the restored state \(--no-start\); the previous state is kept at .*\.before-restore-/);
      assert.equal((await inspectContainer(container))?.State.Running, false);
    }
    const events = await deployImage(older);
    assert.deepEqual(opsFor(events, "uphost-preflight"), ["replace"], "the preflight passed on the restored copy");
    assert.deepEqual(opsFor(events, "upa-container"), ["replace"]);
    assert.deepEqual(opsFor(events, "uphost-shared-container"), ["replace"]);
    for (const container of [upa, shared]) {
      assert.equal((await inspectContainer(container))?.Config["Image"], older);
      assert.match(await runningVersion(container), new RegExp(`\\b${olderVersion.replaceAll(".", "\\.")}\\b`));
    }
    await ready(18601);
    await ready(18989);
    assert.deepEqual(await approvals(upa), ["before-upgrade"], "the approval made on the newer release went with its state");
    assert.deepEqual(await approvals(shared), ["shared-before-upgrade"]);
  });
});
