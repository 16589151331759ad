import { shellQuote } from "../../runtimes/shell";
import type { Host } from "../../declaration/schema";
import type { GatewayStatus, RuntimeOps } from "../../runtimes/ops";
import { gatewayReadyProbe } from "../../components/render/config";
import { stateLayout } from "../../names";
import { opsOf } from "../runtime";
import { describeHost, unreachableError, type HostRunner } from "./host-shell";
import { formatMb, readStateSizes, stateSizeProbe } from "./state-size";
import { backupDirOf, type TenantTarget } from "./targets";

/** One tenant's line in `clawfleet status`. */
export interface TenantStatus {
  readonly tenant: string;
  readonly host: string;
  readonly tier: "dedicated" | "shared";
  readonly container: string;
  /** The runtime's state word, `missing` (declared, no gateway) or `unreachable` (its host did not answer). */
  readonly state: string;
  /** The runtime's health status, or undefined when unknown. */
  readonly health: string | undefined;
  /** The gateway's own `/readyz` answered ready; undefined when it could not be asked. */
  readonly ready: boolean | undefined;
  /** What keeps it from being ready, in openclaw's words: a channel that cannot connect, the state database. */
  readonly notReady: readonly string[] | undefined;
  /**
   * Declared channels openclaw's restart-loop breaker keeps from starting on their own (after 3 unclean boots within
   * 5 minutes); undefined when not asked (no channel declared, not running) or the gateway could not tell.
   */
  readonly channelsHeld: readonly string[] | undefined;
  readonly startedAt: string | undefined;
  readonly uptimeSeconds: number | undefined;
  readonly restarts: number | undefined;
  readonly image: string | undefined;
  /** False when the container runs another image than the stack declares (a deploy is pending). */
  readonly imageCurrent: boolean | undefined;
  /** The image that failed on this gateway when a rollback put it back on the one it runs. */
  readonly rolledBackFrom: string | undefined;
  readonly port: number;
  readonly memoryUsedMb: number | undefined;
  readonly memoryLimitMb: number;
  /** ISO time of the newest archive of this gateway in the host's backup folder. */
  readonly lastBackup: string | undefined;
  /** Size of the tenant's state directory on the host (its workspace for a shared tenant), in MB; undefined when not measured. */
  readonly stateMb: number | undefined;
  /** Its declared `stateLimitMb`; undefined: no limit. */
  readonly stateLimitMb: number | undefined;
  readonly healthy: boolean;
}

export interface FleetStatus {
  readonly stack: string;
  readonly image: string;
  readonly healthy: boolean;
  readonly tenants: readonly TenantStatus[];
  /** Hosts that could not be asked, with the reason. */
  readonly unreachable: readonly { readonly host: string; readonly error: string }[];
}

const section = (name: string) => `@@clawfleet-${name}`;

/**
 * One script per host: what the runtime knows of every declared gateway, each running
 * gateway's own readiness and the channels its restart-loop breaker holds (asked inside it),
 * and, where state is kept in folders on the host (`onHost`), the backup folders' archives and
 * the state sizes, in one round trip.
 */
export function renderStatusProbe(
  ops: RuntimeOps,
  containers: readonly string[],
  onHost: { readonly backupDir: string; readonly stateDirs: readonly string[] } | undefined,
): string {
  const ask = (name: string) => ops.execCommand(name, ["node", "-e", gatewayReadyProbe]).map(shellQuote).join(" ");
  return [
    `echo ${section("now")} "$(date +%s)"`,
    `echo ${section("runtime")}`,
    ...ops.statusProbe(containers),
    // Asked inside each gateway, 8 at a time; each answers with one short line.
    `echo ${section("inside")}`,
    ...containers.flatMap((name, index) => [
      `( out=$(timeout 20 ${ask(name)} 2>/dev/null | tail -n 1); echo ${shellQuote(name)} "$out" ) &`,
      ...((index + 1) % 8 === 0 ? ["wait"] : []),
    ]),
    `wait`,
    `echo ${section("backups")}`,
    ...(onHost === undefined ? [] : backupsProbe(onHost.backupDir)),
    `echo ${section("sizes")}`,
    ...stateSizeProbe(onHost?.stateDirs ?? []),
    `echo ${section("end")}`,
    `true`,
  ].join("\n");
}

