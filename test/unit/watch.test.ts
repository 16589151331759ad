import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import { main } from "../../cli/main";
import { enforceStep } from "../../cli/ops/budget-enforce";
import { processRunner, type CommandResult, type HostRunner } from "../../cli/ops/host-shell";
import { probeHost, type HostStatus } from "../../cli/ops/status";
import { allTargets, loadFleet, type TenantTarget } from "../../cli/ops/targets";
import {
  advance,
  alertPayload,
  eventLine,
  observeHost,
  watchFleet,
  watchRedactor,
  WebhookSender,
  type AlertPayload,
  type Observation,
  type OpenProblem,
  type WatchEvent,
} from "../../cli/ops/watch";

const dev = "stacks/Pulumi.dev.yaml";
const prod = "stacks/Pulumi.prod.yaml";
const work = mkdtempSync(join(tmpdir(), "clawfleet-watch-"));
after(() => rmSync(work, { recursive: true, force: true }));

/** How one gateway answers the status probe: Docker's state and health, and its own /readyz answer. */
interface GatewayAnswer {
  readonly status?: string;
  readonly health?: string;
  /** The line the gateway prints when asked inside (`?` when it cannot tell); none when it is not running. */
  readonly inside?: string;
}

/** The probe's output for these gateways, as a host prints it (see renderStatusProbe); a gateway not listed has no container. */
function probeOutput(gateways: Readonly<Record<string, GatewayAnswer>>, backups: readonly string[] = []): string {
  const lines = ["@@clawfleet-now 1795500000", "@@clawfleet-runtime"];
  for (const [name, g] of Object.entries(gateways)) {
    const state = { Status: g.status ?? "running", StartedAt: "2026-11-24T00:00:00Z", Health: { Status: g.health ?? "healthy" } };
    lines.push(`inspect ${JSON.stringify(`/${name}`)}\t${JSON.stringify(state)}\t0\t"ghcr.io/openclaw/openclaw:2026.9.6"`);
  }
  lines.push("@@clawfleet-inside");
  for (const [name, g] of Object.entries(gateways)) if ((g.status ?? "running") === "running") lines.push(`${name} ${g.inside ?? '{"ready":true,"held":[]}'}`);
  lines.push("@@clawfleet-backups", ...backups, "@@clawfleet-end");
  return lines.join("\n");
}

const answered = (stdout: string): CommandResult => ({ code: 0, stdout, stderr: "" });

/** One poll of the dev stack's host through the real status path, its probe answered by `result`. */
async function devPoll(result: CommandResult): Promise<{ status: HostStatus; targets: TenantTarget[] }> {
  const fleet = await loadFleet(dev);
  const targets = allTargets(fleet);
  const runner: HostRunner = { run: async () => result, stream: async () => 0 };
  return { status: await probeHost(runner, fleet.hosts[0]!, targets, fleet.image), targets };
}

const healthy = {
  "clawfleet-tenant-alice": {},
  "clawfleet-tenant-dave": {},
  "clawfleet-shared-local": {},
} satisfies Record<string, GatewayAnswer>;

describe("watch: budget.enforce, from the gateway's own channel state", () => {
  it("stops a running channel at the budget, starts a stopped one under it, and leaves a channel that never started to openclaw", () => {
    const running = { running: true, lastStopAt: null };
    const stopped = { running: false, lastStopAt: 1796416553569 };
    const neverStarted = { running: false, lastStopAt: null };
    assert.deepEqual(
      [running, stopped, neverStarted, undefined].map((channel) => [enforceStep(true, channel), enforceStep(false, channel)]),
      [
        ["stop", undefined],
        [undefined, "start"],
        [undefined, undefined],
        [undefined, undefined],
      ],
    );
  });
});

