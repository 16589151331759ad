import { execFileSync, spawnSync } from "node:child_process";
import { createConnection } from "node:net";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { totalmem, tmpdir } from "node:os";
import { join } from "node:path";
import type { PlannedResource } from "../cli/mock-run";
import { runShell } from "../test/e2e/standin/command-provider";
import { containerCreateBody } from "../test/e2e/standin/docker-provider";
import { dockerApi, dockerExec, inspectContainer, type DockerEndpoint } from "../test/e2e/docker-api";
import { crashSshHostDocker, startSshHost, stopSshHost, watchOutageInsideHost } from "../test/e2e/ssh-host";
import { defaultRolloutLanes, stopTimeoutSeconds } from "../names";
import { log, repo, show, spread, type Spread } from "./measure";

/*
 * The real gateway from the e2e image, created with the container inputs the program
 * registers (docker.Container inputs through the provider stand-in's Engine API mapping), its
 * state directory and openclaw.json written by the program's own host commands. Names and
 * networks are renamed `clawbench-*` so they never meet the e2e suite's `clawfleet-*`
 * objects; ports are 19501-19504.
 */

const prefix = "clawbench-";
const benchPorts = [19501, 19502, 19503, 19504];

export interface GatewayFigures {
  readonly image: string;
  /** Create to `/readyz` answering {"ready":true}, one gateway at a time. */
  readonly bootSeconds: Spread;
  /** The same for gateways booting together. */
  readonly parallelBootSeconds: Spread;
  readonly parallel: number;
  /** Memory per idle gateway (cgroup usage minus inactive file cache, as `docker stats`). */
  readonly rssMb: Spread;
  readonly memoryLimitMb: number;
  readonly totalMemoryMb: number;
  readonly reloadSeconds: Spread;
  /** Remove + create until `/readyz` is ready, and until Docker reports healthy (what `pulumi up` waits for). */
  readonly replaceReadySeconds: Spread;
  readonly replaceHealthySeconds: Spread;
  /** The older release's image the upgrades start from (or go back to). */
  readonly olderImage: string;
  /** The program's lanes per host when a host declares none (names.ts defaultRolloutLanes). */
  readonly programLanes: number;
  readonly upgrades: readonly UpgradeRun[];
  readonly badImage: BadImageRun;
  readonly crashes: readonly CrashRun[];
}

interface Gateway {
  readonly id: string;
  readonly port: number;
  readonly container: PlannedResource;
  readonly stateScript: PlannedResource;
  readonly configScript: PlannedResource;
  readonly limitsScript: PlannedResource;
  readonly backupScript: PlannedResource;
}

