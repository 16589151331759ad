import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { main } from "../../cli/main";
import type { CommandResult, HostRunner } from "../../cli/ops/host-shell";
import { allTargets, loadFleet } from "../../cli/ops/targets";
import { readCostSummary, renderUsageTable, usageRange, type FleetUsage, type TenantUsage } from "../../cli/ops/usage";
import { advance, alertPayload, observeBudgets, type OpenProblem } from "../../cli/ops/watch";

const dev = "stacks/Pulumi.dev.yaml";
const prod = "stacks/Pulumi.prod.yaml";

/**
 * What `openclaw gateway call usage.cost --params '{...}' --json` printed inside a real gateway (openclaw 2026.9.6)
 * after one chat turn against test/e2e/fake-model-provider.ts; where and how it was taken is in the fixture's README.
 */
const realAnswer = readFileSync(join(__dirname, "..", "fixtures", "openclaw", "usage-cost.json"), "utf8");

/** A host runner answering the inspect and each gateway call from `answer`; records the calls. */
function fakeRunner(answer: (host: string, argv: readonly string[]) => CommandResult): HostRunner & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async run(host, argv) {
      calls.push(`${host.id}: ${argv.join(" ")}`);
      return answer(host.id, argv);
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

const running: CommandResult = {
  code: 0,
  stdout: '{"Status":"running","Health":{"Status":"healthy"}}\t["OPENCLAW_GATEWAY_TOKEN=tok-0123456789abcdef"]',
  stderr: "",
};

async function cli(args: string[], runner: HostRunner): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    args,
    (t) => out.push(t),
    (t) => err.push(t),
    runner,
  );
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("usage: the days asked about", () => {
  const now = new Date("2026-12-04T05:00:00Z");
  it("is this calendar month (UTC) by default, --since a day to today, --days the last n days with today", () => {
    assert.deepEqual(usageRange({}, now), { startDate: "2026-12-01", endDate: "2026-12-04" });
    assert.deepEqual(usageRange({ since: "2026-11-15" }, now), { startDate: "2026-11-15", endDate: "2026-12-04" });
    assert.deepEqual(usageRange({ days: "7" }, now), { startDate: "2026-11-28", endDate: "2026-12-04" });
    assert.deepEqual(usageRange({ days: "1" }, now), { startDate: "2026-12-04", endDate: "2026-12-04" });
  });

  it("refuses a day that is not one, a day after today, a count out of range, and both flags", () => {
    const refused = (flags: { since?: string; days?: string }) => {
      try {
        usageRange(flags, now);
      } catch (error) {
        return (error as Error).message;
      }
      return "accepted";
    };
    assert.equal(refused({ since: "2026-02-30" }), 'clawfleet usage: --since "2026-02-30" is not a day; use YYYY-MM-DD (UTC), such as 2026-11-01');
    assert.equal(refused({ since: "yesterday" }), 'clawfleet usage: --since "yesterday" is not a day; use YYYY-MM-DD (UTC), such as 2026-11-01');
    assert.equal(refused({ since: "2026-12-05" }), "clawfleet usage: --since 2026-12-05 is after today (2026-12-04 UTC)");
    assert.equal(refused({ days: "0" }), 'clawfleet usage: --days "0" is not a number of days from 1 to 3660');
    assert.equal(refused({ days: "2.5" }), 'clawfleet usage: --days "2.5" is not a number of days from 1 to 3660');
    assert.equal(refused({ since: "2026-12-01", days: "3" }), "clawfleet usage: give --since or --days, not both");
  });
});

describe("usage: a gateway's usage.cost answer", () => {
  it("reads the totals of the answer a real gateway gave", () => {
    const read = readCostSummary(realAnswer.split("\n"));
    assert.ok(read !== undefined);
    const fixture = JSON.parse(realAnswer) as { totals: Record<string, number>; cacheStatus?: { status: string } };
    assert.equal(read.totals.input, fixture.totals["input"]);
    assert.equal(read.totals.output, fixture.totals["output"]);
    assert.equal(read.totals.totalTokens, fixture.totals["totalTokens"]);
    assert.equal(read.totals.totalCost, fixture.totals["totalCost"]);
    assert.equal(read.cache, fixture.cacheStatus?.status);
    assert.ok(read.totals.totalTokens > 0 && read.totals.totalCost > 0, "the fixture holds a turn with tokens and a cost");
  });

  it("finds the answer after log lines, and gives nothing for output that holds no cost summary", () => {
    assert.deepEqual(readCostSummary(["[plugins] loaded 3 plugins", ...realAnswer.split("\n")]), readCostSummary(realAnswer.split("\n")));
    assert.equal(readCostSummary(['{"ok":true}']), undefined);
    assert.equal(readCostSummary(["gateway closed (1006)"]), undefined);
  });
});

