import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { hostLabel } from "../runtimes/docker/names";
import { dockerApi, inspectContainer } from "../test/e2e/docker-api";
import { EngineDeployer, realPlugins, type RunResult } from "../test/e2e/engine/deployer";
import { fetchText, poll } from "../test/e2e/wait";
import { stackYaml } from "./fleet";
import { engineHeading, formatted, log, replaceSection, repo, show, spread, type Spread } from "./measure";

/*
 * npm run bench:engine [-- --runs N] [--large-runs N] [--sizes 10,100,500,1000] [--limit SECONDS] [--budget SECONDS]
 *                       [--lock-wait SECONDS] [--no-docker]
 *
 * The program under the real Pulumi engine: the CLI and Node.js language host that
 * scripts/install-pulumi.sh builds, with the real docker and random provider plugins it builds and the command
 * stand-in served as a provider plugin by the engine e2e's machinery (test/e2e/engine: the project, PULUMI_HOME with
 * the plugin launchers, a file:// backend and a passphrase secrets provider).
 *
 * 1. `pulumi preview` of a new stack of 10, 100, 500 and 1000 dedicated tenants (bench/fleet.ts's
 *    declarations). Nothing reaches Docker or a host: the docker plugin previews its creates
 *    offline, as the random plugin does its passwords, and the engine answers the command stand-in's creates
 *    itself (it does not support preview).
 *    A run past --limit seconds (default 1800) is stopped.
 *    The Node.js language host hands the program the whole stack config in one environment
 *    variable (PULUMI_CONFIG), and Linux refuses an exec with one string over 128 KiB
 *    (MAX_ARG_STRLEN): a stack whose config is larger cannot run at all, and the bench says so.
 * 2. `pulumi up` of 10 dedicated gateways on real Docker, then a no-op `pulumi preview` and a
 *    no-op `pulumi up`, then `pulumi destroy`. Holds the e2e lock (/tmp/clawfleet-e2e.lock) for
 *    the whole part; stack `benchengine`, host `benchengine`, tenants bench01-bench10 on ports
 *    18901-18910 (the e2e suite uses none of them).
 *
 * Wall time of each `pulumi` command, and the peak memory of its whole process tree (the CLI, the
 * language host, the Node.js program, the plugins and whatever they start), sampled from /proc.
 * Writes its section of bench/results.md (the rest of the file is left as it is) and prints it;
 * exits 1 when a check fails.
 */

const args = process.argv.slice(2);
const option = (name: string) => {
  const index = args.indexOf(name);
  return index === -1 ? undefined : args[index + 1];
};
const runs = Number(option("--runs") ?? 3);
/** Runs of the previews above 100 tenants: each takes minutes on a busy 2-CPU machine. */
const largeRuns = Number(option("--large-runs") ?? runs);
const sizes = (option("--sizes") ?? "10,100,500,1000").split(",").map(Number);
const limitSeconds = Number(option("--limit") ?? 1800);
const withDocker = !args.includes("--no-docker");
/** Until how many seconds after the bench's start the Docker part waits for the e2e suite to let go of Docker. */
const lockWaitSeconds = Number(option("--lock-wait") ?? 3600);
const benchStarted = performance.now();
/**
 * Seconds after the bench's start past which no preview run starts (a size whose config is over
 * the exec limit still runs: it is refused in seconds). The runs made are what the figures say.
 */
const budgetSeconds = Number(option("--budget") ?? Infinity);
const elapsed = () => (performance.now() - benchStarted) / 1000;

const lockFile = "/tmp/clawfleet-e2e.lock";
const stackName = "benchengine";
const hostId = "benchengine";
const gatewayCount = 10;
const firstPort = 18901;
const sampleMs = 200;
const healthBody = '{"ok":true,"status":"live"}';

/* ---------- the process tree's memory, from /proc ---------- */

interface ProcEntry {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
  /** Start time since boot (clock ticks): with the pid, names one process. */
  readonly start: string;
  /** utime + stime of the process itself, all threads (clock ticks). */
  readonly cpuTicks: number;
}

/** Linux reports /proc times in USER_HZ, 100 a second. */
const ticksPerSecond = 100;