interface BenchPlan {
  readonly gateways: Gateway[];
  /** The host's image preflight (`local-preflight`). */
  readonly preflight: PlannedResource;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits while the e2e suite (or anything else) runs clawfleet gateways on this Docker. */
async function waitForQuietDocker(): Promise<void> {
  for (let waited = 0; ; waited += 10) {
    const running = await dockerApi<{ Names: string[] }[]>("GET", "/containers/json?all=true");
    const busy = running.flatMap((c) => c.Names).filter((n) => /^\/(clawfleet-tenant-|clawfleet-shared-)/.test(n));
    if (busy.length === 0) return;
    if (waited >= 600) throw new Error(`containers ${busy.join(", ")} still exist after 10 minutes; is the e2e suite running?`);
    if (waited % 60 === 0) log(`waiting for ${busy.join(", ")} to go (e2e suite running?)`);
    await sleep(10_000);
  }
}

function benchStack(image: string, stateRoot: string, firstModel: string): string {
  const tenants = benchPorts.map((port, i) => `    g${i + 1}: { tier: dedicated, host: local, port: ${port}${i === 0 ? `, model: ${firstModel}` : ""} }`);
  return [
    "config:",
    `  clawfleet:image: ${image}`,
    "  clawfleet:hosts:",
    `    local: { stateRoot: ${stateRoot}, ports: { from: 19500, to: 19599 } }`,
    "  clawfleet:tenants:",
    ...tenants,
    "",
  ].join("\n");
}

/** The program's resources for the bench stack, secrets revealed (test/e2e/plan-revealed.ts). */
function planGateways(work: string, image: string, firstModel: string): Gateway[] {
  return planBench(work, image, firstModel).gateways;
}

function planBench(work: string, image: string, firstModel: string): BenchPlan {
  const dir = mkdtempSync(join(work, "stack-"));
  const file = join(dir, "Pulumi.bench.yaml");
  writeFileSync(file, benchStack(image, join(work, "state"), firstModel));
  const out = join(dir, "plan.json");
  execFileSync(process.execPath, ["--import", "tsx", join(repo, "test", "e2e", "plan-revealed.ts"), file, out], { cwd: repo, stdio: "inherit" });
  const resources = JSON.parse(readFileSync(out, "utf8")) as PlannedResource[];
  const named = (name: string) => {
    const found = resources.find((r) => r.name === name);
    if (found === undefined) throw new Error(`the program registered no ${name}`);
    return found;
  };
  const gateways = benchPorts.map((port, i) => {
    const id = `g${i + 1}`;
    return {
      id,
      port,
      container: named(`${id}-container`),
      stateScript: named(`${id}-state`),
      configScript: named(`${id}-config`),
      limitsScript: named(`${id}-limits`),
      backupScript: named(`${id}-backup`),
    };
  });
  return { gateways, preflight: named("local-preflight") };
}

function containerName(gateway: Gateway): string {
  return `${prefix}${gateway.id}`;
}

async function shell(resource: PlannedResource, stdin?: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const inputs = resource.revealedInputs;
  const script = String(inputs["create"]).replaceAll(`clawfleet-tenant-`, prefix).replaceAll("clawfleet-preflight-", `${prefix}preflight-`);
  const result = await runShell(script, stdin ?? (inputs["stdin"] as string | undefined), env);
  if (result.code !== 0) throw new Error(`${resource.name} failed (${result.code}): ${result.stderr.trim()}`);
}

async function removeGateway(gateway: Gateway): Promise<void> {
  await dockerApi("DELETE", `/containers/${containerName(gateway)}?force=true`).catch(() => undefined);
}

/**
 * Stops the gateway the way the provider deletes it (SIGTERM, then the declared grace) and
 * removes it. A killed gateway leaves its state directory's owner lease behind, and the
 * next gateway on that directory then refuses to start.
 */
async function stopAndRemoveGateway(gateway: Gateway): Promise<void> {
  const grace = Number(gateway.container.revealedInputs["destroyGraceSeconds"] ?? 30);
  await dockerApi("POST", `/containers/${containerName(gateway)}/stop?t=${grace}`).catch(() => undefined);
  await removeGateway(gateway);
}

/** Creates and starts the gateway as the program declares it (on this machine's Docker, or `on` another); returns the create time. */
async function createGateway(gateway: Gateway, on?: { endpoint: DockerEndpoint; env: NodeJS.ProcessEnv }): Promise<number> {
  const name = containerName(gateway);
  const inputs = { ...gateway.container.revealedInputs, name, networksAdvanced: [{ name }] };
  const started = performance.now();
  const endpoint = on?.endpoint;
  await dockerApi("POST", `/containers/create?name=${encodeURIComponent(name)}`, containerCreateBody(inputs), { endpoint });
  // The SSH host's daemon has no default bridge: as the provider does, leave "bridge" and join the gateway's own network, where its port is published.
  if (endpoint !== undefined) {
    await dockerApi("POST", "/networks/bridge/disconnect", { Container: name }, { endpoint }).catch(() => undefined);
    await dockerApi("POST", `/networks/${name}/connect`, { Container: name }, { endpoint });
  }
  await dockerApi("POST", `/containers/${name}/start`, undefined, { endpoint });
  await shell(gateway.limitsScript, undefined, on?.env);
  return started;
}

async function poll(what: string, seconds: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + seconds * 1000;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (performance.now() > deadline) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await sleep(100);
  }
}

