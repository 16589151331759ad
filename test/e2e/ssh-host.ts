import { execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

/*
 * A second gateway host for the end-to-end tests, reachable only over SSH: scripts/ssh-test-host.sh
 * runs a Docker daemon and sshd in network namespace clawfleet-gw2 (10.213.0.2). See that script for
 * what the SSH host sees (its own /run/docker.sock and /run, an empty /usr/local/sbin for the real
 * tailscale CLI that ./real-tailscale.ts puts there).
 */

const script = resolve(__dirname, "..", "..", "scripts", "ssh-test-host.sh");

/** What scripts/ssh-test-host.sh prints on its last stdout line. */
export interface SshHost {
  address: string;
  port: number;
  user: string;
  /** `ssh-ed25519 AAAA...`, the key sshd answers with; pin it. */
  hostKey: string;
  /** Private key authorized for `user`. */
  identityFile: string;
  /** The second daemon's socket, for checks from this machine; the SSH host sees it as /var/run/docker.sock. */
  dockerSocket: string;
  /** `<address> <hostKey>`, a known_hosts line. */
  knownHostsLine: string;
  /** The workdir the host was started in (known_hosts and agent socket live there). */
  workdir: string;
}

/** Starts (or restarts) the SSH host; `image` is copied into its Docker daemon when given. */
export function startSshHost(workdir: string, image?: string): SshHost {
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (image === undefined) delete env["CLAWFLEET_GATEWAY_IMAGE"];
  else env["CLAWFLEET_GATEWAY_IMAGE"] = image;
  const out = execFileSync("bash", [script, "up", workdir], { env, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const last = out.trim().split("\n").pop() ?? "";
  const host = { ...(JSON.parse(last) as Omit<SshHost, "workdir">), workdir: resolve(workdir) };
  writeFileSync(knownHostsFile(host), `${host.knownHostsLine}\n`);
  return host;
}

/** Stops the SSH host and removes its namespace; safe to call when it is not running. */
export function stopSshHost(workdir: string): void {
  execFileSync("bash", [script, "down", workdir], { stdio: ["ignore", "inherit", "inherit"] });
}

/** A known_hosts file that holds only this host's key. */
export function knownHostsFile(host: SshHost): string {
  return join(host.workdir, "known_hosts");
}

/** Options for the system ssh that pin the host key (nothing else is trusted) and never prompt. */
export function sshArgs(host: SshHost): string[] {
  return [
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile=${knownHostsFile(host)}`,
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    `IdentityFile=${host.identityFile}`,
    "-o",
    "ConnectTimeout=30",
  ];
}

/** `user@address`, with `-p port` given separately. */
export function sshTarget(host: SshHost): string {
  return `${host.user}@${host.address}`;
}

/**
 * A directory to put first on PATH for the docker CLI's ssh:// transport: it runs plain `ssh`, takes no
 * ssh options, and ssh reads known_hosts from the passwd home, not $HOME; this `ssh` adds the pinning.
 */
export function pinnedSshBinDir(host: SshHost): string {
  const dir = join(host.workdir, "ssh-bin");
  mkdirSync(dir, { recursive: true });
  const pin = ["-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${knownHostsFile(host)}`, "-o", "GlobalKnownHostsFile=/dev/null"];
  writeFileSync(join(dir, "ssh"), `#!/bin/sh\nexec /usr/bin/ssh ${pin.map((a) => `'${a}'`).join(" ")} "$@"\n`);
  chmodSync(join(dir, "ssh"), 0o755);
  return dir;
}

export interface SshAgent {
  env: { SSH_AUTH_SOCK: string; SSH_AGENT_PID: string };
  stop(): void;
}

/** Starts an ssh-agent with its socket in `workdir` and the key added (the docker CLI and provider use the agent). */
export function startSshAgent(workdir: string, identityFile: string): SshAgent {
  const socket = join(workdir, "agent.sock");
  rmSync(socket, { force: true });
  const out = execFileSync("ssh-agent", ["-s", "-a", socket], { encoding: "utf8" });
  const pid = /SSH_AGENT_PID=(\d+)/.exec(out)?.[1];
  if (pid === undefined) throw new Error(`ssh-agent printed no SSH_AGENT_PID:\n${out}`);
  const env = { SSH_AUTH_SOCK: socket, SSH_AGENT_PID: pid };
  const stop = () => {
    try {
      process.kill(Number(pid), "SIGTERM");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
    }
    rmSync(socket, { force: true });
  };
  try {
    execFileSync("ssh-add", ["-q", identityFile], { env: { ...process.env, ...env }, stdio: ["ignore", "inherit", "inherit"] });
  } catch (error) {
    stop();
    throw error;
  }
  return { env, stop };
}

/** Kills the SSH host's whole Docker side (daemon, containerd, shims, gateways) and starts the daemon again, as a power loss and reboot would. */
export function crashSshHostDocker(workdir: string): void {
  execFileSync("bash", [script, "crash-dockerd", workdir], { stdio: ["ignore", "inherit", "inherit"] });
}

/** When a gateway on the SSH host went down and came back, in ms since the epoch. */
export interface Outage {
  readonly downAt: number;
  readonly readyAt: number;
}

/**
 * Watches `/readyz` on the SSH host's 127.0.0.1:`port` from inside its network namespace (the
 * only place that port is published), every 100 ms. `watching` resolves once it has seen the
 * gateway ready (cause the outage after that); `outage` once the gateway went down and is
 * ready again.
 */
export function watchOutageInsideHost(port: number, seconds: number): { watching: Promise<void>; outage: Promise<Outage> } {
  const probe = `
const deadline = Date.now() + ${seconds * 1000};
let seen = false, downAt;
// A ref'd timer per probe: with AbortSignal.timeout's unref'd one, a request the proxy left hanging let node exit 0 mid-watch.
const ready = () => {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 2000);
  return fetch("http://127.0.0.1:${port}/readyz", { signal: abort.signal })
    .then((r) => r.json()).then((b) => b.ready === true, () => false).finally(() => clearTimeout(timer));
};
(async () => {
  for (;;) {
    const at = Date.now();
    const up = await ready();
    if (up && !seen) { seen = true; console.log("watching"); }
    if (!up && seen && downAt === undefined) downAt = at;
    if (up && downAt !== undefined) { console.log(JSON.stringify({ downAt, readyAt: Date.now() })); return; }
    if (Date.now() > deadline) { console.error(!seen ? "never ready" : downAt === undefined ? "never went down" : "not ready again"); process.exit(1); }
    await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - at))));
  }
})();`;
  const child = spawn("ip", ["netns", "exec", "clawfleet-gw2", process.execPath, "-e", probe], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const ended = new Promise<string>((resolveEnd, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0 && out.includes("readyAt")) resolveEnd(out);
      else if (code === 0) reject(new Error(`port ${port} on the SSH host: the watcher ended without a result`));
      else reject(new Error(`port ${port} on the SSH host: ${err.trim() || `watcher exited ${code}`} within ${seconds} s`));
    });
  });
  const watching = new Promise<void>((resolveWatching, reject) => {
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes("watching")) resolveWatching();
    });
    ended.catch(reject);
  });
  const outage = ended.then((text) => JSON.parse(text.trim().split("\n").pop() ?? "") as Outage);
  // Either promise may be awaited alone; the other's rejection is reported through the awaited one.
  outage.catch(() => undefined);
  watching.catch(() => undefined);
  return { watching, outage };
}