function processes(): ProcEntry[] {
  const entries: ProcEntry[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid ...: comm may hold spaces and parentheses.
    const close = stat.lastIndexOf(")");
    const fields = stat.slice(close + 2).split(" ");
    // Fields from 3 (state) on: ppid is 4, utime 14, stime 15, starttime 22.
    entries.push({
      pid: Number(name),
      ppid: Number(fields[1]),
      comm: stat.slice(stat.indexOf("(") + 1, close),
      start: fields[19] ?? "",
      cpuTicks: Number(fields[11]) + Number(fields[12]),
    });
  }
  return entries;
}

/** The `pulumi` processes this process started, and everything below them. */
function pulumiTree(): ProcEntry[] {
  const all = processes();
  const children = new Map<number, ProcEntry[]>();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const roots = all.filter((p) => p.ppid === process.pid && p.comm === "pulumi");
  const tree: ProcEntry[] = [];
  for (let queue = [...roots]; queue.length > 0;) {
    const entry = queue.shift() as ProcEntry;
    tree.push(entry);
    queue = [...queue, ...(children.get(entry.pid) ?? [])];
  }
  return tree;
}

/** Rss and Pss of one process in kB (smaps_rollup), or undefined when it is gone. */
function memoryOf(pid: number): { rss: number; pss: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0);
    return { rss: field("Rss"), pss: field("Pss") };
  } catch {
    return undefined;
  }
}

interface TreeMemory {
  /** Largest sum over the tree of each process's proportional set size (shared pages split), MB. */
  readonly pssMb: number;
  /** Largest sum of resident sets (shared pages counted in each process), MB. */
  readonly rssMb: number;
  /** Largest resident set of a single process (what GNU time's %M reports for the CLI), MB. */
  readonly largestMb: number;
  /** Most processes in the tree at one sample. */
  readonly processes: number;
  /**
   * CPU seconds of the tree: each process's own user + system time as last sampled. Less
   * sensitive to the machine's load than wall time; a process that lives under one sampling
   * interval is missed, and each loses at most its last interval.
   */
  readonly cpuSeconds: number;
}

