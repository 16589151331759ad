import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from "node:child_process";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { join, resolve } from "node:path";
import type { SshHost } from "./ssh-host";

/*
 * Real Tailscale for the end-to-end tests: Tailscale's own test control server (`testcontrol`, which always
 * listens on 127.0.0.1:9911) and one real `tailscaled` per gateway host, in userspace networking, logged in to it.
 * The binaries are v1.102.5, built by `scripts/install-pulumi.sh --tailscale --only tailscale`.
 *
 * - This machine's node gets its own socket and state under the test's work directory, and a test wrapper named
 *   `tailscale` (first on the PATH the program's commands run with) that adds `--socket`: the program runs plain
 *   `tailscale`, and the machine-wide default socket is left to whatever owns it.
 * - The SSH host's node runs inside that host (its network namespace and the mount namespace its sshd gives
 *   sessions), on the default socket /run/tailscale/tailscaled.sock of the host's own /run, with the real CLI
 *   copied to its /usr/local/sbin/tailscale: the deploy user, `sudo` and the program reach it as they would on a
 *   real host. Inside the namespace 127.0.0.1 is the host's own, so a relay on this side's address of the veth pair
 *   carries its control traffic to testcontrol.
 *
 * Every wait is on a condition (the socket answering, `BackendState` "Running" in `tailscale status --json`),
 * with a generous limit. Each start stops what it started when it fails, and `stop()` (also run at process exit)
 * ends every process and removes every state directory this module made.
 * No certificate can be issued by testcontrol, so HTTPS through Serve is never requested: what is real here is the
 * daemon's serve configuration (`tailscale serve status --json`), its permission checks and its errors.
 */

export const tailscaleVersion = "v1.102.5";
const controlAddress = "127.0.0.1";
const controlPort = 9911;
const waitSeconds = 120;