async function ready(gateway: Gateway): Promise<boolean> {
  const response = await fetch(`http://127.0.0.1:${gateway.port}/readyz`, { signal: AbortSignal.timeout(2000) });
  const body = (await response.json()) as { ready?: boolean };
  return body.ready === true;
}

async function untilReady(gateway: Gateway): Promise<void> {
  try {
    await poll(`${containerName(gateway)} /readyz`, 180, () => ready(gateway));
  } catch (error) {
    const body = await fetch(`http://127.0.0.1:${gateway.port}/readyz`).then(
      (r) => r.text(),
      (e: Error) => e.message,
    );
    const tail = (await logText(gateway).catch(() => "")).trim().split("\n").slice(-15).join("\n");
    throw new Error(`${(error as Error).message}; /readyz says ${body}; last log lines:\n${tail}`);
  }
}

async function untilHealthy(gateway: Gateway): Promise<void> {
  await poll(`${containerName(gateway)} healthy`, 180, async () => (await inspectContainer(containerName(gateway)))?.State.Health?.Status === "healthy");
}

/** What `docker stats` shows as MEM USAGE: cgroup usage minus inactive file cache. */
async function memoryMb(gateway: Gateway): Promise<number> {
  const stats = await dockerApi<{ memory_stats: { usage: number; stats?: Record<string, number> } }>(
    "GET",
    `/containers/${containerName(gateway)}/stats?stream=false`,
  );
  const inactive = stats.memory_stats.stats?.["inactive_file"] ?? stats.memory_stats.stats?.["total_inactive_file"] ?? 0;
  return (stats.memory_stats.usage - inactive) / 1048576;
}

async function logText(gateway: Gateway): Promise<string> {
  return dockerApi<string>("GET", `/containers/${containerName(gateway)}/logs?stdout=true&stderr=true`, undefined, { text: true });
}

/**
 * Polls one gateway's `/readyz` every 100 ms and keeps its longest gap: from the first probe
 * that found it not ready to the next one that found it ready (a gap still open at `stop` ends there).
 */
class ReadyWatch {
  private stopped = false;
  private downSince: number | undefined;
  private longest = 0;
  private readonly loop: Promise<void>;

  constructor(private readonly port: number) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const at = performance.now();
      const up = await readyOn(this.port).catch(() => false);
      if (!up && this.downSince === undefined) this.downSince = at;
      if (up && this.downSince !== undefined) {
        this.longest = Math.max(this.longest, (at - this.downSince) / 1000);
        this.downSince = undefined;
      }
      await sleep(Math.max(0, 100 - (performance.now() - at)));
    }
  }

  /** The longest gap in seconds, 0 when every probe found the gateway ready. */
  async stop(): Promise<number> {
    this.stopped = true;
    await this.loop;
    return this.downSince === undefined ? this.longest : Math.max(this.longest, (performance.now() - this.downSince) / 1000);
  }
}

async function readyOn(port: number): Promise<boolean> {
  const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
  const body = (await response.json()) as { ready?: boolean };
  return body.ready === true;
}

export interface UpgradeRun {
  readonly lanes: number;
  readonly from: string;
  readonly to: string;
  readonly gateways: number;
  /** Preflight start until the last gateway is healthy on the new image. */
  readonly fleetSeconds: number;
  readonly preflightSeconds: number;
  /** Longest `/readyz` gap per gateway, in rollout order (canary first). */
  readonly gaps: readonly { readonly id: string; readonly seconds: number }[];
}

export interface CrashRun {
  readonly what: string;
  /** From the crash until `/readyz` answers ready again. */
  readonly seconds: number;
  /** A clean restart of the same gateway on the same host, when that host is not this machine's Docker. */
  readonly cleanRestartSeconds?: number;
  /** Why the case has no figure. */
  readonly notMeasured?: string;
}

/**
 * An image change as the program rolls it out on one host (components/fleet.ts,
 * components/gateway-host.ts): the preflight first; then every gateway's backup (each
 * depends only on the preflight); the canary's replacement (claim: stop the old container,
 * then create the new one) until Docker reports it healthy; then the others in `lanes`
 * chains, each waiting for the one `lanes` places before it. `next` is the plan on the new image.
 */
