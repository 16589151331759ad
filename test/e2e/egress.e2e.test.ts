import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import type { PlannedResource } from "../../cli/mock-run";
import { egressChainOf, renderEgressRemove } from "../../runtimes/docker/egress";
import { dockerApi, dockerExec, inspectContainer } from "./docker-api";
import { gatewayImage } from "./gateway-image";
import { runShell } from "./standin/command-provider";
import { EngineDeployer } from "./engine/deployer";
import { fetchText, poll } from "./wait";

/*
 * The egress policy on real Docker and the real gateway: a stack of this file's own (stack egress, host eghost,
 * tenant ega, ports 18900-18949) deployed with the real Pulumi engine and the real docker provider plugin
 * (./engine/deployer.ts; preview and refresh find nothing to change after each apply). Two HTTP servers of
 * the test's own listen on private addresses inside a network namespace reached from this machine over a veth pair:
 * 10.214.0.2 (blocked) and 10.214.0.3 (declared in egress.allow). Needs root (namespaces, iptables).
 */

const repo = resolve(__dirname, "..", "..");
const work = mkdtempSync(join(tmpdir(), "clawfleet-egress-e2e-"));
const stateRoot = join(work, "state");
const stackFile = join(work, "stacks", "Pulumi.egress.yaml");
const log = (line: string) => process.stderr.write(`egress-e2e: ${line}\n`);
const ns = "clawfleet-egress";
const vethHost = "clawegr-h";
const vethNs = "clawegr-n";
const blocked = "10.214.0.2";
const allowed = "10.214.0.3";
const container = "clawfleet-tenant-ega";
const port = 18901;

let image = "";
let deployer: EngineDeployer | undefined;
let plan: PlannedResource[] = [];
let server: ChildProcess | undefined;

function stackText(tenants: string): string {
  return [
    "config:",
    `  clawfleet:image: ${image}`,
    "  clawfleet:hosts:",
    "    eghost:",
    `      stateRoot: ${stateRoot}`,
    "      ports: { from: 18900, to: 18949 }",
    "  clawfleet:tenants:",
    tenants,
    "",
  ].join("\n");
}

const withAllow = `    ega: { tier: dedicated, host: eghost, port: ${port}, egress: { allow: [${allowed}] } }`;
const withoutAllow = `    ega: { tier: dedicated, host: eghost, port: ${port} }`;

async function deploy(tenants: string): Promise<void> {
  writeFileSync(stackFile, stackText(tenants));
  const out = join(work, "plan.json");
  execFileSync(process.execPath, ["--import", "tsx", join(repo, "test", "e2e", "plan-revealed.ts"), stackFile, out], { cwd: repo, stdio: "inherit" });
  plan = JSON.parse(readFileSync(out, "utf8")) as PlannedResource[];
  assert.ok(deployer);
  deployer.configure(stackText(tenants));
  await deployer.deploy();
}

/** What a GET of `url` gives from inside the gateway: the body, or the error's code (ECONNREFUSED, EHOSTUNREACH, ...). */
async function fetchFromGateway(url: string): Promise<string> {
  const script = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(10000) }).then((r) => r.text()).then((t) => console.log("body " + t), (e) => console.log("error " + (e.cause?.code ?? e.name)))`;
  const result = await dockerExec(container, ["node", "-e", script]);
  return result.output.trim().split("\n").pop() ?? "";
}

/** The same GET from a throw-away container of the image on Docker's default bridge, which no egress rule covers. */
function fetchFromDefaultBridge(url: string): string {
  const script = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(10000) }).then((r) => r.text()).then((t) => console.log("body " + t), (e) => console.log("error " + (e.cause?.code ?? e.name)))`;
  const output = execFileSync("docker", ["run", "--rm", "--network", "bridge", "--entrypoint", "node", image, "-e", script], { encoding: "utf8" });
  return output.trim().split("\n").pop() ?? "";
}

const dnsScript = `require("node:dns").promises.lookup("deb.debian.org").then((a) => console.log("resolved " + a.family), (e) => console.log("error " + e.code))`;

function firewall(): string[] {
  return execFileSync("iptables", ["-S"], { encoding: "utf8" }).split("\n");
}

function cleanNamespace(): void {
  spawnQuiet("ip", ["netns", "del", ns]);
  spawnQuiet("ip", ["link", "del", vethHost]);
}

function spawnQuiet(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: "ignore" });
  } catch {
    // Nothing to remove.
  }
}

async function teardown(): Promise<void> {
  // The gateway's container and network share its name.
  await dockerApi("DELETE", `/containers/${container}?force=true`).catch(() => undefined);
  await dockerApi("DELETE", `/networks/${container}`).catch(() => undefined);
  // What the egress command's delete does, for a run that stopped before the tenant was removed.
  await runShell(renderEgressRemove({ network: container }), undefined, process.env);
}

