import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseDocument } from "yaml";
import type { PlannedResource } from "../../cli/mock-run";
import { renderServeAdd, renderServeRemove, renderWriteFile } from "../../components/render/commands";
import { DeclarationError } from "../../stacks/errors";
import { parseFleet, readStackFile } from "../../stacks/load";
import { Applier, runShell, type AppliedEvent } from "./applier";
import { dockerApi, dockerExec, inspectContainer } from "./docker-api";

/*
 * End to end: the resources the program registers for stacks/Pulumi.dev.yaml (from a mock
 * run, not re-typed here) applied to a real Docker engine with the real OpenClaw gateway
 * image, the host commands run in a real shell, Tailscale replaced by the fake CLI in
 * test/e2e/fake-tailscale. The Pulumi engine itself is stood in for by ./applier.ts.
 */

const repo = resolve(__dirname, "..", "..");
const work = mkdtempSync(join(tmpdir(), "clawfleet-e2e-"));
const stateRoot = join(work, "state");
const fakeTailscaleDir = join(work, "tailscale");
const log = (line: string) => process.stderr.write(`e2e: ${line}\n`);
const commandEnv = {
  ...process.env,
  PATH: `${join(repo, "test", "e2e", "fake-tailscale")}:${process.env["PATH"] ?? ""}`,
  FAKE_TAILSCALE_DIR: fakeTailscaleDir,
};
const applier = new Applier({ env: commandEnv }, log);
const openclaw = ["node", "/app/node_modules/openclaw/openclaw.mjs"];

let image = "";
let plan: PlannedResource[] = [];

/** Writes a variant of the dev stack (same stack name) and returns the program's resources for it. */
function planVariant(edit: (doc: ReturnType<typeof parseDocument>) => void): PlannedResource[] {
  const doc = parseDocument(readFileSync(join(repo, "stacks", "Pulumi.dev.yaml"), "utf8"));
  doc.setIn(["config", "clawfleet:image"], image);
  doc.setIn(["config", "clawfleet:hosts", "local", "stateRoot"], stateRoot);
  edit(doc);
  const dir = mkdtempSync(join(work, "stack-"));
  const file = join(dir, "Pulumi.dev.yaml");
  writeFileSync(file, doc.toString());
  const out = join(dir, "plan.json");
  execFileSync(process.execPath, ["--import", "tsx", join(repo, "test", "e2e", "plan-revealed.ts"), file, out], { cwd: repo, stdio: "inherit" });
  return JSON.parse(readFileSync(out, "utf8")) as PlannedResource[];
}

function resource(resources: readonly PlannedResource[], name: string): PlannedResource {
  const found = resources.find((r) => r.name === name);
  assert.ok(found, `no resource ${name}`);
  return found;
}

function tokenOf(resources: readonly PlannedResource[], container: string): string {
  const envs = resource(resources, container).revealedInputs["envs"] as string[];
  const entry = envs.find((e) => e.startsWith("OPENCLAW_GATEWAY_TOKEN="));
  assert.ok(entry);
  return entry.slice("OPENCLAW_GATEWAY_TOKEN=".length);
}

function actionsFor(events: readonly AppliedEvent[], name: string): string[] {
  return events.filter((e) => e.name === name).map((e) => e.action);
}

/** A command that runs one SQL statement on a gateway's state database inside its container (node:sqlite). */
function sql(statement: string): string[] {
  const method = statement.startsWith("SELECT") ? "all" : "run";
  return [
    "node",
    "-e",
    `const {DatabaseSync}=require('node:sqlite');const db=new DatabaseSync('/state/state/openclaw.sqlite');` +
      `console.log(JSON.stringify(db.prepare(${JSON.stringify(statement)}).${method}()))`,
  ];
}

/** The edit every re-deploy after the port move keeps: alice on another model and port 18102. */
function aliceMoved(doc: ReturnType<typeof parseDocument>): void {
  doc.setIn(["config", "clawfleet:tenants", "alice", "model"], "anthropic/claude-opus-4-1");
  doc.setIn(["config", "clawfleet:tenants", "alice", "port"], 18102);
}