describe("clawfleet usage", () => {
  it("asks a dedicated tenant's whole gateway and a shared tenant's own agent, and totals them per host", async () => {
    const runner = fakeRunner((_host, argv) => (argv[1] === "inspect" ? running : { code: 0, stdout: realAnswer, stderr: "" }));
    const result = await cli(["usage", dev, "--json", "--since", "2026-11-01"], runner);
    assert.equal(result.code, 0, result.err);
    const calls = runner.calls.filter((c) => c.includes("usage.cost"));
    const today = new Date().toISOString().slice(0, 10);
    const range = `"startDate":"2026-11-01","endDate":"${today}"`;
    assert.deepEqual(calls.sort(), [
      `local: docker exec clawfleet-shared-local node /app/node_modules/openclaw/openclaw.mjs gateway call usage.cost --params {${range},"agentId":"bob"} --json`,
      `local: docker exec clawfleet-shared-local node /app/node_modules/openclaw/openclaw.mjs gateway call usage.cost --params {${range},"agentId":"carol"} --json`,
      `local: docker exec clawfleet-tenant-alice node /app/node_modules/openclaw/openclaw.mjs gateway call usage.cost --params {${range},"agentScope":"all"} --json`,
      `local: docker exec clawfleet-tenant-dave node /app/node_modules/openclaw/openclaw.mjs gateway call usage.cost --params {${range},"agentScope":"all"} --json`,
    ]);
    const usage = JSON.parse(result.out) as FleetUsage;
    const one = readCostSummary(realAnswer.split("\n"))?.totals;
    assert.ok(one !== undefined);
    assert.deepEqual(
      usage.tenants.map((t) => [t.tenant, t.tier, t.agentId, t.totals?.totalTokens]),
      [
        ["alice", "dedicated", null, one.totalTokens],
        ["bob", "shared", "bob", one.totalTokens],
        ["carol", "shared", "carol", one.totalTokens],
        ["dave", "dedicated", null, one.totalTokens],
      ],
    );
    assert.deepEqual(
      usage.hosts.map((h) => [h.host, h.totals.totalTokens, h.totals.input, h.error]),
      [["local", 4 * one.totalTokens, 4 * one.input, null]],
    );
    assert.equal(usage.totals.totalCost, 4 * one.totalCost);
  });

  it("names a host that does not answer with why, prints the others and exits 1", async () => {
    const runner = fakeRunner((host, argv) => {
      if (host === "gw2") return { code: 255, stdout: "", stderr: "ssh: connect to host gw2.example-tailnet.ts.net port 22: Connection refused" };
      return argv[1] === "inspect" ? running : { code: 0, stdout: realAnswer, stderr: "" };
    });
    const result = await cli(["usage", prod], runner);
    assert.equal(result.code, 1);
    assert.equal(
      result.err
        .split("\n")
        .filter((l) => l.startsWith("clawfleet: "))
        .join("\n"),
      "clawfleet: host gw2: host gw2 (deploy@gw2.example-tailnet.ts.net:22) is unreachable: ssh: connect to host gw2.example-tailnet.ts.net port 22: Connection refused; check that it is up and that ssh -p 22 deploy@gw2.example-tailnet.ts.net works with your key in ssh-agent",
    );
    const lines = result.out.split("\n");
    assert.match(lines.find((l) => l.startsWith("alice ")) ?? "", /^alice +gw1 +dedicated +[\d,]+ /);
    assert.match(lines.find((l) => l.startsWith("frank ")) ?? "", /^frank +gw2 +dedicated +- +- +- +- +- +- +-$/);
    assert.ok(lines.some((l) => /^\(host total\) +gw1 +[\d,]+/.test(l)));
  });

  it("names a gateway that is not running and still counts the rest of its host", async () => {
    const runner = fakeRunner((_host, argv) => {
      if (argv[1] === "inspect") return argv.includes("clawfleet-tenant-dave") ? { code: 0, stdout: '{"Status":"exited"}\t[]', stderr: "" } : running;
      return { code: 0, stdout: realAnswer, stderr: "" };
    });
    const result = await cli(["usage", dev, "--json"], runner);
    assert.equal(result.code, 1);
    assert.equal(
      result.err
        .split("\n")
        .filter((l) => l.startsWith("clawfleet: "))
        .join("\n"),
      "clawfleet: tenant dave: tenant dave's gateway (container clawfleet-tenant-dave) on host local is not running (exited); start it with pulumi up, and read why it stopped with: clawfleet logs stacks/Pulumi.dev.yaml dave",
    );
    const usage = JSON.parse(result.out) as FleetUsage;
    const one = readCostSummary(realAnswer.split("\n"))?.totals;
    assert.equal(usage.hosts[0]?.totals.totalTokens, 3 * (one?.totalTokens ?? 0));
  });

  it("prints a table with a line per tenant, per host and the fleet, and the budget spent this month", async () => {
    const totals = { input: 1200, output: 300, cacheRead: 0, cacheWrite: 0, totalTokens: 1500, totalCost: 20.5, missingCostEntries: 0 };
    const row = (tenant: string, budget: number | undefined): TenantUsage => ({
      tenant,
      host: "local",
      tier: "dedicated",
      container: `clawfleet-tenant-${tenant}`,
      agentId: undefined,
      budgetUsdPerMonth: budget,
      totals,
      cache: "fresh",
      error: undefined,
    });
    const both = { ...totals, input: 2400, output: 600, totalTokens: 3000, totalCost: 41 };
    const usage: FleetUsage = {
      stack: dev,
      startDate: "2026-12-01",
      endDate: "2026-12-04",
      tenants: [row("alice", 25), row("dave", undefined)],
      hosts: [{ host: "local", totals: both, error: undefined }],
      totals: both,
    };
    assert.equal(
      renderUsageTable(usage, new Date("2026-12-04T10:00:00Z")),
      [
        "TENANT         HOST   TIER       INPUT  OUTPUT  CACHE READ  CACHE WRITE  TOKENS  COST    BUDGET",
        "alice          local  dedicated  1,200  300     0           0            1,500   $20.50  $25.00/month (82% spent)",
        "dave           local  dedicated  1,200  300     0           0            1,500   $20.50  -",
        "(host total)   local             2,400  600     0           0            3,000   $41.00",
        "(fleet total)                    2,400  600     0           0            3,000   $41.00",
        "",
        "2026-12-01 to 2026-12-04 (UTC days); cost is openclaw's estimate from the declared model prices",
      ].join("\n"),
    );
  });
});