async function rollOut(next: BenchPlan, fleet: readonly Gateway[], lanes: number): Promise<{ fleetSeconds: number; preflightSeconds: number }> {
  const started = performance.now();
  await shell(next.preflight);
  const preflightSeconds = (performance.now() - started) / 1000;
  const backups = new Map(fleet.map((g) => [g.id, shell(g.backupScript)]));
  const replace = async (gateway: Gateway) => {
    await backups.get(gateway.id);
    await stopAndRemoveGateway(gateway);
    await createGateway(gateway);
    await untilHealthy(gateway);
  };
  const [canary, ...rest] = fleet as [Gateway, ...Gateway[]];
  await replace(canary);
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let i = lane; i < rest.length; i += lanes) await replace(rest[i] as Gateway);
    }),
  );
  return { fleetSeconds: (performance.now() - started) / 1000, preflightSeconds };
}

async function upgradeRun(next: BenchPlan, count: number, lanes: number, from: string, to: string): Promise<UpgradeRun> {
  const fleet = next.gateways.slice(0, count);
  const watches = fleet.map((g) => new ReadyWatch(g.port));
  log(`image change ${from} -> ${to} of ${count} gateways in ${lanes} lane(s)`);
  const { fleetSeconds, preflightSeconds } = await rollOut(next, fleet, lanes);
  for (const gateway of fleet) await untilReady(gateway);
  const gaps = await Promise.all(watches.map(async (w, i) => ({ id: fleet[i]?.id ?? "", seconds: await w.stop() })));
  log(
    `  ${fleetSeconds.toFixed(1)} s (preflight ${preflightSeconds.toFixed(1)} s); longest gaps ${gaps.map((g) => `${g.id} ${g.seconds.toFixed(1)} s`).join(", ")}`,
  );
  return { lanes, from, to, gateways: count, fleetSeconds, preflightSeconds, gaps };
}

/** Seconds from `crashed` (performance.now()) until the gateway answers ready, probed every 100 ms. */
async function readyAgain(gateway: Gateway, crashed: number): Promise<number> {
  await untilReady(gateway);
  return (performance.now() - crashed) / 1000;
}

async function crashCases(gateway: Gateway): Promise<CrashRun[]> {
  const runs: CrashRun[] = [];
  const name = containerName(gateway);
  await untilHealthy(gateway);
  log(`crash: SIGKILL of ${name}'s processes, restarted in place by its restart policy`);
  const info = await inspectContainer(name);
  if (info === undefined) throw new Error(`${name} is gone`);
  let crashed = performance.now();
  process.kill(info.State.Pid, "SIGKILL");
  await poll(`${name} restarted by Docker`, 120, async () => ((await inspectContainer(name))?.RestartCount ?? 0) > info.RestartCount);
  runs.push({ what: "SIGKILL, restarted in place (restart policy)", seconds: await readyAgain(gateway, crashed) });
  log(`  ready after ${runs.at(-1)?.seconds.toFixed(1)} s`);

  await untilHealthy(gateway);
  log(`crash: SIGKILL of ${name}, then a replacement container (same hostname) on the same state`);
  crashed = performance.now();
  await dockerApi("POST", `/containers/${name}/kill?signal=SIGKILL`);
  await removeGateway(gateway);
  await createGateway(gateway);
  runs.push({ what: "SIGKILL, then replaced (a deploy right after the crash)", seconds: await readyAgain(gateway, crashed) });
  log(`  ready after ${runs.at(-1)?.seconds.toFixed(1)} s`);

  await untilHealthy(gateway);
  log(`crash: a process inside ${name} allocates past the memory limit (OOM kill)`);
  const watch = new ReadyWatch(gateway.port);
  const hog = await dockerExec(name, ["node", "-e", "const a=[];for(;;)a.push(Buffer.alloc(64<<20,1))"]);
  if (hog.code !== 137) throw new Error(`the allocating process was not OOM-killed (exit ${hog.code})`);
  await untilReady(gateway);
  runs.push({ what: "OOM kill inside the container (the allocating process is the one killed)", seconds: await watch.stop() });
  log(`  longest gap ${runs.at(-1)?.seconds.toFixed(1)} s`);
  return runs;
}

