import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseDocument, type Document } from "yaml";
import type { PlannedResource } from "../../cli/mock-run";
import { renderServeAdd, renderServeRemove, renderWriteFile } from "../../runtimes/docker/commands";
import { hostLabel } from "../../runtimes/docker/names";
import { stopTimeoutSeconds } from "../../names";
import { DeclarationError } from "../../declaration/errors";
import { parseFleet } from "../../declaration/parse";
import { readStackFile } from "../../declaration/stack-file";
import { dockerApi, dockerExec, inspectContainer, removeHostObjects, watchStops, type ContainerStop, type DockerEndpoint } from "./docker-api";
import { EngineDeployer } from "./engine/deployer";
import { gatewayImage } from "./gateway-image";
import { crashSshHostDocker, startSshAgent, startSshHost, stopSshHost, watchOutageInsideHost, type SshAgent, type SshHost } from "./ssh-host";
import { serveEntries, startControl, startLocalNode, startSshHostNode, type Control, type LocalNode, type TailscaleNode } from "./real-tailscale";
import { runShell } from "./standin/command-provider";
import { opsFor } from "./standin/deployer";
import type { StepEvent } from "./standin/engine";
import { addApproval, approvals } from "./pairing-state";
import { fetchText, poll } from "./wait";

/*
 * End to end: the dev stack deployed with the real Pulumi engine and the real docker provider
 * plugin (./engine/deployer.ts; command and random are the stand-ins served as plugins) onto
 * real Docker engines with the real OpenClaw gateway image, the host commands run in a real
 * shell (locally, or over SSH on the second host), each host with its own real tailscaled logged
 * in to Tailscale's test control server (./real-tailscale.ts; Serve's configuration is real, no
 * certificate is issued). Every deploy is followed by Pulumi's own idempotence check: `pulumi
 * preview --expect-no-changes` and `pulumi refresh --expect-no-changes`. What the program
 * registers is read from a mock run of the same stack file (its scripts, mounts and ports), not
 * re-typed here.
 */

const repo = resolve(__dirname, "..", "..");
const work = mkdtempSync(join(tmpdir(), "clawfleet-e2e-"));
const stateRoot = join(work, "state");
const remoteStateRoot = join(work, "remote-state");
const log = (line: string) => process.stderr.write(`e2e: ${line}\n`);
const openclaw = ["node", "/app/node_modules/openclaw/openclaw.mjs"];
const sharedLocal = "clawfleet-shared-local";

let image = "";
let remote: SshHost;
let agent: SshAgent;
let deployer: EngineDeployer;
let commandEnv: NodeJS.ProcessEnv;
/** The declaration as it stands; each phase edits it and deploys. */
let declaration: Document;
/** The program's resources for the declaration as it stands, from a mock run (made when first asked for). */
let planned: PlannedResource[] | undefined;
/** Every gateway stop on this machine's Docker while the file runs (SIGTERM to exit). */
let stopWatch: { stops: ContainerStop[]; close: () => void } | undefined;
let remoteDocker: DockerEndpoint;
let tailnet: Control | undefined;
/** This machine's tailscaled and the SSH host's own. */
let localTs: LocalNode;
let remoteTs: TailscaleNode;

/** The program's resources for the declaration as it stands (stack `dev`, mock runtime, its own process). */
function plan(): PlannedResource[] {
  if (planned !== undefined) return planned;
  const dir = mkdtempSync(join(work, "stack-"));
  const file = join(dir, "Pulumi.dev.yaml");
  writeFileSync(file, declaration.toString());
  const out = join(dir, "plan.json");
  execFileSync(process.execPath, ["--import", "tsx", join(repo, "test", "e2e", "plan-revealed.ts"), file, out], { cwd: repo, stdio: "inherit" });
  planned = JSON.parse(readFileSync(out, "utf8")) as PlannedResource[];
  return planned;
}

/** Edits the declaration and deploys it with `pulumi up` (then preview and refresh find nothing to change). */
async function deploy(edit: (doc: Document) => void = () => undefined): Promise<StepEvent[]> {
  edit(declaration);
  planned = undefined;
  deployer.configure(declaration.toString());
  return deployer.deploy();
}

function resource(name: string): PlannedResource {
  const found = plan().find((r) => r.name === name);
  assert.ok(found, `no resource ${name}`);
  return found;
}