/** The directory holding tailscaled, tailscale and testcontrol (from the install script's --print-env). */
export function tailscaleBinDir(): string {
  const repo = resolve(__dirname, "..", "..");
  const out = execFileSync("bash", [join(repo, "scripts", "install-pulumi.sh"), "--print-env", "--tailscale", "--only", "tailscale"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const dir = /^export PATH=([^:]+):/m.exec(out)?.[1];
  if (dir === undefined || !existsSync(join(dir, "tailscaled"))) throw new Error(`scripts/install-pulumi.sh --print-env named no Tailscale binaries:\n${out}`);
  return dir;
}

/** The parts of `tailscale serve status --json` the tests read (ipn.ServeConfig). */
export interface ServeConfig {
  TCP?: Record<string, { HTTPS?: boolean }>;
  Web?: Record<string, { Handlers: Record<string, { Proxy?: string }> }>;
  AllowFunnel?: Record<string, boolean>;
}

/** Serve entries as `{ httpsPort: proxyTarget }`. */
export function serveEntries(config: ServeConfig): Record<string, string> {
  return Object.fromEntries(Object.entries(config.Web ?? {}).map(([key, web]) => [key.split(":").pop() ?? key, web.Handlers["/"]?.Proxy ?? ""]));
}

interface Owned {
  child?: ChildProcess;
  dirs: string[];
}

const owned: Owned[] = [];

function kill(child: ChildProcess | undefined): void {
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, "SIGTERM");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

/** Ends what `entry` started and removes its directories. Waits (bounded) for the process to be gone. */
async function release(entry: Owned): Promise<void> {
  const child = entry.child;
  if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    const gone = new Promise<void>((done) => child.once("exit", () => done()));
    kill(child);
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await gone;
    clearTimeout(timer);
  }
  for (const dir of entry.dirs) rmSync(dir, { recursive: true, force: true });
  const index = owned.indexOf(entry);
  if (index >= 0) owned.splice(index, 1);
}

// A run that ends without its after() hooks still leaves no daemon behind.
process.once("exit", () => {
  for (const entry of owned) {
    if (entry.child?.pid !== undefined) {
      try {
        process.kill(entry.child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    for (const dir of entry.dirs) rmSync(dir, { recursive: true, force: true });
  }
});

function startOwned(command: string, args: string[], logFile: string, dirs: string[]): Owned {
  const fd = openSync(logFile, "a");
  try {
    const child = spawn(command, args, { stdio: ["ignore", fd, fd] });
    child.on("error", () => undefined);
    const entry = { child, dirs };
    owned.push(entry);
    return entry;
  } finally {
    closeSync(fd);
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-20).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Polls `probe` (every 200 ms) until it gives a value; fails with the log's last lines when `child` exits or time is up. */
async function until<T>(what: string, entry: Owned, logFile: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    const value = await Promise.resolve()
      .then(probe)
      .catch(() => undefined);
    if (value !== undefined) return value;
    const child = entry.child;
    if (child !== undefined && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`${what}: the process exited (${child.exitCode ?? child.signalCode}); last lines of ${logFile}:\n${tail(logFile)}`);
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${waitSeconds} s; last lines of ${logFile}:\n${tail(logFile)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function portAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      done(true);
    });
    socket.once("error", () => done(false));
  });
}

export interface Control {
  /** The login server for nodes on this machine. */
  readonly url: string;
  readonly binDir: string;
  /** The directory its log and its nodes' state go under. */
  readonly dir: string;
  stop(): Promise<void>;
}

/** Starts testcontrol; fails when 127.0.0.1:9911 is taken (another run's testcontrol). */
export async function startControl(dir: string): Promise<Control> {
  const binDir = tailscaleBinDir();
  mkdirSync(dir, { recursive: true });
  if (await portAnswers(controlAddress, controlPort)) {
    throw new Error(`${controlAddress}:${controlPort} is taken: testcontrol listens only there; stop the other test control server first`);
  }
  const logFile = join(dir, "testcontrol.log");
  const entry = startOwned(join(binDir, "testcontrol"), [], logFile, []);
  try {
    await until("testcontrol listening", entry, logFile, async () => ((await portAnswers(controlAddress, controlPort)) ? true : undefined));
  } catch (error) {
    await release(entry);
    throw error;
  }
  return { url: `http://${controlAddress}:${controlPort}`, binDir, dir, stop: () => release(entry) };
}

export interface TailscaleNode {
  /** The node's name on the tailnet (`Self.HostName`). */
  readonly hostName: string;
  /** Runs the real CLI against this node as root (`tailscale <args>`). */
  cli(args: string[]): SpawnSyncReturns<string>;
  /** `tailscale serve status --json`, read from the daemon. */
  serveConfig(): ServeConfig;
  /** `tailscale status --json`. */
  status(): { BackendState: string; Self: { HostName: string; ID: string } };
  stop(): Promise<void>;
}

function nodeApi(hostName: string, run: (args: string[]) => SpawnSyncReturns<string>, stop: () => Promise<void>): TailscaleNode {
  const readJson = <T>(args: string[]): T => {
    const r = run(args);
    if (r.status !== 0) throw new Error(`tailscale ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  return {
    hostName,
    cli: run,
    serveConfig: () => readJson<ServeConfig>(["serve", "status", "--json"]),
    status: () => readJson(["status", "--json"]),
    stop,
  };
}

const daemonFlags = ["--tun=userspace-networking", "--no-logs-no-support", "--port=0", "--encrypt-state=false"];

/** Logs the node in and waits for BackendState "Running"; `run` reaches its daemon. */
async function logIn(node: TailscaleNode, entry: Owned, logFile: string, loginServer: string): Promise<void> {
  await until("tailscaled answering on its socket", entry, logFile, () =>
    node.cli(["status", "--json"]).stdout.includes('"BackendState"') ? true : undefined,
  );
  const up = node.cli(["up", `--login-server=${loginServer}`, `--hostname=${node.hostName}`, "--timeout=60s"]);
  if (up.status !== 0) throw new Error(`tailscale up exited ${up.status}: ${up.stderr}\nlast lines of ${logFile}:\n${tail(logFile)}`);
  await until("BackendState Running", entry, logFile, () => (node.status().BackendState === "Running" ? true : undefined));
}

export interface LocalNode extends TailscaleNode {
  /** Put first on PATH: holds `tailscale`, the test wrapper that adds this node's `--socket`. */
  readonly pathDir: string;
}

/** A tailscaled for this machine, with its socket and state under `<control.dir>/<hostName>`. */
export async function startLocalNode(control: Control, hostName: string): Promise<LocalNode> {
  const dir = join(control.dir, hostName);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "state"), { recursive: true });
  const socket = join(dir, "tailscaled.sock");
  const pathDir = join(dir, "bin");
  mkdirSync(pathDir);
  const real = join(control.binDir, "tailscale");
  writeFileSync(
    join(pathDir, "tailscale"),
    `#!/bin/sh\n# Test wrapper (test/e2e/real-tailscale.ts): the real tailscale CLI, pointed at this test's tailscaled.\nexec '${real}' --socket='${socket}' "$@"\n`,
  );
  chmodSync(join(pathDir, "tailscale"), 0o755);
  const logFile = join(control.dir, `tailscaled-${hostName}.log`);
  const entry = startOwned(join(control.binDir, "tailscaled"), [...daemonFlags, `--statedir=${join(dir, "state")}`, `--socket=${socket}`], logFile, [dir]);
  const node = {
    ...nodeApi(
      hostName,
      (args) => spawnSync(real, [`--socket=${socket}`, ...args], { encoding: "utf8", timeout: 90_000 }),
      () => release(entry),
    ),
    pathDir,
  };
  try {
    await logIn(node, entry, logFile, control.url);
  } catch (error) {
    await release(entry);
    throw error;
  }
  return node;
}

/** This side's address of the SSH host's veth pair (scripts/ssh-test-host.sh: HOST_ADDR). */
const sshHostPeerAddress = "10.213.0.1";

const relaySource = `
const net = require("node:net");
const [listenHost, port, toHost] = process.argv.slice(1);
net.createServer((inbound) => {
  const outbound = net.connect(Number(port), toHost);
  inbound.pipe(outbound).pipe(inbound);
  inbound.on("error", () => outbound.destroy());
  outbound.on("error", () => inbound.destroy());
}).listen(Number(port), listenHost, () => console.log("relaying"));
`;

/**
 * A tailscaled inside the SSH host (its network and sshd's mount namespace), on that host's default socket, with
 * the real CLI at /usr/local/sbin/tailscale there. Logged in to `control` through a relay on this side of the veth.
 */
export async function startSshHostNode(control: Control, host: SshHost, hostName: string): Promise<TailscaleNode> {
  const sshd = readFileSync(join(host.workdir, "sshd.pid"), "utf8").trim();
  if (!/^\d+$/.test(sshd)) throw new Error(`no sshd pid in ${join(host.workdir, "sshd.pid")}`);
  const enter = ["--target", sshd, "--mount", "--net", "--"];
  const stateDir = join(host.workdir, "tailscale-state");
  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });
  execFileSync("nsenter", [...enter, "install", "-m", "0755", join(control.binDir, "tailscale"), "/usr/local/sbin/tailscale"]);

  const relayLog = join(control.dir, `relay-${hostName}.log`);
  const relay = startOwned(process.execPath, ["-e", relaySource, sshHostPeerAddress, String(controlPort), controlAddress], relayLog, []);
  const logFile = join(control.dir, `tailscaled-${hostName}.log`);
  let daemon: Owned | undefined;
  const stop = async () => {
    if (daemon !== undefined) await release(daemon);
    await release(relay);
  };
  try {
    await until("the control relay listening", relay, relayLog, () => (readFileSync(relayLog, "utf8").includes("relaying") ? true : undefined));
    daemon = startOwned("nsenter", [...enter, join(control.binDir, "tailscaled"), ...daemonFlags, `--statedir=${stateDir}`], logFile, [stateDir]);
    const node = nodeApi(
      hostName,
      (args) => spawnSync("nsenter", [...enter, "/usr/local/sbin/tailscale", ...args], { encoding: "utf8", timeout: 90_000 }),
      stop,
    );
    await logIn(node, daemon, logFile, `http://${sshHostPeerAddress}:${controlPort}`);
    return node;
  } catch (error) {
    await stop();
    throw error;
  }
}