async function poll<T>(what: string, seconds: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Every listening TCP socket on `port` (from /proc/net/tcp), as dotted IPv4 addresses. */
function listeners(port: number): string[] {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  return readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => cols[1]?.endsWith(`:${hex}`) && cols[3] === "0A")
    .map((cols) => {
      const addr = (cols[1] ?? "").split(":")[0] ?? "";
      return [3, 2, 1, 0].map((i) => parseInt(addr.slice(i * 2, i * 2 + 2), 16)).join(".");
    });
}

async function teardown(): Promise<void> {
  const names = new Set([
    ...applier.dockerObjects.containers,
    ...plan.filter((r) => r.type === "docker:index/container:Container").map((r) => String(r.revealedInputs["name"])),
  ]);
  for (const name of names) await dockerApi("DELETE", `/containers/${name}?force=true`).catch(() => undefined);
  const networks = new Set([
    ...applier.dockerObjects.networks,
    ...plan.filter((r) => r.type === "docker:index/network:Network").map((r) => String(r.revealedInputs["name"])),
  ]);
  for (const name of networks) await dockerApi("DELETE", `/networks/${name}`).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}

before(async () => {
  log("making sure a Docker daemon answers (scripts/docker-up.sh)");
  execFileSync("bash", [join(repo, "scripts", "docker-up.sh"), "--with-test-tools"], { stdio: ["ignore", "inherit", "inherit"] });
  log("building or reusing the gateway image (scripts/build-gateway-image.sh)");
  const built = execFileSync("bash", [join(repo, "scripts", "build-gateway-image.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  image = built.trim().split("\n").pop() ?? "";
  log(`image ${image}`);
  mkdirSync(fakeTailscaleDir, { recursive: true });
  plan = planVariant(() => undefined);
  await teardown().catch(() => undefined);
  mkdirSync(fakeTailscaleDir, { recursive: true });
  log("applying the dev stack: 3 gateways boot in parallel");
  await applier.apply(plan);
});

after(teardown);

describe("the dev stack on real Docker", () => {
  const gateways = [
    { container: "alice-container", name: "clawfleet-tenant-alice", port: 18101 },
    { container: "dave-container", name: "clawfleet-tenant-dave", port: 0 },
    { container: "local-shared-container", name: "clawfleet-shared-gateway", port: 18789 },
  ];
  before(() => {
    const dave = gateways[1];
    assert.ok(dave);
    dave.port = (resource(plan, "dave-container").revealedInputs["ports"] as { external: number }[])[0]?.external ?? 0;
  });

  it("creates every container from the program's inputs, hardened as declared", async () => {
    for (const gateway of gateways) {
      const info = await inspectContainer(gateway.name);
      assert.ok(info, `${gateway.name} exists`);
      assert.equal(info.State.Health?.Status, "healthy");
      assert.equal(info.Config["User"], "1000:1000");
      assert.equal(info.HostConfig["ReadonlyRootfs"], true);
      assert.deepEqual(info.HostConfig["CapDrop"], ["ALL"]);
      assert.deepEqual(info.HostConfig["SecurityOpt"], ["no-new-privileges:true"]);
      assert.equal(info.HostConfig["Init"], true);
      assert.equal(info.HostConfig["PidsLimit"], gateway.name === "clawfleet-shared-gateway" ? 1024 : 512, "pids limit set by the limits command");
      assert.deepEqual(Object.keys(info.NetworkSettings.Networks), [gateway.name], "own network");
      assert.deepEqual(info.NetworkSettings.Ports["18789/tcp"], [{ HostIp: "127.0.0.1", HostPort: String(gateway.port) }]);
    }
  });

  it("answers /healthz and /readyz with the gateway's own bodies", async () => {
    await Promise.all(
      gateways.map(async ({ port, name }) => {
        const health = await (await fetch(`http://127.0.0.1:${port}/healthz`)).text();
        assert.equal(health, '{"ok":true,"status":"live"}', name);
        const ready = await poll(`${name} /readyz`, 60, async () => {
          const body = (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { ready: boolean };
          return body.ready ? body : undefined;
        });
        assert.equal(ready.ready, true);
      }),
    );
  });

  it("refuses a request without the tenant's token (401) and serves it with the token (200)", async () => {
    for (const { container, port } of gateways) {
      const body = JSON.stringify({ tool: "sessions_list", action: "json", args: {} });
      const headers = { "content-type": "application/json" };
      const anonymous = await fetch(`http://127.0.0.1:${port}/tools/invoke`, { method: "POST", headers, body });
      assert.equal(anonymous.status, 401);
      const wrong = await fetch(`http://127.0.0.1:${port}/tools/invoke`, {
        method: "POST",
        headers: { ...headers, authorization: "Bearer not-the-token" },
        body,
      });
      assert.equal(wrong.status, 401);
      const authorized = await fetch(`http://127.0.0.1:${port}/tools/invoke`, {
        method: "POST",
        headers: { ...headers, authorization: `Bearer ${tokenOf(plan, container)}` },
        body,
      });
      assert.equal(authorized.status, 200, `${container}: ${await authorized.text()}`);
    }
  });

  it("listens on 127.0.0.1 only", () => {
    for (const { port, name } of gateways) {
      const addresses = listeners(port);
      assert.ok(addresses.length > 0, `${name} has a listener on ${port}`);
      assert.deepEqual([...new Set(addresses)], ["127.0.0.1"], name);
    }
  });

  it("writes each config file 0600 with no secret, and the gateway validates it", async () => {
    for (const { container, name } of gateways) {
      const stateDir = resource(plan, container).revealedInputs["mounts"] as { source: string }[];
      const file = join(stateDir[0]?.source ?? "", "openclaw.json");
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.equal(statSync(file).uid, 1000);
      assert.ok(!readFileSync(file, "utf8").includes(tokenOf(plan, container)));
      const validate = await dockerExec(name, [...openclaw, "config", "validate"]);
      assert.equal(validate.code, 0, `${name}: ${validate.output}`);
    }
  });

  it("runs the shared tenants as agents of the shared gateway, with their bindings", async () => {
    const agents = await dockerExec("clawfleet-shared-gateway", [...openclaw, "agents", "list", "--json", "--bindings"]);
    assert.equal(agents.code, 0, agents.output);
    const listed = JSON.parse(agents.output.slice(agents.output.indexOf("["))) as { id: string; bindings?: unknown }[];
    assert.deepEqual(listed.map((a) => a.id).sort(), ["bob", "carol"]);
    const bindings = await dockerExec("clawfleet-shared-gateway", [...openclaw, "agents", "bindings", "--json"]);
    assert.equal(bindings.code, 0, bindings.output);
    const routes = JSON.parse(bindings.output.slice(bindings.output.indexOf("["))) as {
      agentId: string;
      match: { channel: string; peer?: { kind: string; id: string } };
    }[];
    assert.deepEqual(
      routes.map((r) => [r.agentId, r.match.channel, r.match.peer?.kind, r.match.peer?.id]),
      [
        ["bob", "telegram", "direct", "111111111"],
        ["carol", "telegram", "group", "-1001234567890"],
      ],
    );
    assert.ok(existsSync(join(stateRoot, "shared", "workspaces", "bob")));
  });

  it("publishes every gateway with the fake Tailscale Serve, never Funnel", () => {
    const serve = JSON.parse(readFileSync(join(fakeTailscaleDir, "serve.json"), "utf8")) as { TCP: Record<string, unknown> };
    assert.deepEqual(Object.keys(serve.TCP).sort(), gateways.map((g) => String(g.port)).sort());
    const calls = readFileSync(join(fakeTailscaleDir, "calls.jsonl"), "utf8");
    assert.ok(!calls.includes("funnel"));
  });
});

describe("re-deploys", () => {
  it("applies a config-only change in place: same container, same start, hot reload", async () => {
    const before = await inspectContainer("clawfleet-tenant-alice");
    assert.ok(before);
    const next = planVariant((doc) => doc.setIn(["config", "clawfleet:tenants", "alice", "model"], "anthropic/claude-opus-4-1"));
    const events = await applier.apply(next);
    plan = next;
    assert.deepEqual(actionsFor(events, "alice-config"), ["update"]);
    assert.deepEqual(actionsFor(events, "alice-container"), ["same"]);
    assert.deepEqual(actionsFor(events, "dave-config"), ["same"]);
    const afterChange = await inspectContainer("clawfleet-tenant-alice");
    assert.equal(afterChange?.Id, before.Id);
    assert.equal(afterChange?.State.StartedAt, before.State.StartedAt);
    await poll("the hot reload line in alice's log", 30, async () => {
      const logs = await dockerApi<string>("GET", "/containers/clawfleet-tenant-alice/logs?stdout=true&stderr=true", undefined, { text: true });
      return logs.includes("config hot reload applied") ? true : undefined;
    });
  });

  it("keeps run-time pairing approvals across a port change that replaces the container", async () => {
    const insert = await dockerExec(
      "clawfleet-tenant-alice",
      sql(
        `INSERT OR REPLACE INTO channel_pairing_allow_entries (channel_key, account_id, entry, sort_order, updated_at) VALUES ('telegram', 'default', '987654321', 0, ${Date.now()})`,
      ),
    );
    assert.equal(insert.code, 0, insert.output);
    const before = await inspectContainer("clawfleet-tenant-alice");
    const next = planVariant(aliceMoved);
    const events = await applier.apply(next);
    plan = next;
    assert.deepEqual(actionsFor(events, "alice-container"), ["replace"]);
    assert.deepEqual(actionsFor(events, "alice-serve"), ["replace"]);
    assert.deepEqual(actionsFor(events, "alice-state"), ["same"]);
    const after = await inspectContainer("clawfleet-tenant-alice");
    assert.notEqual(after?.Id, before?.Id);
    const health = await (await fetch("http://127.0.0.1:18102/healthz")).text();
    assert.equal(health, '{"ok":true,"status":"live"}');
    const rows = await dockerExec("clawfleet-tenant-alice", sql("SELECT entry FROM channel_pairing_allow_entries WHERE channel_key = 'telegram'"));
    assert.equal(rows.code, 0, rows.output);
    assert.match(rows.output, /"entry":"987654321"/);
    const serve = JSON.parse(readFileSync(join(fakeTailscaleDir, "serve.json"), "utf8")) as { TCP: Record<string, unknown> };
    assert.ok("18102" in serve.TCP && !("18101" in serve.TCP), "serve entry moved with the port");
  });

  it("removes a tenant's container and serve entry but keeps its state directory", async () => {
    const davePort = (resource(plan, "dave-container").revealedInputs["ports"] as { external: number }[])[0]?.external;
    const next = planVariant((doc) => {
      aliceMoved(doc);
      doc.deleteIn(["config", "clawfleet:tenants", "dave"]);
    });
    const events = await applier.apply(next);
    plan = next;
    assert.deepEqual(actionsFor(events, "dave-container"), ["delete"]);
    assert.deepEqual(actionsFor(events, "dave-state"), ["retain"]);
    assert.deepEqual(actionsFor(events, "alice-container"), ["same"]);
    assert.equal(await inspectContainer("clawfleet-tenant-dave"), undefined);
    assert.ok(existsSync(join(stateRoot, "users", "dave", "openclaw.json")));
    assert.ok(existsSync(join(stateRoot, "users", "dave", "state", "openclaw.sqlite")));
    const serve = JSON.parse(readFileSync(join(fakeTailscaleDir, "serve.json"), "utf8")) as { TCP: Record<string, unknown> };
    assert.ok(!(String(davePort) in serve.TCP));
    assert.ok("18102" in serve.TCP && "18789" in serve.TCP, "other entries stay");
  });
});

describe("purge", () => {
  it("deletes a removed tenant's state only when the declaration confirms it", async () => {
    assert.ok(existsSync(join(stateRoot, "users", "dave")), "kept after removal");
    const next = planVariant((doc) => {
      aliceMoved(doc);
      doc.setIn(["config", "clawfleet:tenants", "dave", "purge"], doc.createNode({ confirm: "dave" }));
    });
    const events = await applier.apply(next);
    plan = next;
    assert.deepEqual(actionsFor(events, "dave-purge"), ["create"]);
    assert.deepEqual(actionsFor(events, "alice-container"), ["same"]);
    assert.equal(existsSync(join(stateRoot, "users", "dave")), false);
    assert.ok(existsSync(join(stateRoot, "users", "alice", "state", "openclaw.sqlite")), "other tenants' state untouched");
  });
});

describe("backup and restore", () => {
  const approvals = async () => {
    const rows = await dockerExec("clawfleet-tenant-alice", sql("SELECT entry FROM channel_pairing_allow_entries ORDER BY entry"));
    assert.equal(rows.code, 0, rows.output);
    return (JSON.parse(rows.output.slice(rows.output.indexOf("["))) as { entry: string }[]).map((r) => r.entry);
  };

  it("snapshots a running gateway with its own tool and restores it to that moment", async () => {
    const backups = join(work, "backups");
    const backup = spawnSync("bash", [join(repo, "scripts", "backup-gateway.sh"), "clawfleet-tenant-alice", backups], { encoding: "utf8" });
    assert.equal(backup.status, 0, backup.stderr);
    const archive = backup.stdout.trim();
    assert.equal(statSync(archive).mode & 0o777, 0o600);
    assert.equal(statSync(backups).mode & 0o777, 0o700);
    assert.deepEqual(await approvals(), ["987654321"]);

    const later = await dockerExec(
      "clawfleet-tenant-alice",
      sql(
        `INSERT INTO channel_pairing_allow_entries (channel_key, account_id, entry, sort_order, updated_at) VALUES ('telegram', 'default', 'after-backup', 1, ${Date.now()})`,
      ),
    );
    assert.equal(later.code, 0, later.output);
    assert.deepEqual(await approvals(), ["987654321", "after-backup"]);

    const restore = spawnSync("bash", [join(repo, "scripts", "restore-gateway.sh"), "clawfleet-tenant-alice", archive], { encoding: "utf8" });
    assert.equal(restore.status, 0, restore.stderr);
    await poll("alice ready after the restore", 90, async () => {
      const body = (await (await fetch("http://127.0.0.1:18102/readyz")).json()) as { ready: boolean };
      return body.ready ? true : undefined;
    });
    assert.deepEqual(await approvals(), ["987654321"]);
    const deployed = String(resource(plan, "alice-config").revealedInputs["stdin"]);
    assert.equal(readFileSync(join(stateRoot, "users", "alice", "openclaw.json"), "utf8"), deployed, "the stack's config stays in place");
    assert.match(restore.stderr, /the previous state is kept at .*\/users\/alice\.before-restore-/);
  });
});

describe("moving a tenant to another host", () => {
  it("stops the old gateway, copies its state before the new one starts, and keeps the old copy", async () => {
    const stateRoot2 = join(work, "state2");
    const next = planVariant((doc) => {
      aliceMoved(doc);
      doc.setIn(["config", "clawfleet:tenants", "dave", "purge"], doc.createNode({ confirm: "dave" }));
      doc.setIn(["config", "clawfleet:hosts", "local2"], doc.createNode({ stateRoot: stateRoot2, ports: { from: 18200, to: 18299 } }));
      doc.setIn(["config", "clawfleet:tenants", "alice", "host"], "local2");
      doc.setIn(["config", "clawfleet:tenants", "alice", "port"], 18202);
      doc.setIn(["config", "clawfleet:tenants", "alice", "movedFrom"], "local");
    });
    const events = await applier.apply(next);
    plan = next;
    assert.deepEqual(actionsFor(events, "alice-move"), ["create"]);
    assert.deepEqual(actionsFor(events, "alice-container"), ["replace"]);
    assert.deepEqual(actionsFor(events, "alice-serve"), ["delete"], "local2 does not publish on the tailnet");
    const rows = await dockerExec("clawfleet-tenant-alice", sql("SELECT entry FROM channel_pairing_allow_entries ORDER BY entry"));
    assert.match(rows.output, /"entry":"987654321"/);
    assert.equal(await (await fetch("http://127.0.0.1:18202/healthz")).text(), '{"ok":true,"status":"live"}');
    assert.ok(existsSync(join(stateRoot, "users", "alice", "state", "openclaw.sqlite")), "the old copy is kept");
    const serve = JSON.parse(readFileSync(join(fakeTailscaleDir, "serve.json"), "utf8")) as { TCP: Record<string, unknown> };
    assert.deepEqual(Object.keys(serve.TCP), ["18789"]);
  });
});

describe("graceful shutdown", () => {
  it("stops every replaced or removed gateway on SIGTERM, cleanly and well inside the stop timeout", () => {
    assert.ok(applier.stops.length >= 2, "a replacement and a removal stopped containers");
    for (const stop of applier.stops) {
      assert.equal(stop.exitCode, 0, `${stop.name} exit code`);
      assert.ok(stop.seconds < 10, `${stop.name} took ${stop.seconds} s`);
      log(`${stop.name} stopped in ${stop.seconds.toFixed(2)} s`);
    }
  });
});

describe("host commands", () => {
  it("serve add is idempotent and remove deletes exactly that entry, tolerating one already gone", async () => {
    const dir = mkdtempSync(join(work, "serve-"));
    const env = { ...commandEnv, FAKE_TAILSCALE_DIR: dir };
    for (let i = 0; i < 2; i += 1) assert.equal((await runShell(renderServeAdd({ httpsPort: 19001, localPort: 19001 }), undefined, env)).code, 0);
    assert.equal((await runShell(renderServeAdd({ httpsPort: 19002, localPort: 19002 }), undefined, env)).code, 0);
    const state = () => Object.keys((JSON.parse(readFileSync(join(dir, "serve.json"), "utf8")) as { TCP?: Record<string, unknown> }).TCP ?? {});
    assert.deepEqual(state().sort(), ["19001", "19002"]);
    assert.equal((await runShell(renderServeRemove({ httpsPort: 19001, localPort: 19001, gateway: "tenant/serve-test" }), undefined, env)).code, 0);
    assert.deepEqual(state(), ["19002"]);
    const again = await runShell(renderServeRemove({ httpsPort: 19001, localPort: 19001, gateway: "tenant/serve-test" }), undefined, env);
    assert.equal(again.code, 0, again.stderr);
  });

  it("serializes concurrent serve writes on one host instead of failing", async () => {
    const dir = mkdtempSync(join(work, "serve-"));
    const env = { ...commandEnv, FAKE_TAILSCALE_DIR: dir, FAKE_TAILSCALE_WRITE_DELAY_MS: "300" };
    const results = await Promise.all(
      [19011, 19012, 19013, 19014].map((port) => runShell(renderServeAdd({ httpsPort: port, localPort: port }), undefined, env)),
    );
    assert.deepEqual(
      results.map((r) => r.code),
      [0, 0, 0, 0],
      results.map((r) => r.stderr).join("\n"),
    );
  });

  it("passes shellcheck, every script the program generates", () => {
    const scripts = plan.flatMap((r) => ["create", "delete"].map((key) => r.revealedInputs[key]).filter((s): s is string => typeof s === "string"));
    assert.ok(scripts.length >= 10, `only ${scripts.length} scripts`);
    const dir = mkdtempSync(join(work, "shellcheck-"));
    const files = scripts.map((script, index) => {
      const file = join(dir, `script-${index}.sh`);
      writeFileSync(file, `#!/bin/sh\n${script}\n`);
      return file;
    });
    const result = spawnSync("shellcheck", ["--shell=sh", ...files], { encoding: "utf8" });
    assert.equal(result.status, 0, result.stdout);
  });

  it("keeps a hostile value a literal: the schema rejects it, and the scripts quote it anyway", async () => {
    assert.throws(
      () =>
        parseFleet(
          "attack.yaml",
          readStackFile(
            "attack.yaml",
            'config:\n  clawfleet:image: a/b:1\n  clawfleet:hosts: { h: { stateRoot: /srv/x, ports: { from: 20000, to: 20010 } } }\n  clawfleet:tenants: { "a;touch /tmp/pwned": { tier: dedicated, host: h } }\n',
          ),
        ),
      (error: unknown) =>
        error instanceof DeclarationError &&
        error.lines.some((l) => l.includes('tenants["a;touch /tmp/pwned"]: "a;touch /tmp/pwned" is not a valid tenant id')),
    );
    const marker = join(work, "pwned");
    const hostile = join(work, `x'$(touch ${marker})'`);
    mkdirSync(hostile, { recursive: true });
    const result = await runShell(renderWriteFile({ dir: hostile, file: "openclaw.json", uid: 1000 }), "{}\n", commandEnv);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(existsSync(marker), false);
    assert.equal(readFileSync(join(hostile, "openclaw.json"), "utf8"), "{}\n");
  });
});

describe("teardown", () => {
  it("leaves no container, network or temp file behind", async () => {
    await teardown();
    for (const name of ["clawfleet-tenant-alice", "clawfleet-tenant-dave", "clawfleet-shared-gateway"]) assert.equal(await inspectContainer(name), undefined);
    const networks = await dockerApi<{ Name: string }[]>("GET", "/networks");
    assert.deepEqual(
      networks.map((n) => n.Name).filter((n) => n.startsWith("clawfleet-")),
      [],
    );
    assert.equal(existsSync(work), false);
  });
});