describe("watch: budgets", () => {
  it("alerts once at 80% and once at 100% of the month's budget, and resolves both when a new month starts", async () => {
    const fleet = await loadFleet(dev);
    const targets = allTargets(fleet).map((t) => (t.id === "alice" ? { ...t, budgetUsdPerMonth: 25 } : t));
    const spent = (usd: number): TenantUsage[] => [
      {
        tenant: "alice",
        host: "local",
        tier: "dedicated",
        container: "clawfleet-tenant-alice",
        agentId: undefined,
        budgetUsdPerMonth: 25,
        totals: { input: 1, output: 1, cacheRead: 0, cacheWrite: 0, totalTokens: 2, totalCost: usd, missingCostEntries: 0 },
        cache: "fresh",
        error: undefined,
      },
    ];
    let open = new Map<string, OpenProblem>();
    const step = (usd: number, month: string, at: string) => {
      const next = advance(open, observeBudgets(spent(usd), targets, month), new Date(at));
      open = next.open;
      return next.events.map((e) => alertPayload(e, dev, (t) => t)).map((p) => `${p.event} ${p.kind} ${p.text}`);
    };
    assert.deepEqual(step(10, "2026-12", "2026-12-02T00:00:00Z"), []);
    assert.deepEqual(step(20, "2026-12", "2026-12-03T00:00:00Z"), [
      "alert budget-warning tenant alice (host local) has spent 80% of its monthly budget: its estimated model cost in 2026-12 (UTC) is $20.00, 80% of its budget of $25.00 a month",
    ]);
    assert.deepEqual(step(22, "2026-12", "2026-12-04T00:00:00Z"), []);
    assert.deepEqual(step(25.5, "2026-12", "2026-12-05T00:00:00Z"), [
      "alert budget-exceeded tenant alice (host local) has spent its monthly budget: its estimated model cost in 2026-12 (UTC) is $25.50, 102% of its budget of $25.00 a month",
    ]);
    assert.deepEqual(step(30, "2026-12", "2026-12-06T00:00:00Z"), []);
    assert.deepEqual(step(0, "2027-01", "2027-01-01T00:01:00Z"), [
      "resolved budget-warning tenant alice (host local): its estimated model cost this month is under 80% of its budget again after 29d 00h",
      "resolved budget-exceeded tenant alice (host local): its estimated model cost this month is under its budget again after 27d 00h",
    ]);
  });

  it("keeps a budget's state while its gateway's usage cannot be read", async () => {
    const fleet = await loadFleet(dev);
    const targets = allTargets(fleet).map((t) => (t.id === "alice" ? { ...t, budgetUsdPerMonth: 25 } : t));
    const base = {
      tenant: "alice",
      host: "local",
      tier: "dedicated" as const,
      container: "clawfleet-tenant-alice",
      agentId: undefined,
      budgetUsdPerMonth: 25,
      cache: "fresh",
    };
    const over = {
      ...base,
      totals: { input: 1, output: 1, cacheRead: 0, cacheWrite: 0, totalTokens: 2, totalCost: 30, missingCostEntries: 0 },
      error: undefined,
    };
    const first = advance(new Map(), observeBudgets([over], targets, "2026-12"), new Date("2026-12-02T00:00:00Z"));
    assert.equal(first.events.length, 2);
    const unread = advance(
      first.open,
      observeBudgets([{ ...base, totals: undefined, error: "gateway down" }], targets, "2026-12"),
      new Date("2026-12-02T00:01:00Z"),
    );
    assert.deepEqual([unread.events, [...unread.open.keys()].sort()], [[], ["budget/local/alice/100", "budget/local/alice/80"]]);
  });
});
