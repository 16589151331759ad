import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { diffPlans, type PlanJsonResource } from "../cli/diff/compare";
import { addedDedicatedId, dedicatedId, hostIds, sharedId, sharedPerHost, stackYaml, tenantsPerHost, type FleetShape, type Variant } from "./fleet";
import { gatewayChecks, measureGateways, renderUpgrades, type GatewayFigures } from "./gateway";
import { engineHeading, formatted, log, planInChild, repo, sectionOf, show, spread, type Spread } from "./measure";

/*
 * npm run bench [-- --runs N] [--sizes 10,100,1000,5000] [--no-gateway]
 *
 * 1. Program evaluation under the mock runtime (`clawfleet plan --json`, one process per
 *    run) for growing fleets: wall time, peak memory, resources registered.
 * 2. Diff locality: one tenant added, removed or changed in a 1000-tenant stack changes
 *    that tenant's resources only (and the shared gateway's config for a shared tenant).
 * 3. The real gateway on Docker: boot to ready, memory per gateway, hot reload of a config
 *    change versus container replacement; a real image change (openclaw 2026.9.5 to the
 *    default) in 1 and 2 lanes, a broken image, and four crashes, with each tenant's longest
 *    `/readyz` gap.
 * Writes bench/results.md and prints it; exits 1 when a check fails.
 */

const args = process.argv.slice(2);
const option = (name: string) => {
  const index = args.indexOf(name);
  return index === -1 ? undefined : args[index + 1];
};
const runs = Number(option("--runs") ?? 3);
const sizes = (option("--sizes") ?? "10,100,1000,5000").split(",").map(Number);
const withGateway = !args.includes("--no-gateway");
const localitySize = 1000;

interface ScaleRow {
  readonly dedicated: number;
  readonly shared: number;
  readonly hosts: number;
  readonly resources: number;
  readonly seconds: Spread;
  readonly peakMb: Spread | undefined;
}

interface LocalityRow {
  readonly change: string;
  readonly expected: string[];
  readonly changed: string[];
  readonly optionsOnly: string[];
  readonly unexpected: string[];
  readonly missing: string[];
  readonly reviewed: string;
}

interface Check {
  readonly what: string;
  readonly ok: boolean;
}

const work = mkdtempSync(join(tmpdir(), "clawfleet-bench-plan-"));
const stackFile = (name: string, shape: FleetShape, variant?: Variant) => {
  const dir = mkdtempSync(join(work, `${name}-`));
  const file = join(dir, "Pulumi.bench.yaml");
  writeFileSync(file, stackYaml(shape, variant));
  return file;
};

async function measureScale(): Promise<{ rows: ScaleRow[] }> {
  const rows: ScaleRow[] = [];
  for (const dedicated of sizes) {
    const shape = { dedicated };
    const file = stackFile(`scale-${dedicated}`, shape);
    const seconds: number[] = [];
    const peaks: number[] = [];
    let resources = 0;
    for (let run = 0; run < runs; run += 1) {
      const result = await planInChild(file, `${file}.json`);
      seconds.push(result.seconds);
      if (result.peakMb !== undefined) peaks.push(result.peakMb);
      resources = result.resources.length;
      log(
        `plan ${dedicated} dedicated tenants, run ${run + 1}/${runs}: ${result.seconds.toFixed(2)} s, ${result.peakMb?.toFixed(0) ?? "?"} MB, ${resources} resources`,
      );
    }
    rmSync(`${file}.json`, { force: true });
    const hosts = hostIds(shape).length;
    rows.push({
      dedicated,
      shared: hosts * sharedPerHost,
      hosts,
      resources,
      seconds: spread(seconds),
      peakMb: peaks.length === 0 ? undefined : spread(peaks),
    });
  }
  return { rows };
}

/** Resources of one tenant: its component and the children named `<id>-<role>`. */
const ownedBy = (id: string) => (r: PlanJsonResource) => r.name === id || r.name.startsWith(`${id}-`);

/** URNs added, removed, or whose `pick` of the resource differs. */
function changedUrns(before: readonly PlanJsonResource[], after: readonly PlanJsonResource[], pick: (r: PlanJsonResource) => unknown): string[] {
  const old = new Map(before.map((r) => [r.urn, r]));
  const neu = new Map(after.map((r) => [r.urn, r]));
  const urns = new Set([...old.keys(), ...neu.keys()]);
  const text = (r: PlanJsonResource | undefined) => (r === undefined ? "" : JSON.stringify(pick(r)));
  return [...urns].filter((urn) => text(old.get(urn)) !== text(neu.get(urn))).sort();
}

