import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { checkHost, checkServe, declaredGateways, expectedServe, renderDoctor, renderDoctorProbe } from "../../cli/ops/doctor";
import { commandLine, processRunner, unreachableError, type CommandResult, type HostRunner } from "../../cli/ops/host-shell";
import { helpOf, parseCommandLine, UsageError } from "../../cli/command-line";
import { commands } from "../../cli/commands";
import { main } from "../../cli/main";
import { Redactor } from "../../cli/ops/redact";
import {
  describeProblem,
  formatUptime,
  parseStatusProbe,
  renderStatusJson,
  renderStatusTable,
  tenantStatus,
  unhealthyMessage,
  type FleetStatus,
} from "../../cli/ops/status";
import { allTargets, findTarget, hostGateways, loadFleet } from "../../cli/ops/targets";
import { OpsError } from "../../cli/ops/errors";
import { dockerOps, parseDockerSize } from "../../runtimes/docker/ops";

/** The Docker runtime's doctor probe and checks. */
const dockerTools = dockerOps.hostState ?? assert.fail("the Docker runtime has no hostState");

const prod = "stacks/Pulumi.prod.yaml";
const dev = "stacks/Pulumi.dev.yaml";

/** A host runner that answers from a table instead of starting processes, and records what it was asked. */
function fakeRunner(answer: (host: string, argv: readonly string[]) => CommandResult): HostRunner & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async run(host, argv, options) {
      calls.push(`${host.id}: ${argv.join(" ")}`);
      const result = answer(host.id, argv);
      // Standard error as a real runner hands it over: each line as it comes, then all of it in the result.
      for (const line of result.stderr.split("\n").filter((l) => l !== "")) options?.onStderrLine?.(line);
      return result;
    },
    async stream(host, argv, options) {
      calls.push(`${host.id}: ${argv.join(" ")}`);
      const result = answer(host.id, argv);
      for (const line of result.stdout.split("\n").filter((l) => l !== "")) options.onStdout(line);
      for (const line of result.stderr.split("\n").filter((l) => l !== "")) options.onStderr(line);
      return result.code;
    },
  };
}

