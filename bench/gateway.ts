import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { totalmem, tmpdir } from "node:os";
import { join } from "node:path";
import type { PlannedResource } from "../cli/mock-run";
import { runShell } from "../test/e2e/standin/command-provider";
import { containerCreateBody } from "../test/e2e/standin/docker-provider";
import { dockerApi, inspectContainer } from "../test/e2e/docker-api";
import { log, repo, spread, type Spread } from "./measure";

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
}

interface Gateway {
  readonly id: string;
  readonly port: number;
  readonly container: PlannedResource;
  readonly stateScript: PlannedResource;
  readonly configScript: PlannedResource;
  readonly limitsScript: PlannedResource;
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
  return benchPorts.map((port, i) => {
    const id = `g${i + 1}`;
    return {
      id,
      port,
      container: named(`${id}-container`),
      stateScript: named(`${id}-state`),
      configScript: named(`${id}-config`),
      limitsScript: named(`${id}-limits`),
    };
  });
}

function containerName(gateway: Gateway): string {
  return `${prefix}${gateway.id}`;
}

async function shell(resource: PlannedResource, stdin?: string): Promise<void> {
  const inputs = resource.revealedInputs;
  const script = String(inputs["create"]).replaceAll(`clawfleet-tenant-`, prefix);
  const result = await runShell(script, stdin ?? (inputs["stdin"] as string | undefined), process.env);
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

/** Creates and starts the gateway as the program declares it; returns the create time. */
async function createGateway(gateway: Gateway): Promise<number> {
  const name = containerName(gateway);
  const inputs = { ...gateway.container.revealedInputs, name, networksAdvanced: [{ name }] };
  const started = performance.now();
  await dockerApi("POST", `/containers/create?name=${encodeURIComponent(name)}`, containerCreateBody(inputs));
  await dockerApi("POST", `/containers/${name}/start`);
  await shell(gateway.limitsScript);
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

const reloadLine = "config hot reload applied";
const count = (text: string, needle: string) => text.split(needle).length - 1;

export async function measureGateways(runs: number): Promise<GatewayFigures> {
  log("making sure a Docker daemon answers (scripts/docker-up.sh)");
  execFileSync("bash", [join(repo, "scripts", "docker-up.sh")], { stdio: ["ignore", "inherit", "inherit"] });
  log("building or reusing the gateway image (scripts/build-gateway-image.sh)");
  const built = execFileSync("bash", [join(repo, "scripts", "build-gateway-image.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const image = built.trim().split("\n").pop() ?? "";
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

    return {
      image,
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