describe("watch: what a poll finds wrong", () => {
  it("finds nothing in a fleet that serves, and one problem per gateway, channel and host otherwise", async () => {
    const fine = await devPoll(answered(probeOutput(healthy)));
    assert.deepEqual(observeHost(fine.status, fine.targets).problems, []);

    const bad = await devPoll(
      answered(
        probeOutput({
          "clawfleet-tenant-alice": { inside: '{"ready":true,"held":["telegram"]}' },
          "clawfleet-shared-local": { inside: '{"ready":false,"failing":["telegram"],"held":[]}' },
        }),
      ),
    );
    const found = observeHost(bad.status, bad.targets);
    assert.deepEqual(
      found.problems.map((p) => [p.key, p.kind, p.tenants, p.subject, p.reason]),
      [
        [
          "channel/local/clawfleet-tenant-alice/telegram/held",
          "channel-held",
          ["alice"],
          "tenant alice (host local)",
          "openclaw's restart-loop breaker holds the telegram channel (3 unclean starts within 5 minutes)",
        ],
        [
          "channel/local/clawfleet-shared-local/telegram/disconnected",
          "channel-disconnected",
          ["bob", "carol"],
          "the shared gateway of host local (tenants bob, carol)",
          "the telegram channel cannot connect",
        ],
        ["gateway/local/clawfleet-tenant-dave", "gateway-down", ["dave"], "tenant dave (host local)", "no container"],
      ],
    );

    const down = await devPoll({ code: 255, stdout: "", stderr: "" });
    assert.deepEqual(
      observeHost(down.status, down.targets).problems.map((p) => [p.key, p.kind, p.tenants]),
      [["host/local", "host-not-answering", ["alice", "bob", "carol", "dave"]]],
    );
  });

  it("counts a gateway that is starting, stopped, unhealthy, not ready for its own reasons or cannot tell as down", async () => {
    const cases: [GatewayAnswer, string][] = [
      [{ status: "exited" }, "exited"],
      [{ health: "starting", inside: '{"ready":false,"failing":["telegram"]}' }, "starting"],
      [{ health: "unhealthy" }, "unhealthy"],
      [{ inside: '{"ready":false,"failing":["state-database"]}' }, "not ready: state-database failing"],
      [{ inside: '{"ready":false,"failing":[]}' }, "not ready"],
      [{ inside: "?" }, "readiness unknown"],
    ];
    for (const [answer, reason] of cases) {
      const poll = await devPoll(answered(probeOutput({ ...healthy, "clawfleet-tenant-alice": answer })));
      assert.deepEqual(
        observeHost(poll.status, poll.targets).problems.map((p) => [p.key, p.reason]),
        [["gateway/local/clawfleet-tenant-alice", reason]],
        JSON.stringify(answer),
      );
    }
  });
});

/** The state machine over a run of polls; each poll's events as `alert <key>` or `resolved <key>`. */
async function run(polls: CommandResult[]): Promise<string[][]> {
  let open = new Map<string, OpenProblem>();
  const out: string[][] = [];
  let minute = 0;
  for (const result of polls) {
    const poll = await devPoll(result);
    const step = advance(open, observeHost(poll.status, poll.targets), new Date(Date.UTC(2026, 11, 3, 10, minute++)));
    open = step.open;
    out.push(step.events.map((e) => `${e.event} ${e.problem.key}`));
  }
  return out;
}

describe("watch: backups", () => {
  it("with a maximum age, alerts a gateway whose newest backup is older or missing, once, and resolves when a new one is taken", async () => {
    const backups = { maxAgeSeconds: 24 * 3600, now: new Date(1795500000 * 1000) };
    const aliceDaily = "1795490000 clawfleet-tenant-alice/clawfleet-tenant-alice-2026-11-24T02-00-00.tar.gz";
    const found = async (lines: string[], now: Date) => {
      const poll = await devPoll(answered(probeOutput(healthy, lines)));
      return observeHost(poll.status, poll.targets, { ...backups, now });
    };
    const first = await found([aliceDaily], backups.now);
    assert.deepEqual(
      first.problems.map((p) => [p.key, p.kind, p.reason]),
      [
        ["backup/local/clawfleet-shared-local", "backup-stale", "no backup yet (at most 1d 00h old wanted)"],
        ["backup/local/clawfleet-tenant-dave", "backup-stale", "no backup yet (at most 1d 00h old wanted)"],
      ],
    );
    const later = new Date(backups.now.getTime() + 2 * 86400 * 1000);
    const stale = await found([aliceDaily], later);
    assert.deepEqual(
      stale.problems.filter((p) => p.gateway === "clawfleet-tenant-alice").map((p) => p.reason),
      ["last backup 2d 02h old, more than 1d 00h"],
    );
    let open = advance(new Map(), stale, later).open;
    const again = advance(open, await found([aliceDaily], new Date(later.getTime() + 3600 * 1000)), later);
    assert.deepEqual(again.events, [], "an older backup alerts no more");
    open = again.open;
    const fresh = `${Math.floor(later.getTime() / 1000)} manual/clawfleet-tenant-alice/clawfleet-tenant-alice-2026-11-26.tar.gz`;
    const resolved = advance(open, await found([aliceDaily, fresh], later), later);
    assert.deepEqual(
      resolved.events.map((e) => `${e.event} ${e.problem.key}`),
      ["resolved backup/local/clawfleet-tenant-alice"],
    );
    const poll = await devPoll(answered(probeOutput(healthy)));
    assert.ok(
      observeHost(poll.status, poll.targets).problems.every((p) => p.kind !== "backup-stale"),
      "not watched without a maximum age",
    );
  });
});

