import assert from "node:assert/strict";
import { execFileSync, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { healthStartPeriodSeconds } from "../../names";
import { healthTimings, parseReadBack, readBackLabel, renderReadBack, sentSettings } from "../../runtimes/docker/readback";
import { dockerApi } from "./docker-api";
import { dockerRequestOverSsh, sshDialStdio } from "./docker-transport";
import { gatewayImage } from "./gateway-image";
import { fetchText } from "./wait";
import { serveEntries, startControl, startLocalNode, startSshHostNode, tailscaleVersion, type ServeConfig } from "./real-tailscale";
import { knownHostsFile, pinnedSshBinDir, sshArgs, sshTarget, startSshAgent, startSshHost, stopSshHost, type SshAgent, type SshHost } from "./ssh-host";

/*
 * The second gateway host (scripts/ssh-test-host.sh) behaves like a remote host: reached only over SSH with a
 * pinned key, a non-root deploy user with sudo and the docker group, its own Docker daemon behind
 * `docker system dial-stdio`, and its own real tailscaled (./real-tailscale.ts).
 */

const repo = resolve(__dirname, "..", "..");
const work = mkdtempSync(join(tmpdir(), "clawfleet-ssh-host-"));
const log = (line: string) => process.stderr.write(`ssh-host e2e: ${line}\n`);
const remoteNetwork = "clawfleet-gw2-check";
const remoteContainer = "clawfleet-gw2-web";
const remotePort = 18930;

let image = "";
let host: SshHost;
let agent: SshAgent | undefined;

function ssh(command: string, options: string[] = sshArgs(host)): SpawnSyncReturns<string> {
  return spawnSync("ssh", [...options, "-p", String(host.port), sshTarget(host), command], { encoding: "utf8", timeout: 60_000 });
}

function sshOk(command: string): string {
  const r = ssh(command);
  assert.equal(r.status, 0, `ssh ${command}: ${r.stderr}`);
  return r.stdout.trim();
}

/** The docker CLI against the remote daemon over ssh://, with the key only in the agent. */
function remoteDocker(args: string[]): SpawnSyncReturns<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...agent?.env, PATH: `${pinnedSshBinDir(host)}:${process.env["PATH"] ?? ""}` };
  delete env["DOCKER_HOST"];
  return spawnSync("docker", ["-H", `ssh://${sshTarget(host)}:${host.port}`, ...args], { env, encoding: "utf8", timeout: 120_000 });
}