before(async () => {
  image = gatewayImage(repo, log);
  mkdirSync(join(work, "stacks"), { recursive: true });

  log(`servers on ${blocked} and ${allowed} in network namespace ${ns}`);
  cleanNamespace();
  const run = (...args: string[]) => execFileSync(args[0] ?? "", args.slice(1), { stdio: "inherit" });
  run("ip", "netns", "add", ns);
  run("ip", "link", "add", vethHost, "type", "veth", "peer", "name", vethNs);
  run("ip", "link", "set", vethNs, "netns", ns);
  run("ip", "addr", "add", "10.214.0.1/24", "dev", vethHost);
  run("ip", "link", "set", vethHost, "up");
  run("ip", "netns", "exec", ns, "ip", "addr", "add", `${blocked}/24`, "dev", vethNs);
  run("ip", "netns", "exec", ns, "ip", "addr", "add", `${allowed}/24`, "dev", vethNs);
  run("ip", "netns", "exec", ns, "ip", "link", "set", vethNs, "up");
  run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up");
  run("ip", "netns", "exec", ns, "ip", "route", "add", "default", "via", "10.214.0.1");
  // Each server answers with the address it was reached on.
  server = spawn(
    "ip",
    [
      "netns",
      "exec",
      ns,
      process.execPath,
      "-e",
      `require("node:http").createServer((q, r) => r.end("server " + q.socket.localAddress)).listen(8080, "0.0.0.0", () => console.log("listening"))`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await poll("the test's servers to listen", 30, async () => ((await fetchText(`http://${allowed}:8080/`, 2000)) === `server ${allowed}` ? true : undefined));

  deployer = await EngineDeployer.real({
    repo,
    work: join(work, "engine"),
    stack: "egress",
    env: process.env,
    progress: log,
  });
  await teardown();
});

after(async () => {
  await teardown();
  server?.kill();
  cleanNamespace();
  rmSync(work, { recursive: true, force: true });
});

describe("egress policy", () => {
  it("keeps a gateway from private addresses but the allowed one, keeps its DNS and loopback port, and goes with the tenant", async () => {
    // Without any rule, a container reaches both servers: what follows is the policy, not the path.
    assert.equal(fetchFromDefaultBridge(`http://${blocked}:8080/`), `body server ${blocked}`);
    assert.equal(fetchFromDefaultBridge(`http://${allowed}:8080/`), `body server ${allowed}`);

    log("deploying tenant ega with egress.allow: [10.214.0.3]");
    await deploy(withAllow);
    assert.equal(await fetchFromGateway(`http://${blocked}:8080/`), "error EHOSTUNREACH");
    assert.equal(await fetchFromGateway(`http://${allowed}:8080/`), `body server ${allowed}`);
    assert.equal(await fetchText(`http://127.0.0.1:${port}/healthz`, 10000), '{"ok":true,"status":"live"}', "the loopback port still answers");

    // The host's resolver (here a private address) still answers the gateway through Docker's embedded DNS.
    const controlDns = execFileSync("docker", ["run", "--rm", "--network", "bridge", "--entrypoint", "node", image, "-e", dnsScript], {
      encoding: "utf8",
    }).trim();
    const gatewayDns = (await dockerExec(container, ["node", "-e", dnsScript])).output.trim();
    log(`DNS from the default bridge: ${controlDns}; from the gateway: ${gatewayDns}`);
    assert.equal(gatewayDns, controlDns);

    // The gateway's network has no IPv6 beyond link-local, so there is nothing for IPv6 rules to hold.
    const inet6 = (await dockerExec(container, ["sh", "-c", "cat /proc/net/if_inet6 2>/dev/null || true"])).output.trim();
    for (const line of inet6.split("\n").filter((l) => l !== "")) assert.match(line, /^(fe80|0{31}1)/, line);

    // Applying the rules again (what a re-run of the command does) replaces them, adds none.
    const chain = egressChainOf(container);
    const jumps = () => firewall().filter((rule) => rule.startsWith("-A DOCKER-USER") && rule.endsWith(`-j ${chain}`));
    const before = firewall().filter((rule) => rule.includes(chain));
    assert.equal(jumps().length, 1);
    const apply = plan.find((r) => r.name === "ega-egress");
    assert.ok(apply);
    const again = await runShell(String(apply.revealedInputs["create"]), undefined, process.env);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(
      firewall().filter((rule) => rule.includes(chain)),
      before,
    );

    // doctor finds the rules, and names their absence with the fix.
    const doctor = () =>
      new Promise<{ code: number; stdout: string }>((done) => {
        const child = spawn(process.execPath, [join(repo, "bin", "clawfleet.js"), "doctor", stackFile], { stdio: ["ignore", "pipe", "inherit"] });
        let stdout = "";
        child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
        child.on("close", (code) => done({ code: code ?? 1, stdout }));
      });
    const healthy = await doctor();
    assert.equal(healthy.code, 0, healthy.stdout);
    assert.match(healthy.stdout, /ok {2}egress rules in place for 1 gateway: private, link-local and 100\.64\.0\.0\/10 refused/);
    const jump = jumps()[0] ?? "";
    execFileSync("sh", ["-c", `iptables ${jump.replace("-A DOCKER-USER", "-D DOCKER-USER")}`]);
    const drifted = await doctor();
    assert.equal(drifted.code, 1, drifted.stdout);
    assert.match(drifted.stdout, /FIX clawfleet-tenant-ega \(tenant ega\) has no egress rules in place \(no jump from br-[0-9a-f]{12} in DOCKER-USER\)/);
    assert.match(drifted.stdout, /fix: re-apply them: pulumi up --target-replace <urn of ega-egress>/);
    assert.equal((await runShell(String(apply.revealedInputs["create"]), undefined, process.env)).code, 0);
    assert.equal(jumps().length, 1);

    log("dropping 10.214.0.3 from ega's egress.allow");
    const started = (await inspectContainer(container))?.Id;
    await deploy(withoutAllow);
    assert.equal(await fetchFromGateway(`http://${allowed}:8080/`), "error EHOSTUNREACH");
    assert.equal((await inspectContainer(container))?.Id, started, "a policy change does not touch the container");

    log("removing tenant ega");
    await deploy("    {}");
    assert.equal(await inspectContainer(container), undefined);
    assert.deepEqual(
      firewall().filter((rule) => rule.includes(chain)),
      [],
    );
  });
});