describe("watch: state size", () => {
  it("alerts a tenant whose state grows over its stateLimitMb once, keeps it while du cannot tell, and resolves when it is under again", async () => {
    const fleet = await loadFleet(dev);
    const targets = allTargets(fleet).map((t) => (t.id === "alice" ? { ...t, stateLimitMb: 1024 } : t));
    const poll = async (sizes: string[]) => {
      const output = probeOutput(healthy).replace("@@clawfleet-end", ["@@clawfleet-sizes", ...sizes, "@@clawfleet-end"].join("\n"));
      const runner: HostRunner = { run: async () => answered(output), stream: async () => 0 };
      return observeHost(await probeHost(runner, fleet.hosts[0]!, targets, fleet.image), targets);
    };
    const at = new Date(1795500000 * 1000);
    const over = await poll(["size 1239040 /var/lib/clawfleet/users/alice", "size 99999999 /var/lib/clawfleet/users/dave"]);
    assert.deepEqual(
      over.problems.map((p) => [p.key, p.kind, p.gateway, p.tenants, p.reason]),
      [["state/local/alice", "state-over-limit", "clawfleet-tenant-alice", ["alice"], "its state is 1210 MB, over its stateLimitMb of 1024 MB"]],
    );
    const alerted = advance(new Map(), over, at);
    assert.deepEqual(
      alerted.events.map((e) => alertPayload(e, dev, (t) => t).text),
      ["tenant alice (host local): its state is 1210 MB, over its stateLimitMb of 1024 MB"],
    );
    const unknown = advance(alerted.open, await poll([]), at);
    assert.deepEqual(unknown.events, [], "not measured this time: still open, nothing sent");
    const under = advance(unknown.open, await poll(["size 1024 /var/lib/clawfleet/users/alice"]), new Date(at.getTime() + 600 * 1000));
    assert.deepEqual(
      under.events.map((e) => alertPayload(e, dev, (t) => t).text),
      ["tenant alice (host local): its state is within its stateLimitMb again after 10m 00s"],
    );
  });
});