/** Each archive of the backup folders below `backupDir`, as `<mtime> <path below it>`. */
function backupsProbe(backupDir: string): string[] {
  return [
    // Backups of one gateway live in <backupDir>/<container>/ (taken before an image change) and
    // <backupDir>/manual/<container>/ (taken by `clawfleet backup`).
    `for file in ${shellQuote(backupDir)}/clawfleet-*/* ${shellQuote(`${backupDir}/${stateLayout.manualBackups}`)}/clawfleet-*/*; do`,
    `  [ -f "$file" ] && echo "$(stat -c %Y "$file") \${file#${shellQuote(`${backupDir}/`)}}"`,
    `done`,
  ];
}

/** A gateway's answer to the question asked inside it; undefined parts when it could not tell. */
export interface InsideAnswer {
  readonly ready: boolean | undefined;
  /** What keeps it from being ready, in openclaw's words (a channel id, state-database). */
  readonly failing: readonly string[];
  /** Channels held by the restart-loop breaker. */
  readonly held: readonly string[] | undefined;
}

/** What one host's probe reported, keyed by gateway name. */
export interface HostProbe {
  readonly now: number;
  readonly gateways: ReadonlyMap<string, GatewayStatus>;
  /** Each running gateway's own answer, by gateway name. */
  readonly inside: ReadonlyMap<string, InsideAnswer>;
  /** Newest archive time (epoch seconds) per file name prefix `<container>-`. */
  readonly backups: readonly { readonly file: string; readonly time: number }[];
  /** KiB used by each state directory measured. */
  readonly stateKib: ReadonlyMap<string, number>;
}

/** A gateway's answer to gatewayReadyProbe; `?`, nothing or a cut-short line tell nothing. */
function insideAnswer(answer: string): InsideAnswer {
  try {
    const value = JSON.parse(answer) as { ready?: unknown; failing?: unknown; held?: unknown };
    const strings = (list: unknown) => (Array.isArray(list) && list.every((v) => typeof v === "string") ? (list as string[]) : undefined);
    return { ready: typeof value.ready === "boolean" ? value.ready : undefined, failing: strings(value.failing) ?? [], held: strings(value.held) };
  } catch {
    return { ready: undefined, failing: [], held: undefined };
  }
}

/** Parses the probe's output (see renderStatusProbe); `ops` reads its runtime's part. */
export function parseStatusProbe(ops: RuntimeOps, text: string): HostProbe {
  const sections = new Map<string, string[]>();
  let current = "";
  let now = Math.floor(Date.now() / 1000);
  for (const line of text.split("\n")) {
    const match = /^@@clawfleet-([a-z]+)(?: (.*))?$/.exec(line);
    if (match !== null) {
      current = match[1] ?? "";
      if (current === "now" && match[2] !== undefined) now = Number(match[2]);
      sections.set(current, []);
      continue;
    }
    sections.get(current)?.push(line);
  }
  if (!sections.has("end")) throw new Error("the status probe did not finish");
  const gateways = ops.readStatus(sections.get("runtime") ?? []);
  const backups = (sections.get("backups") ?? [])
    .map((line) => /^(\d+) (.+)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ time: Number(m[1]), file: m[2] ?? "" }));
  const inside = new Map<string, InsideAnswer>();
  for (const line of sections.get("inside") ?? []) {
    const match = /^(\S+) ?(.*)$/.exec(line);
    if (match === null) continue;
    inside.set(match[1] ?? "", insideAnswer((match[2] ?? "").trim()));
  }
  return { now, gateways, inside, backups, stateKib: readStateSizes(sections.get("sizes") ?? []) };
}

