import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { runClawfleet } from "./cli-process";
import { dockerApi, inspectContainer, removeHostObjects } from "./docker-api";
import { EngineDeployer } from "./engine/deployer";
import { gatewayImage } from "./gateway-image";
import { opsFor } from "./standin/deployer";
import { addApproval, approvals } from "./pairing-state";
import { fetchText, poll } from "./wait";

/*
 * A failed image change, undone without manual steps, on real gateways: a stack of this file's
 * own (stack rollback, host rbhost, dedicated tenants rba, the canary, and rbb; ports 18400-18449)
 * deployed on the gateway image, then declared on an image built here on top of it whose
 * entrypoint refuses to start on a state directory holding a marker file that only rbb's state
 * holds. The preflight (on a copy of rba's state) and rba pass; rbb fails, and its health gate
 * puts it back on the previous image and its pre-upgrade backup before the deploy fails. Then
 * `clawfleet rollback` puts rba back too, `status` names both, and a deploy declaring the good
 * image again replaces the rolled-back containers on their restored state and then plans no change.
 * With the real Pulumi engine and the real docker provider plugin (./engine/deployer.ts; after every
 * apply, preview and refresh find nothing to change), as upgrade.e2e.test.ts does.
 */

const repo = resolve(__dirname, "..", "..");
const work = mkdtempSync(join(tmpdir(), "clawfleet-rollback-e2e-"));
const stateRoot = join(work, "state");
const log = (line: string) => process.stderr.write(`rollback-e2e: ${line}\n`);
const rba = "clawfleet-tenant-rba";
const rbb = "clawfleet-tenant-rbb";
const marker = "refuse-this-image";
const touched = "touched-by-refusing-image";

let good = "";
let bad = "";
let deployer: EngineDeployer | undefined;
let cliEnv: NodeJS.ProcessEnv = process.env;

function stackText(image: string): string {
  return [
    "config:",
    `  clawfleet:image: ${image}`,
    "  clawfleet:hosts:",
    "    rbhost:",
    `      stateRoot: ${stateRoot}`,
    "      ports: { from: 18400, to: 18449 }",
    "      rollout: { lanes: 1 }",
    "  clawfleet:tenants:",
    "    rba: { tier: dedicated, host: rbhost, port: 18401 }",
    "    rbb: { tier: dedicated, host: rbhost, port: 18402 }",
    "",
  ].join("\n");
}

/** Writes the stack file for `image`; returns its path. */
function stackFile(image: string): string {
  const dir = mkdtempSync(join(work, "stack-"));
  const file = join(dir, "Pulumi.rollback.yaml");
  writeFileSync(file, stackText(image));
  return file;
}

async function deployImage(image: string) {
  assert.ok(deployer);
  deployer.configure(stackText(image));
  return deployer.deploy();
}

/** Runs `clawfleet <args>` as users do (bin/clawfleet.js). */
const clawfleet = (...args: string[]) => runClawfleet(repo, args, { env: cliEnv });

async function ready(port: number): Promise<void> {
  await poll(`127.0.0.1:${port} /readyz`, 300, async () => {
    const body = JSON.parse(await fetchText(`http://127.0.0.1:${port}/readyz`, 2000)) as { ready: boolean };
    return body.ready ? true : undefined;
  });
}

/** The pre-upgrade archives of a gateway (the records beside them left out). */
const archivesOf = (container: string) =>
  readdirSync(join(stateRoot, "backups", container))
    .filter((f) => f.endsWith(".tar.gz"))
    .sort();

async function teardown(): Promise<void> {
  await removeHostObjects(["rbhost"], ["clawfleet-preflight-rbhost"]);
}

before(async () => {
  good = gatewayImage(repo, log);
  bad = `clawfleet/refusing-gateway:${good.split(":").pop() ?? ""}`;
  log(`building ${bad} on ${good}: it refuses a state directory holding ${marker}`);
  const entry = [
    "#!/bin/sh",
    `if [ -e /state/${marker} ]; then`,
    `  echo "this image refuses state marked ${marker}" >&2`,
    `  : >/state/${touched}`,
    "  exit 1",
    "fi",
    'exec node /app/node_modules/openclaw/openclaw.mjs "$@"',
  ].join("\\n");
  const dockerfile = [
    `FROM ${good}`,
    "USER 0",
    `RUN printf '%b\\n' '${entry}' >/usr/local/bin/refusing-entrypoint && chmod 0755 /usr/local/bin/refusing-entrypoint`,
    "USER 1000:1000",
    'ENTRYPOINT ["/usr/local/bin/refusing-entrypoint"]',
    'CMD ["gateway", "run"]',
    "",
  ].join("\n");
  execFileSync("docker", ["build", "-q", "-t", bad, "-"], { input: dockerfile, stdio: ["pipe", "inherit", "inherit"] });
  // rbhost does not publish on Tailscale (serve is off): nothing here runs tailscale.
  const env = { ...process.env };
  cliEnv = env;
  deployer = await EngineDeployer.real({
    repo,
    work: join(work, "engine"),
    stack: "rollback",
    env,
    progress: log,
  });
  await teardown();
  log(`deploying stack rollback on ${good}: rba, then rbb`);
  await deployImage(good);
});

// Pending fetches to a booting gateway do not keep Node alive on their own.
const keepAlive = setInterval(() => undefined, 60_000);

after(async () => {
  clearInterval(keepAlive);
  await teardown();
  await dockerApi("DELETE", `/images/${bad}`).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
});