async function measureLocality(): Promise<LocalityRow[]> {
  const shape = { dedicated: localitySize };
  const firstHost = hostIds(shape)[0] as string;
  // Planned with the components' facts, as diff plans (the scale runs plan as a user does, without them).
  const basePlan = await planInChild(stackFile("locality-base", shape), join(work, "locality-base.json"), { facts: true });
  const base = basePlan.resources;
  const sharedConfig = `${firstHost}-shared-config`;
  const middle = dedicatedId(localitySize / 2);
  const cases: { change: string; variant: Variant; tenant: string; alsoChanged: string[] }[] = [
    { change: `add dedicated ${addedDedicatedId(shape)}`, variant: { addDedicated: true }, tenant: addedDedicatedId(shape), alsoChanged: [] },
    // The middle tenant is the first by id on its host, so its host's canary: removing it moves the image preflight's sample.
    {
      change: `remove dedicated ${middle} (its host's canary)`,
      variant: { removeDedicated: localitySize / 2 },
      tenant: middle,
      alsoChanged: [`${hostIds(shape)[Math.floor(localitySize / 2 / tenantsPerHost)] as string}-preflight`],
    },
    { change: `change model of dedicated ${middle}`, variant: { changeDedicatedModel: localitySize / 2 }, tenant: middle, alsoChanged: [] },
    {
      change: `add shared ${sharedId(firstHost, sharedPerHost)}`,
      variant: { addShared: true },
      tenant: sharedId(firstHost, sharedPerHost),
      alsoChanged: [sharedConfig],
    },
    {
      change: `change model of shared ${sharedId(firstHost, 1)}`,
      variant: { changeSharedModel: 1 },
      tenant: sharedId(firstHost, 1),
      alsoChanged: [sharedConfig],
    },
  ];
  const rows: LocalityRow[] = [];
  for (const c of cases) {
    const headPlan = await planInChild(stackFile("locality", shape, c.variant), join(work, "locality-head.json"), { facts: true });
    const head = headPlan.resources;
    const changed = changedUrns(base, head, (r) => ({ type: r.type, parent: r.parent, inputs: r.inputs }));
    // Options (dependsOn: the rollout lanes chain each host's containers) are not inputs: the engine updates nothing for them.
    const optionsOnly = changedUrns(base, head, (r) => r.options).filter((urn) => !changed.includes(urn));
    const all = [...base, ...head];
    const owned = new Set(all.filter(ownedBy(c.tenant)).map((r) => r.urn));
    const expectedOthers = new Set(all.filter((r) => c.alsoChanged.includes(r.name)).map((r) => r.urn));
    // The tenant's own resources may change; the named others (the shared gateway's config) must.
    const unexpected = changed.filter((urn) => !owned.has(urn) && !expectedOthers.has(urn));
    const missing = [...expectedOthers].filter((urn) => !changed.includes(urn));
    if (changed.filter((urn) => owned.has(urn)).length === 0 && c.change.startsWith("change model of dedicated")) missing.push(`(any resource of ${c.tenant})`);
    const diff = diffPlans("bench", basePlan, headPlan);
    const reviewed = [...diff.hosts.map((h) => `host ${h.id} ${h.effect}`), ...diff.tenants.map((t) => `${t.id} ${t.effect}`)].join(", ") || "no changes";
    rows.push({
      change: c.change,
      expected: [...owned, ...expectedOthers].filter((urn) => changed.includes(urn)),
      changed,
      optionsOnly,
      unexpected,
      missing,
      reviewed,
    });
    log(`locality, ${c.change}: ${changed.length} resources changed, ${unexpected.length} unexpected; clawfleet diff says: ${reviewed}`);
  }
  return rows;
}

const shortUrn = (urn: string) => urn.split("::").pop() ?? urn;

const resultsFile = join(repo, "bench", "results.md");
const gatewayHeading = "## The real gateway on Docker";

/**
 * With --no-gateway, the gateway figures of the previous results.md (its section, and the
 * day it was written) are kept, marked as such, rather than replaced by "not measured".
 */
function previousGatewaySection(): string | undefined {
  let previous: string;
  try {
    previous = readFileSync(resultsFile, "utf8");
  } catch {
    return undefined;
  }
  const start = previous.indexOf(`${gatewayHeading}\n`);
  const end = previous.indexOf("\n## Checks", start);
  if (start === -1 || end === -1) return undefined;
  const body = previous.slice(start + gatewayHeading.length, end).trim();
  if (body === "" || body.startsWith("Not measured")) return undefined;
  const written = /^Written by `npm run bench` on (\d{4}-\d{2}-\d{2})/m.exec(previous)?.[1];
  const kept = /^Kept from the run of \d{4}-\d{2}-\d{2}[^\n]*\n+/;
  return `Kept from the run of ${written ?? "an earlier day"} (this run had \`--no-gateway\`).\n\n${body.replace(kept, "")}`;
}

/** The section `npm run bench:engine` wrote into the previous results.md, if any. */
function previousEngineSection(): string | undefined {
  try {
    return sectionOf(readFileSync(resultsFile, "utf8"), engineHeading);
  } catch {
    return undefined;
  }
}