describe("watch: one event per change", () => {
  it("alerts once when a problem starts, stays quiet while it lasts, and resolves once when it ends", async () => {
    const stopped = answered(probeOutput({ ...healthy, "clawfleet-tenant-alice": { status: "exited" } }));
    const starting = answered(probeOutput({ ...healthy, "clawfleet-tenant-alice": { health: "starting" } }));
    const fine = answered(probeOutput(healthy));
    assert.deepEqual(await run([fine, stopped, stopped, starting, starting, fine, fine]), [
      [],
      ["alert gateway/local/clawfleet-tenant-alice"],
      [],
      [],
      [],
      ["resolved gateway/local/clawfleet-tenant-alice"],
      [],
    ]);
  });

  it("alerts what is already wrong at the first poll", async () => {
    assert.deepEqual(await run([answered(probeOutput({ ...healthy, "clawfleet-tenant-dave": { status: "exited" } }))]), [
      ["alert gateway/local/clawfleet-tenant-dave"],
    ]);
  });

  it("keeps what a host that does not answer cannot tell: its gateways neither alert nor resolve until it answers again", async () => {
    const stopped = answered(probeOutput({ ...healthy, "clawfleet-tenant-alice": { status: "exited" } }));
    const silent: CommandResult = { code: 0, stdout: "", stderr: "", timedOutSeconds: 60 };
    const fine = answered(probeOutput(healthy));
    assert.deepEqual(await run([stopped, silent, silent, fine]), [
      ["alert gateway/local/clawfleet-tenant-alice"],
      ["alert host/local"],
      [],
      ["resolved gateway/local/clawfleet-tenant-alice", "resolved host/local"].sort(),
    ]);
  });

  it("keeps a channel's state while its gateway is down, and resolves it when the gateway serves without the problem", async () => {
    const held = answered(probeOutput({ ...healthy, "clawfleet-tenant-alice": { inside: '{"ready":true,"held":["telegram"]}' } }));
    const stopped = answered(probeOutput({ ...healthy, "clawfleet-tenant-alice": { status: "exited" } }));
    const fine = answered(probeOutput(healthy));
    assert.deepEqual(await run([held, stopped, held, fine]), [
      ["alert channel/local/clawfleet-tenant-alice/telegram/held"],
      ["alert gateway/local/clawfleet-tenant-alice"],
      ["resolved gateway/local/clawfleet-tenant-alice"],
      ["resolved channel/local/clawfleet-tenant-alice/telegram/held"],
    ]);
  });

  it("never sends two alerts or two resolves in a row for one problem, whatever the polls", () => {
    const keys = ["host/h", "gateway/h/g1", "gateway/h/g2", "channel/h/g1/telegram/held"];
    const observation = fc.record({
      found: fc.subarray(keys),
      seen: fc.subarray(["host/h", "gateway/h", "channel/h/g1"]),
    });
    fc.assert(
      fc.property(fc.array(observation, { maxLength: 30 }), (polls) => {
        let open = new Map<string, OpenProblem>();
        const history = new Map<string, string[]>();
        for (const [i, poll] of polls.entries()) {
          const seen: Observation = {
            problems: poll.found.map((key) => ({
              key,
              kind: "gateway-down",
              host: "h",
              gateway: undefined,
              tenants: [],
              channel: undefined,
              subject: key,
              reason: "r",
            })),
            scopes: poll.seen,
          };
          const step = advance(open, seen, new Date(i * 60000));
          for (const e of step.events) history.set(e.problem.key, [...(history.get(e.problem.key) ?? []), e.event]);
          open = step.open;
          for (const key of poll.found) assert.ok(open.has(key), "a problem found is open");
        }
        for (const [key, events] of history) {
          events.forEach((e, i) => assert.equal(e, i % 2 === 0 ? "alert" : "resolved", `${key}: ${events.join(", ")}`));
          assert.equal(events.at(-1) === "alert", open.has(key));
        }
      }),
    );
  });
});

function sampleEvents(): WatchEvent[] {
  const problem: OpenProblem = {
    key: "gateway/gw2/clawfleet-tenant-frank",
    kind: "gateway-down",
    host: "gw2",
    gateway: "clawfleet-tenant-frank",
    tenants: ["frank"],
    channel: undefined,
    subject: "tenant frank (host gw2)",
    reason: "exited",
    since: "2026-12-03T10:00:00.000Z",
  };
  return [
    { event: "alert", problem, at: "2026-12-03T10:00:00.000Z" },
    { event: "resolved", problem, at: "2026-12-03T10:02:05.000Z" },
  ];
}