function remoteDockerOk(args: string[]): string {
  const r = remoteDocker(args);
  assert.equal(r.status, 0, `docker ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

function inNamespace(args: string[]): SpawnSyncReturns<string> {
  return spawnSync("ip", ["netns", "exec", "clawfleet-gw2", ...args], { encoding: "utf8", timeout: 30_000 });
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, seconds = 60): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `${what}: not within ${seconds}s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function teardown(): Promise<void> {
  agent?.stop();
  agent = undefined;
  stopSshHost(join(work, "host"));
  rmSync(work, { recursive: true, force: true });
}

before(() => {
  image = gatewayImage(repo, log, { testTools: true });
  log(`starting the SSH host with ${image}`);
  const started = Date.now();
  mkdirSync(join(work, "host"));
  // Its daemon has default log options, merged into every container's (what the read-back cases below need).
  process.env["CLAWFLEET_GW2_LOG_OPTS"] = "1";
  host = startSshHost(join(work, "host"), image);
  log(`SSH host up in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  agent = startSshAgent(work, host.identityFile);
});

after(teardown);

describe("the SSH test host", () => {
  it("answers ssh with the pinned host key and refuses a different pinned key", () => {
    assert.match(host.hostKey, /^ssh-ed25519 AAAA\S+$/);
    assert.equal(host.knownHostsLine, `${host.address} ${host.hostKey}`);
    assert.equal(sshOk("echo ok"), "ok");

    const wrong = join(work, "wrong");
    mkdirSync(wrong);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(wrong, "key")]);
    const wrongKnownHosts = join(wrong, "known_hosts");
    writeFileSync(wrongKnownHosts, `${host.address} ${readFileSync(join(wrong, "key.pub"), "utf8").split(" ").slice(0, 2).join(" ")}\n`);
    const options = sshArgs(host).map((o) => (o.startsWith("UserKnownHostsFile=") ? `UserKnownHostsFile=${wrongKnownHosts}` : o));
    const r = ssh("echo ok", options);
    assert.equal(r.status, 255);
    assert.match(r.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED/);
    assert.match(r.stderr, /Host key verification failed/);
  });

  it("logs in as a non-root deploy user in the docker group with password-less sudo", () => {
    assert.equal(sshOk("id -un"), host.user);
    assert.notEqual(sshOk("id -u"), "0");
    assert.ok(sshOk("id -nG").split(/\s+/).includes("docker"));
    assert.equal(sshOk("sudo -n true && echo yes"), "yes");
    assert.equal(sshOk("sudo -n id -u"), "0");
  });

  it("refuses passwords and root", () => {
    const pinned = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${knownHostsFile(host)}`];
    const r = spawnSync("ssh", [...pinned, "-o", "PreferredAuthentications=password", "-p", String(host.port), `root@${host.address}`, "true"], {
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(r.status, 255);
    assert.match(r.stderr, /Permission denied \(publickey\)/);
  });

  it("docker -H ssh:// (key in the agent) reaches a daemon that is not this machine's", () => {
    const remoteId = remoteDockerOk(["info", "--format", "{{.ID}}"]);
    const localId = execFileSync("docker", ["info", "--format", "{{.ID}}"], { encoding: "utf8" }).trim();
    assert.match(remoteId, /\S/);
    assert.notEqual(remoteId, localId);
    assert.equal(execFileSync("docker", ["-H", `unix://${host.dockerSocket}`, "info", "--format", "{{.ID}}"], { encoding: "utf8" }).trim(), remoteId);
    // On the SSH host, plain `docker` (no DOCKER_HOST) is the second daemon too.
    assert.equal(sshOk("docker info --format '{{.ID}}'"), remoteId);
    assert.ok(remoteDockerOk(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]).split("\n").includes(image));
  });

  it("GET /info through the dial-stdio transport returns the remote daemon", async () => {
    const connect = sshDialStdio(host, sshArgs(host), process.env);
    const info = await dockerRequestOverSsh<{ ID: string }>(connect, "GET", "/info");
    const local = await dockerApi<{ ID: string }>("GET", "/info");
    assert.equal(info.ID, remoteDockerOk(["info", "--format", "{{.ID}}"]));
    assert.notEqual(info.ID, local.ID);
    // Two requests at once: one ssh each.
    const [a, b] = await Promise.all([
      dockerRequestOverSsh<string>(connect, "GET", "/_ping"),
      dockerRequestOverSsh<{ ApiVersion: string }>(connect, "GET", "/version"),
    ]);
    assert.equal(a, "OK");
    assert.match(b.ApiVersion, /^\d+\.\d+$/);
  });

  it("runs a container on a user-defined network with a port published on 127.0.0.1, reachable only inside the host", async () => {
    remoteDocker(["rm", "-f", remoteContainer]);
    remoteDocker(["network", "rm", remoteNetwork]);
    remoteDockerOk(["network", "create", remoteNetwork]);
    const server = `require("http").createServer((q, r) => r.end("gw2 " + require("os").hostname())).listen(8080)`;
    remoteDockerOk([
      "run",
      "-d",
      "--name",
      remoteContainer,
      "--network",
      remoteNetwork,
      "-p",
      `127.0.0.1:${remotePort}:8080`,
      "--entrypoint",
      "node",
      image,
      "-e",
      server,
    ]);
    const url = `http://127.0.0.1:${remotePort}/`;
    let body = "";
    await waitFor("the published port inside the namespace", () => {
      const r = inNamespace(["curl", "-fsS", "-m", "5", url]);
      body = r.stdout;
      return r.status === 0;
    });
    assert.match(body, /^gw2 \S+$/);
    // The same answer through an ssh session on the host.
    assert.equal(sshOk(`curl -fsS -m 5 ${url}`), body);
    // This machine's 127.0.0.1 is another host's loopback, and the port is not on 10.213.0.2 either.
    await assert.rejects(fetchText(url, 5000));
    await assert.rejects(fetchText(`http://${host.address}:${remotePort}/`, 5000));
    const local = await dockerApi<{ Name: string }[]>("GET", "/containers/json?all=1");
    assert.ok(!local.some((c) => JSON.stringify(c).includes(remoteContainer)), "the container must not be on the local daemon");
    remoteDockerOk(["rm", "-f", remoteContainer]);
    remoteDockerOk(["network", "rm", remoteNetwork]);
  });

  it("enforces memory, pids and cpu limits on the remote daemon", () => {
    // 200 MB of live buffers under a 64 MB limit: the kernel kills it.
    const hog = remoteDocker([
      "run",
      "--name",
      `${remoteContainer}-mem`,
      "--memory",
      "64m",
      "--memory-swap",
      "64m",
      "--entrypoint",
      "node",
      image,
      "-e",
      "const a = []; for (let i = 0; i < 200; i++) a.push(Buffer.alloc(1 << 20, 1));",
    ]);
    const oom = remoteDockerOk(["inspect", `${remoteContainer}-mem`, "--format", "{{.State.OOMKilled}} {{.State.ExitCode}}"]);
    remoteDocker(["rm", "-f", `${remoteContainer}-mem`]);
    assert.equal(oom, "true 137", hog.stderr);

    // 40 background sleeps under a limit of 20 processes: some forks fail.
    const forks = remoteDocker([
      "run",
      "--rm",
      "--pids-limit",
      "20",
      "--entrypoint",
      "sh",
      image,
      "-c",
      "n=0; for i in $(seq 40); do sleep 5 2>/dev/null & n=$((n+1)); done; echo started",
    ]);
    assert.match(forks.stderr + forks.stdout, /fork|Resource temporarily unavailable|Cannot/i);

    remoteDockerOk(["run", "-d", "--name", `${remoteContainer}-cpu`, "--cpus", "0.5", "--entrypoint", "sleep", image, "60"]);
    const id = remoteDockerOk(["inspect", `${remoteContainer}-cpu`, "--format", "{{.Id}}"]);
    const quota = sshOk(`cat /sys/fs/cgroup/cpu/clawfleet-gw2/${id}/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/clawfleet-gw2/${id}/cpu.max`);
    remoteDocker(["rm", "-f", `${remoteContainer}-cpu`]);
    assert.match(quota, /^(50000|50000 100000)$/);
  });

  it("merges its default log options into a container's, and the read-back reports what it stores, leaving nothing behind", () => {
    const timings = healthTimings({ startPeriodSeconds: healthStartPeriodSeconds });
    const stored = parseReadBack(sshOk(renderReadBack({ hostId: "gw2", image, health: timings })), "gw2", timings);
    assert.deepEqual(stored.logOpts, { "max-size": "10m", "max-file": "3", labels: "clawfleet.gateway", tag: "{{.Name}}" });
    // This kernel has swap accounting: the swap limit is stored as sent (no host here stores -1).
    assert.equal(stored.swapUnlimited, false);
    // The image's HEALTHCHECK sets interval, timeout, start period and retries, all sent non-zero; Docker 20.10 (API
    // 1.41) has no start interval to copy, so nothing of the image's shows here.
    assert.deepEqual(stored.healthcheck, sentSettings(timings).healthcheck);
    assert.equal(remoteDockerOk(["ps", "-aq", "--filter", `label=${readBackLabel}`]), "", "the read-back container is removed");
  });

  it("has its own real tailscaled, for sessions and under sudo; the deploy user writes Serve only once it is the operator", async () => {
    const tailnet = await startControl(join(work, "tailscale"));
    try {
      const local = await startLocalNode(tailnet, "gw");
      const remote = await startSshHostNode(tailnet, host, "gw2");
      assert.equal(sshOk("tailscale version").split("\n")[0], tailscaleVersion.slice(1));
      assert.equal(sshOk("sudo -n tailscale version").split("\n")[0], tailscaleVersion.slice(1));
      const status = JSON.parse(sshOk("tailscale status --json")) as { BackendState: string; Self: { HostName: string; ID: string } };
      assert.equal(status.BackendState, "Running");
      assert.equal(status.Self.HostName, "gw2");
      assert.notEqual(status.Self.ID, local.status().Self.ID, "a node of its own, not this machine's");

      const add = "tailscale serve --bg --yes --https=8444 http://127.0.0.1:19002";
      const denied = ssh(add);
      assert.equal(denied.status, 1);
      assert.equal(
        denied.stderr.trim(),
        `sending serve config: Access denied: serve config denied\n\nUse 'sudo ${add}'.\nTo not require root, use 'sudo tailscale set --operator=$USER' once.`,
      );
      assert.deepEqual(remote.serveConfig(), {}, "nothing written");
      const notRoot = ssh(`tailscale set --operator=${host.user}`);
      assert.equal(notRoot.status, 1);
      assert.match(notRoot.stderr, /^Access denied: checkprefs access denied$/m);

      sshOk(`sudo -n ${add}`);
      assert.deepEqual(serveEntries(JSON.parse(sshOk("tailscale serve status --json")) as ServeConfig), { "8444": "http://127.0.0.1:19002" });
      assert.deepEqual(local.serveConfig(), {}, "this machine's tailscaled is untouched");

      sshOk(`sudo -n tailscale set --operator=${host.user}`);
      sshOk("tailscale serve --bg --yes --https=8445 http://127.0.0.1:19003");
      sshOk("tailscale serve --https=8444 off");
      assert.deepEqual(serveEntries(remote.serveConfig()), { "8445": "http://127.0.0.1:19003" }, "the operator's writes arrived");
      const gone = ssh("tailscale serve --https=8444 off");
      assert.equal(gone.status, 1);
      assert.match(gone.stderr, /^error: failed to remove web serve: handler does not exist$/m);
      sshOk("sudo -n tailscale set --operator= && sudo -n tailscale serve reset");
      assert.equal(ssh("tailscale serve --https=8445 off").status, 1, "refused again once it is no longer the operator");
      assert.deepEqual(remote.serveConfig(), {});
      await remote.stop();
      await local.stop();
    } finally {
      await tailnet.stop();
    }
  });

  it("up again on the same workdir replaces the running host (idempotent)", () => {
    const before = remoteDockerOk(["info", "--format", "{{.ID}}"]);
    agent?.stop();
    host = startSshHost(join(work, "host"));
    agent = startSshAgent(work, host.identityFile);
    assert.equal(sshOk("echo again"), "again");
    assert.equal(remoteDockerOk(["info", "--format", "{{.ID}}"]), before);
  });
});