/** Samples the pulumi process tree until stopped; kills it when it outlives `limit` seconds. */
function sampleTree(limit: number): { stop: () => TreeMemory; stopped: () => boolean } {
  let pss = 0;
  let rss = 0;
  let largest = 0;
  let most = 0;
  let killed = false;
  const cpu = new Map<string, number>();
  const started = performance.now();
  const sample = () => {
    const entries = pulumiTree();
    const tree = entries.map((e) => e.pid);
    for (const e of entries) cpu.set(`${e.pid}:${e.start}`, e.cpuTicks);
    let sumPss = 0;
    let sumRss = 0;
    for (const pid of tree) {
      const memory = memoryOf(pid);
      if (memory === undefined) continue;
      sumPss += memory.pss;
      sumRss += memory.rss;
      largest = Math.max(largest, memory.rss);
    }
    pss = Math.max(pss, sumPss);
    rss = Math.max(rss, sumRss);
    most = Math.max(most, tree.length);
    if (!killed && (performance.now() - started) / 1000 > limit && tree.length > 0) {
      killed = true;
      log(`stopping the pulumi process tree after ${limit} s (the limit)`);
      for (const pid of tree) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
  };
  const timer = setInterval(sample, sampleMs);
  sample();
  return {
    stop: () => {
      clearInterval(timer);
      const ticks = [...cpu.values()].reduce((sum, t) => sum + t, 0);
      return { pssMb: pss / 1024, rssMb: rss / 1024, largestMb: largest / 1024, processes: most, cpuSeconds: ticks / ticksPerSecond };
    },
    stopped: () => killed,
  };
}

interface Measured {
  readonly result: RunResult;
  readonly memory: TreeMemory;
  readonly limited: boolean;
}

/** One pulumi command through the deployer, timed by it, its process tree sampled here. */
async function measured(deployer: EngineDeployer, command: string[], limit = limitSeconds): Promise<Measured> {
  const sampler = sampleTree(limit);
  const result = await deployer.pulumi(command, true).finally(() => sampler.stop());
  return { result, memory: sampler.stop(), limited: sampler.stopped() };
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
const tail = (result: RunResult) => (result.stdout + result.stderr).trim().split("\n").slice(-15).join("\n");

/** The errors a failed command reports under "Diagnostics:", each with its resource; else its last lines. */
function errorsOf(result: RunResult): string {
  const diagnostics = result.stdout.slice(result.stdout.indexOf("\nDiagnostics:") + 1);
  const lines = diagnostics.split("\n");
  const found: string[] = [];
  let resource = "";
  let current: string[] | undefined;
  for (const line of lines) {
    const heading = /^ {2}(\S+) \((.+)\):$/.exec(line);
    if (heading !== null || /^\S/.test(line)) {
      if (current !== undefined) found.push(current.join(" / "));
      current = undefined;
      if (heading !== null) resource = heading[2] ?? "";
    } else if (/^\s+error: /.test(line)) {
      if (current !== undefined) found.push(current.join(" / "));
      current = [`${resource}: ${line.trim().slice("error: ".length)}`];
    } else if (current !== undefined && line.trim() !== "") {
      // A multi-line message: its last lines say why (a script's own stderr).
      current = [current[0] as string, ...current.slice(1).slice(-3), line.trim()];
    }
  }
  if (current !== undefined) found.push(current.join(" / "));
  return found.length > 0 && result.stdout.includes("\nDiagnostics:") ? found.join("\n") : tail(result);
}

/** "+ 11234 to create", "11234 unchanged": the summary counts of a preview or up. */
function summaryCount(result: RunResult, what: string): number {
  return Number(new RegExp(`(\\d+) ${what}\\b`).exec(result.stdout)?.[1] ?? 0);
}

/* ---------- 1. previews of new stacks ---------- */

/** Linux's limit on one argument or environment string of an exec (MAX_ARG_STRLEN: 32 pages). */
export const maxArgStrlen = 32 * 4096;

/**
 * Bytes of the `PULUMI_CONFIG=<json>` environment string the Node.js language host passes the
 * program for a stack file: each config value as the CLI serializes it (objects as JSON text).
 */
export function configEnvBytes(stackFile: string): number {
  const config = (parse(stackFile) as { config?: Record<string, unknown> }).config ?? {};
  const values = Object.fromEntries(Object.entries(config).map(([key, value]) => [key, typeof value === "string" ? value : JSON.stringify(value)]));
  return Buffer.byteLength(`PULUMI_CONFIG=${JSON.stringify(values)}`);
}

interface PreviewRow {
  readonly dedicated: number;
  /** Bytes of the config environment string (see configEnvBytes). */
  readonly configBytes: number;
  /** The exec of the program was refused: argument list too long. */
  readonly tooLong: boolean;
  /** Resources the preview plans to create (the stack and default providers included). */
  readonly creates: number;
  readonly seconds: Spread | undefined;
  readonly pssMb: Spread | undefined;
  readonly rssMb: Spread | undefined;
  readonly largestMb: Spread | undefined;
  readonly cpuSeconds: Spread | undefined;
  readonly processes: number;
  /** What stopped the size, when it did not complete. */
  readonly failure: string | undefined;
}

/** The load average when the previews began. */
let previewLoad: number[] = [];

async function measurePreviews(work: string): Promise<PreviewRow[]> {
  previewLoad = loadavg();
  log(`load average as the previews begin: ${previewLoad.map((l) => l.toFixed(2)).join(", ")}`);
  const rows: PreviewRow[] = [];
  for (const dedicated of sizes) {
    const deployer = await EngineDeployer.create({
      repo,
      work: mkdtempSync(join(work, `preview-${dedicated}-`)),
      stack: "bench",
      env: process.env,
      progress: log,
      plugins: await realPlugins(repo),
    });
    const stack = stackYaml({ dedicated });
    const configBytes = configEnvBytes(stack);
    deployer.configure(stack);
    let tooLong = false;
    const seconds: number[] = [];
    const pss: number[] = [];
    const rss: number[] = [];
    const largest: number[] = [];
    const cpu: number[] = [];
    let creates = 0;
    let most = 0;
    let failure: string | undefined;
    const times = dedicated > 100 ? largeRuns : runs;
    for (let run = 0; run < times; run += 1) {
      const last = seconds[seconds.length - 1] ?? 0;
      if (configBytes <= maxArgStrlen && elapsed() + last > budgetSeconds) {
        log(`preview ${dedicated} tenants: run ${run + 1} would pass the --budget of ${budgetSeconds} s; not started`);
        if (run === 0) failure = `not run: the bench's --budget of ${budgetSeconds} s was spent`;
        break;
      }
      const { result, memory, limited } = await measured(deployer, ["preview"]);
      log(
        `preview ${dedicated} tenants, run ${run + 1}/${times}: exit ${result.code}, ${result.seconds.toFixed(1)} s (${memory.cpuSeconds.toFixed(1)} s CPU), tree ${memory.pssMb.toFixed(0)} MB PSS (${memory.rssMb.toFixed(0)} MB RSS, largest process ${memory.largestMb.toFixed(0)} MB, ${memory.processes} processes)`,
      );
      if (limited) {
        failure = `stopped at the ${limitSeconds} s limit (peak ${memory.pssMb.toFixed(0)} MB PSS by then)`;
        break;
      }
      if (result.code !== 0) {
        const output = result.stdout + result.stderr;
        tooLong = /argument list too long/.test(output);
        const said = /error: (.*)$/m.exec(output)?.[1]?.trim() ?? tail(result).split("\n").slice(-3).join(" / ");
        failure = tooLong
          ? `refused after ${result.seconds.toFixed(1)} s, before the program ran: \`${said}\``
          : `\`pulumi preview\` exited ${result.code} after ${result.seconds.toFixed(0)} s (peak ${memory.pssMb.toFixed(0)} MB PSS): ${said}`;
        log(tail(result));
        break;
      }
      creates = summaryCount(result, "to create");
      seconds.push(result.seconds);
      pss.push(memory.pssMb);
      rss.push(memory.rssMb);
      largest.push(memory.largestMb);
      cpu.push(memory.cpuSeconds);
      most = Math.max(most, memory.processes);
    }
    const of = (values: number[]) => (values.length === 0 ? undefined : spread(values));
    rows.push({
      dedicated,
      configBytes,
      tooLong,
      creates,
      seconds: of(seconds),
      pssMb: of(pss),
      rssMb: of(rss),
      largestMb: of(largest),
      cpuSeconds: of(cpu),
      processes: most,
      failure,
    });
    // A size that failed or hit the limit is the end: a larger one would too. One the budget left
    // out is not, when a larger one is past the exec limit (refused in seconds).
    if (failure !== undefined && !failure.startsWith("not run")) break;
  }
  return rows;
}

/* ---------- 2. ten gateways on real Docker ---------- */

interface Command {
  readonly what: string;
  readonly seconds: Spread;
  readonly pssMb: Spread;
  readonly largestMb: Spread;
  readonly cpuSeconds: Spread;
  readonly note: string;
}

interface DockerFigures {
  readonly image: string;
  readonly commands: Command[];
  readonly healthy: number;
  readonly noOpClean: boolean;
  readonly destroyedClean: boolean;
  readonly lockWaitSeconds: number;
}

/** Holds the e2e lock until released: `flock` in a child that lives until its stdin closes. */
async function takeLock(): Promise<{ release: () => void; waited: number }> {
  const started = performance.now();
  const wait = Math.max(1, Math.round(lockWaitSeconds - (performance.now() - benchStarted) / 1000));
  const child: ChildProcess = spawn("flock", ["-w", String(wait), lockFile, "sh", "-c", "echo locked; exec cat >/dev/null"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("locked")) resolve();
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      reject(
        new Error(
          code === 1
            ? `the e2e lock (${lockFile}) was not free within ${lockWaitSeconds} s of the bench's start (--lock-wait)`
            : `flock ${lockFile} exited ${code}`,
        ),
      ),
    );
  });
  return { release: () => child.stdin?.end(), waited: (performance.now() - started) / 1000 };
}