async function ops(verb: string, args: string[], runner: HostRunner): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    [verb, ...args],
    (t) => out.push(t),
    (t) => err.push(t),
    runner,
  );
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("how a host is reached", () => {
  it("runs an SSH host's command through ssh with its declared key pinned, BatchMode, a timeout and sudo -n for root work", async () => {
    const fleet = await loadFleet(prod);
    const gw1 = fleet.hosts.find((h) => h.id === "gw1");
    assert.ok(gw1?.ssh);
    assert.deepEqual(commandLine(gw1, ["docker", "logs", "clawfleet-tenant-alice"], { localUid: 0 }), [
      "ssh",
      "-o",
      "BatchMode=yes",
      "-o",
      "ConnectTimeout=10",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "GlobalKnownHostsFile=/dev/null",
      "-o",
      `KnownHostsCommand=/bin/echo gw1.example-tailnet.ts.net ${gw1.ssh.hostKey}`,
      "-p",
      "22",
      "deploy@gw1.example-tailnet.ts.net",
      "--",
      "'docker' 'logs' 'clawfleet-tenant-alice'",
    ]);
    assert.equal(commandLine(gw1, ["sh", "-c", "echo 'x'"], { root: true, localUid: 0 }).pop(), `'sudo' '-n' 'sh' '-c' 'echo '"'"'x'"'"''`);
  });

  it("runs a local host's command directly, through sudo -n only for root work as another user", async () => {
    const local = (await loadFleet(dev)).hosts[0];
    assert.ok(local);
    assert.deepEqual(commandLine(local, ["docker", "ps"], { root: true, localUid: 0 }), ["docker", "ps"]);
    assert.deepEqual(commandLine(local, ["docker", "ps"], { root: true, localUid: 1000 }), ["sudo", "-n", "docker", "ps"]);
    assert.deepEqual(commandLine(local, ["docker", "ps"], { localUid: 1000 }), ["docker", "ps"]);
  });

  it("hands over each line of a command's standard error while it runs, and all of it in the result", async () => {
    const local = (await loadFleet(dev)).hosts[0];
    assert.ok(local);
    const dir = mkdtempSync(join(tmpdir(), "clawfleet-live-"));
    try {
      const go = join(dir, "go");
      // The command waits for a file that only the first line's callback makes: it ends only if that line came live.
      const script = `echo first >&2; printf 'partial' >&2; while [ ! -e '${go}' ]; do sleep 0.05; done; echo ' second' >&2; echo out`;
      const lines: string[] = [];
      const result = await processRunner.run(local, ["sh", "-c", script], {
        timeoutSeconds: 20,
        onStderrLine: (line) => {
          lines.push(line);
          if (line === "first") writeFileSync(go, "");
        },
      });
      assert.deepEqual([result.code, result.timedOutSeconds, existsSync(go)], [0, undefined, true]);
      assert.deepEqual(lines, ["first", "partial second"]);
      assert.equal(result.stderr, "first\npartial second\n");
      assert.equal(result.stdout, "out\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("says which host is unreachable and how to check it, and when Docker or sudo is the problem", async () => {
    const fleet = await loadFleet(prod);
    const gw2 = fleet.hosts.find((h) => h.id === "gw2");
    assert.ok(gw2);
    assert.equal(
      unreachableError(gw2, { code: 255, stdout: "", stderr: "ssh: connect to host gw2.example-tailnet.ts.net port 22: Connection timed out\n" })?.message,
      "host gw2 (deploy@gw2.example-tailnet.ts.net:22) is unreachable: ssh: connect to host gw2.example-tailnet.ts.net port 22: Connection timed out; check that it is up and that ssh -p 22 deploy@gw2.example-tailnet.ts.net works with your key in ssh-agent",
    );
    assert.equal(
      unreachableError(gw2, {
        code: 1,
        stdout: "",
        stderr: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
      })?.message,
      "host gw2 (deploy@gw2.example-tailnet.ts.net:22): the Docker daemon does not answer; start it (systemctl start docker) and retry",
    );
    assert.equal(
      unreachableError(gw2, { code: 1, stdout: "", stderr: "sudo: a password is required\n" })?.message,
      "host gw2 (deploy@gw2.example-tailnet.ts.net:22): this needs root, and deploy has no password-less sudo; run it as root or allow sudo -n",
    );
    assert.equal(unreachableError(gw2, { code: 1, stdout: "", stderr: "Error: No such object: x" }), undefined);
  });
});

describe("tenants from the declaration", () => {
  it("finds each tenant's container, port, state and agent, dedicated and shared alike", async () => {
    const fleet = await loadFleet(dev);
    const targets = allTargets(fleet);
    assert.deepEqual(
      targets.map((t) => [t.id, t.tier, t.host.id, t.container, t.port, t.stateDir, t.agentId ?? "-"]),
      [
        ["alice", "dedicated", "local", "clawfleet-tenant-alice", 18101, "/var/lib/clawfleet/users/alice", "-"],
        ["bob", "shared", "local", "clawfleet-shared-local", 18789, "/var/lib/clawfleet/shared/workspaces/bob", "bob"],
        ["carol", "shared", "local", "clawfleet-shared-local", 18789, "/var/lib/clawfleet/shared/workspaces/carol", "carol"],
        ["dave", "dedicated", "local", "clawfleet-tenant-dave", targets[3]?.port ?? 0, "/var/lib/clawfleet/users/dave", "-"],
      ],
    );
    const alice = findTarget(await loadFleet(prod), prod, "alice");
    // Its key and token are in its credentials file, not its environment.
    assert.deepEqual(alice.secretEnvNames, []);
    assert.deepEqual([Object.keys(alice.spec.secrets.file.modelKeys), Object.keys(alice.spec.secrets.file.channels)], [["anthropic"], ["telegram"]]);
    assert.deepEqual(alice.channels, ["telegram"]);
  });

  it("names an unknown tenant and lists the declared ones", async () => {
    const fleet = await loadFleet(dev);
    assert.throws(
      () => findTarget(fleet, dev, "zed"),
      (error: unknown) =>
        error instanceof OpsError && error.message === 'tenant "zed" is not declared in stacks/Pulumi.dev.yaml; declared tenants: alice, bob, carol, dave',
    );
  });
});

describe("redaction", () => {
  it("hides the gateway token, declared secrets and credential-named variables; leaves short and ordinary values", () => {
    const redactor = new Redactor(
      ["OPENCLAW_GATEWAY_TOKEN=abcdefghij0123456789", "ANTHROPIC_API_KEY=sk-ant-secret-value", "CUSTOM=declared-secret-1", "HOME=/home/node", "X_TOKEN=short"],
      ["CUSTOM"],
    );
    assert.equal(redactor.size, 3);
    assert.equal(
      redactor.redact("token abcdefghij0123456789 key sk-ant-secret-value custom declared-secret-1 home /home/node short"),
      "token [redacted OPENCLAW_GATEWAY_TOKEN] key [redacted ANTHROPIC_API_KEY] custom [redacted CUSTOM] home /home/node short",
    );
  });
  const token = "9f8e7d6c5b4a39281706f5e4d3c2b1a0ffeeddccbbaa9988";
  const redactor = new Redactor([`OPENCLAW_GATEWAY_TOKEN=${token}`], []);
  const hidden = "[redacted OPENCLAW_GATEWAY_TOKEN]";

  it("hides a secret in every shape a log can hold it: any case, URL- and JSON-escaped, hex, base64 at any offset", () => {
    const shapes: [string, string][] = [
      [token.toUpperCase(), hidden],
      [encodeURIComponent(token), hidden],
      [JSON.stringify({ t: token }), `{"t":"${hidden}"}`],
      [Buffer.from(token).toString("hex"), hidden],
      // Only the few characters that also encode the neighbours stay.
      [Buffer.from(`user:${token}`).toString("base64"), `dXNlcjo5${hidden}ODg=`],
      [Buffer.from(`ab:${token}`).toString("base64url"), `YWI6O${hidden}OTg4`],
      [Buffer.from(`a:${token}`).toString("base64"), `YTo5${hidden}ODg=`],
    ];
    for (const [shape, shown] of shapes) assert.equal(redactor.redact(`auth ${shape} end`), `auth ${shown} end`);
  });

  it("hides a secret split over two lines, cut short, or with an escape sequence inside it", () => {
    assert.equal(redactor.redact(`token=${token.slice(0, 30)}`), `token=${hidden}`);
    assert.equal(redactor.redact(`${token.slice(30)} continues`), `${hidden} continues`);
    assert.equal(redactor.redact(`cut ${token.slice(5, 20)}...`), `cut ${hidden}...`);
    assert.equal(redactor.redact(`t=${token.slice(0, 20)}\u001b[0m${token.slice(20)}!`), `t=${hidden}!`);
  });

  it("makes text outsiders control safe for a terminal: no screen clear, cursor move, title change or overwrite", () => {
    assert.equal(
      redactor.redact("Mallory\u001b[2J\u001b[Hall tenants healthy\u001b]0;owned\u0007\rok\u0000\u009b31m\tend"),
      "Malloryall tenants healthy\\x0dok\\x00\\x9b31m\tend",
    );
  });
});

const probeOutput = [
  "@@clawfleet-now 1795500000",
  "@@clawfleet-runtime",
  // What `docker inspect --format` and `docker stats --format` print, one line per container.
  [
    "inspect",
    '"/clawfleet-tenant-alice"\t{"Status":"running","StartedAt":"2026-11-24T00:00:00Z","Health":{"Status":"healthy"}}\t0\t"ghcr.io/openclaw/openclaw:2026.9.6"',
  ].join(" "),
  [
    "inspect",
    '"/clawfleet-shared-local"\t{"Status":"running","StartedAt":"2026-11-24T02:38:00Z","Health":{"Status":"healthy"}}\t2\t"ghcr.io/openclaw/openclaw:2026.9.5"\t"ghcr.io/openclaw/openclaw:2026.9.6"',
  ].join(" "),
  `stats ${JSON.stringify({ Name: "clawfleet-tenant-alice", MemUsage: "712.5MiB / 1.5GiB" })}`,
  `stats ${JSON.stringify({ Name: "clawfleet-shared-local", MemUsage: "1.25GiB / 2GiB" })}`,
  // Each gateway's own answer, asked inside it with its token.
  "@@clawfleet-inside",
  'clawfleet-tenant-alice {"ready":true,"held":[]}',
  'clawfleet-shared-local {"ready":false,"failing":["telegram"],"held":[]}',
  "@@clawfleet-backups",
  "1795400000 clawfleet-tenant-alice/clawfleet-tenant-alice-2026-11-23T00-00-00.tar.gz",
  "1795490000 clawfleet-tenant-alice/clawfleet-tenant-alice-2026-11-24T02-00-00.tar.gz",
  // Taken by `clawfleet backup`, in the manual folder: the newest counts as well.
  "1795495000 manual/clawfleet-tenant-alice/clawfleet-tenant-alice-2026-11-24T03-23-20.tar.gz",
  // du -sk of each tenant's state (a shared tenant's workspace); carol's took too long and printed no number.
  "@@clawfleet-sizes",
  "size 25600 /var/lib/clawfleet/users/alice",
  "size 410 /var/lib/clawfleet/shared/workspaces/bob",
  "size  /var/lib/clawfleet/shared/workspaces/carol",
  "size 3072 /var/lib/clawfleet/users/dave",
  "@@clawfleet-end",
  "",
].join("\n");

describe("status", () => {
  it("parses one host's probe and reports each tenant: state, health, ready, uptime, restarts, image, memory, state size, last backup", async () => {
    const fleet = await loadFleet(dev);
    const probe = parseStatusProbe(dockerOps, probeOutput);
    // alice declares stateLimitMb: 20, carol 100.
    const limits: Record<string, number> = { alice: 20, carol: 100 };
    const rows = allTargets(fleet).map((t) => tenantStatus({ ...t, stateLimitMb: limits[t.id] }, probe, fleet.image));
    const status: FleetStatus = { stack: dev, image: fleet.image, healthy: false, tenants: rows, unreachable: [] };
    assert.equal(
      renderStatusTable(status, 1795500000 * 1000),
      [
        "TENANT  HOST   TIER       STATE    HEALTH   READY  UPTIME  RESTARTS  IMAGE                                                                                     PORT   MEMORY              STATE SIZE       LAST BACKUP",
        "alice   local  dedicated  running  healthy  yes    6h 00m  0         ghcr.io/openclaw/openclaw:2026.9.6                                                        18101  713/1536 MB (46%)   25/20 MB (over)  1h 23m ago",
        "bob     local  shared     running  healthy  no     3h 22m  2         ghcr.io/openclaw/openclaw:2026.9.5 (rolled back from ghcr.io/openclaw/openclaw:2026.9.6)  18789  1280/2048 MB (63%)  0.4 MB           never",
        "carol   local  shared     running  healthy  no     3h 22m  2         ghcr.io/openclaw/openclaw:2026.9.5 (rolled back from ghcr.io/openclaw/openclaw:2026.9.6)  18789  1280/2048 MB (63%)  -/100 MB         never",
        "dave    local  dedicated  missing  -        -      -       -         -                                                                                         18171  -/1536 MB           3.0 MB           never",
        "",
        "1 of 4 tenants healthy; not healthy: bob (not ready: telegram failing), carol (not ready: telegram failing), dave (no container)",
      ].join("\n"),
    );
    const json = JSON.parse(renderStatusJson({ ...status, tenants: rows.slice(3) })) as { tenants: Record<string, unknown>[] };
    assert.deepEqual(json.tenants[0], {
      tenant: "dave",
      host: "local",
      tier: "dedicated",
      container: "clawfleet-tenant-dave",
      port: rows[3]?.port,
      memoryLimitMb: 1536,
      stateLimitMb: null,
      state: "missing",
      health: null,
      ready: null,
      notReady: null,
      channelsHeld: null,
      startedAt: null,
      uptimeSeconds: null,
      restarts: null,
      image: null,
      imageCurrent: null,
      rolledBackFrom: null,
      memoryUsedMb: null,
      lastBackup: null,
      stateMb: 3,
      healthy: false,
    });
    assert.deepEqual(
      rows.map((r) => [r.tenant, r.stateMb, r.stateLimitMb]),
      [
        ["alice", 25, 20],
        ["bob", 410 / 1024, undefined],
        ["carol", undefined, 100],
        ["dave", 3, undefined],
      ],
    );
  });

  it("asks each host once, reports an unreachable host's tenants and exits 1 naming them", async () => {
    const runner = fakeRunner((host) =>
      host === "gw1"
        ? { code: 0, stdout: probeOutput.replace("clawfleet-tenant-alice", "clawfleet-tenant-alice"), stderr: "" }
        : { code: 255, stdout: "", stderr: "ssh: connect to host gw2.example-tailnet.ts.net port 22: No route to host" },
    );
    const result = await ops("status", [prod], runner);
    assert.equal(result.code, 1);
    assert.equal(runner.calls.length, 2, "one probe per host");
    assert.ok(runner.calls.every((c) => c.includes("docker inspect --type container")));
    assert.match(result.out, /^frank +gw2 +dedicated +unreachable +/m);
    assert.equal(
      result.err.split("\n")[0],
      "clawfleet: host gw2 (deploy@gw2.example-tailnet.ts.net:22) is unreachable: ssh: connect to host gw2.example-tailnet.ts.net port 22: No route to host; check that it is up and that ssh -p 22 deploy@gw2.example-tailnet.ts.net works with your key in ssh-agent",
    );
    assert.match(result.err.split("\n").pop() ?? "", /^clawfleet: \d+ of \d+ tenants are not healthy: .*frank \(host gw2 unreachable\)/);
  });

  it("counts a gateway whose channels openclaw's restart-loop breaker holds as not healthy, and says how to start them", async () => {
    const fleet = await loadFleet(dev);
    const withHeld = probeOutput
      .replace('clawfleet-tenant-alice {"ready":true,"held":[]}', 'clawfleet-tenant-alice {"ready":true,"held":["telegram"]}')
      .replace('clawfleet-shared-local {"ready":false,"failing":["telegram"],"held":[]}', 'clawfleet-shared-local {"ready":true,"held":[]}');
    const rows = allTargets(fleet).map((t) => tenantStatus(t, parseStatusProbe(dockerOps, withHeld), fleet.image));
    assert.deepEqual(
      rows.map((r) => [r.tenant, r.health, r.channelsHeld, r.healthy]),
      [
        ["alice", "healthy", ["telegram"], false],
        ["bob", "healthy", undefined, true],
        ["carol", "healthy", undefined, true],
        ["dave", undefined, undefined, false],
      ],
    );
    assert.equal(
      unhealthyMessage({ stack: dev, image: fleet.image, healthy: false, tenants: rows, unreachable: [] }),
      [
        "2 of 4 tenants are not healthy: alice (restart-loop breaker holds telegram), dave (no container)",
        `clawfleet: after 3 unclean starts within 5 minutes openclaw keeps a gateway's channels stopped until 5 minutes pass without another; start one now with: clawfleet exec ${dev} alice -- gateway call channels.start --params '{"channel":"telegram"}'`,
      ].join("\n"),
    );
    const unknown = probeOutput.replace('clawfleet-tenant-alice {"ready":true,"held":[]}', "clawfleet-tenant-alice ?");
    const alice = tenantStatus(allTargets(fleet)[0]!, parseStatusProbe(dockerOps, unknown), fleet.image);
    assert.deepEqual([alice.channelsHeld, alice.ready, alice.healthy], [undefined, undefined, false], "a gateway that cannot tell is not counted healthy");
    assert.equal(describeProblem(alice), "readiness unknown");
  });

  it("asks each gateway inside itself, where the token stays, and never its host port, which another process could answer", async () => {
    const runner = fakeRunner(() => ({ code: 0, stdout: probeOutput, stderr: "" }));
    const result = await ops("status", [dev], runner);
    assert.equal(result.code, 1, "bob and carol's gateway is not ready");
    const script = runner.calls[0] ?? "";
    assert.match(script, /\( out=\$\(timeout 20 'docker' 'exec' 'clawfleet-tenant-alice' 'node' '-e' 'fetch\(/);
    assert.equal(script.match(/timeout 20/g)?.length, 3, "alice, dave and the shared gateway");
    assert.doesNotMatch(script, /OPENCLAW_GATEWAY_TOKEN=/);
    assert.doesNotMatch(script, /curl|wget|:18101/);
  });

  it("reads docker's sizes and prints uptimes compactly", () => {
    assert.equal(parseDockerSize("712.5MiB"), 712.5);
    assert.equal(parseDockerSize("1.5GiB"), 1536);
    assert.equal(parseDockerSize("512KiB"), 0.5);
    assert.equal(parseDockerSize("oops"), undefined);
    assert.deepEqual([41, 725, 11040, 198000].map(formatUptime), ["41s", "12m 05s", "3h 04m", "2d 07h"]);
  });
});

describe("exec, pairing and devices", () => {
  const running = { code: 0, stdout: '{"Status":"running","Health":{"Status":"healthy"}}\t["OPENCLAW_GATEWAY_TOKEN=tok-0123456789abcdef"]', stderr: "" };

  it("redacts the keys and tokens of the gateway's credentials file, read inside the running gateway", async () => {
    const file = JSON.stringify({ modelKeys: { anthropic: "sk-ant-api03-ROTATEDKEY0000000000" }, channels: { telegram: "123456789:TOKENTOKENTOKENTOKEN" } });
    const runner = fakeRunner((_host, argv) => {
      if (argv[1] === "inspect") return running;
      if (argv.join(" ") === "docker exec clawfleet-tenant-alice cat /run/clawfleet/secrets.json") return { code: 0, stdout: file, stderr: "" };
      return { code: 0, stdout: "key sk-ant-api03-ROTATEDKEY0000000000 bot 123456789:TOKENTOKENTOKENTOKEN", stderr: "" };
    });
    const result = await ops("exec", [dev, "alice", "--", "status"], runner);
    assert.equal(result.code, 0);
    assert.equal(result.out, "key [redacted /modelKeys/anthropic] bot [redacted /channels/telegram]");
  });

  it("adds --agent for a shared tenant when the gateway's help lists it, and redacts the token in output", async () => {
    const runner = fakeRunner((_host, argv) => {
      if (argv[1] === "inspect") return running;
      if (argv.includes("--help")) return { code: 0, stdout: "Options:\n  --agent <id>   Agent id\n", stderr: "" };
      return { code: 0, stdout: "token tok-0123456789abcdef", stderr: "" };
    });
    const result = await ops("exec", [dev, "bob", "--", "sessions", "--json"], runner);
    assert.equal(result.code, 0);
    assert.equal(result.out, "token [redacted OPENCLAW_GATEWAY_TOKEN]");
    assert.equal(runner.calls.pop(), "local: docker exec clawfleet-shared-local node /app/node_modules/openclaw/openclaw.mjs sessions --json --agent bob");
    // The help probe asks with the command's words only: nothing after them, or after --, could make it run.
    assert.equal(runner.calls.pop(), "local: docker exec clawfleet-shared-local node /app/node_modules/openclaw/openclaw.mjs sessions --help");
    await ops("exec", [dev, "bob", "--", "config", "set", "--", "--help"], runner);
    assert.ok(
      runner.calls.includes("local: docker exec clawfleet-shared-local node /app/node_modules/openclaw/openclaw.mjs config set --help"),
      runner.calls.join("\n"),
    );
  });

  it("refuses a shared tenant's exec for another agent, and arguments after -- on verbs that pass none on", async () => {
    const runner = fakeRunner(() => running);
    const other = await ops("exec", [dev, "bob", "--", "sessions", "--agent", "carol"], runner);
    assert.deepEqual(
      [other.code, other.err],
      [
        2,
        "clawfleet: tenant bob is agent bob in host local's shared gateway; exec acts for that agent only, not --agent carol: drop --agent (clawfleet adds --agent bob where the command takes it) or name the other tenant instead",
      ],
    );
    const dropped = await ops("logs", [dev, "alice", "--", "--tail", "5"], runner);
    assert.deepEqual([dropped.code, dropped.err], [2, 'clawfleet logs: unexpected "--tail" "5" after --; only exec passes arguments on to the gateway']);
    assert.deepEqual(runner.calls, []);
  });

  it("refuses a gateway that is not running or does not exist, saying what to do", async () => {
    const stopped = fakeRunner(() => ({ code: 0, stdout: '{"Status":"exited"}\t[]', stderr: "" }));
    const result = await ops("devices", ["list", dev, "alice"], stopped);
    assert.equal(result.code, 1);
    assert.equal(
      result.err,
      "clawfleet: tenant alice's gateway (container clawfleet-tenant-alice) on host local is not running (exited); start it with pulumi up, and read why it stopped with: clawfleet logs stacks/Pulumi.dev.yaml alice",
    );
    const missing = fakeRunner(() => ({ code: 1, stdout: "", stderr: "Error: No such object: clawfleet-shared-local" }));
    const shared = await ops("pairing", ["list", dev, "bob", "telegram"], missing);
    assert.equal(shared.code, 1);
    assert.equal(
      shared.err,
      "clawfleet: host local's shared gateway (hosts.local.shared.channels) declares no telegram channel, so there is nothing to pair; declared channels: (none)",
    );
    const exec = await ops("exec", [dev, "bob", "--", "status"], missing);
    assert.equal(
      exec.err,
      "clawfleet: tenant bob's shared gateway (container clawfleet-shared-local) does not exist on host local; deploy the stack with pulumi up",
    );
  });

  it("counts a pairing approval as done when the gateway stored it but could not also write the stack-owned config", async () => {
    const runner = fakeRunner((_host, argv) =>
      argv[1] === "inspect"
        ? running
        : {
            code: 1,
            stdout: "Approved telegram sender 4242.",
            stderr: "Config is externally managed (`OPENCLAW_CONFIG_READONLY=1`), so OpenClaw treats openclaw.json as immutable.",
          },
    );
    const result = await ops("pairing", ["approve", dev, "alice", "telegram", "ABCD1234"], runner);
    assert.equal(result.code, 0);
    assert.equal(result.out, "approved telegram sender 4242 on tenant alice's gateway (clawfleet-tenant-alice); they can write to the bot now");
    assert.match(result.err, /the approval itself is stored$/);
  });
});

describe("backup and restore", () => {
  const running = { code: 0, stdout: '{"Status":"running","Health":{"Status":"healthy"}}\t[]', stderr: "" };
  /** The arguments of the last script the runner was asked to run. */
  const scriptArgs = (calls: readonly string[]) =>
    calls
      .filter((c) => c.includes(" bash -s -- "))
      .pop()
      ?.split(" bash -s -- ")[1];

  it("refuses a --to that is relative, looks like an option, or is a shared or system directory, before anything runs on the host", async () => {
    const runner = fakeRunner(() => running);
    const refusals: [string, string][] = [
      [
        "backups",
        "clawfleet backup: --to \"backups\" must be an absolute path on the tenant's host such as /srv/clawfleet-backups, using only A-Z, a-z, 0-9, '.', '_', '-' and '/'",
      ],
      [
        "--to=--help",
        "clawfleet backup: --to \"--help\" must be an absolute path on the tenant's host such as /srv/clawfleet-backups, using only A-Z, a-z, 0-9, '.', '_', '-' and '/'",
      ],
      ["/srv/a/../etc", 'clawfleet backup: --to "/srv/a/../etc" must not contain . or .. segments; write the path out in full'],
      [
        "/etc",
        'clawfleet backup: --to "/etc" is /etc, a system directory that host preparation would chmod 0700; use a directory of its own such as /srv/clawfleet or /var/lib/clawfleet',
      ],
      [
        "/tmp",
        'clawfleet backup: --to "/tmp" is /tmp, a directory other programs or users share; host preparation would chmod it 0700 and a purge deletes below it: use a directory of its own such as /srv/clawfleet',
      ],
    ];
    for (const [to, message] of refusals) {
      const result = await ops("backup", [dev, "alice", ...(to.startsWith("--to=") ? [to] : ["--to", to])], runner);
      assert.deepEqual([result.code, result.err], [2, message], to);
    }
    assert.deepEqual(runner.calls, []);
  });

  it("backs up into the manual folder, apart from the pre-upgrade archives, and reports openclaw's reason for a failure", async () => {
    const runner = fakeRunner((_host, argv) =>
      argv[1] === "inspect" ? running : { code: 0, stdout: "/var/lib/clawfleet/backups/manual/clawfleet-tenant-alice/a.tar.gz\n", stderr: "" },
    );
    const result = await ops("backup", [dev, "alice"], runner);
    assert.equal(result.code, 0, result.err);
    assert.equal(scriptArgs(runner.calls), "clawfleet-tenant-alice /var/lib/clawfleet/backups/manual/clawfleet-tenant-alice");
    const failing = fakeRunner((_host, argv) =>
      argv[1] === "inspect"
        ? running
        : { code: 1, stdout: "", stderr: "backup-gateway: openclaw could not back up clawfleet-tenant-alice: JSON5 parse failed at line 1\n" },
    );
    const failed = await ops("backup", [dev, "alice"], failing);
    assert.equal(
      failed.err.split("\n").pop(),
      "clawfleet: backup of tenant alice failed on host local: openclaw could not back up clawfleet-tenant-alice: JSON5 parse failed at line 1",
    );
  });

  it("tells the restore script which gateway the archive must come from, the size limit, and an intended copy from another gateway", async () => {
    const runner = fakeRunner((_host, argv) => (argv[1] === "inspect" ? running : { code: 0, stdout: "", stderr: "" }));
    await ops("restore", [dev, "alice", "/var/lib/clawfleet/backups/a.tar.gz"], runner);
    assert.equal(scriptArgs(runner.calls), "--gateway tenant:alice --max-bytes 10737418240 -- clawfleet-tenant-alice /var/lib/clawfleet/backups/a.tar.gz");
    await ops("restore", [dev, "bob", "/b.tar.gz", "--whole-gateway", "--from-other-gateway", "alice", "--max-size", "512M"], runner);
    assert.equal(scriptArgs(runner.calls), "--gateway shared --from-other-gateway alice --max-bytes 536870912 -- clawfleet-shared-local /b.tar.gz");
  });

  it("refuses a relative archive path and a size that is not one, and passes the script's refusal on in its own words", async () => {
    const untouched = fakeRunner(() => running);
    const relative = await ops("restore", [dev, "alice", "a.tar.gz"], untouched);
    assert.deepEqual(
      [relative.code, relative.err],
      [2, 'clawfleet restore: the archive "a.tar.gz" must be an absolute path on the tenant\'s host, as clawfleet backup printed it'],
    );
    const size = await ops("restore", [dev, "alice", "/a.tar.gz", "--max-size", "10GB"], untouched);
    assert.deepEqual([size.code, size.err], [2, 'clawfleet restore: --max-size "10GB" is not a size; use a whole number of GiB or MiB such as 20G or 512M']);
    assert.deepEqual(untouched.calls, []);
    const refusing = fakeRunner((_host, argv) =>
      argv[1] === "inspect"
        ? running
        : argv[0] === "test"
          ? { code: 0, stdout: "", stderr: "" }
          : {
              code: 1,
              stdout: "",
              stderr:
                "restore-gateway: /a.tar.gz holds the state of tenant bob's gateway, not of tenant alice's gateway; nothing was changed. To put that state into clawfleet-tenant-alice on purpose, add --from-other-gateway bob\n",
            },
    );
    const refused = await ops("restore", [dev, "alice", "/a.tar.gz"], refusing);
    assert.equal(refused.code, 1);
    assert.equal(
      refused.err.split("\n").pop(),
      "clawfleet: restore of tenant alice failed on host local: /a.tar.gz holds the state of tenant bob's gateway, not of tenant alice's gateway; nothing was changed. To put that state into clawfleet-tenant-alice on purpose, add --from-other-gateway bob",
    );
  });

  it("leaves a gateway that was stopped stopped, without waiting for it to be healthy", async () => {
    const stopped = { code: 0, stdout: '{"Status":"exited"}\t[]', stderr: "" };
    const runner = fakeRunner((_host, argv) =>
      argv[1] === "inspect"
        ? stopped
        : {
            code: 0,
            stdout: "",
            stderr:
              "restore-gateway: clawfleet-tenant-alice left stopped on the restored state; the previous state is kept at /var/lib/clawfleet/users/alice.before-restore-20261203T151353\n",
          },
    );
    const result = await ops("restore", [dev, "alice", "/a.tar.gz"], runner);
    assert.equal(result.code, 0, result.err);
    assert.equal(
      result.out,
      "restored tenant alice from /a.tar.gz; the gateway was stopped and stays stopped; the previous state is kept at /var/lib/clawfleet/users/alice.before-restore-20261203T151353 on host local",
    );
    assert.equal(runner.calls.filter((c) => c.includes("docker inspect")).length, 1, "no wait for health");
  });
});

describe("doctor", () => {
  it("compares Tailscale Serve with the declaration: missing, wrong target, undeclared, Funnel", async () => {
    const fleet = await loadFleet(dev);
    const host = fleet.hosts[0];
    assert.ok(host);
    const expected = expectedServe(host, hostGateways(fleet, host));
    const davePort = allTargets(fleet).find((t) => t.id === "dave")?.port ?? 0;
    const serve = {
      TCP: { "18101": { HTTPS: true }, "18789": { HTTPS: true }, "19000": { HTTPS: true } },
      Web: {
        "devbox.example-tailnet.ts.net:18101": { Handlers: { "/": { Proxy: "http://127.0.0.1:18101" } } },
        "devbox.example-tailnet.ts.net:18789": { Handlers: { "/": { Proxy: "http://127.0.0.1:9999" } } },
        "devbox.example-tailnet.ts.net:19000": { Handlers: { "/": { Proxy: "http://127.0.0.1:19000" } } },
      },
      AllowFunnel: { "devbox.example-tailnet.ts.net:19000": true },
    };
    assert.deepEqual(checkServe(host, expected, [JSON.stringify(serve)]), [
      {
        ok: false,
        what: `Serve has no entry for https port ${davePort} (tenant dave)`,
        fix: `tailscale serve --bg --yes --https=${davePort} http://127.0.0.1:${davePort} (or run pulumi up)`,
      },
      {
        ok: false,
        what: "Serve sends https port 18789 (the shared gateway) to http://127.0.0.1:9999, not http://127.0.0.1:18789",
        fix: "tailscale serve --bg --yes --https=18789 http://127.0.0.1:18789 (or run pulumi up)",
      },
      {
        ok: false,
        what: "Serve publishes https port 19000 (to http://127.0.0.1:19000), which this stack does not declare",
        fix: "if nothing else on the host owns it: tailscale serve --https=19000 off",
      },
      { ok: false, what: "Funnel is on for devbox.example-tailnet.ts.net:19000: it is published to the internet", fix: "tailscale funnel --https=19000 off" },
    ]);
  });

  it("checks a host's shared gateway for drift also while no tenant is bound to it", async () => {
    const loaded = await loadFleet(dev);
    const fleet = { ...loaded, tenants: loaded.tenants.filter((t) => t.tier !== "shared") };
    const host = fleet.hosts[0];
    assert.ok(host);
    const probe = renderDoctorProbe(dockerTools, "img:1", false, [], [], "/var/lib/clawfleet/backups", declaredGateways(hostGateways(fleet, host)), []);
    assert.match(probe, /--format 'drift [^']*' 'clawfleet-shared-local' 'clawfleet-tenant-alice' 'clawfleet-tenant-dave' /);
    // Its memory limit raised by hand.
    const inspected = { Name: "/clawfleet-shared-local", HostConfig: { Memory: 4096 * 1024 * 1024 } };
    const output = ["@@clawfleet-runtime", "version 27.5.1", "image present", `drift ${JSON.stringify(inspected)}`, "@@clawfleet-end"].join("\n");
    const checks = checkHost({ ...host, tailscale: { serve: false } }, allTargets(fleet), fleet, output).filter((c) => c.what.includes(" memory: "));
    assert.deepEqual(checks, [
      {
        ok: false,
        what: "clawfleet-shared-local (the shared gateway) memory: running 4096 MB, declared 2048 MB",
        fix: "docker update --memory 2048m --memory-swap 2048m clawfleet-shared-local",
      },
    ]);
  });

  it("flags state directories with the wrong owner or mode, and limits above the host's memory, each with its fix", async () => {
    const fleet = await loadFleet(dev);
    const host = fleet.hosts[0];
    assert.ok(host);
    const targets = allTargets(fleet).filter((t) => t.tier === "dedicated");
    const output = [
      "@@clawfleet-runtime",
      "version 27.5.1",
      "image absent",
      "@@clawfleet-serve",
      "@@not-installed",
      "@@clawfleet-dirs",
      "0 700 /var/lib/clawfleet",
      "1000 700 /var/lib/clawfleet/shared",
      "0 755 /var/lib/clawfleet/users/alice",
      "missing - /var/lib/clawfleet/users/dave",
      "@@clawfleet-memory",
      "MemTotal:        4096000 kB",
      "MemAvailable:    2048000 kB",
      "@@clawfleet-end",
    ].join("\n");
    const report = renderDoctor([{ host: "local", checks: checkHost(host, targets, fleet, output) }]);
    assert.equal(
      report,
      [
        "host local: 5 problems",
        "  ok  Docker 27.5.1 answers",
        "  FIX image ghcr.io/openclaw/openclaw:2026.9.6 is not on the host",
        "      fix: pull or load it: docker pull ghcr.io/openclaw/openclaw:2026.9.6 (or docker load, see scripts/build-gateway-image.sh); pulumi up does this too",
        "  FIX tailscale is not installed, but hosts.local.tailscale.serve is true",
        "      fix: install Tailscale on the host, or set serve: false",
        "  FIX /var/lib/clawfleet/users/alice (tenant alice) has mode 755, not 700 and owner uid 0, not 1000",
        "      fix: chown 1000:1000 /var/lib/clawfleet/users/alice && chmod 0700 /var/lib/clawfleet/users/alice",
        "  FIX /var/lib/clawfleet/users/dave (tenant dave) does not exist",
        "      fix: run pulumi up, which creates it",
        "  ok  2 state directories are 0700, gateway directories owned by uid 1000",
        "  FIX the gateways' memory limits add up to 5120 MB, more than the host's 4000 MB",
        "      fix: lower tenants' memoryMb, move tenants to another host, or add memory",
      ].join("\n"),
    );
  });

  it("measures only the state of tenants that declare stateLimitMb, and names one over it with what to do", async () => {
    const fleet = await loadFleet(dev);
    const host = fleet.hosts[0];
    assert.ok(host);
    const limits: Record<string, number> = { alice: 1024, bob: 64, dave: 512 };
    const targets = allTargets(fleet).map((t) => ({ ...t, stateLimitMb: limits[t.id] }));
    const probe = renderDoctorProbe(
      dockerTools,
      "img:1",
      false,
      [],
      [],
      "/var/lib/clawfleet/backups",
      [],
      ["/var/lib/clawfleet/users/alice", "/var/lib/clawfleet/shared/workspaces/bob"],
    );
    assert.ok(probe.includes("for dir in '/var/lib/clawfleet/users/alice' '/var/lib/clawfleet/shared/workspaces/bob'; do"), probe);
    assert.ok(probe.includes(`  [ -d "$dir" ] && echo "size $(timeout 30 du -sk -- "$dir" 2>/dev/null | cut -f1) $dir"`), probe);
    const output = [
      "@@clawfleet-runtime",
      "version 27.5.1",
      "image present",
      "@@clawfleet-sizes",
      "size 1239040 /var/lib/clawfleet/users/alice",
      "size 2048 /var/lib/clawfleet/shared/workspaces/bob",
      "@@clawfleet-end",
    ].join("\n");
    const checks = checkHost({ ...host, tailscale: { serve: false } }, targets, fleet, output).filter((c) => c.what.includes("state"));
    assert.deepEqual(checks, [
      {
        ok: false,
        what: "tenant alice's state /var/lib/clawfleet/users/alice is 1210 MB, over its stateLimitMb of 1024 MB",
        fix: "see what grows (du -xh --max-depth 2 /var/lib/clawfleet/users/alice | sort -h | tail), back it up (clawfleet backup) and remove what is not needed, or raise tenants.alice.stateLimitMb",
      },
      { ok: true, what: "state of 1 tenant within stateLimitMb" },
    ]);
  });

  it("flags a config file that is a link and backups that others can read, each with its fix", async () => {
    const fleet = await loadFleet(dev);
    const host = fleet.hosts[0];
    assert.ok(host);
    const output = [
      "@@clawfleet-runtime",
      "version 27.5.1",
      "image present",
      "@@clawfleet-configs",
      "link /var/lib/clawfleet/users/alice/openclaw.json -> /etc/shadow",
      "@@clawfleet-backups",
      "d 0 755 /var/lib/clawfleet/backups/manual/clawfleet-tenant-alice",
      "f 1000 644 /var/lib/clawfleet/backups/manual/clawfleet-tenant-alice/a.tar.gz",
      "@@clawfleet-end",
    ].join("\n");
    const checks = checkHost(host, [], fleet, output).filter((c) => !c.ok && !c.what.startsWith("Serve") && !c.what.startsWith("tailscale"));
    assert.deepEqual(checks, [
      {
        ok: false,
        what: "/var/lib/clawfleet/users/alice/openclaw.json is a link to /etc/shadow, not the stack's config file; a deploy or restore would write through it",
        fix: "rm /var/lib/clawfleet/users/alice/openclaw.json and run pulumi up, which writes the file again",
      },
      {
        ok: false,
        what: "backup folder /var/lib/clawfleet/backups/manual/clawfleet-tenant-alice has mode 755, not 700: archives hold the gateways' credentials",
        fix: "chmod 0700 /var/lib/clawfleet/backups/manual/clawfleet-tenant-alice",
      },
      {
        ok: false,
        what: "backup archive /var/lib/clawfleet/backups/manual/clawfleet-tenant-alice/a.tar.gz has mode 644, not 600 and owner uid 1000, not root: archives hold the gateways' credentials",
        fix: "chown root:root /var/lib/clawfleet/backups/manual/clawfleet-tenant-alice/a.tar.gz && chmod 0600 /var/lib/clawfleet/backups/manual/clawfleet-tenant-alice/a.tar.gz",
      },
    ]);
  });
});

describe("arguments and help", () => {
  it("has --help for every command, from its table entry", async () => {
    for (const command of commands) {
      const result = await ops(
        command.name.split(" ")[0] ?? "",
        [...command.name.split(" ").slice(1), "--help"],
        fakeRunner(() => ({ code: 1, stdout: "", stderr: "" })),
      );
      assert.equal(result.code, 0, command.name);
      assert.equal(result.out, helpOf(command));
      assert.match(result.out, new RegExp(`^usage: clawfleet ${command.name} <`));
    }
    const pairing = await ops(
      "pairing",
      ["--help"],
      fakeRunner(() => ({ code: 1, stdout: "", stderr: "" })),
    );
    assert.match(pairing.out, /^usage: clawfleet pairing list <stack file> <tenant> <channel> \[--json\]\n[^]*\n\nusage: clawfleet pairing approve /);
  });

  it("lists each option with its value in the help, aligned", () => {
    const restore = commands.find((c) => c.name === "restore");
    assert.ok(restore);
    assert.deepEqual(helpOf(restore).split("\n").slice(-5), [
      "  --whole-gateway              required for a shared tenant: the restore covers every tenant of that gateway",
      "  --from-other-gateway <from>  put another gateway's state in on purpose (<from> as the refusal names it)",
      "  --max-size <n>G|<n>M         the most the archive may unpack to (default 10G)",
      "  --from-offsite <key>|latest  restore an off-host copy (a key as backup --list prints it, or the newest)",
      "  --identity <file>            with --from-offsite: the age identity file (on this machine) that decrypts the copies",
    ]);
  });

  it("rejects unknown options, missing arguments and unknown subcommands with exit 2, in one line naming the fix", async () => {
    const usage = (verb: string, argv: string[]) => {
      try {
        parseCommandLine(commands, verb, argv);
        return "parsed";
      } catch (error) {
        assert.ok(error instanceof UsageError);
        return error.message;
      }
    };
    assert.equal(usage("status", [dev, "--jsno"]), "clawfleet status: unknown option --jsno; see clawfleet status --help");
    assert.equal(
      usage("logs", [dev]),
      "clawfleet logs: missing <tenant>; usage: clawfleet logs <stack file> <tenant> [--follow] [--since <time>] [--tail <n>]",
    );
    assert.equal(usage("logs", [dev, "alice", "--since"]), "clawfleet logs: --since needs a value; see clawfleet logs --help");
    assert.equal(usage("logs", [dev, "alice", "--since", "--tail", "5"]), "clawfleet logs: --since needs a value; see clawfleet logs --help");
    assert.equal(usage("status", [dev, "--json=yes"]), "clawfleet status: --json takes no value; see clawfleet status --help");
    assert.equal(usage("status", [dev, "extra"]), 'clawfleet status: unexpected argument "extra"; usage: clawfleet status <stack file> [--json] [--host <id>]');
    assert.equal(usage("status", [dev, "--", "x"]), 'clawfleet status: unexpected "x" after --; only exec passes arguments on to the gateway');
    assert.equal(usage("pairing", ["aprove", dev]), 'clawfleet pairing: unknown command "aprove"; use one of: pairing list, pairing approve');
    assert.equal(usage("exec", [dev, "alice"]), "clawfleet exec: nothing to run; usage: clawfleet exec <stack file> <tenant> -- <openclaw args...>");
    assert.equal(usage("plan", []), "clawfleet plan: missing <stack file>; usage: clawfleet plan <stack file> [--json] [--facts]");
    assert.equal(usage("logs", [dev, "alice", "-f", "--since=10m"]), "parsed");
    const result = await ops(
      "status",
      [dev, "--jsno"],
      fakeRunner(() => ({ code: 1, stdout: "", stderr: "" })),
    );
    assert.deepEqual([result.code, result.err], [2, "clawfleet status: unknown option --jsno; see clawfleet status --help"]);
  });

  it("hands exec what follows its tenant, with or without --", () => {
    for (const argv of [
      [dev, "alice", "--", "sessions", "--json"],
      [dev, "alice", "sessions", "--json"],
    ]) {
      const parsed = parseCommandLine(commands, "exec", argv);
      assert.equal(parsed.kind, "run");
      if (parsed.kind === "run")
        assert.deepEqual(
          [parsed.input.positionals, parsed.input.passThrough],
          [
            [dev, "alice"],
            ["sessions", "--json"],
          ],
        );
    }
  });

  it("gives each handler its options typed and defaulted: a boolean not given is false", () => {
    const parsed = parseCommandLine(commands, "logs", [dev, "alice", "-f", "--since=10m"]);
    assert.equal(parsed.kind, "run");
    if (parsed.kind === "run") assert.deepEqual(parsed.input.options, { follow: true, since: "10m", tail: undefined });
  });
});

describe("a Kubernetes host's gateways", () => {
  const stack = [
    "config:",
    "  clawfleet:image: clawfleet/openclaw-gateway:2026.9.6",
    "  clawfleet:hosts:",
    "    cluster: { kubernetes: { namespace: clawfleet-prod, kubeconfig: /etc/clawfleet/kubeconfig } }",
    "  clawfleet:tenants:",
    "    alice: { tier: dedicated, host: cluster }",
    "",
  ].join("\n");
  const kubectl = "kubectl --kubeconfig=/etc/clawfleet/kubeconfig --namespace=clawfleet-prod";
  const token = "tok-0123456789abcdefXYZ";
  const pod = {
    kind: "Pod",
    metadata: { name: "clawfleet-tenant-alice-0", labels: { "clawfleet.dev/gateway": "clawfleet-tenant-alice" } },
    spec: {
      containers: [
        {
          name: "gateway",
          image: "clawfleet/openclaw-gateway:2026.9.6",
          env: [{ name: "OPENCLAW_GATEWAY_TOKEN", valueFrom: { secretKeyRef: { name: "clawfleet-tenant-alice-secrets", key: "gateway-token" } } }],
        },
      ],
    },
    status: {
      phase: "Running",
      containerStatuses: [{ name: "gateway", ready: true, started: true, restartCount: 1, state: { running: { startedAt: "2026-12-05T09:00:00Z" } } }],
    },
  };
  const secret = {
    kind: "Secret",
    data: {
      "gateway-token": Buffer.from(token).toString("base64"),
      "credentials.json": Buffer.from('{"modelKeys":{"anthropic":"sk-ant-api03-secretvalue"}}').toString("base64"),
    },
  };

  async function withStack(run: (file: string) => Promise<void>): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), "clawfleet-ops-"));
    const file = join(dir, "Pulumi.kube.yaml");
    writeFileSync(file, stack);
    try {
      await run(file);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it("finds each tenant's gateway and its state volume", async () => {
    await withStack(async (file) => {
      const [alice] = allTargets(await loadFleet(file));
      assert.deepEqual([alice?.container, alice?.stateDir], ["clawfleet-tenant-alice", "clawfleet-prod/clawfleet-tenant-alice-state"]);
      // Its Service's port, from the default range of a Kubernetes host.
      assert.ok(alice !== undefined && alice.port >= 18100 && alice.port <= 18999, String(alice?.port));
    });
  });

  it("logs: reads the pod's log through kubectl, the token and credentials from its Secret redacted, without reading a host file", async () => {
    await withStack(async (file) => {
      const runner = fakeRunner((_host, argv) => {
        if (argv.includes("get")) return { code: 0, stdout: JSON.stringify({ kind: "List", items: [pod, secret] }), stderr: "" };
        return { code: 0, stdout: `token ${token} key sk-ant-api03-secretvalue\n`, stderr: "" };
      });
      const result = await ops("logs", [file, "alice", "--tail", "5"], runner);
      assert.equal(result.code, 0);
      assert.equal(result.out, "token [redacted OPENCLAW_GATEWAY_TOKEN] key [redacted /modelKeys/anthropic]");
      assert.deepEqual(runner.calls, [
        `cluster: ${kubectl} get pod/clawfleet-tenant-alice-0 secret/clawfleet-tenant-alice-secrets --ignore-not-found --output=json`,
        `cluster: ${kubectl} logs clawfleet-tenant-alice-0 --container=gateway --tail=5`,
      ]);
    });
  });

  it("status: one kubectl probe, each gateway asked inside its pod, no backup folders or state sizes on a host", async () => {
    await withStack(async (file) => {
      let probe = "";
      const runner = fakeRunner((_host, argv) => {
        probe = argv[2] ?? "";
        const output = [
          "@@clawfleet-now 1796464800",
          "@@clawfleet-runtime",
          ...JSON.stringify(pod, null, 2).split("\n"),
          "@@clawfleet-inside",
          'clawfleet-tenant-alice {"ready":true,"failing":[],"held":[]}',
          "@@clawfleet-backups",
          "@@clawfleet-sizes",
          "@@clawfleet-end",
        ];
        return { code: 0, stdout: output.join("\n"), stderr: "" };
      });
      const result = await ops("status", [file, "--json"], runner);
      assert.equal(result.code, 0);
      const [alice] = (JSON.parse(result.out) as FleetStatus).tenants;
      assert.deepEqual(
        [alice?.state, alice?.health, alice?.ready, alice?.restarts, alice?.uptimeSeconds, alice?.imageCurrent, alice?.lastBackup, alice?.healthy],
        ["running", "healthy", true, 1, 3600, true, null, true],
      );
      assert.match(probe, /get 'pod\/clawfleet-tenant-alice-0' --ignore-not-found --output=json/);
      assert.match(probe, /'exec' 'clawfleet-tenant-alice-0' '--container=gateway' '--' 'node' '-e'/);
      assert.doesNotMatch(probe, /stat -c|du -sk/);
    });
  });

  it("backs a tenant up onto its gateway's backup volume from this machine, and prints where the archive is", async () => {
    await withStack(async (file) => {
      let script = "";
      const runner = fakeRunner((_host, argv) => {
        script = argv[2] ?? "";
        return {
          code: 0,
          stdout: "clawfleet-prod/clawfleet-tenant-alice-backups:manual/20261205T200000Z-openclaw-backup.tar.gz\n",
          stderr:
            "gateway clawfleet-tenant-alice: backing up its state with clawfleet/openclaw-gateway:2026.9.6's openclaw into clawfleet-prod/clawfleet-tenant-alice-backups, folder manual (pod clawfleet-tenant-alice-backup-manual, at most 3600 s); the gateway keeps running\n",
        };
      });
      const result = await ops("backup", [file, "alice"], runner);
      assert.equal(result.code, 0, result.err);
      assert.equal(result.out, "clawfleet-prod/clawfleet-tenant-alice-backups:manual/20261205T200000Z-openclaw-backup.tar.gz");
      assert.equal(
        result.err.split("\n").at(-1),
        `clawfleet: backed up tenant alice: clawfleet-prod/clawfleet-tenant-alice-backups:manual/20261205T200000Z-openclaw-backup.tar.gz on host cluster (restore with: clawfleet restore ${file} alice clawfleet-prod/clawfleet-tenant-alice-backups:manual/20261205T200000Z-openclaw-backup.tar.gz)`,
      );
      assert.deepEqual(
        runner.calls.map((c) => c.split(" ").slice(0, 3).join(" ")),
        ["cluster: sh -c"],
      );
      // The manual folder, where nothing rotates, whatever image the gateway runs.
      assert.match(script, /\{"name":"FOLDER","value":"manual"\},\{"name":"KEEP","value":"0"\}/);
      assert.match(
        script,
        /^\[ -n "\$current" \] \|\| fail 'gateway clawfleet-tenant-alice has no StatefulSet in namespace clawfleet-prod; deploy it with pulumi up first'$/m,
      );
    });
  });

  it("says why a backup on a Kubernetes host failed, with the pod's own lines first; --to is refused there", async () => {
    await withStack(async (file) => {
      const runner = fakeRunner(() => ({
        code: 1,
        stdout: "",
        stderr:
          "progress\nError: the state folder is not readable\nclawfleet: gateway clawfleet-tenant-alice: the backup failed (Failed; its pod's last lines above)\n",
      }));
      const failed = await ops("backup", [file, "alice"], runner);
      assert.equal(failed.code, 1);
      assert.equal(
        failed.err,
        [
          "progress",
          "Error: the state folder is not readable",
          "clawfleet: backup of tenant alice failed on host cluster: gateway clawfleet-tenant-alice: the backup failed (Failed; its pod's last lines above)",
        ].join("\n"),
      );
      const to = await ops(
        "backup",
        [file, "alice", "--to", "/srv/backups"],
        fakeRunner(() => assert.fail("no command may run")),
      );
      assert.deepEqual(
        [to.code, to.err],
        [
          2,
          "clawfleet backup: --to names a folder on a Docker host; host cluster runs on Kubernetes, where the archive goes to the gateway's backup volume (clawfleet-tenant-alice-backups, folder manual): leave --to out",
        ],
      );
    });
  });

  it("restores from the gateway's backup volume, as backup printed the archive or by its path there, and waits until it is healthy", async () => {
    await withStack(async (file) => {
      const scripts: string[] = [];
      const runner = fakeRunner((_host, argv) => {
        if (argv[0] === "sh") {
          scripts.push(argv[2] ?? "");
          return {
            code: 0,
            stdout: "",
            stderr:
              "gateway clawfleet-tenant-alice: started again on the restored state; the previous state is kept at clawfleet-prod/clawfleet-tenant-alice-backups:before-restore-20261205T210000Z\n",
          };
        }
        return { code: 0, stdout: JSON.stringify({ kind: "List", items: [pod, secret] }), stderr: "" };
      });
      for (const archive of [
        "clawfleet-prod/clawfleet-tenant-alice-backups:manual/20261205T200000Z-openclaw-backup.tar.gz",
        "manual/20261205T200000Z-openclaw-backup.tar.gz",
      ]) {
        const result = await ops("restore", [file, "alice", archive], runner);
        assert.equal(result.code, 0, result.err);
        assert.equal(
          result.out,
          `restored tenant alice from ${archive}; the gateway is healthy; the previous state is kept at clawfleet-prod/clawfleet-tenant-alice-backups:before-restore-20261205T210000Z on host cluster`,
        );
      }
      for (const script of scripts) {
        assert.match(script, /\{"name":"ARCHIVE","value":"manual\/20261205T200000Z-openclaw-backup\.tar\.gz"\},\{"name":"ROLLBACK","value":""\}/);
        assert.match(script, /\{"name":"MAX_BYTES","value":"10737418240"\},\{"name":"GATEWAY","value":"tenant:alice"\}/);
      }
    });
  });

  it("shows a restore's progress as its script says it, each line once, the last one the reason when it fails", async () => {
    await withStack(async (file) => {
      const lines = [
        "gateway clawfleet-tenant-alice: checking manual/a.tar.gz with img:1's openclaw (pod clawfleet-tenant-alice-restore-check, at most 3600 s); the gateway keeps running",
        "gateway clawfleet-tenant-alice: stopping it (its StatefulSet scaled to 0)",
        "clawfleet: gateway clawfleet-tenant-alice: copying the state in failed; the previous state is back, nothing was changed",
      ];
      const err: string[] = [];
      const seenWhileRunning: string[][] = [];
      const runner: HostRunner = {
        async run(_host, _argv, options) {
          for (const line of lines) {
            options?.onStderrLine?.(line);
            seenWhileRunning.push([...err]);
          }
          return { code: 1, stdout: "", stderr: `${lines.join("\n")}\n` };
        },
        stream: () => assert.fail("nothing streams"),
      };
      const code = await main(
        ["restore", file, "alice", "manual/a.tar.gz"],
        () => undefined,
        (t) => err.push(t),
        runner,
      );
      assert.equal(code, 1);
      // A line is shown once the next arrives: the last one may be the reason, which becomes the error.
      const announced = err[0] ?? "";
      assert.deepEqual(seenWhileRunning, [[announced], [announced, lines[0]], [announced, lines[0], lines[1]]]);
      assert.deepEqual(err, [
        announced,
        lines[0],
        lines[1],
        "clawfleet: restore of tenant alice failed on host cluster: gateway clawfleet-tenant-alice: copying the state in failed; the previous state is back, nothing was changed",
      ]);
    });
  });

  it("refuses an archive that is not on the gateway's backup volume, before anything runs", async () => {
    await withStack(async (file) => {
      const runner = fakeRunner(() => assert.fail("no command may run"));
      for (const [archive, why] of [
        [
          "/var/backups/a.tar.gz",
          "is not an archive on the backup volume clawfleet-prod/clawfleet-tenant-alice-backups; give it as clawfleet backup printed it (clawfleet-prod/clawfleet-tenant-alice-backups:manual/<archive>) or its path on the volume (manual/<archive>)",
        ],
        [
          "manual/../../state/x.tar.gz",
          "is not an archive on the backup volume clawfleet-prod/clawfleet-tenant-alice-backups; give it as clawfleet backup printed it (clawfleet-prod/clawfleet-tenant-alice-backups:manual/<archive>) or its path on the volume (manual/<archive>)",
        ],
        [
          "clawfleet-prod/clawfleet-tenant-bob-backups:manual/a.tar.gz",
          "names the backup volume clawfleet-prod/clawfleet-tenant-bob-backups, and this gateway's is clawfleet-prod/clawfleet-tenant-alice-backups; give an archive on it, as clawfleet backup printed it",
        ],
      ]) {
        const result = await ops("restore", [file, "alice", archive ?? ""], runner);
        assert.deepEqual([result.code, result.err], [2, `clawfleet restore: the archive ${JSON.stringify(archive)} ${why}`]);
      }
    });
  });

  it("refuses the off-host copies, which work on state folders, naming the host and the verbs that reach it", async () => {
    await withStack(async (file) => {
      const runner = fakeRunner(() => assert.fail("no command may run"));
      const result = await ops("backup", [file, "--offsite"], runner);
      assert.deepEqual(
        [result.code, result.err],
        [
          1,
          `clawfleet backup --offsite: host cluster of ${file} runs on Kubernetes, where its gateways' state is a volume that backup --offsite does not reach yet (status, logs, exec, pairing, devices, backup, restore, rollback, doctor, usage and watch do); use kubectl there, such as: kubectl --namespace=clawfleet-prod get pods`,
        ],
      );
      assert.deepEqual(runner.calls, []);
    });
  });

  it("rolls a tenant back from this machine: the newest pre-upgrade archive and the image beside it, one line per tenant", async () => {
    await withStack(async (file) => {
      let script = "";
      const runner = fakeRunner((_host, argv) => {
        script = argv[2] ?? "";
        return {
          code: 0,
          stdout:
            "done\tclawfleet/openclaw-gateway:2026.9.6\tclawfleet/openclaw-gateway:2026.9.5\tclawfleet-prod/clawfleet-tenant-alice-backups:20261205T200000Z-a.tar.gz\tclawfleet-prod/clawfleet-tenant-alice-backups:before-restore-20261205T210000Z\thealthy\n",
          stderr:
            "gateway clawfleet-tenant-alice: stopping it (its StatefulSet scaled to 0)\ngateway clawfleet-tenant-alice: started again on the restored state\n",
        };
      });
      const result = await ops("rollback", [file], runner);
      assert.equal(result.code, 0, result.err);
      // What the pods did, each line once, before the advice.
      assert.deepEqual(result.err.split("\n").slice(0, 2), [
        "gateway clawfleet-tenant-alice: stopping it (its StatefulSet scaled to 0)",
        "gateway clawfleet-tenant-alice: started again on the restored state",
      ]);
      assert.equal(result.err.split("\n").length, 3);
      assert.equal(
        result.out,
        "tenant alice: put back on clawfleet/openclaw-gateway:2026.9.5 from clawfleet-prod/clawfleet-tenant-alice-backups:20261205T200000Z-a.tar.gz (it ran clawfleet/openclaw-gateway:2026.9.6); it is healthy; the state it had is kept at clawfleet-prod/clawfleet-tenant-alice-backups:before-restore-20261205T210000Z on host cluster",
      );
      assert.equal(
        result.err.split("\n").at(-1),
        `clawfleet: declare the image each rolled-back tenant runs (or one that works) in ${file} before the next pulumi up; its deploy then replaces the rolled-back gateways on their restored state`,
      );
      assert.deepEqual(
        runner.calls.map((c) => c.split(" ").slice(0, 3).join(" ")),
        ["cluster: sh -c"],
      );
      assert.match(script, /\{"name":"ROLLBACK","value":"1"\}/);
      assert.match(script, /\{"name":"GATEWAY","value":"tenant:alice"\}/);
    });
  });

  it("says a failed rollback's reason once, in the tenant's line, after the pods' own lines", async () => {
    await withStack(async (file) => {
      const runner = fakeRunner(() => ({
        code: 1,
        stdout: "",
        stderr:
          "gateway clawfleet-tenant-alice: checking 20261205T200000Z-a.tar.gz\nError: archive verification failed\nclawfleet: gateway clawfleet-tenant-alice: the archive was refused; nothing was changed\n",
      }));
      const result = await ops("rollback", [file], runner);
      assert.equal(result.code, 1);
      assert.equal(result.out, "tenant alice: rollback failed on host cluster: gateway clawfleet-tenant-alice: the archive was refused; nothing was changed");
      assert.deepEqual(result.err.split("\n"), ["gateway clawfleet-tenant-alice: checking 20261205T200000Z-a.tar.gz", "Error: archive verification failed"]);
    });
  });

  describe("doctor", () => {
    const confined = {
      runAsUser: 1000,
      runAsGroup: 1000,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ["ALL"] },
    };
    const podSpec = (securityContext: object, image = "clawfleet/openclaw-gateway:2026.9.6") => ({
      automountServiceAccountToken: false,
      containers: [{ name: "gateway", image, securityContext }],
    });
    const objects = (podContext: object, templateImage?: string) => ({
      kind: "List",
      items: [
        { kind: "StatefulSet", metadata: { name: "clawfleet-tenant-alice" }, spec: { template: { spec: podSpec(confined, templateImage) } } },
        {
          kind: "Pod",
          metadata: { name: "clawfleet-tenant-alice-0" },
          spec: podSpec(podContext),
          status: { phase: "Running", containerStatuses: [{ name: "gateway", ready: true, restartCount: 0 }] },
        },
        { kind: "PersistentVolumeClaim", metadata: { name: "clawfleet-tenant-alice-state" }, status: { phase: "Bound" } },
        { kind: "PersistentVolumeClaim", metadata: { name: "clawfleet-tenant-alice-backups" }, status: { phase: "Pending" } },
      ],
    });

    it("compares each gateway's StatefulSet, pod and volumes with the declaration through one kubectl get, and names each problem with its fix", async () => {
      await withStack(async (file) => {
        const runner = fakeRunner(() => ({ code: 0, stdout: JSON.stringify(objects({ ...confined, readOnlyRootFilesystem: false })), stderr: "" }));
        const result = await ops("doctor", [file], runner);
        assert.equal(result.code, 1);
        assert.equal(
          result.out,
          [
            "host cluster: 2 problems",
            "  FIX tenant alice: pod clawfleet-tenant-alice-0 does not run as its StatefulSet declares: readOnlyRootFilesystem false, not true",
            `      fix: ${kubectl} delete pod/clawfleet-tenant-alice-0 (its StatefulSet makes it again as declared)`,
            "  FIX tenant alice: volume clawfleet-tenant-alice-backups is pending, not bound",
            `      fix: see why with: ${kubectl} describe persistentvolumeclaim/clawfleet-tenant-alice-backups`,
            "  ok  process limit: not applied per pod (pidsLimit 512 declared): Kubernetes limits processes per pod only with the kubelet's podPidsLimit, one value for every pod of a node",
          ].join("\n"),
        );
        assert.deepEqual(runner.calls, [
          `cluster: sh -c 'kubectl' '--kubeconfig=/etc/clawfleet/kubeconfig' '--namespace=clawfleet-prod' 'get' 'statefulset/clawfleet-tenant-alice' 'pod/clawfleet-tenant-alice-0' 'persistentvolumeclaim/clawfleet-tenant-alice-state' 'persistentvolumeclaim/clawfleet-tenant-alice-backups' '--ignore-not-found' '--output=json'`,
        ]);
      });
    });

    it("names a StatefulSet changed by hand, and is all ok when everything is as declared", async () => {
      await withStack(async (file) => {
        const edited = await ops(
          "doctor",
          [file],
          fakeRunner(() => ({ code: 0, stdout: JSON.stringify(objects(confined, "evil/image:1")), stderr: "" })),
        );
        assert.equal(edited.code, 1);
        assert.match(
          edited.out,
          /^ {2}FIX tenant alice: StatefulSet clawfleet-tenant-alice was changed outside the stack: image evil\/image:1, not clawfleet\/openclaw-gateway:2026\.9\.6$/m,
        );
        const bound = objects(confined);
        (bound.items[3] as { status: { phase: string } }).status.phase = "Bound";
        const sound = await ops(
          "doctor",
          [file],
          fakeRunner(() => ({ code: 0, stdout: JSON.stringify(bound), stderr: "" })),
        );
        assert.equal(sound.code, 0, sound.out);
        assert.equal(
          sound.out.split("\n")[1],
          "  ok  1 gateway ready as declared: the image, uid 1000, read-only root, no capability, no service-account token, state and backup volumes bound",
        );
      });
    });
  });
});