function render(
  scale: ScaleRow[],
  locality: LocalityRow[],
  gateway: GatewayFigures | undefined,
  gatewayError: string | undefined,
  keptGateway: string | undefined,
  checks: Check[],
): string {
  const lines: string[] = [
    "# clawfleet benchmark",
    "",
    `Written by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? "?"}), ${(totalmem() / 2 ** 30).toFixed(1)} GB memory, Node ${process.version}. Each figure is the median of ${runs} runs, with min–max in brackets.`,
    "",
    "## Program evaluation under the mock runtime (`clawfleet plan --json`)",
    "",
    "Each run is its own `node bin/clawfleet.js plan <file> --json` process, timed from outside; peak memory is the largest resident set (GNU time). Hosts hold 100 dedicated tenants each (pinned ports) plus 3 shared tenants.",
    "",
    "| dedicated tenants | shared tenants | hosts | resources registered | wall time | peak memory |",
    "| --- | --- | --- | --- | --- | --- |",
    ...scale.map(
      (r) =>
        `| ${r.dedicated} | ${r.shared} | ${r.hosts} | ${r.resources} | ${show(r.seconds, "s", 2)} | ${r.peakMb === undefined ? "n/a" : show(r.peakMb, "MB", 0)} |`,
    ),
    "",
  ];
  const small = scale.find((r) => r.dedicated === 10);
  const large = scale.find((r) => r.dedicated === 1000);
  if (small !== undefined && large !== undefined) {
    lines.push(`1000 tenants take ${(large.seconds.median / small.seconds.median).toFixed(1)}× the time of 10 (median wall times).`, "");
  }
  if (locality.length > 0) {
    lines.push(
      `## Diff locality (${localitySize} dedicated tenants)`,
      "",
      "Plans compared by URN: a resource counts as changed when it is added, removed, or its inputs (or type or parent) differ. A change may touch the changed tenant's own resources, and for a shared tenant the host's shared gateway config; anything else fails the bench. Resources whose options alone differ (`dependsOn`, which the engine does not diff) are listed apart.",
      "",
      "| change | resources changed | unexpected | changed URNs (last part) | options only | clawfleet diff reports |",
      "| --- | --- | --- | --- | --- | --- |",
      ...locality.map(
        (r) =>
          `| ${r.change} | ${r.changed.length} | ${r.unexpected.length === 0 && r.missing.length === 0 ? "none" : [...r.unexpected.map(shortUrn), ...r.missing.map((m) => `missing ${shortUrn(m)}`)].join(", ")} | ${r.changed.map(shortUrn).join(", ")} | ${r.optionsOnly.map(shortUrn).join(", ") || "none"} | ${r.reviewed} |`,
      ),
      "",
    );
  }
  lines.push(gatewayHeading, "");
  if (gateway === undefined && keptGateway !== undefined && gatewayError === undefined) {
    lines.push(keptGateway, "");
  } else if (gateway === undefined) {
    lines.push(gatewayError === undefined ? "Not measured (`--no-gateway`)." : `Not measured: ${gatewayError}`, "");
  } else {
    const perGateway = gateway.rssMb.median;
    const reserveMb = 2048;
    const byRss = Math.floor((gateway.totalMemoryMb - reserveMb) / perGateway);
    const byLimit = Math.floor((gateway.totalMemoryMb - reserveMb) / gateway.memoryLimitMb);
    lines.push(
      `Image \`${gateway.image}\`, containers created from the program's \`docker.Container\` inputs (read-only root, cap-drop ALL, no-new-privileges, init, memory limit ${gateway.memoryLimitMb} MB, pids limit, own network, 127.0.0.1 port), state and \`openclaw.json\` written by the program's host commands. No model keys or channels, so the figures are for an idle gateway.`,
      "",
      "| measure | value |",
      "| --- | --- |",
      `| create to \`/readyz\` \`{"ready":true}\`, one gateway at a time | ${show(gateway.bootSeconds, "s")} |`,
      `| the same, ${gateway.parallel} gateways booting together on ${cpus().length} CPUs | ${show(gateway.parallelBootSeconds, "s")} |`,
      `| memory per idle gateway (cgroup usage minus inactive file cache, as \`docker stats\`), ${gateway.parallel} gateways | ${show(gateway.rssMb, "MB", 0)} |`,
      `| gateways this machine holds by measured memory (${(gateway.totalMemoryMb / 1024).toFixed(1)} GB minus 2 GB for the system) | ${byRss} |`,
      `| gateways this machine holds by the default memory limit (${gateway.memoryLimitMb} MB each, what \`hosts.<id>.memoryMb\` budgets) | ${byLimit} |`,
      `| config-only change: atomic rewrite of \`openclaw.json\` until \`config hot reload applied\` is logged | ${show(gateway.reloadSeconds, "s", 2)} |`,
      `| container replacement: stop + remove + create until \`/readyz\` is ready | ${show(gateway.replaceReadySeconds, "s")} |`,
      `| container replacement until Docker reports healthy (what \`pulumi up\` waits for) | ${show(gateway.replaceHealthySeconds, "s")} |`,
      "",
      ...renderUpgrades(gateway),
    );
  }
  lines.push("## Checks", "", ...checks.map((c) => `- ${c.ok ? "ok" : "FAILED"}: ${c.what}`), "");
  return lines.join("\n");
}