function tenantIds(): string[] {
  return Array.from({ length: gatewayCount }, (_, i) => `bench${String(i + 1).padStart(2, "0")}`);
}

function dockerStack(image: string, stateRoot: string): string {
  const tenants = Object.fromEntries(tenantIds().map((id, i) => [id, { tier: "dedicated", host: hostId, port: firstPort + i }]));
  // The default memory limit; one gateway boots at a time (a canary, then one lane), as the engine
  // e2e does: this 2-CPU machine runs other suites beside the bench, and two booting gateways
  // there can miss the health gate's limit.
  return stringify({
    config: {
      "clawfleet:image": image,
      "clawfleet:hosts": { [hostId]: { stateRoot, ports: { from: 18900, to: 18990 }, tailscale: { serve: false }, rollout: { lanes: 1 } } },
      "clawfleet:tenants": tenants,
    },
  });
}

async function dockerObjects(): Promise<{ containers: string[]; networks: string[] }> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`${hostLabel}=${hostId}`] }));
  const containers = await dockerApi<{ Names: string[] }[]>("GET", `/containers/json?all=true&filters=${filters}`);
  const networks = await dockerApi<{ Name: string }[]>("GET", `/networks?filters=${filters}`);
  return { containers: containers.map((c) => (c.Names[0] ?? "").replace(/^\//, "")).sort(), networks: networks.map((n) => n.Name).sort() };
}

async function removeDockerObjects(): Promise<void> {
  const { containers, networks } = await dockerObjects();
  for (const name of [...containers, `clawfleet-preflight-${hostId}`]) await dockerApi("DELETE", `/containers/${name}?force=true`).catch(() => undefined);
  for (const name of networks) await dockerApi("DELETE", `/networks/${name}`).catch(() => undefined);
}

function commandRow(what: string, list: Measured[], note: string): Command {
  return {
    what,
    seconds: spread(list.map((m) => m.result.seconds)),
    pssMb: spread(list.map((m) => m.memory.pssMb)),
    largestMb: spread(list.map((m) => m.memory.largestMb)),
    cpuSeconds: spread(list.map((m) => m.memory.cpuSeconds)),
    note,
  };
}

async function mustSucceed(deployer: EngineDeployer, what: string, command: string[]): Promise<Measured> {
  const run = await measured(deployer, command);
  log(
    `${what}: exit ${run.result.code}, ${run.result.seconds.toFixed(1)} s (${run.memory.cpuSeconds.toFixed(1)} s CPU), tree ${run.memory.pssMb.toFixed(0)} MB PSS (largest process ${run.memory.largestMb.toFixed(0)} MB)`,
  );
  if (run.limited) throw new Error(`${what} was stopped at the ${limitSeconds} s limit`);
  if (run.result.code !== 0) throw new Error(`${what} exited ${run.result.code}:\n${errorsOf(run.result)}`);
  return run;
}

async function measureDocker(work: string): Promise<DockerFigures> {
  log(`waiting for the e2e lock (${lockFile})`);
  const lock = await takeLock();
  log(`holding the e2e lock (waited ${lock.waited.toFixed(0)} s)`);
  let deployer: EngineDeployer | undefined;
  try {
    execFileSync("bash", [join(repo, "scripts", "docker-up.sh")], { stdio: ["ignore", "inherit", "inherit"] });
    const image = (execFileSync("bash", [join(repo, "scripts", "build-gateway-image.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] })
      .trim()
      .split("\n")
      .pop() ?? "") as string;
    await removeDockerObjects();
    const dir = mkdtempSync(join(work, "docker-"));
    const stateRoot = join(dir, "state");
    mkdirSync(stateRoot);
    deployer = await EngineDeployer.create({
      repo,
      work: dir,
      stack: stackName,
      env: process.env,
      progress: log,
      plugins: await realPlugins(repo),
    });
    deployer.configure(dockerStack(image, stateRoot));

    const up = await mustSucceed(deployer, `pulumi up of ${gatewayCount} gateways`, ["up", "--yes", "--skip-preview"]);
    let healthy = 0;
    for (const [i, id] of tenantIds().entries()) {
      const status = (await inspectContainer(`clawfleet-tenant-${id}`))?.State.Health?.Status;
      const body = await poll(`/healthz of ${id}`, 120, () => fetchText(`http://127.0.0.1:${firstPort + i}/healthz`, 10_000).catch(() => undefined)).catch(
        () => "",
      );
      if (status === "healthy" && body === healthBody) healthy += 1;
      else log(`${id}: Docker health ${status ?? "none"}, /healthz ${JSON.stringify(body)}`);
    }
    const previews: Measured[] = [];
    const noOps: Measured[] = [];
    let noOpClean = true;
    for (let run = 0; run < runs; run += 1) {
      const preview = await mustSucceed(deployer, `no-op pulumi preview, run ${run + 1}/${runs}`, ["preview", "--expect-no-changes"]);
      previews.push(preview);
      const again = await mustSucceed(deployer, `no-op pulumi up, run ${run + 1}/${runs}`, ["up", "--yes", "--skip-preview", "--expect-no-changes"]);
      noOps.push(again);
      const creates = summaryCount(again.result, "to create") + summaryCount(again.result, "created");
      if (creates > 0) noOpClean = false;
    }
    const resources = summaryCount(up.result, "created");
    const destroy = await mustSucceed(deployer, "pulumi destroy", ["destroy", "--yes", "--skip-preview"]);
    const left = await dockerObjects();
    const destroyedClean = left.containers.length === 0 && left.networks.length === 0;
    return {
      image,
      healthy,
      noOpClean,
      destroyedClean,
      lockWaitSeconds: lock.waited,
      commands: [
        commandRow(
          `\`pulumi up --skip-preview\` of a new stack: ${gatewayCount} gateways`,
          [up],
          `${resources} resources created, every gateway healthy before \`up\` returns`,
        ),
        commandRow("no-op `pulumi preview --expect-no-changes`", previews, "no change planned"),
        commandRow("no-op `pulumi up --skip-preview --expect-no-changes`", noOps, "no change made"),
        commandRow("`pulumi destroy --skip-preview`", [destroy], "containers and networks removed, state directories kept"),
      ],
    };
  } finally {
    await removeDockerObjects().catch((error: unknown) => log(`cleanup: ${String(error)}`));
    lock.release();
    log("released the e2e lock");
  }
}

/* ---------- results ---------- */

interface Check {
  readonly what: string;
  readonly ok: boolean;
}

function render(
  load: number[],
  version: string,
  previews: PreviewRow[],
  docker: DockerFigures | undefined,
  dockerError: string | undefined,
  keptDocker: string | undefined,
  checks: Check[],
): string {
  const lines = [
    engineHeading,
    "",
    `Written by \`npm run bench:engine\` on ${new Date().toISOString().slice(0, 10)}: ${cpus().length} CPUs, ${(totalmem() / 2 ** 30).toFixed(1)} GB memory, load average at start ${load.map((l) => l.toFixed(2)).join(", ")} (1, 5, 15 min). The real \`pulumi\` CLI ${version} and Node.js language host (scripts/install-pulumi.sh) run the program; the docker and random provider plugins are the real ones it builds (the upstream Terraform providers through the Terraform bridge), and command is the repository's stand-in served as a plugin (test/e2e/engine), because the Go module proxy refuses its modules. A file:// backend and the passphrase secrets provider, no service. Each figure is the median of the runs its row names (asked: ${runs}${largeRuns === runs ? "" : `, ${largeRuns} above 100 tenants`}${Number.isFinite(budgetSeconds) ? `, none started past ${budgetSeconds} s of the bench` : ""}), with min–max in brackets.`,
    "",
    `Memory is the peak of the whole process tree under the \`pulumi\` command (the CLI, the language host, the program's Node.js, the three plugins and the shells they start), sampled from /proc every ${sampleMs} ms: the sum of proportional set sizes (shared pages split between the processes that map them), and the largest single process's resident set. GNU time's \`%M\` on the CLI would report only the latter: the largest resident set among the processes waited for, not their sum (two 200 MB processes at once read 236 MB with it here). CPU time is the tree's user + system time from the same samples: on this shared machine it varies far less than wall time, which waits for the other work.`,
    "",
    "### `pulumi preview` of a new stack",
    "",
    "bench/fleet.ts's declarations: dedicated tenants on SSH hosts of 100 each (pinned ports, Tailscale Serve), plus 3 shared tenants a host. Nothing is created: the docker plugin checks and previews each container and network without reaching a daemon, the random plugin previews each password as unknown, and the command stand-in does not support preview, so the engine answers its creates itself.",
    "",
    `Load average as the previews began: ${previewLoad.map((l) => l.toFixed(2)).join(", ")}.`,
    "",
    "| dedicated tenants | config handed to the program | resources to create | runs | wall time | CPU time, process tree | peak memory, process tree (PSS) | largest process (RSS) | processes |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...previews.map((r) =>
      r.seconds === undefined
        ? `| ${r.dedicated} | ${kib(r.configBytes)} | - | - | ${r.failure ?? "not run"} | - | - | - | - |`
        : `| ${r.dedicated} | ${kib(r.configBytes)} | ${r.creates} | ${r.seconds.runs} | ${show(r.seconds, "s")} | ${show(r.cpuSeconds as Spread, "s")} | ${show(r.pssMb as Spread, "MB", 0)} | ${show(r.largestMb as Spread, "MB", 0)} | ${r.processes} |`,
    ),
    "",
  ];
  const refused = previews.find((r) => r.tooLong);
  if (refused !== undefined) {
    const perTenant = (refused.configBytes - (previews[0]?.configBytes ?? 0)) / (refused.dedicated - (previews[0]?.dedicated ?? 0));
    lines.push(
      `The Node.js language host hands the program the whole stack config in one environment variable (\`PULUMI_CONFIG\`), and Linux refuses to start a process with one argument or environment string over ${kib(maxArgStrlen)} (MAX_ARG_STRLEN). At ${refused.dedicated} tenants the config is ${kib(refused.configBytes)}: the program never starts, whatever the machine's memory (upstream: pulumi/pulumi#8680, open). These declarations take about ${perTenant.toFixed(0)} bytes a dedicated tenant, so one stack holds about ${Math.floor((maxArgStrlen - (previews[0]?.configBytes ?? 0)) / perTenant + (previews[0]?.dedicated ?? 0))} of them; model keys, channels and labels make each tenant larger.`,
      "",
    );
  }
  const partial = previews.find((r) => r.seconds !== undefined && r.failure !== undefined);
  const stoppedAfter = previews.find((r) => r.seconds === undefined && !r.tooLong && r.failure !== undefined);
  if (stoppedAfter !== undefined) lines.push(`${stoppedAfter.dedicated} tenants: ${stoppedAfter.failure ?? ""}.`, "");
  if (partial !== undefined) lines.push(`${partial.dedicated} tenants: ${partial.failure} (the later runs were not made).`, "");
  const completed = previews.filter((r) => r.seconds !== undefined && r.pssMb !== undefined);
  const small = completed[0];
  const large = completed[completed.length - 1];
  if (small?.seconds !== undefined && large?.seconds !== undefined && small.pssMb !== undefined && large.pssMb !== undefined && large !== small) {
    const smallCpu = (small.cpuSeconds as Spread).median;
    const largeCpu = (large.cpuSeconds as Spread).median;
    // Per tenant from CPU time: wall time on a shared machine is mostly waiting for other work.
    const perTenant = (largeCpu - smallCpu) / (large.dedicated - small.dedicated);
    const perTenantMb = (large.pssMb.median - small.pssMb.median) / (large.dedicated - small.dedicated);
    lines.push(
      `In this run, ${large.dedicated} tenants take ${(large.seconds.median / small.seconds.median).toFixed(1)}× the wall time of ${small.dedicated}, ${(largeCpu / smallCpu).toFixed(1)}× the CPU time and ${(large.pssMb.median / small.pssMb.median).toFixed(1)}× the memory (medians): about ${perTenant.toFixed(2)} s of CPU and ${perTenantMb.toFixed(1)} MB more per dedicated tenant, over a fixed ${(smallCpu - perTenant * small.dedicated).toFixed(1)} s and ${(small.pssMb.median - perTenantMb * small.dedicated).toFixed(0)} MB.`,
      "",
    );
  }

  lines.push(`### ${gatewayCount} gateways on real Docker`, "");
  if (docker !== undefined) {
    lines.push(
      `Image \`${docker.image}\`, host \`${hostId}\` (local Docker), one gateway booting at a time (\`rollout.lanes: 1\`), the default 1536 MB limit per gateway. Real containers and networks through the real docker plugin, host commands through the command stand-in; the e2e lock held throughout (waited ${docker.lockWaitSeconds.toFixed(0)} s for it). A plain \`pulumi up\` also runs a preview first; these are \`--skip-preview\`.`,
      "",
      "| command | wall time | CPU time, process tree | peak memory, process tree (PSS) | largest process (RSS) | result |",
      "| --- | --- | --- | --- | --- | --- |",
      ...docker.commands.map(
        (c) => `| ${c.what} | ${show(c.seconds, "s")} | ${show(c.cpuSeconds, "s")} | ${show(c.pssMb, "MB", 0)} | ${show(c.largestMb, "MB", 0)} | ${c.note} |`,
      ),
      "",
    );
  } else if (keptDocker !== undefined && dockerError === undefined) {
    lines.push(keptDocker, "");
  } else {
    lines.push(dockerError === undefined ? "Not measured (`--no-docker`)." : `Not measured: ${dockerError.replace(/\s*\n\s*/g, "; ")}`, "");
  }
  lines.push("### Checks", "", ...checks.map((c) => `- ${c.ok ? "ok" : "FAILED"}: ${c.what}`), "");
  return lines.join("\n");
}

/** With --no-docker, the Docker figures of the previous run are kept, marked as such. */
function previousDockerPart(previous: string): string | undefined {
  const heading = `### ${gatewayCount} gateways on real Docker\n`;
  const start = previous.indexOf(heading);
  const end = previous.indexOf("\n### Checks", start);
  if (start === -1 || end === -1) return undefined;
  const body = previous.slice(start + heading.length, end).trim();
  if (body === "" || body.startsWith("Not measured")) return undefined;
  const written = /^Written by `npm run bench:engine` on (\d{4}-\d{2}-\d{2})/m.exec(previous.slice(previous.indexOf(engineHeading)))?.[1];
  const kept = /^Kept from the run of \d{4}-\d{2}-\d{2}[^\n]*\n+/;
  return `Kept from the run of ${written ?? "an earlier day"} (this run had \`--no-docker\`).\n\n${body.replace(kept, "")}`;
}

async function main(): Promise<number> {
  const started = performance.now();
  const load = loadavg();
  log(`load average at start: ${load.map((l) => l.toFixed(2)).join(", ")}`);
  const work = mkdtempSync(join(tmpdir(), "clawfleet-bench-engine-"));
  try {
    const probe = await EngineDeployer.create({ repo, work: join(work, "probe"), stack: "probe", env: process.env, progress: log });
    const version = (await probe.pulumi(["version"])).stdout.trim();
    const previews = await measurePreviews(work);
    let docker: DockerFigures | undefined;
    let dockerError: string | undefined;
    if (withDocker) {
      try {
        docker = await measureDocker(work);
      } catch (error) {
        dockerError = error instanceof Error ? error.message : String(error);
        log(`docker part failed: ${dockerError}`);
      }
    }
    const checks: Check[] = [];
    for (const row of previews) {
      const expected = row.dedicated * 11;
      if (row.configBytes > maxArgStrlen) {
        checks.push({
          what: `preview of ${row.dedicated} tenants, config ${kib(row.configBytes)} (over ${kib(maxArgStrlen)}): ${row.tooLong ? "refused with `argument list too long`, as the limit predicts" : `not refused as the limit predicts (${row.failure ?? "it completed"})`}`,
          ok: row.tooLong,
        });
        continue;
      }
      checks.push({
        what:
          row.seconds === undefined
            ? `preview of ${row.dedicated} tenants completed (${row.failure ?? "not run"})`
            : `preview of ${row.dedicated} tenants plans ${row.creates} creates, at least the ${expected} of its dedicated tenants`,
        ok: row.seconds !== undefined && row.creates >= expected,
      });
    }
    if (withDocker) {
      checks.push({ what: `the Docker part ran${dockerError === undefined ? "" : `: ${dockerError.split("\n")[0] ?? ""}`}`, ok: docker !== undefined });
      if (docker !== undefined) {
        checks.push({
          what: `${docker.healthy} of ${gatewayCount} gateways healthy (Docker health and /healthz) after \`pulumi up\``,
          ok: docker.healthy === gatewayCount,
        });
        checks.push({ what: "the no-op `pulumi up` created nothing", ok: docker.noOpClean });
        checks.push({ what: "`pulumi destroy` left no container or network of the bench host", ok: docker.destroyedClean });
      }
    }
    const resultsFile = join(repo, "bench", "results.md");
    let previous = "";
    try {
      previous = readFileSync(resultsFile, "utf8");
    } catch {
      previous = "# clawfleet benchmark\n";
    }
    const kept = withDocker ? undefined : previousDockerPart(previous);
    const section = render(load, version, previews, docker, dockerError, kept, checks);
    const results = await formatted(replaceSection(previous, engineHeading, section));
    writeFileSync(resultsFile, results);
    process.stdout.write(await formatted(section));
    log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s; wrote its section of bench/results.md`);
    return checks.every((c) => c.ok) ? 0 : 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench:engine: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