describe("watch: the alert payload", () => {
  it("has the documented shape, for an alert and its resolve", () => {
    const [alert, resolved] = sampleEvents().map((e) => alertPayload(e, prod, (t) => t));
    assert.deepEqual(alert, {
      version: 1,
      event: "alert",
      kind: "gateway-down",
      key: "gateway/gw2/clawfleet-tenant-frank",
      stack: prod,
      host: "gw2",
      gateway: "clawfleet-tenant-frank",
      tenants: ["frank"],
      channel: null,
      text: "tenant frank (host gw2) is not healthy: exited",
      reason: "exited",
      since: "2026-12-03T10:00:00.000Z",
      at: "2026-12-03T10:00:00.000Z",
      durationSeconds: null,
    });
    assert.deepEqual(
      { text: resolved?.text, at: resolved?.at, durationSeconds: resolved?.durationSeconds },
      { text: "tenant frank (host gw2) is healthy again after 2m 05s", at: "2026-12-03T10:02:05.000Z", durationSeconds: 125 },
    );
    assert.equal(eventLine(alert!, false), "2026-12-03T10:00:00.000Z ALERT tenant frank (host gw2) is not healthy: exited");
    assert.deepEqual(JSON.parse(eventLine(resolved!, true)), resolved);
    // The README's example is this payload.
    const readme = readFileSync("README.md", "utf8");
    const example = /<!-- watch-payload -->\s*```json\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.deepEqual(JSON.parse(example ?? "null"), alert);
  });

  it("hides credentials of the environment and the webhook's secret path in every text", () => {
    const key = "sk-ant-api03-Zk2v9QmWq7Lr4Tx8";
    const webhook = new URL("https://hooks.example.com/services/T0001/B0002/Xy7Kq2mVp9Lw4Rt8");
    const redactor = watchRedactor({ ANTHROPIC_API_KEY: key, HOME: "/root/not-a-secret" }, webhook);
    const [alert] = sampleEvents();
    const leaky: WatchEvent = {
      ...alert!,
      problem: { ...alert!.problem, reason: `host said ${key} and ${webhook.href} and ${encodeURIComponent(key)}`, subject: "tenant frank" },
    };
    const payload = alertPayload(leaky, prod, (t) => redactor.redact(t));
    const text = JSON.stringify(payload);
    assert.ok(!text.includes(key) && !text.includes("Xy7Kq2mVp9Lw4Rt8"), text);
    assert.equal(
      payload.reason,
      "host said [redacted ANTHROPIC_API_KEY] and https://hooks.example.com[redacted WEBHOOK_PATH] and [redacted ANTHROPIC_API_KEY]",
    );
    assert.equal(redactor.redact("/root/not-a-secret"), "/root/not-a-secret");
  });
});

/** A webhook receiver on loopback that answers each POST with the next status of `statuses` (then 200). */
async function receiver(statuses: number[]): Promise<{ server: Server; url: URL; bodies: string[] }> {
  const bodies: string[] = [];
  const server = createServer((request: IncomingMessage, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      bodies.push(body);
      response.writeHead(statuses.shift() ?? 200).end();
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  return { server, url: new URL(`http://127.0.0.1:${port}/hook/s3cr3t-path-token-0001`), bodies };
}

describe("watch: webhook delivery", () => {
  it("retries a failing webhook with a growing wait, in order, and logs each failure with the webhook's host only", async () => {
    const { server, url, bodies } = await receiver([503, 429]);
    const logs: string[] = [];
    const sender = new WebhookSender(url, (l) => logs.push(l), { attempts: 5, firstDelayMs: 20, maxDelayMs: 1000, timeoutMs: 5000 });
    const [alert, resolved] = sampleEvents().map((e) => alertPayload(e, prod, (t) => t));
    sender.send(alert!);
    sender.send(resolved!);
    await sender.idle();
    server.close();
    assert.deepEqual(
      bodies.map((b) => (JSON.parse(b) as AlertPayload).event),
      ["alert", "alert", "alert", "resolved"],
    );
    assert.deepEqual(logs, [
      `webhook http://${url.host} answered 503; alert gateway/gw2/clawfleet-tenant-frank retried in 0.02 s (try 2 of 5)`,
      `webhook http://${url.host} answered 429; alert gateway/gw2/clawfleet-tenant-frank retried in 0.04 s (try 3 of 5)`,
    ]);
    assert.equal(sender.failed, 0);
  });

  it("gives up at once on an answer that will not change, and after the last try when nothing answers", async () => {
    const { server, url, bodies } = await receiver([404]);
    const logs: string[] = [];
    const [alert] = sampleEvents().map((e) => alertPayload(e, prod, (t) => t));
    const sender = new WebhookSender(url, (l) => logs.push(l), { attempts: 3, firstDelayMs: 10, maxDelayMs: 1000, timeoutMs: 5000 });
    sender.send(alert!);
    await sender.idle();
    server.close();
    await once(server, "close");
    assert.equal(bodies.length, 1);
    assert.deepEqual(logs, [`webhook http://${url.host} answered 404; gave up on alert gateway/gw2/clawfleet-tenant-frank after 1 try`]);

    logs.length = 0;
    sender.send(alert!);
    await sender.idle();
    assert.equal(logs.length, 3);
    assert.match(
      logs[2] ?? "",
      new RegExp(`^webhook http://${url.host.replace(/\./g, "\\.")} could not be reached \\(ECONNREFUSED\\); gave up on alert .* after 3 tries$`),
    );
    assert.ok(logs.every((l) => !l.includes("s3cr3t")));
    assert.equal(sender.failed, 2);
  });
});

/** The prod stack's hosts: gw1 answers at once; gw2 accepts and then hangs (a real process that sleeps, in place of ssh). */
function hangingFleetRunner(pidFile: string, calls: { host: string; at: number }[]): HostRunner {
  return {
    async run(host, argv, options) {
      calls.push({ host: host.id, at: Date.now() });
      if (host.id === "gw2") return processRunner.run({ ...host, ssh: undefined }, ["sh", "-c", `echo $$ > ${pidFile}; exec sleep 600`], options);
      const fleet = await loadFleet(prod);
      const gateways = [
        ...new Set(
          allTargets(fleet)
            .filter((t) => t.host.id === host.id)
            .map((t) => t.container),
        ),
      ];
      return answered(probeOutput(Object.fromEntries(gateways.map((g) => [g, g === "clawfleet-tenant-alice" ? { status: "exited" } : {}]))));
    },
    stream: async () => 0,
  };
}

describe("watch: a host that hangs", () => {
  it("is reported as not answering after the bound, its process stopped, while the other host goes on being polled and alerted", async () => {
    const fleet = await loadFleet(prod);
    const pidFile = join(work, "hang.pid");
    const calls: { host: string; at: number }[] = [];
    const lines: { line: string; at: number }[] = [];
    const controller = new AbortController();
    const started = Date.now();
    const watching = watchFleet(
      hangingFleetRunner(pidFile, calls),
      fleet.hosts,
      allTargets(fleet),
      fleet.image,
      {
        stack: prod,
        intervalSeconds: 1,
        timeoutSeconds: 3,
        once: false,
        json: true,
        webhook: undefined,
        redactor: watchRedactor({}, undefined),
        signal: controller.signal,
      },
      { out: (line) => lines.push({ line, at: Date.now() }), err: () => undefined },
    );
    const deadline = Date.now() + 60000;
    while (!lines.some((l) => l.line.includes('"host/gw2"')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    controller.abort();
    assert.equal(await watching, 0);
    const events = lines.map((l) => ({ ...(JSON.parse(l.line) as AlertPayload), seconds: (l.at - started) / 1000 }));
    assert.deepEqual(
      events.map((e) => `${e.event} ${e.key}`),
      ["alert gateway/gw1/clawfleet-tenant-alice", "alert host/gw2"],
    );
    const [gw1, gw2] = events;
    assert.match(gw2?.reason ?? "", /^host gw2 \(deploy@gw2\.example-tailnet\.ts\.net:22\) did not answer within 3 s; check that it is up/);
    assert.ok((gw2?.seconds ?? 0) >= 3, `gw2 reported after ${gw2?.seconds} s, not before its bound`);
    assert.ok((gw1?.seconds ?? 99) < (gw2?.seconds ?? 0), "gw1's alert did not wait for gw2");
    const gw1Polls = calls.filter((c) => c.host === "gw1" && c.at - started < (gw2?.seconds ?? 0) * 1000).length;
    assert.ok(gw1Polls >= 2, `gw1 was polled ${gw1Polls} times while gw2 hung`);
    const pid = Number(readFileSync(pidFile, "utf8"));
    assert.throws(() => process.kill(pid, 0), { code: "ESRCH" }, "the hanging process was stopped");
  });
});

describe("watch: arguments", () => {
  it("refuses a bad interval and a webhook that is not http without printing it", async () => {
    const usage = async (...args: string[]) => {
      const err: string[] = [];
      const code = await main(
        ["watch", ...args],
        () => undefined,
        (t) => err.push(t),
      );
      return `${code} ${err.join("\n")}`;
    };
    assert.equal(await usage(dev, "--interval", "0"), '2 clawfleet watch: --interval "0" is not a number of seconds from 1 to 86400');
    assert.equal(await usage(dev, "--timeout", "5s"), '2 clawfleet watch: --timeout "5s" is not a number of seconds from 1 to 86400');
    assert.equal(await usage(dev, "--backup-max-age", "1.5"), '2 clawfleet watch: --backup-max-age "1.5" is not a number of hours from 1 to 8760');
    assert.equal(
      await usage(dev, "--webhook", "ftp://user:hunter2hunter2@example.com/x"),
      "2 clawfleet watch: --webhook must be an http:// or https:// address, not ftp:",
    );
    assert.equal(await usage(dev, "--webhook", "not a url"), "2 clawfleet watch: --webhook is not a URL; give an http:// or https:// address");
  });
});