/** A tenant's status from its host's probe. */
export function tenantStatus(target: TenantTarget, probe: HostProbe | undefined, image: string): TenantStatus {
  const base = {
    tenant: target.id,
    host: target.host.id,
    tier: target.tier,
    container: target.container,
    port: target.port,
    memoryLimitMb: target.memoryMb,
    stateLimitMb: target.stateLimitMb,
  };
  // What is known of a gateway that is not there, or whose host does not answer.
  const absent = {
    health: undefined,
    ready: undefined,
    notReady: undefined,
    channelsHeld: undefined,
    startedAt: undefined,
    uptimeSeconds: undefined,
    restarts: undefined,
    image: undefined,
    imageCurrent: undefined,
    rolledBackFrom: undefined,
    memoryUsedMb: undefined,
    healthy: false,
  };
  if (probe === undefined) return { ...base, ...absent, state: "unreachable", lastBackup: undefined, stateMb: undefined };
  const kib = probe.stateKib.get(target.stateDir);
  const stateMb = kib === undefined ? undefined : kib / 1024;
  const newest = probe.backups
    .filter((b) => [`${target.container}/`, `${stateLayout.manualBackups}/${target.container}/`].some((folder) => b.file.startsWith(folder)))
    .sort((a, b) => b.time - a.time)[0];
  const lastBackup = newest === undefined ? undefined : new Date(newest.time * 1000).toISOString();
  const gateway = probe.gateways.get(target.container);
  if (gateway === undefined) return { ...base, ...absent, state: "missing", lastBackup, stateMb };
  const running = gateway.status === "running";
  const started = Date.parse(gateway.startedAt);
  const health = gateway.health;
  const answer = running ? probe.inside.get(target.container) : undefined;
  const held = target.channels.length > 0 ? answer?.held : undefined;
  return {
    ...base,
    state: gateway.status,
    // A stopped container keeps its last health status, which says nothing about now.
    health: running ? health : undefined,
    ready: running ? answer?.ready : false,
    notReady: answer?.ready === false ? answer.failing : undefined,
    channelsHeld: held,
    startedAt: running ? gateway.startedAt : undefined,
    uptimeSeconds: running && Number.isFinite(started) ? Math.max(0, probe.now - Math.floor(started / 1000)) : undefined,
    restarts: gateway.restarts,
    image: gateway.image,
    imageCurrent: gateway.image === image,
    rolledBackFrom: gateway.rolledBackFrom,
    memoryUsedMb: running ? gateway.memoryMb : undefined,
    lastBackup,
    stateMb,
    // Healthy means serving: Docker's check passes, the gateway itself says it is ready, and no channel is held.
    healthy: running && health === "healthy" && answer?.ready === true && (held ?? []).length === 0,
  };
}

/** One host's answer: its tenants' lines, or why the host could not be asked (its tenants then show as unreachable). */
export interface HostStatus {
  readonly host: string;
  readonly tenants: readonly TenantStatus[];
  /** Why the host could not be asked; undefined when it answered. */
  readonly error: string | undefined;
}

/**
 * Asks one host about its declared tenants (one probe): what `status` shows of it, and what
 * `watch` compares between polls. `timeoutSeconds` bounds the whole probe; a host that takes
 * longer counts as not answering, and the processes started for it are stopped.
 */