async function main(): Promise<number> {
  // Pending fetches to a booting gateway do not keep Node alive on their own.
  const keepAlive = setInterval(() => undefined, 60_000);
  try {
    return await measureAll();
  } finally {
    clearInterval(keepAlive);
  }
}

/** Reading and checking a stack file of `count` tenants on 100 hosts (no program run): it must grow linearly. */
function measureParse(count: number): { count: number; seconds: number } {
  const { readStackFile } = require("../declaration/stack-file") as typeof import("../declaration/stack-file");
  const { parseFleet } = require("../declaration/parse") as typeof import("../declaration/parse");
  const text = stackYaml({ dedicated: count });
  const started = performance.now();
  try {
    parseFleet("parse.yaml", readStackFile("parse.yaml", text));
  } catch {
    // Ports repeat past 100 tenants a host; the problems are part of the work measured.
  }
  const seconds = (performance.now() - started) / 1000;
  log(`parse ${count} tenants: ${seconds.toFixed(2)} s`);
  return { count, seconds };
}

async function measureAll(): Promise<number> {
  const started = performance.now();
  const parse = [measureParse(10000), measureParse(40000)];
  const { rows: scale } = await measureScale();
  const locality = await measureLocality();
  let gateway: GatewayFigures | undefined;
  let gatewayError: string | undefined;
  if (withGateway) {
    try {
      gateway = await measureGateways(runs);
    } catch (error) {
      gatewayError = error instanceof Error ? error.message : String(error);
      log(`gateway measurements failed: ${gatewayError}`);
    }
  }
  const checks: Check[] = [];
  const small = scale.find((r) => r.dedicated === 10);
  const large = scale.find((r) => r.dedicated === 1000);
  if (small !== undefined && large !== undefined) {
    const ratio = large.seconds.median / small.seconds.median;
    checks.push({ what: `1000 tenants / 10 tenants wall time = ${ratio.toFixed(1)}× (at most 120×)`, ok: ratio <= 120 });
    checks.push({ what: `1000 tenants evaluate in ${large.seconds.median.toFixed(2)} s (under 8 s)`, ok: large.seconds.median < 8 });
    if (large.peakMb !== undefined)
      checks.push({ what: `1000 tenants peak at ${large.peakMb.median.toFixed(0)} MB (under 1024 MB)`, ok: large.peakMb.median < 1024 });
  }
  for (const row of locality) {
    checks.push({
      what: `${row.change}: only its own resources${row.expected.some((u) => u.endsWith("-shared-config")) ? " and the shared gateway config" : ""}${row.expected.some((u) => u.endsWith("-preflight")) ? " and its host's image preflight" : ""} changed (${row.changed.length})`,
      ok: row.unexpected.length === 0 && row.missing.length === 0,
    });
  }
  const [parseSmall, parseLarge] = parse as [{ count: number; seconds: number }, { count: number; seconds: number }];
  checks.push({
    what: `reading and checking ${parseLarge.count} tenants takes ${parseLarge.seconds.toFixed(2)} s, ${(parseLarge.seconds / parseSmall.seconds).toFixed(1)}× ${parseSmall.count} (linear: at most 6×; under 10 s)`,
    ok: parseLarge.seconds / parseSmall.seconds <= 6 && parseLarge.seconds < 10,
  });
  if (withGateway) checks.push({ what: "gateway measurements ran", ok: gateway !== undefined });
  if (gateway !== undefined) checks.push(...gatewayChecks(gateway));
  const keptGateway = withGateway ? undefined : previousGatewaySection();
  // The real engine's figures are `npm run bench:engine`'s section: kept as they are.
  const engineSection = previousEngineSection();
  const results = await formatted(
    render(scale, locality, gateway, gatewayError, keptGateway, checks) + (engineSection === undefined ? "" : `\n${engineSection}\n`),
  );
  writeFileSync(resultsFile, results);
  process.stdout.write(results);
  log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s; wrote bench/results.md`);
  return checks.every((c) => c.ok) ? 0 : 1;
}

main()
  .then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  )
  .finally(() => {
    rmSync(work, { recursive: true, force: true });
    // A crash case that timed out may leave a socket open; the run is over all the same.
    process.exit();
  });