describe("a failed image change goes back by itself", () => {
  it("passes the preflight and the canary, fails on the second tenant's state, and puts that tenant back on the previous image and its pre-upgrade backup", async () => {
    await addApproval(rba, "rba-before");
    await addApproval(rbb, "rbb-before");
    writeFileSync(join(stateRoot, "users", "rbb", marker), "");
    let message = "";
    await assert.rejects(deployImage(bad), (error: unknown) => {
      assert.ok(error instanceof Error);
      message = error.message;
      return true;
    });
    log(message);
    const [archive = ""] = archivesOf(rbb);
    const archivePath = join(stateRoot, "backups", rbb, archive);
    const aside = readdirSync(join(stateRoot, "users")).find((f) => f.startsWith("rbb.before-rollback-")) ?? "";
    assert.match(aside, /^rbb\.before-rollback-\d{8}T\d{6}Z$/);
    // Docker restarts the refusing gateway at once, so the gate may see more than the second restart, and an exit code
    // Docker has already reset for the next start.
    const [failure = ""] = /clawfleet: gateway clawfleet-tenant-rbb exited \(code \d+\) and was restarted \d+ times; .*/.exec(message) ?? [];
    assert.equal(
      failure.replace(/restarted \d+ times/, "restarted N times").replace(/exited \(code \d+\)/, "exited (code N)"),
      `clawfleet: gateway ${rbb} exited (code N) and was restarted N times; read why with: docker logs ${rbb}. It was put back on ${good} from ${archivePath} (it is healthy; the state it had on ${bad} is kept at ${join(stateRoot, "users", aside)}). Declare ${good} again, or an image that works, and deploy`,
      message,
    );
    assert.ok(message.includes(`this image refuses state marked ${marker}`), "the gateway's own reason is in the error");
    // rba runs the new image; rbb the previous one, labelled, on its pre-upgrade state.
    assert.equal((await inspectContainer(rba))?.Config["Image"], bad);
    const rolled = await inspectContainer(rbb);
    assert.equal(rolled?.Config["Image"], good);
    assert.equal((rolled?.Config["Labels"] as Record<string, string>)["clawfleet.rollback"], bad);
    await ready(18401);
    await ready(18402);
    assert.deepEqual(await approvals(rba), ["rba-before"]);
    assert.deepEqual(await approvals(rbb), ["rbb-before"]);
    assert.equal(existsSync(join(stateRoot, "users", "rbb", touched)), false, "the state is the one from before the change");
    assert.equal(existsSync(join(stateRoot, "users", aside, touched)), true, "the state the new image touched is kept aside");
  });

  it("status names the rolled-back tenant", async () => {
    const result = await clawfleet("status", stackFile(bad));
    assert.match(
      result.stdout,
      new RegExp(`^rbb +rbhost +dedicated +running +healthy +yes .*${good.replaceAll(".", "\\.")} \\(rolled back from ${bad.replaceAll(".", "\\.")}\\)`, "m"),
    );
    assert.match(result.stdout, new RegExp(`^rba +rbhost +dedicated +running +healthy +yes .* ${bad.replaceAll(".", "\\.")} +18401`, "m"));
  });

  it("clawfleet rollback puts the canary back too, and a second run does nothing", async () => {
    const file = stackFile(bad);
    const first = await clawfleet("rollback", file, "--host", "rbhost");
    assert.equal(first.code, 0, first.stderr);
    const [archive = ""] = archivesOf(rba);
    const lines = first.stdout.trim().split("\n");
    assert.equal(lines.length, 2, first.stdout);
    const expected = `tenant rba: put back on ${good} from ${join(stateRoot, "backups", rba, archive)} (it ran ${bad}); it is healthy; the state it had is kept at ${join(stateRoot, "users")}/rba.before-rollback-STAMP on host rbhost`;
    assert.equal((lines[0] ?? "").replace(/before-rollback-\d{8}T\d{6}Z/, "before-rollback-STAMP"), expected);
    assert.equal(lines[1], `tenant rbb: nothing to do: it runs ${good} since its change to ${bad} failed`);
    const again = await clawfleet("rollback", file);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(
      again.stdout,
      `tenant rba: nothing to do: it runs ${good} since its change to ${bad} failed\ntenant rbb: nothing to do: it runs ${good} since its change to ${bad} failed\n`,
    );
    await ready(18401);
    assert.deepEqual(await approvals(rba), ["rba-before"]);
  });

  it("a deploy declaring the good image again replaces the rolled-back containers on their restored state, then plans no change", async () => {
    const events = await deployImage(good);
    for (const name of ["rba", "rbb"]) {
      assert.deepEqual(opsFor(events, `${name}-container`), ["replace"], `${name}-container`);
      assert.deepEqual(opsFor(events, `${name}-backup`), ["replace"], `${name}-backup`);
    }
    for (const container of [rba, rbb]) {
      const info = await inspectContainer(container);
      assert.equal(info?.Config["Image"], good);
      assert.equal((info?.Config["Labels"] as Record<string, string>)["clawfleet.rollback"], undefined);
    }
    await ready(18401);
    await ready(18402);
    assert.deepEqual(await approvals(rba), ["rba-before"]);
    assert.deepEqual(await approvals(rbb), ["rbb-before"]);
    assert.deepEqual(archivesOf(rbb).length, 1, "a rolled-back container on the declared image needs no backup");
    const status = await clawfleet("status", stackFile(good));
    assert.equal(status.code, 0, status.stdout + status.stderr);
    assert.doesNotMatch(status.stdout, /rolled back/);
  });
});