export async function probeHost(runner: HostRunner, host: Host, targets: readonly TenantTarget[], image: string, timeoutSeconds?: number): Promise<HostStatus> {
  const mine = targets.filter((t) => t.host.id === host.id);
  const containers = [...new Set(mine.map((t) => t.container))];
  const unanswered = (error: string): HostStatus => ({ host: host.id, tenants: mine.map((t) => tenantStatus(t, undefined, image)), error });
  const ops = opsOf(host);
  // State folders and backups are root's; a runtime with neither (Kubernetes) is asked as the user, with their kubeconfig.
  const onHost = ops.hostState === undefined ? undefined : { backupDir: backupDirOf(host), stateDirs: [...new Set(mine.map((t) => t.stateDir))] };
  const options = { root: onHost !== undefined, ...(timeoutSeconds === undefined ? {} : { timeoutSeconds }) };
  const result = await runner.run(host, ["sh", "-c", renderStatusProbe(ops, containers, onHost)], options);
  const error = unreachableError(host, result);
  if (error !== undefined) return unanswered(error.message);
  let probe: HostProbe;
  try {
    probe = parseStatusProbe(ops, result.stdout);
  } catch (parseError) {
    return unanswered(`host ${describeHost(host)}: ${String(parseError)}: ${result.stderr.trim()}`);
  }
  return { host: host.id, tenants: mine.map((t) => tenantStatus(t, probe, image)), error: undefined };
}

/** Asks every host at once (one probe each) and puts the tenants' lines together. */
export async function collectStatus(
  runner: HostRunner,
  targets: readonly TenantTarget[],
  hosts: readonly Host[],
  stack: string,
  image: string,
): Promise<FleetStatus> {
  const asked = hosts.filter((host) => targets.some((t) => t.host.id === host.id));
  const answers = await Promise.all(asked.map((host) => probeHost(runner, host, targets, image)));
  const byTenant = new Map(answers.flatMap((a) => a.tenants).map((t) => [t.tenant, t]));
  const tenants = targets.map((t) => byTenant.get(t.id) ?? tenantStatus(t, undefined, image));
  const unreachable = answers
    .filter((a) => a.error !== undefined)
    .map((a) => ({ host: a.host, error: a.error ?? "" }))
    .sort((a, b) => (a.host < b.host ? -1 : 1));
  return { stack, image, healthy: tenants.every((t) => t.healthy) && unreachable.length === 0, tenants, unreachable };
}