/**
 * The SSH test host's whole Docker side killed at once and dockerd started again (a power
 * loss and reboot; scripts/ssh-test-host.sh crash-dockerd), with one gateway on it; measured
 * from inside the host's network namespace, where its port is published.
 */
async function daemonCrash(work: string, image: string, gateway: Gateway): Promise<CrashRun> {
  const dir = join(work, "gw2");
  log("starting the SSH test host and copying the image into its Docker (scripts/ssh-test-host.sh)");
  const host = startSshHost(dir, image);
  try {
    const endpoint: DockerEndpoint = { connect: () => createConnection(host.dockerSocket) };
    const env = { ...process.env, DOCKER_HOST: `unix://${host.dockerSocket}` };
    const name = containerName(gateway);
    await dockerApi("POST", "/networks/create", { Name: name, Driver: "bridge", CheckDuplicate: true }, { endpoint });
    log(`creating ${name} on the SSH host`);
    await createGateway(gateway, { endpoint, env });
    log(`waiting for ${name} to answer ready inside the SSH host`);
    const clean = watchOutageInsideHost(gateway.port, 900);
    await clean.watching;
    log(`a clean restart of ${name} on the SSH host, for comparison`);
    const restarted = Date.now();
    await dockerApi("POST", `/containers/${name}/restart?t=${stopTimeoutSeconds}`, undefined, { endpoint });
    const cleanRestartSeconds = ((await clean.outage).readyAt - restarted) / 1000;
    log(`  ready after ${cleanRestartSeconds.toFixed(1)} s`);
    const watch = watchOutageInsideHost(gateway.port, 900);
    await watch.watching;
    log(`crash: SIGKILL of the SSH host's dockerd, containerd, shims and ${name}'s processes, /run emptied; dockerd started again`);
    const crashed = Date.now();
    crashSshHostDocker(dir);
    const outage = await watch.outage;
    const seconds = (outage.readyAt - crashed) / 1000;
    log(`  ready after ${seconds.toFixed(1)} s`);
    return { what: powerLossWhat, seconds, cleanRestartSeconds };
  } finally {
    stopSshHost(dir);
  }
}

const powerLossWhat = "power loss: the host's Docker side and its containers killed, then dockerd started again";

/** The power-loss case within 20 minutes; when it fails, the other figures stand and the table says why. */
async function powerLoss(work: string, image: string, gateway: Gateway): Promise<CrashRun> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("no result within 20 minutes")), 20 * 60 * 1000);
  });
  try {
    return await Promise.race([daemonCrash(work, image, gateway), limit]);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    log(`  not measured: ${reason}`);
    return { what: powerLossWhat, seconds: Number.NaN, notMeasured: reason };
  } finally {
    clearTimeout(timer);
  }
}

/** The image `base` with an entrypoint that exits at once: what a broken release looks like to the preflight. */
function brokenImage(base: string): string {
  const tag = "clawbench/broken-gateway:1";
  const build = spawnSync("docker", ["build", "-q", "-t", tag, "-"], {
    input: `FROM ${base}\nENTRYPOINT ["node", "-e", "console.error('broken on purpose'); process.exit(3)"]\nCMD []\n`,
    encoding: "utf8",
    env: { ...process.env, DOCKER_BUILDKIT: "0" },
  });
  if (build.status !== 0) throw new Error(`docker build of ${tag} failed: ${build.stderr}`);
  return tag;
}

export interface BadImageRun {
  readonly image: string;
  readonly rejected: boolean;
  readonly unchanged: boolean;
  readonly longestGapSeconds: number;
}