/** The token in the gateway's environment, where the engine put the random one (`container` is its resource's name). */
async function tokenOf(container: string): Promise<string> {
  const info = await inspectContainer(String(resource(container).revealedInputs["name"]));
  const entry = ((info?.Config["Env"] as string[] | undefined) ?? []).find((e) => e.startsWith("OPENCLAW_GATEWAY_TOKEN="));
  assert.ok(entry, `no token in ${container}'s environment`);
  return entry.slice("OPENCLAW_GATEWAY_TOKEN=".length);
}

/** /healthz as the gateway answers it from inside its container (works on either host). */
async function healthInside(container: string, endpoint?: DockerEndpoint): Promise<string> {
  const probe = await dockerExec(container, ["node", "-e", "fetch('http://127.0.0.1:18789/healthz').then(r=>r.text()).then(t=>console.log(t))"], [], endpoint);
  return probe.output.trim();
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

/** Serve entries `{ httpsPort: target }` as the host's tailscaled reports them (`tailscale serve status --json`). */
function served(node: TailscaleNode): Record<string, string> {
  return serveEntries(node.serveConfig());
}

/** Removes this file's containers and networks on this machine (the SSH host goes with its namespace). */
/** The hosts of this file's stack on this machine's Docker. */
const ownHosts = ["local", "main"];

async function teardown(): Promise<void> {
  await removeHostObjects(ownHosts, ["clawfleet-preflight-local", "clawfleet-preflight-main"]);
}

before(async () => {
  image = gatewayImage(repo, log, { testTools: true });
  log(`image ${image}`);
  log("starting the second host, reached only over SSH (scripts/ssh-test-host.sh)");
  // Its daemon has default log options, merged into every container's: each deploy there must still converge.
  process.env["CLAWFLEET_GW2_LOG_OPTS"] = "1";
  remote = startSshHost(join(work, "gw2"), image);
  agent = startSshAgent(join(work, "gw2"), remote.identityFile);
  remoteDocker = { connect: () => createConnection(remote.dockerSocket) };
  log("starting Tailscale's test control server and a real tailscaled on each host");
  tailnet = await startControl(join(work, "tailscale"));
  localTs = await startLocalNode(tailnet, "gw");
  remoteTs = await startSshHostNode(tailnet, remote, "gw2");
  commandEnv = { ...process.env, ...agent.env, PATH: `${localTs.pathDir}:${process.env["PATH"] ?? ""}` };
  deployer = await EngineDeployer.real({
    repo,
    work: join(work, "engine"),
    stack: "dev",
    env: commandEnv,
    progress: log,
  });
  declaration = parseDocument(readFileSync(join(repo, "stacks", "Pulumi.dev.yaml"), "utf8"));
  declaration.setIn(["config", "clawfleet:image"], image);
  declaration.setIn(["config", "clawfleet:hosts", "local", "stateRoot"], stateRoot);
  await teardown().catch(() => undefined);
  const gatewayName = /^clawfleet-(tenant|shared)-/;
  // This file's gateways only: another file's may stop on this machine meanwhile.
  const watch = watchStops((name, labels) => gatewayName.test(name) && ownHosts.includes(labels[hostLabel] ?? ""));
  await watch.ready;
  stopWatch = watch;
  log("deploying the dev stack: 3 gateways boot, two lanes at a time");
  await deploy();
});

after(async () => {
  stopWatch?.close();
  await teardown();
  agent?.stop();
  await remoteTs?.stop();
  await localTs?.stop();
  await tailnet?.stop();
  if (remote !== undefined) stopSshHost(remote.workdir);
  rmSync(work, { recursive: true, force: true });
});

describe("the dev stack on real Docker", () => {
  const gateways = [
    { container: "alice-container", name: "clawfleet-tenant-alice", port: 18101 },
    { container: "dave-container", name: "clawfleet-tenant-dave", port: 0 },
    { container: "local-shared-container", name: sharedLocal, port: 18789 },
  ];
  before(() => {
    const dave = gateways[1];
    assert.ok(dave);
    dave.port = (resource("dave-container").revealedInputs["ports"] as { external: number }[])[0]?.external ?? 0;
  });

  it("creates every container from the program's inputs, hardened as declared", async () => {
    for (const gateway of gateways) {
      const info = await inspectContainer(gateway.name);
      assert.ok(info, `${gateway.name} exists`);
      assert.equal(info.State.Health?.Status, "healthy");
      assert.equal(info.Config["User"], "1000:1000");
      assert.equal(info.Config["Hostname"], gateway.name, "a hostname of its own");
      assert.equal(info.HostConfig["ReadonlyRootfs"], true);
      assert.deepEqual(info.HostConfig["CapDrop"], ["ALL"]);
      assert.deepEqual(info.HostConfig["SecurityOpt"], ["no-new-privileges:true"]);
      assert.equal(info.HostConfig["Init"], true);
      assert.equal(info.HostConfig["PidsLimit"], gateway.name === sharedLocal ? 1024 : 512, "pids limit set by the limits command");
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
        headers: { ...headers, authorization: `Bearer ${await tokenOf(container)}` },
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
      const mounts = resource(container).revealedInputs["mounts"] as { source: string }[];
      const file = join(mounts[0]?.source ?? "", "openclaw.json");
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.equal(statSync(file).uid, 1000);
      assert.ok(!readFileSync(file, "utf8").includes(await tokenOf(container)));
      const validate = await dockerExec(name, [...openclaw, "config", "validate"]);
      assert.equal(validate.code, 0, `${name}: ${validate.output}`);
    }
  });

  it("runs the shared tenants as agents of the shared gateway, with their bindings", async () => {
    const agents = await dockerExec(sharedLocal, [...openclaw, "agents", "list", "--json", "--bindings"]);
    assert.equal(agents.code, 0, agents.output);
    const listed = JSON.parse(agents.output.slice(agents.output.indexOf("["))) as { id: string }[];
    assert.deepEqual(listed.map((a) => a.id).sort(), ["bob", "carol"]);
    const bindings = await dockerExec(sharedLocal, [...openclaw, "agents", "bindings", "--json"]);
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

  it("publishes every gateway with Tailscale Serve on its own port, never Funnel", () => {
    const config = localTs.serveConfig();
    assert.deepEqual(serveEntries(config), Object.fromEntries(gateways.map((g) => [String(g.port), `http://127.0.0.1:${g.port}`])));
    assert.deepEqual(Object.keys(config.TCP ?? {}).sort(), gateways.map((g) => String(g.port)).sort());
    assert.ok(
      Object.values(config.TCP ?? {}).every((tcp) => tcp.HTTPS === true),
      "HTTPS on every port",
    );
    assert.deepEqual(config.AllowFunnel ?? {}, {}, "nothing published to the internet");
  });
});

describe("re-deploys", () => {
  it("applies a config-only change in place: same container, same start, hot reload", async () => {
    const before = await inspectContainer("clawfleet-tenant-alice");
    assert.ok(before);
    const events = await deploy((doc) => doc.setIn(["config", "clawfleet:tenants", "alice", "model"], "anthropic/claude-opus-4-1"));
    assert.deepEqual(opsFor(events, "alice-config"), ["update"]);
    assert.deepEqual(opsFor(events, "alice-container"), ["same"]);
    assert.deepEqual(opsFor(events, "dave-config"), ["same"]);
    const afterChange = await inspectContainer("clawfleet-tenant-alice");
    assert.equal(afterChange?.Id, before.Id);
    assert.equal(afterChange?.State.StartedAt, before.State.StartedAt);
    await poll("the hot reload line in alice's log", 30, async () => {
      const logs = await dockerApi<string>("GET", "/containers/clawfleet-tenant-alice/logs?stdout=true&stderr=true", undefined, { text: true });
      return logs.includes("config hot reload applied") ? true : undefined;
    });
  });

  it("changes memory in place, without a restart", async () => {
    const before = await inspectContainer("clawfleet-tenant-alice");
    const events = await deploy((doc) => doc.setIn(["config", "clawfleet:tenants", "alice", "memoryMb"], 1792));
    assert.deepEqual(opsFor(events, "alice-container"), ["update"]);
    const after = await inspectContainer("clawfleet-tenant-alice");
    assert.equal(after?.Id, before?.Id);
    assert.equal(after?.State.StartedAt, before?.State.StartedAt);
    assert.equal(after?.HostConfig["Memory"], 1792 * 1024 * 1024);
  });

  it("keeps run-time pairing approvals across a port change that replaces the container", async () => {
    await addApproval("clawfleet-tenant-alice", "987654321");
    const before = await inspectContainer("clawfleet-tenant-alice");
    const events = await deploy((doc) => doc.setIn(["config", "clawfleet:tenants", "alice", "port"], 18102));
    assert.deepEqual(opsFor(events, "alice-container"), ["replace"]);
    assert.deepEqual(opsFor(events, "alice-ready"), ["replace"], "the gate checks the new container");
    assert.deepEqual(opsFor(events, "alice-serve"), ["replace"]);
    assert.deepEqual(opsFor(events, "alice-state"), ["same"]);
    const after = await inspectContainer("clawfleet-tenant-alice");
    assert.notEqual(after?.Id, before?.Id);
    assert.equal(await (await fetch("http://127.0.0.1:18102/healthz")).text(), '{"ok":true,"status":"live"}');
    assert.deepEqual(await approvals("clawfleet-tenant-alice"), ["987654321"]);
    const serve = served(localTs);
    assert.ok("18102" in serve && !("18101" in serve), "serve entry moved with the port");
  });

  it("removes a tenant's container and serve entry but keeps its state directory", async () => {
    const davePort = (resource("dave-container").revealedInputs["ports"] as { external: number }[])[0]?.external;
    const events = await deploy((doc) => doc.deleteIn(["config", "clawfleet:tenants", "dave"]));
    assert.deepEqual(opsFor(events, "dave-container"), ["delete"]);
    assert.deepEqual(opsFor(events, "dave-state"), ["retain"]);
    assert.deepEqual(opsFor(events, "alice-container"), ["same"]);
    assert.equal(await inspectContainer("clawfleet-tenant-dave"), undefined);
    assert.ok(existsSync(join(stateRoot, "users", "dave", "openclaw.json")));
    assert.ok(existsSync(join(stateRoot, "users", "dave", "state", "openclaw.sqlite")));
    const serve = served(localTs);
    assert.ok(!(String(davePort) in serve));
    assert.ok("18102" in serve && "18789" in serve, "other entries stay");
  });
});

describe("purge", () => {
  it("deletes a removed tenant's state only when the declaration confirms it", async () => {
    assert.ok(existsSync(join(stateRoot, "users", "dave")), "kept after removal");
    const events = await deploy((doc) =>
      doc.setIn(["config", "clawfleet:tenants", "dave"], doc.createNode({ tier: "dedicated", host: "local", purge: { confirm: "dave" } })),
    );
    assert.deepEqual(opsFor(events, "dave-purge"), ["create"]);
    assert.deepEqual(opsFor(events, "alice-container"), ["same"]);
    assert.equal(existsSync(join(stateRoot, "users", "dave")), false);
    assert.ok(existsSync(join(stateRoot, "users", "alice", "state", "openclaw.sqlite")), "other tenants' state untouched");
    await deploy((doc) => doc.deleteIn(["config", "clawfleet:tenants", "dave"]));
  });
});

describe("backup and restore", () => {
  it("snapshots a running gateway with its own tool and restores it to that moment", async () => {
    const backups = join(work, "backups");
    const backup = spawnSync("bash", [join(repo, "scripts", "backup-gateway.sh"), "clawfleet-tenant-alice", backups], { encoding: "utf8" });
    assert.equal(backup.status, 0, backup.stderr);
    const archive = backup.stdout.trim();
    assert.equal(statSync(archive).mode & 0o777, 0o600);
    assert.equal(statSync(backups).mode & 0o777, 0o700);
    assert.deepEqual(await approvals("clawfleet-tenant-alice"), ["987654321"]);
    await addApproval("clawfleet-tenant-alice", "after-backup");
    assert.deepEqual(await approvals("clawfleet-tenant-alice"), ["987654321", "after-backup"]);

    const restore = spawnSync("bash", [join(repo, "scripts", "restore-gateway.sh"), "clawfleet-tenant-alice", archive], { encoding: "utf8" });
    assert.equal(restore.status, 0, restore.stderr);
    await poll("alice ready after the restore", 90, async () => {
      const body = (await (await fetch("http://127.0.0.1:18102/readyz")).json()) as { ready: boolean };
      return body.ready ? true : undefined;
    });
    assert.deepEqual(await approvals("clawfleet-tenant-alice"), ["987654321"]);
    const deployed = String(resource("alice-config").revealedInputs["stdin"]);
    assert.equal(readFileSync(join(stateRoot, "users", "alice", "openclaw.json"), "utf8"), deployed, "the stack's config stays in place");
    assert.match(restore.stderr, /the previous state is kept at .*\/users\/alice\.before-restore-/);
    const events = await deploy();
    assert.deepEqual(
      events.filter((e) => e.op !== "same").map((e) => e.name),
      [],
      "a restore leaves nothing for the next deploy to change",
    );
  });
});

describe("a second host reached only over SSH", () => {
  const remoteHost = () => ({
    ssh: { host: remote.address, user: remote.user, port: remote.port, hostKey: remote.hostKey },
    stateRoot: remoteStateRoot,
    ports: { from: 18300, to: 18399 },
    tailscale: { serve: true, dnsName: "gw2.example-tailnet.ts.net" },
  });

  it("moves a tenant there in one deploy: the old gateway stops, its state and pairings arrive, the new one is healthy", async () => {
    const events = await deploy((doc) => {
      doc.setIn(["config", "clawfleet:hosts", "remote"], doc.createNode(remoteHost()));
      doc.setIn(["config", "clawfleet:tenants", "alice", "host"], "remote");
      doc.setIn(["config", "clawfleet:tenants", "alice", "port"], 18302);
      doc.setIn(["config", "clawfleet:tenants", "alice", "movedFrom"], "local");
    });
    assert.deepEqual(opsFor(events, "alice-move"), ["create"]);
    assert.deepEqual(opsFor(events, "alice-container"), ["replace"]);
    assert.deepEqual(opsFor(events, "alice-network"), ["replace"], "the network follows to the new host");
    assert.equal(await inspectContainer("clawfleet-tenant-alice"), undefined, "nothing left on the old host");
    const info = await inspectContainer("clawfleet-tenant-alice", remoteDocker);
    assert.equal(info?.State.Health?.Status, "healthy");
    assert.deepEqual(Object.keys(info?.NetworkSettings.Networks ?? {}), ["clawfleet-tenant-alice"]);
    assert.equal(await healthInside("clawfleet-tenant-alice", remoteDocker), '{"ok":true,"status":"live"}');
    assert.deepEqual(await approvals("clawfleet-tenant-alice", remoteDocker), ["987654321"]);
    assert.deepEqual(served(remoteTs), { "18302": "http://127.0.0.1:18302" }, "published by the remote host's tailscale");
    assert.ok(!("18102" in served(localTs)), "and no longer here");
    const aside = readdirSync(join(stateRoot, "users")).filter((name) => name.startsWith("alice.moved-"));
    assert.equal(aside.length, 1, "the old copy is kept aside");
  });

  it("after a power loss (its Docker side and gateways killed at once, /run emptied) and dockerd started again, is ready within a normal start plus 10 s, pairings intact", async () => {
    const alice = "clawfleet-tenant-alice";
    const before = await inspectContainer(alice, remoteDocker);
    assert.ok(before);
    const clean = watchOutageInsideHost(18302, 300);
    await clean.watching;
    const restarted = Date.now();
    await dockerApi("POST", `/containers/${alice}/restart?t=${stopTimeoutSeconds}`, undefined, { endpoint: remoteDocker });
    const normalStart = ((await clean.outage).readyAt - restarted) / 1000;
    log(`alice on the SSH host: a clean restart is ready after ${normalStart.toFixed(1)} s`);

    const crash = watchOutageInsideHost(18302, 600);
    await crash.watching;
    const crashed = Date.now();
    crashSshHostDocker(remote.workdir);
    const seconds = ((await crash.outage).readyAt - crashed) / 1000;
    log(`alice on the SSH host: power loss and dockerd started again -> ready in ${seconds.toFixed(1)} s`);
    assert.ok(seconds <= normalStart + 10, `ready ${seconds.toFixed(1)} s after the crash; a clean restart took ${normalStart.toFixed(1)} s`);
    const after = await inspectContainer(alice, remoteDocker);
    assert.equal(after?.Id, before.Id, "the same container, started again by its restart policy");
    assert.deepEqual(await approvals(alice, remoteDocker), ["987654321"]);
    await poll("alice healthy again", 300, async () => ((await inspectContainer(alice, remoteDocker))?.State.Health?.Status === "healthy" ? true : undefined));
  });

  it("moves it back in one deploy, with its pairings", async () => {
    await addApproval("clawfleet-tenant-alice", "added-on-remote", remoteDocker);
    const events = await deploy((doc) => {
      doc.setIn(["config", "clawfleet:tenants", "alice", "host"], "local");
      doc.setIn(["config", "clawfleet:tenants", "alice", "port"], 18102);
      doc.setIn(["config", "clawfleet:tenants", "alice", "movedFrom"], "remote");
    });
    assert.deepEqual(opsFor(events, "alice-container"), ["replace"]);
    assert.equal(await inspectContainer("clawfleet-tenant-alice", remoteDocker), undefined);
    assert.deepEqual(await approvals("clawfleet-tenant-alice"), ["987654321", "added-on-remote"]);
    assert.equal(await (await fetch("http://127.0.0.1:18102/healthz")).text(), '{"ok":true,"status":"live"}');
    assert.deepEqual(served(remoteTs), {});
    await deploy((doc) => doc.deleteIn(["config", "clawfleet:tenants", "alice", "movedFrom"]));
  });
});

describe("renames and reused ports, each in one deploy", () => {
  it("renames a tenant keeping its pinned port: no collision, pairings carried over", async () => {
    const events = await deploy((doc) => {
      const alice = doc.getIn(["config", "clawfleet:tenants", "alice"]);
      doc.deleteIn(["config", "clawfleet:tenants", "alice"]);
      doc.setIn(["config", "clawfleet:tenants", "alicia"], alice);
      doc.setIn(["config", "clawfleet:tenants", "alicia", "renamedFrom"], "alice");
    });
    assert.deepEqual(opsFor(events, "alicia-claim"), ["create"]);
    assert.deepEqual(opsFor(events, "alicia-container"), ["create"]);
    assert.deepEqual(opsFor(events, "alice-container"), ["delete"]);
    assert.equal(await inspectContainer("clawfleet-tenant-alice"), undefined);
    assert.deepEqual(await approvals("clawfleet-tenant-alicia"), ["987654321", "added-on-remote"]);
    assert.deepEqual(served(localTs)["18102"], "http://127.0.0.1:18102", "the old entry's delete left the new owner's entry");
    assert.equal(await (await fetch("http://127.0.0.1:18102/healthz")).text(), '{"ok":true,"status":"live"}');
    await deploy((doc) => doc.deleteIn(["config", "clawfleet:tenants", "alicia", "renamedFrom"]));
  });

  it("gives a removed tenant's port to a new tenant, and re-adds the Serve entry on it", async () => {
    const events = await deploy((doc) => {
      doc.deleteIn(["config", "clawfleet:tenants", "alicia"]);
      doc.setIn(["config", "clawfleet:tenants", "erin"], doc.createNode({ tier: "dedicated", host: "local", port: 18102 }));
    });
    assert.deepEqual(opsFor(events, "erin-container"), ["create"]);
    assert.deepEqual(opsFor(events, "alicia-serve"), ["delete"]);
    const info = await inspectContainer("clawfleet-tenant-erin");
    assert.equal(info?.State.Health?.Status, "healthy");
    assert.equal(served(localTs)["18102"], "http://127.0.0.1:18102");
    assert.ok(existsSync(join(stateRoot, "users", "alicia", "state", "openclaw.sqlite")), "the removed tenant's state is kept");
  });

  it("renames a host with a shared gateway: the new one takes the port, the shared state and its pairings stay", async () => {
    await addApproval(sharedLocal, "shared-approval");
    const events = await deploy((doc) => {
      const host = doc.getIn(["config", "clawfleet:hosts", "local"]);
      doc.deleteIn(["config", "clawfleet:hosts", "local"]);
      doc.setIn(["config", "clawfleet:hosts", "main"], host);
      for (const tenant of ["bob", "carol", "erin"]) doc.setIn(["config", "clawfleet:tenants", tenant, "host"], "main");
    });
    assert.deepEqual(opsFor(events, "main-shared-container"), ["create"]);
    assert.deepEqual(opsFor(events, "local-shared-container"), ["delete"]);
    assert.deepEqual(opsFor(events, "erin-container"), ["replace"], "the host label moves with the host's name");
    assert.equal(await inspectContainer(sharedLocal), undefined);
    assert.equal(await (await fetch("http://127.0.0.1:18789/healthz")).text(), '{"ok":true,"status":"live"}');
    assert.deepEqual(await approvals("clawfleet-shared-main"), ["shared-approval"]);
    assert.equal(served(localTs)["18789"], "http://127.0.0.1:18789");
  });
});

describe("crash recovery: back to ready within a normal start plus 10 s, pairings intact", () => {
  const erin = "clawfleet-tenant-erin";
  let normalStart = 0;

  /** Seconds from `since` until /readyz says ready (polled every 100 ms). */
  async function readyAfter(since: number): Promise<number> {
    await poll("erin ready", 300, async () => {
      const body = JSON.parse(await fetchText("http://127.0.0.1:18102/readyz", 2000)) as { ready: boolean };
      return body.ready ? true : undefined;
    });
    return (Date.now() - since) / 1000;
  }

  before(async () => {
    await addApproval(erin, "before-crash");
    const started = Date.now();
    await dockerApi("POST", `/containers/${erin}/restart?t=30`);
    normalStart = await readyAfter(started);
    log(`erin: a clean restart is ready after ${normalStart.toFixed(1)} s`);
  });

  it("after SIGKILL, restarts in place (restart policy) and reclaims its state lease", async () => {
    const info = await inspectContainer(erin);
    assert.ok(info);
    const killed = Date.now();
    process.kill(info.State.Pid, "SIGKILL");
    await poll("erin restarted by Docker", 60, async () => ((await inspectContainer(erin))?.RestartCount ?? 0) > info.RestartCount || undefined);
    const seconds = await readyAfter(killed);
    log(`erin: SIGKILL -> ready in ${seconds.toFixed(1)} s`);
    assert.ok(seconds <= normalStart + 10, `${seconds} s after SIGKILL, normal start ${normalStart} s`);
    assert.deepEqual(await approvals(erin), ["before-crash"]);
  });

  it("after SIGKILL, a replacement (same hostname) reclaims the lease instead of waiting for it to expire", async () => {
    await dockerApi("POST", `/containers/${erin}/kill?signal=SIGKILL`);
    const events = await deploy((doc) => doc.setIn(["config", "clawfleet:tenants", "erin", "cpus"], 1.5));
    assert.deepEqual(opsFor(events, "erin-container"), ["replace"]);
    const info = await inspectContainer(erin);
    assert.equal(info?.State.Health?.Status, "healthy");
    // From the gateway's own "ready" log line: the deploy returns only after preview and refresh have checked it.
    const logs = await dockerApi<string>("GET", `/containers/${erin}/logs?stdout=true&stderr=true`, undefined, { text: true });
    const readyAt = /(\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:\d\d)) \[gateway\] ready/.exec(logs)?.[1];
    assert.ok(readyAt !== undefined, `erin's log has its ready line:\n${logs.slice(-2000)}`);
    const seconds = (Date.parse(readyAt) - Date.parse(info?.State.StartedAt ?? "")) / 1000;
    log(`erin: replacement after SIGKILL -> ready ${seconds.toFixed(1)} s after its start`);
    assert.ok(seconds <= normalStart + 10, `${seconds} s after the replacement started, normal start ${normalStart} s`);
    assert.deepEqual(await approvals(erin), ["before-crash"]);
  });

  it("after an OOM kill inside the container, the gateway is ready again", async () => {
    const hog = await dockerExec(erin, ["node", "-e", "const a=[];for(;;)a.push(Buffer.alloc(64<<20,1))"]);
    assert.equal(hog.code, 137, `the allocating process is OOM-killed: ${hog.output.slice(0, 200)}`);
    const seconds = await readyAfter(Date.now());
    assert.ok(seconds <= normalStart + 10);
    assert.deepEqual(await approvals(erin), ["before-crash"]);
  });
});

describe("image changes", () => {
  const erin = "clawfleet-tenant-erin";
  const shared = "clawfleet-shared-main";
  const idsOf = async () => Promise.all([erin, shared].map(async (name) => (await inspectContainer(name))?.Id));

  before(async () => {
    // The SSH host has no tenants left; without it, new tags need loading on one daemon only.
    await deploy((doc) => doc.deleteIn(["config", "clawfleet:hosts", "remote"]));
  });

  it("a broken image fails its preflight on a copy of the canary's state and changes no tenant", async () => {
    const broken = "clawfleet-e2e/broken-gateway:1";
    const build = spawnSync("docker", ["build", "-q", "-t", broken, "-"], {
      input: `FROM ${image}\nENTRYPOINT ["node", "-e", "console.error('broken on purpose'); process.exit(3)"]\nCMD []\n`,
      encoding: "utf8",
      env: { ...process.env, DOCKER_BUILDKIT: "0" },
    });
    assert.equal(build.status, 0, build.stderr);
    const before = await idsOf();
    await assert.rejects(
      deploy((doc) => doc.setIn(["config", "clawfleet:image"], broken)),
      (error: unknown) =>
        error instanceof Error &&
        /host "?'?main'?"?: the new image .* did not start on a copy of a tenant's state .*no gateway was changed/.test(error.message),
    );
    assert.deepEqual(await idsOf(), before, "no container was replaced");
    assert.equal(existsSync(join(stateRoot, "backups")), false, "no backup was needed");
    const events = await deploy((doc) => doc.setIn(["config", "clawfleet:image"], image));
    assert.deepEqual(
      events.filter((e) => e.op !== "same").map((e) => `${e.op} ${e.name}`),
      ["update main-prepare", "replace main-readback"],
      "back on the running image, only the host check (which names the image) and the read-back (made from the image) run again",
    );
  });
});

describe("graceful shutdown", () => {
  it("stops every replaced or removed gateway on SIGTERM, cleanly and before the stop timeout sends SIGKILL", () => {
    const stops = stopWatch?.stops ?? [];
    assert.ok(stops.length >= 4, `replacements and removals stopped containers: ${JSON.stringify(stops)}`);
    for (const stop of stops) {
      // Exit code 0 is the gateway's own clean exit on SIGTERM; Docker's SIGKILL at the timeout would give 137.
      assert.equal(stop.exitCode, 0, `${stop.name} exit code`);
      assert.ok(stop.seconds < stopTimeoutSeconds, `${stop.name} took ${stop.seconds} s, past the ${stopTimeoutSeconds} s stop timeout`);
      log(`${stop.name} stopped in ${stop.seconds.toFixed(2)} s`);
    }
  });
});

describe("host commands", () => {
  it("serve add is idempotent and remove deletes exactly that entry, tolerating one already gone", async () => {
    const before = served(localTs);
    for (let i = 0; i < 2; i += 1) {
      const add = await runShell(renderServeAdd({ httpsPort: 19001, localPort: 19001 }), undefined, commandEnv);
      assert.equal(add.code, 0, add.stderr);
    }
    assert.equal((await runShell(renderServeAdd({ httpsPort: 19002, localPort: 19002 }), undefined, commandEnv)).code, 0);
    assert.deepEqual(served(localTs), { ...before, "19001": "http://127.0.0.1:19001", "19002": "http://127.0.0.1:19002" });
    const remove = renderServeRemove({ httpsPort: 19001, localPort: 19001, gateway: "tenant/serve-test" });
    assert.equal((await runShell(remove, undefined, commandEnv)).code, 0);
    assert.deepEqual(served(localTs), { ...before, "19002": "http://127.0.0.1:19002" });
    // The real CLI's answer for an entry that is gone is what the remove script tolerates.
    const gone = localTs.cli(["serve", "--https=19001", "off"]);
    assert.equal(gone.status, 1);
    assert.match(gone.stderr, /^error: failed to remove web serve: handler does not exist$/m);
    const again = await runShell(remove, undefined, commandEnv);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((await runShell(renderServeRemove({ httpsPort: 19002, localPort: 19002, gateway: "tenant/serve-test" }), undefined, commandEnv)).code, 0);
    assert.deepEqual(served(localTs), before);
  });

  it("serializes concurrent serve writes on one host instead of failing", async () => {
    const before = served(localTs);
    const ports = [19011, 19012, 19013, 19014];
    const results = await Promise.all(ports.map((port) => runShell(renderServeAdd({ httpsPort: port, localPort: port }), undefined, commandEnv)));
    assert.deepEqual(
      results.map((r) => r.code),
      [0, 0, 0, 0],
      results.map((r) => r.stderr).join("\n"),
    );
    assert.deepEqual(served(localTs), { ...before, ...Object.fromEntries(ports.map((p) => [String(p), `http://127.0.0.1:${p}`])) }, "every write arrived");
  });

  it("passes shellcheck, every script the program generates", () => {
    const scripts = plan().flatMap((r) => ["create", "delete"].map((key) => r.revealedInputs[key]).filter((s): s is string => typeof s === "string"));
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
    const result = await runShell(renderWriteFile({ dir: hostile, file: "openclaw.json", uid: 1000, stagingDir: join(work, "staging") }), "{}\n", commandEnv);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(existsSync(marker), false);
    assert.equal(readFileSync(join(hostile, "openclaw.json"), "utf8"), "{}\n");
  });
});

describe("teardown", () => {
  it("leaves no container or network of this stack behind", async () => {
    await teardown();
    for (const name of ["clawfleet-tenant-alice", "clawfleet-tenant-erin", sharedLocal, "clawfleet-shared-main"])
      assert.equal(await inspectContainer(name), undefined);
    for (const host of ownHosts) {
      const filters = encodeURIComponent(JSON.stringify({ label: [`${hostLabel}=${host}`] }));
      assert.deepEqual(await dockerApi<{ Name: string }[]>("GET", `/containers/json?all=true&filters=${filters}`), [], `containers of host ${host}`);
      assert.deepEqual(await dockerApi<{ Name: string }[]>("GET", `/networks?filters=${filters}`), [], `networks of host ${host}`);
    }
  });
});