/** 41s, 12m 05s, 3h 04m, 2d 07h. */
export function formatUptime(seconds: number | undefined): string {
  if (seconds === undefined) return "-";
  const pad = (n: number) => String(n).padStart(2, "0");
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${pad(seconds % 60)}s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ${pad(Math.floor((seconds % 3600) / 60))}m`;
  return `${Math.floor(seconds / 86400)}d ${pad(Math.floor((seconds % 86400) / 3600))}h`;
}

function formatMemory(row: TenantStatus): string {
  const used = row.memoryUsedMb === undefined ? "-" : `${Math.round(row.memoryUsedMb)}`;
  const share = row.memoryUsedMb === undefined ? "" : ` (${Math.round((row.memoryUsedMb / row.memoryLimitMb) * 100)}%)`;
  return `${used}/${row.memoryLimitMb} MB${share}`;
}

/** 412 MB, or against the declared limit: 12/1024 MB, 1210/1024 MB (over). */
export function formatStateSize(row: TenantStatus): string {
  if (row.stateMb === undefined) return row.stateLimitMb === undefined ? "-" : `-/${row.stateLimitMb} MB`;
  if (row.stateLimitMb === undefined) return formatMb(row.stateMb);
  const used = formatMb(row.stateMb).replace(/ MB$/, "");
  return `${used}/${row.stateLimitMb} MB${row.stateMb > row.stateLimitMb ? " (over)" : ""}`;
}

function formatBackup(iso: string | undefined, now: number): string {
  if (iso === undefined) return "never";
  return `${formatUptime(Math.max(0, Math.floor(now / 1000) - Math.floor(Date.parse(iso) / 1000)))} ago`;
}

/** Columns padded to their widest cell; the last column is not padded. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** The image a gateway runs, with the declared one when they differ and the one that failed when a rollback put it back. */
function formatImage(row: TenantStatus, declared: string): string {
  if (row.image === undefined) return "-";
  const notes = [
    ...(row.rolledBackFrom === undefined ? [] : [`rolled back from ${row.rolledBackFrom}`]),
    // A gateway rolled back from the declared image shows only that.
    ...(row.imageCurrent === false && row.rolledBackFrom !== declared ? [`declared: ${declared}`] : []),
  ];
  return notes.length === 0 ? row.image : `${row.image} (${notes.join("; ")})`;
}

/** The human table: one line per tenant, then a summary line. */
export function renderStatusTable(status: FleetStatus, now = Date.now()): string {
  const header = ["TENANT", "HOST", "TIER", "STATE", "HEALTH", "READY", "UPTIME", "RESTARTS", "IMAGE", "PORT", "MEMORY", "STATE SIZE", "LAST BACKUP"];
  const rows = status.tenants.map((row) => [
    row.tenant,
    row.host,
    row.tier,
    row.state,
    row.health ?? "-",
    row.ready === undefined ? "-" : row.ready ? "yes" : "no",
    formatUptime(row.uptimeSeconds),
    row.restarts === undefined ? "-" : String(row.restarts),
    formatImage(row, status.image),
    String(row.port),
    formatMemory(row),
    formatStateSize(row),
    formatBackup(row.lastBackup, now),
  ]);
  const bad = status.tenants.filter((t) => !t.healthy);
  const summary =
    bad.length === 0
      ? `${status.tenants.length} of ${status.tenants.length} tenants healthy`
      : `${status.tenants.length - bad.length} of ${status.tenants.length} tenants healthy; not healthy: ${bad.map((t) => `${t.tenant} (${describeProblem(t)})`).join(", ")}`;
  return `${renderTable(header, rows)}\n\n${summary}`;
}

/** The channels the restart-loop breaker holds in a gateway that is otherwise healthy (only a running gateway is asked). */
function heldByBreaker(row: TenantStatus): readonly string[] {
  return row.health === "healthy" ? (row.channelsHeld ?? []) : [];
}

/** Why a tenant is not healthy, in a word or two. */
export function describeProblem(row: TenantStatus): string {
  if (row.state === "missing") return "no container";
  if (row.state === "unreachable") return `host ${row.host} unreachable`;
  if (row.state !== "running") return row.state;
  const held = heldByBreaker(row);
  if (held.length > 0) return `restart-loop breaker holds ${held.join(", ")}`;
  if (row.health !== "healthy") return row.health === undefined ? "no health check" : row.health;
  if (row.ready !== false) return "readiness unknown";
  return (row.notReady ?? []).length === 0 ? "not ready" : `not ready: ${(row.notReady ?? []).join(", ")} failing`;
}

/** `--json`: the same facts, one object. */
export function renderStatusJson(status: FleetStatus): string {
  // Unknown values print as null, so every tenant has the same keys.
  return JSON.stringify(status, (_key, value: unknown) => (value === undefined ? null : value), 2);
}

/** The lines on stderr when `status` exits 1: who is not healthy, and how to start channels the breaker holds. */
export function unhealthyMessage(status: FleetStatus): string {
  const bad = status.tenants.filter((t) => !t.healthy);
  const lines = [`${bad.length} of ${status.tenants.length} tenants are not healthy: ${bad.map((t) => `${t.tenant} (${describeProblem(t)})`).join(", ")}`];
  const held = bad.find((t) => heldByBreaker(t).length > 0);
  if (held !== undefined) {
    lines.push(
      `after 3 unclean starts within 5 minutes openclaw keeps a gateway's channels stopped until 5 minutes pass without another; start one now with: clawfleet exec ${status.stack} ${held.tenant} -- gateway call channels.start --params '${JSON.stringify({ channel: heldByBreaker(held)[0] })}'`,
    );
  }
  return lines.join("\nclawfleet: ");
}