async function badImageRun(work: string, broken: string, fleet: readonly Gateway[]): Promise<BadImageRun> {
  const plan = planBench(work, broken, "anthropic/claude-sonnet-4-5");
  const ids = async () => Promise.all(fleet.map(async (g) => (await inspectContainer(containerName(g)))?.Id));
  const before = await ids();
  const watches = fleet.map((g) => new ReadyWatch(g.port));
  log(`image change to ${broken}: the preflight must refuse it`);
  const rejected = await rollOut(plan, plan.gateways.slice(0, fleet.length), 1).then(
    () => false,
    () => true,
  );
  const gaps = await Promise.all(watches.map((w) => w.stop()));
  const unchanged = JSON.stringify(await ids()) === JSON.stringify(before);
  log(`  refused: ${rejected}, containers unchanged: ${unchanged}, longest gap ${Math.max(...gaps).toFixed(1)} s`);
  return { image: broken, rejected, unchanged, longestGapSeconds: Math.max(...gaps) };
}

const reloadLine = "config hot reload applied";
const count = (text: string, needle: string) => text.split(needle).length - 1;

/** The release the upgrade figures start from; the newer one is scripts/gateway-image.json's default. */
const olderRelease = "2026.9.5";

function buildImage(...args: string[]): string {
  const built = execFileSync("bash", [join(repo, "scripts", "build-gateway-image.sh"), ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  return built.trim().split("\n").pop() ?? "";
}

export async function measureGateways(runs: number): Promise<GatewayFigures> {
  log("making sure a Docker daemon answers (scripts/docker-up.sh)");
  execFileSync("bash", [join(repo, "scripts", "docker-up.sh")], { stdio: ["ignore", "inherit", "inherit"] });
  log("building or reusing the gateway image (scripts/build-gateway-image.sh)");
  const image = buildImage();
  await waitForQuietDocker();

  const work = mkdtempSync(join(tmpdir(), "clawfleet-bench-"));
  let gateways: Gateway[] = [];
  const removeDockerObjects = async () => {
    for (const gateway of gateways) {
      await stopAndRemoveGateway(gateway);
      await dockerApi("DELETE", `/networks/${containerName(gateway)}`).catch(() => undefined);
    }
  };
  const cleanup = async () => {
    await removeDockerObjects();
    rmSync(work, { recursive: true, force: true });
  };
  const onSignal = () => {
    void cleanup().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const models = ["anthropic/claude-sonnet-4-5", "anthropic/claude-opus-4-1"];
    gateways = planGateways(work, image, models[0] as string);
    // The same stack with g1's model changed: the config a config-only deploy writes.
    const changedConfig = String(planGateways(work, image, models[1] as string)[0]?.configScript.revealedInputs["stdin"]);
    // Left over from an interrupted run.
    await removeDockerObjects();
    for (const gateway of gateways) {
      await dockerApi("POST", "/networks/create", {
        Name: containerName(gateway),
        Driver: "bridge",
        Labels: { "clawfleet.bench": "true" },
        CheckDuplicate: true,
      });
      await shell(gateway.stateScript);
      await shell(gateway.configScript);
    }
    const [first] = gateways as [Gateway, ...Gateway[]];

    log(`booting one gateway at a time, ${runs} times`);
    const boot: number[] = [];
    for (let run = 0; run < runs; run += 1) {
      const started = await createGateway(first);
      await untilReady(first);
      boot.push((performance.now() - started) / 1000);
      log(`  boot ${run + 1}: ${boot.at(-1)?.toFixed(1)} s`);
      await stopAndRemoveGateway(first);
    }

    const together = gateways.slice(0, 3);
    log(`booting ${together.length} gateways together`);
    const parallelBoot = await Promise.all(
      together.map(async (gateway) => {
        const started = await createGateway(gateway);
        await untilReady(gateway);
        return (performance.now() - started) / 1000;
      }),
    );
    log("letting them idle 15 s before reading their memory");
    await sleep(15_000);
    const rss: number[] = [];
    for (const gateway of together) rss.push(await memoryMb(gateway));
    log(`  memory: ${rss.map((m) => m.toFixed(0)).join(", ")} MB`);
    for (const gateway of together.slice(1)) await stopAndRemoveGateway(gateway);

    log(`hot reload: rewriting ${first.id}'s openclaw.json ${runs} times`);
    await untilHealthy(first);
    const reload: number[] = [];
    const baseConfig = String(first.configScript.revealedInputs["stdin"]);
    if (changedConfig === baseConfig) throw new Error("changing g1's model did not change its config");
    for (let run = 0; run < runs; run += 1) {
      const before = count(await logText(first), reloadLine);
      const started = performance.now();
      await shell(first.configScript, run % 2 === 0 ? changedConfig : baseConfig);
      await poll(`"${reloadLine}" in ${containerName(first)}'s log`, 60, async () => count(await logText(first), reloadLine) > before);
      reload.push((performance.now() - started) / 1000);
      log(`  reload ${run + 1}: ${reload.at(-1)?.toFixed(2)} s`);
    }
    log(`container replacement: remove + create until ready and healthy, ${runs} times`);
    const replaceReady: number[] = [];
    const replaceHealthy: number[] = [];
    for (let run = 0; run < runs; run += 1) {
      await untilHealthy(first);
      const started = performance.now();
      await stopAndRemoveGateway(first);
      await createGateway(first);
      await untilReady(first);
      replaceReady.push((performance.now() - started) / 1000);
      await untilHealthy(first);
      replaceHealthy.push((performance.now() - started) / 1000);
      log(`  replace ${run + 1}: ready ${replaceReady.at(-1)?.toFixed(1)} s, healthy ${replaceHealthy.at(-1)?.toFixed(1)} s`);
    }

    log("building or reusing the older release's image (scripts/build-gateway-image.sh --openclaw)");
    const olderImage = buildImage("--openclaw", olderRelease);
    await stopAndRemoveGateway(first);
    const fleetSize = 3;
    const olderPlan = planBench(work, olderImage, models[0] as string);
    const newerPlan = planBench(work, image, models[0] as string);
    // The newer release migrates the state, and the older one refuses it afterwards: each upgrade starts from fresh state.
    const bootOlderFleet = async () => {
      const fleet = olderPlan.gateways.slice(0, fleetSize);
      for (const gateway of fleet) {
        await stopAndRemoveGateway(gateway);
        rmSync(join(work, "state", "users", gateway.id), { recursive: true, force: true });
        await shell(gateway.stateScript);
        await shell(gateway.configScript);
      }
      log(`booting ${fleetSize} gateways on ${olderImage}`);
      await Promise.all(
        fleet.map(async (gateway) => {
          await createGateway(gateway);
          await untilHealthy(gateway);
        }),
      );
    };
    await bootOlderFleet();
    const upgrades = [await upgradeRun(newerPlan, fleetSize, 1, olderImage, image)];
    const crashes = await crashCases(newerPlan.gateways[0] as Gateway);
    const badImage = await badImageRun(work, brokenImage(image), newerPlan.gateways.slice(0, fleetSize));
    await bootOlderFleet();
    upgrades.push(await upgradeRun(newerPlan, fleetSize, 2, olderImage, image));
    for (const gateway of newerPlan.gateways.slice(0, fleetSize)) await stopAndRemoveGateway(gateway);
    crashes.push(await powerLoss(work, image, newerPlan.gateways[3] as Gateway));

    return {
      image,
      olderImage,
      programLanes: defaultRolloutLanes,
      upgrades,
      badImage,
      crashes,
      bootSeconds: spread(boot),
      parallelBootSeconds: spread(parallelBoot),
      parallel: together.length,
      rssMb: spread(rss),
      memoryLimitMb: Number(first.container.revealedInputs["memory"]),
      totalMemoryMb: totalmem() / 1048576,
      reloadSeconds: spread(reload),
      replaceReadySeconds: spread(replaceReady),
      replaceHealthySeconds: spread(replaceHealthy),
    };
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await cleanup();
  }
}

const releaseOf = (image: string) => image.split(":").pop()?.split("-")[0] ?? image;

/** The results' upgrade and crash tables (bench/results.md, gateway section). */
export function renderUpgrades(figures: GatewayFigures): string[] {
  const f = (n: number) => `${n.toFixed(1)} s`;
  return [
    "### Image changes and crashes",
    "",
    `Real releases: openclaw ${releaseOf(figures.olderImage)} (\`${figures.olderImage}\`) and ${releaseOf(figures.image)} (\`${figures.image}\`). An image change runs as the program orders it on one host: the preflight on a copy of the canary's state, every gateway's backup (\`openclaw backup create --verify\`), the canary replaced until Docker reports it healthy, then the others in lanes (the program uses ${figures.programLanes}). Each tenant's \`/readyz\` is polled every 100 ms throughout; the longest gap is the time it answered not ready or not at all. For reference, one replacement alone (stop + cold start) took ${show(figures.replaceReadySeconds, "s")} and one cold start ${show(figures.bootSeconds, "s")}.`,
    "",
    "| image change | lanes | gateways | preflight to last gateway healthy | of which preflight | longest unavailability per tenant (canary first) |",
    "| --- | --- | --- | --- | --- | --- |",
    ...figures.upgrades.map(
      (u) =>
        `| ${releaseOf(u.from)} → ${releaseOf(u.to)} | ${u.lanes} | ${u.gateways} | ${f(u.fleetSeconds)} | ${f(u.preflightSeconds)} | ${u.gaps.map((g) => `${g.id} ${f(g.seconds)}`).join(", ")} |`,
    ),
    `| ${releaseOf(figures.image)} → a broken image (exits at once) | - | ${figures.upgrades[0]?.gateways ?? 0} | refused by the preflight: ${figures.badImage.rejected ? "yes" : "NO"}, containers unchanged: ${figures.badImage.unchanged ? "yes" : "NO"} | - | ${f(figures.badImage.longestGapSeconds)} for every tenant |`,
    "",
    "| crash | back to `/readyz` ready after |",
    "| --- | --- |",
    ...figures.crashes.map((c) =>
      c.notMeasured !== undefined
        ? `| ${c.what} | not measured: ${c.notMeasured} |`
        : `| ${c.what} | ${f(c.seconds)}${c.cleanRestartSeconds === undefined ? "" : ` (a clean restart there: ${f(c.cleanRestartSeconds)})`} |`,
    ),
    "",
  ];
}

/** The goals of safe upgrades and crash recovery, as checks. */
export function gatewayChecks(figures: GatewayFigures): { what: string; ok: boolean }[] {
  const checks: { what: string; ok: boolean }[] = [];
  for (const u of figures.upgrades) {
    // Gateways in two lanes boot two at a time, so their cold start is the parallel one.
    const coldStart = u.lanes > 1 ? figures.parallelBootSeconds.max : figures.replaceReadySeconds.max;
    const limit = coldStart + 10;
    const worst = Math.max(...u.gaps.map((g) => g.seconds));
    checks.push({
      what: `${releaseOf(u.from)} → ${releaseOf(u.to)} in ${u.lanes} lane(s): longest unavailability of a tenant ${worst.toFixed(1)} s (stop + cold start ${coldStart.toFixed(1)} s + 10 s at most: no lease wait)`,
      ok: worst <= limit,
    });
  }
  checks.push({
    what: `a broken image: refused by the preflight with no container changed and ${figures.badImage.longestGapSeconds.toFixed(1)} s unavailability (0 s)`,
    ok: figures.badImage.rejected && figures.badImage.unchanged && figures.badImage.longestGapSeconds === 0,
  });
  for (const c of figures.crashes) {
    if (c.notMeasured !== undefined) {
      checks.push({ what: `${c.what}: not measured (${c.notMeasured})`, ok: false });
      continue;
    }
    const [normal, named] =
      c.cleanRestartSeconds === undefined ? [figures.bootSeconds.max, "a cold start"] : [c.cleanRestartSeconds, "a clean restart on that host"];
    checks.push({
      what: `${c.what}: ready after ${c.seconds.toFixed(1)} s (${named} ${normal.toFixed(1)} s + 10 s at most)`,
      ok: c.seconds <= normal + 10,
    });
  }
  return checks;
}
