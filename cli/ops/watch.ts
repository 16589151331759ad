import { channelCredentials, type Fleet, type Host } from "../../declaration/schema";
import { enforceBudgets } from "./budget-enforce";
import { OpsError } from "./errors";
import type { Writers } from "./gateway-verbs";
import { stopChildren, type HostRunner } from "./host-shell";
import { Redactor } from "./redact";
import { formatMb } from "./state-size";
import { formatUptime, probeHost, type HostStatus, type TenantStatus } from "./status";
import { allTargets, hostStateOf, type TenantTarget } from "./targets";
import { collectUsage, formatUsd, monthToDate, type TenantUsage } from "./usage";

/** What can be wrong, each its own alert: one per host, one per gateway, one per channel of a gateway and kind. */
export type ProblemKind =
  "host-not-answering" | "gateway-down" | "channel-held" | "channel-disconnected" | "backup-stale" | "state-over-limit" | "budget-warning" | "budget-exceeded";

export interface Problem {
  /**
   * Stable over polls: `host/<host>`, `gateway/<host>/<container>`, `backup/<host>/<container>`,
   * `channel/<host>/<container>/<channel>/<held|disconnected>`, `state/<host>/<tenant>`, `budget/<host>/<tenant>/<80|100>`.
   */
  readonly key: string;
  readonly kind: ProblemKind;
  readonly host: string;
  /** The gateway's container; undefined for a host problem. */
  readonly gateway: string | undefined;
  /** The tenants that gateway serves (every tenant of the host for a host problem). */
  readonly tenants: readonly string[];
  readonly channel: string | undefined;
  /** Who is affected, in words: `tenant opsb (host gw1)`, `the shared gateway of host gw1 (tenants bob, carol)`. */
  readonly subject: string;
  /** Why, in status's words; the latest poll's, while the problem lasts. */
  readonly reason: string;
}

/** One poll of one host, in problems. */
export interface Observation {
  readonly problems: readonly Problem[];
  /**
   * What this poll saw in full, as key prefixes: an open problem under one of them that the poll did not find has
   * resolved. What a poll could not see (the gateways of a host that does not answer, the channels of a gateway
   * that is down) keeps its last state.
   */
  readonly scopes: readonly string[];
}

const inScope = (key: string, scopes: readonly string[]) => scopes.some((scope) => key === scope || key.startsWith(`${scope}/`));

/** Who a gateway serves, in words. */
function subjectOf(rows: readonly TenantStatus[], host: string): string {
  const [first] = rows;
  if (first !== undefined && first.tier === "dedicated") return `tenant ${first.tenant} (host ${host})`;
  return `the shared gateway of host ${host} (tenant${rows.length === 1 ? "" : "s"} ${rows.map((r) => r.tenant).join(", ")})`;
}

/** Why a gateway is not serving, or undefined when it is; a channel that cannot connect is a problem of its own. */
function downReason(row: TenantStatus, channels: readonly string[]): string | undefined {
  if (row.state === "missing") return "no container";
  if (row.state !== "running") return row.state;
  if (row.health !== "healthy") return row.health ?? "no health check";
  if (row.ready === undefined) return "readiness unknown";
  if (row.ready) return undefined;
  const other = (row.notReady ?? []).filter((word) => !channels.includes(word));
  if (other.length > 0) return `not ready: ${other.join(", ")} failing`;
  return (row.notReady ?? []).length === 0 ? "not ready" : undefined;
}

/** Turns one host's answer to the status probe (the same one `clawfleet status` reads) into problems. */
export function observeHost(
  status: HostStatus,
  targets: readonly TenantTarget[],
  backups?: { readonly maxAgeSeconds: number; readonly now: Date },
): Observation {
  const host = status.host;
  const hostScope = `host/${host}`;
  if (status.error !== undefined) {
    const problem: Problem = {
      key: hostScope,
      kind: "host-not-answering",
      host,
      gateway: undefined,
      tenants: status.tenants.map((t) => t.tenant),
      channel: undefined,
      subject: `host ${host}`,
      reason: status.error,
    };
    return { problems: [problem], scopes: [hostScope] };
  }
  const problems: Problem[] = [];
  const scopes = [hostScope];
  const gateways = new Map<string, TenantStatus[]>();
  for (const row of status.tenants) gateways.set(row.container, [...(gateways.get(row.container) ?? []), row]);
  for (const [gateway, rows] of gateways) {
    const row = rows[0] as TenantStatus;
    // openclaw names a channel that cannot connect by its id; other words (state-database) keep the gateway from serving.
    const channels = [...(targets.find((t) => t.container === gateway)?.channels ?? []), ...Object.keys(channelCredentials)];
    const base = { host, gateway, tenants: rows.map((r) => r.tenant), subject: subjectOf(rows, host) };
    const gatewayScope = `gateway/${host}/${gateway}`;
    scopes.push(gatewayScope);
    if (backups !== undefined) {
      // Backups are taken beside a running gateway, so a stopped one's backup alerts too: its state is not copied.
      const backupScope = `backup/${host}/${gateway}`;
      scopes.push(backupScope);
      const taken = row.lastBackup === undefined ? undefined : Date.parse(row.lastBackup);
      const age = taken === undefined ? undefined : Math.max(0, Math.round((backups.now.getTime() - taken) / 1000));
      if (age === undefined || age > backups.maxAgeSeconds) {
        const limit = formatUptime(backups.maxAgeSeconds);
        const reason = age === undefined ? `no backup yet (at most ${limit} old wanted)` : `last backup ${formatUptime(age)} old, more than ${limit}`;
        problems.push({ ...base, key: backupScope, kind: "backup-stale", channel: undefined, reason });
      }
    }
    const down = downReason(row, channels);
    if (down !== undefined) {
      problems.push({ ...base, key: gatewayScope, kind: "gateway-down", channel: undefined, reason: down });
      continue;
    }
    // Only a gateway that serves tells what its channels do.
    const channelScope = `channel/${host}/${gateway}`;
    scopes.push(channelScope);
    for (const channel of (row.notReady ?? []).filter((word) => channels.includes(word))) {
      const reason = `the ${channel} channel cannot connect`;
      problems.push({ ...base, key: `${channelScope}/${channel}/disconnected`, kind: "channel-disconnected", channel, reason });
    }
    for (const channel of row.channelsHeld ?? []) {
      const reason = `openclaw's restart-loop breaker holds the ${channel} channel (3 unclean starts within 5 minutes)`;
      problems.push({ ...base, key: `${channelScope}/${channel}/held`, kind: "channel-held", channel, reason });
    }
  }
  // A tenant's state against its stateLimitMb; one that du could not measure this time keeps its last state.
  for (const row of status.tenants) {
    if (row.stateLimitMb === undefined || row.stateMb === undefined) continue;
    const key = `state/${host}/${row.tenant}`;
    scopes.push(key);
    if (row.stateMb > row.stateLimitMb) {
      problems.push({
        key,
        kind: "state-over-limit",
        host,
        gateway: row.container,
        tenants: [row.tenant],
        channel: undefined,
        subject: `tenant ${row.tenant} (host ${host})`,
        reason: `its state is ${formatMb(row.stateMb)}, over its stateLimitMb of ${row.stateLimitMb} MB`,
      });
    }
  }
  return { problems, scopes };
}

/** The shares of a monthly budget that alert, each once: a warning, then the cap. */
export const budgetThresholds = [
  { percent: 80, kind: "budget-warning" },
  { percent: 100, kind: "budget-exceeded" },
] as const;

/**
 * Turns this month's usage of a host's tenants with a budget into problems: one at 80% of the budget, one at 100%.
 * A tenant whose usage could not be read keeps its last state; a new month starts from nothing, which resolves both.
 */
export function observeBudgets(usage: readonly TenantUsage[], targets: readonly TenantTarget[], month: string): Observation {
  const problems: Problem[] = [];
  const scopes: string[] = [];
  for (const row of usage) {
    const target = targets.find((t) => t.id === row.tenant);
    const budget = target?.budgetUsdPerMonth;
    if (target === undefined || budget === undefined || row.totals === undefined) continue;
    const key = `budget/${row.host}/${row.tenant}`;
    scopes.push(key);
    const spent = row.totals.totalCost;
    const share = Math.floor((spent / budget) * 100);
    for (const { percent, kind } of budgetThresholds) {
      if (spent < (budget * percent) / 100) continue;
      problems.push({
        key: `${key}/${percent}`,
        kind,
        host: row.host,
        gateway: row.container,
        tenants: [row.tenant],
        channel: undefined,
        subject: `tenant ${row.tenant} (host ${row.host})`,
        reason: `its estimated model cost in ${month} (UTC) is ${formatUsd(spent)}, ${share}% of its budget of ${formatUsd(budget)} a month`,
      });
    }
  }
  return { problems, scopes };
}

/** A problem that is open: alerted, not yet resolved. */
export interface OpenProblem extends Problem {
  /** When a poll first found it (ISO time). */
  readonly since: string;
}

export interface WatchEvent {
  readonly event: "alert" | "resolved";
  readonly problem: OpenProblem;
  /** When the poll that found the change ended (ISO time). */
  readonly at: string;
}

/**
 * The state machine: the open problems and a poll give the new open problems and the events, one per change. A
 * problem still there sends nothing (its reason is kept up to date); one gone from what the poll saw in full
 * resolves; one the poll could not see stays as it was.
 */
export function advance(open: ReadonlyMap<string, OpenProblem>, observation: Observation, at: Date): { open: Map<string, OpenProblem>; events: WatchEvent[] } {
  const next = new Map(open);
  const events: WatchEvent[] = [];
  const time = at.toISOString();
  const found = new Set<string>();
  for (const problem of observation.problems) {
    found.add(problem.key);
    const before = open.get(problem.key);
    const now: OpenProblem = { ...problem, since: before?.since ?? time };
    next.set(problem.key, now);
    if (before === undefined) events.push({ event: "alert", problem: now, at: time });
  }
  for (const [key, problem] of open) {
    if (found.has(key) || !inScope(key, observation.scopes)) continue;
    next.delete(key);
    events.push({ event: "resolved", problem, at: time });
  }
  return { open: next, events };
}

/** The JSON posted to the webhook and printed by `--json` (schema in the README). */
export interface AlertPayload {
  readonly version: 1;
  readonly event: "alert" | "resolved";
  readonly kind: ProblemKind;
  readonly key: string;
  readonly stack: string;
  readonly host: string;
  readonly gateway: string | null;
  readonly tenants: readonly string[];
  readonly channel: string | null;
  /** One line for people (and chat webhooks that show `text`). */
  readonly text: string;
  readonly reason: string;
  readonly since: string;
  readonly at: string;
  /** How long the problem lasted; null on an alert. */
  readonly durationSeconds: number | null;
}

function eventText(event: WatchEvent): string {
  const { problem } = event;
  const lasted = formatUptime(Math.max(0, Math.round((Date.parse(event.at) - Date.parse(problem.since)) / 1000)));
  if (event.event === "alert") {
    return problem.kind === "host-not-answering"
      ? `${problem.subject} is not answering: ${problem.reason}`
      : problem.kind === "gateway-down"
        ? `${problem.subject} is not healthy: ${problem.reason}`
        : problem.kind === "budget-warning"
          ? `${problem.subject} has spent 80% of its monthly budget: ${problem.reason}`
          : problem.kind === "budget-exceeded"
            ? `${problem.subject} has spent its monthly budget: ${problem.reason}`
            : `${problem.subject}: ${problem.reason}`;
  }
  const back: Record<ProblemKind, string> = {
    "host-not-answering": `${problem.subject} answers again`,
    "gateway-down": `${problem.subject} is healthy again`,
    "channel-held": `${problem.subject}: the ${problem.channel ?? ""} channel is no longer held`,
    "channel-disconnected": `${problem.subject}: the ${problem.channel ?? ""} channel is connected again`,
    "backup-stale": `${problem.subject} has a recent backup again`,
    "state-over-limit": `${problem.subject}: its state is within its stateLimitMb again`,
    "budget-warning": `${problem.subject}: its estimated model cost this month is under 80% of its budget again`,
    "budget-exceeded": `${problem.subject}: its estimated model cost this month is under its budget again`,
  };
  return `${back[problem.kind]} after ${lasted}`;
}

/** The payload of one event; every text in it passes through `redact`. */
export function alertPayload(event: WatchEvent, stack: string, redact: (text: string) => string): AlertPayload {
  const { problem } = event;
  const payload: AlertPayload = {
    version: 1,
    event: event.event,
    kind: problem.kind,
    key: problem.key,
    stack,
    host: problem.host,
    gateway: problem.gateway ?? null,
    tenants: problem.tenants,
    channel: problem.channel ?? null,
    text: eventText(event),
    reason: problem.reason,
    since: problem.since,
    at: event.at,
    durationSeconds: event.event === "resolved" ? Math.max(0, Math.round((Date.parse(event.at) - Date.parse(problem.since)) / 1000)) : null,
  };
  return JSON.parse(JSON.stringify(payload, (_key, value: unknown) => (typeof value === "string" ? redact(value) : value))) as AlertPayload;
}

/** The line printed for an event: JSON with `--json`, else time, ALERT or RESOLVED, and the text. */
export function eventLine(payload: AlertPayload, json: boolean): string {
  return json ? JSON.stringify(payload) : `${payload.at} ${payload.event === "alert" ? "ALERT" : "RESOLVED"} ${payload.text}`;
}

/** How a webhook is named in logs: its scheme, host and port, never its path, query or user (they often carry the secret). */
export function describeWebhook(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

/**
 * Hides secrets in alerts and logs: every credential-named variable of this process's environment (as `logs`
 * does for a gateway's) and the webhook URL's user, password, path and query.
 */
export function watchRedactor(env: NodeJS.ProcessEnv, webhook: URL | undefined): Redactor {
  const entries = Object.entries(env).map(([name, value]) => `${name}=${value ?? ""}`);
  if (webhook !== undefined) {
    entries.push(`WEBHOOK_USER=${decodeURIComponent(webhook.username)}`, `WEBHOOK_PASSWORD=${decodeURIComponent(webhook.password)}`);
    entries.push(`WEBHOOK_PATH=${webhook.pathname}${webhook.search}`);
  }
  return new Redactor(entries, ["WEBHOOK_USER", "WEBHOOK_PASSWORD", "WEBHOOK_PATH"]);
}

export interface DeliveryOptions {
  /** Tries per event before it is given up (logged). */
  readonly attempts: number;
  /** Wait before the first retry; each next wait doubles, up to maxDelayMs. */
  readonly firstDelayMs: number;
  readonly maxDelayMs: number;
  /** Time one POST may take. */
  readonly timeoutMs: number;
}

export const defaultDelivery: DeliveryOptions = { attempts: 8, firstDelayMs: 1000, maxDelayMs: 60000, timeoutMs: 10000 };

/** Waits `ms`, or less when `signal` aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done);
  });
}

/**
 * Posts events to a webhook one at a time, in the order they happened (an alert before its resolve). A failure
 * (no answer, a timeout, 408, 429 or 5xx) is retried after 1, 2, 4 ... s up to a minute apart; another 4xx will
 * not change on retry and is given up at once. Each failure is logged with the webhook's host only.
 */
export class WebhookSender {
  private queue: Promise<void> = Promise.resolve();
  private failedCount = 0;

  constructor(
    private readonly url: URL,
    private readonly log: (line: string) => void,
    private readonly options: DeliveryOptions = defaultDelivery,
    private readonly signal?: AbortSignal,
  ) {}

  private stopped(): boolean {
    return this.signal?.aborted === true;
  }

  /** Events given up after every try. */
  get failed(): number {
    return this.failedCount;
  }

  send(payload: AlertPayload): void {
    this.queue = this.queue.then(() => this.deliver(payload));
  }

  /** Resolves once every event sent so far is delivered or given up. */
  idle(): Promise<void> {
    return this.queue;
  }

  private async deliver(payload: AlertPayload): Promise<void> {
    const where = describeWebhook(this.url);
    const what = `${payload.event} ${payload.key}`;
    const body = JSON.stringify(payload);
    for (let attempt = 1; attempt <= this.options.attempts; attempt++) {
      let problem: string;
      let retry = true;
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), this.options.timeoutMs);
      try {
        const response = await fetch(this.url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
          signal: controller.signal,
          redirect: "manual",
        });
        await response.arrayBuffer().catch(() => undefined);
        if (response.status >= 200 && response.status < 300) return;
        problem = `answered ${response.status}`;
        retry = response.status === 408 || response.status === 429 || response.status >= 500;
      } catch (error) {
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        problem = controller.signal.aborted
          ? `did not answer within ${this.options.timeoutMs / 1000} s`
          : `could not be reached (${cause?.code ?? cause?.message ?? String(error)})`;
      } finally {
        clearTimeout(timer);
      }
      if (this.stopped()) return;
      if (!retry || attempt === this.options.attempts) {
        this.failedCount += 1;
        this.log(`webhook ${where} ${problem}; gave up on ${what} after ${attempt} ${attempt === 1 ? "try" : "tries"}`);
        return;
      }
      const delay = Math.min(this.options.maxDelayMs, this.options.firstDelayMs * 2 ** (attempt - 1));
      this.log(`webhook ${where} ${problem}; ${what} retried in ${delay / 1000} s (try ${attempt + 1} of ${this.options.attempts})`);
      await pause(delay, this.signal);
      if (this.stopped()) return;
    }
  }
}

export interface WatchOptions {
  readonly stack: string;
  readonly intervalSeconds: number;
  /** The most one host's poll may take before the host counts as not answering. */
  readonly timeoutSeconds: number;
  /** One poll of every host, then exit: 0 when nothing is wrong, 1 otherwise. */
  readonly once: boolean;
  readonly json: boolean;
  /** Alert a gateway whose newest backup on its host is older than this (or missing); undefined: not watched. */
  readonly backupMaxAgeSeconds?: number;
  readonly webhook: URL | undefined;
  readonly redactor: Redactor;
  readonly delivery?: DeliveryOptions;
  /** Ends the watch (tests; the CLI ends on a signal). */
  readonly signal?: AbortSignal;
}

/**
 * Polls every host in a loop of its own (so a slow host never delays another's alerts), each poll bounded by
 * `timeoutSeconds`, and reports each change: on stdout, and to the webhook when there is one. Resolves only with
 * `once` (the exit code) or when `signal` aborts (0).
 */
export async function watchFleet(
  runner: HostRunner,
  hosts: readonly Host[],
  targets: readonly TenantTarget[],
  image: string,
  options: WatchOptions,
  io: Writers,
): Promise<number> {
  const redact = (text: string) => options.redactor.redact(text);
  const log = (line: string) => io.err(redact(`clawfleet watch: ${line}`));
  const sender = options.webhook === undefined ? undefined : new WebhookSender(options.webhook, log, options.delivery, options.signal);
  let open = new Map<string, OpenProblem>();
  const watched = hosts.filter((host) => targets.some((t) => t.host.id === host.id));
  log(
    `watching ${targets.length} tenant${targets.length === 1 ? "" : "s"} on ${watched.length} host${watched.length === 1 ? "" : "s"}${options.once ? " once" : ` every ${options.intervalSeconds} s`} (a host that takes more than ${options.timeoutSeconds} s counts as not answering)${options.webhook === undefined ? "" : `; alerts to ${describeWebhook(options.webhook)}`}`,
  );
  const pollHost = async (host: Host) => {
    const mine = targets.filter((t) => t.host.id === host.id);
    const stopped = () => options.signal?.aborted === true;
    while (!stopped()) {
      const started = Date.now();
      const status = await probeHost(runner, host, mine, image, options.timeoutSeconds);
      if (stopped()) return;
      const now = new Date();
      const backups = options.backupMaxAgeSeconds === undefined ? undefined : { maxAgeSeconds: options.backupMaxAgeSeconds, now };
      let observation = observeHost(status, mine, backups);
      // Budgets only where the host answered: the spend of a host that does not answer keeps its last state.
      const budgeted = status.error === undefined ? mine.filter((t) => t.budgetUsdPerMonth !== undefined) : [];
      if (budgeted.length > 0) {
        const range = monthToDate(now);
        const usage = await collectUsage(runner, budgeted, [host], { stack: options.stack, range, hostsAtOnce: 1, timeoutSeconds: options.timeoutSeconds });
        if (stopped()) return;
        const month = range.startDate.slice(0, 7);
        const spend = observeBudgets(usage.tenants, budgeted, month);
        await enforceBudgets(runner, usage.tenants, budgeted, month, log);
        if (stopped()) return;
        observation = { problems: [...observation.problems, ...spend.problems], scopes: [...observation.scopes, ...spend.scopes] };
      }
      const step = advance(open, observation, new Date());
      open = step.open;
      for (const event of step.events) {
        const payload = alertPayload(event, options.stack, redact);
        io.out(eventLine(payload, options.json));
        sender?.send(payload);
      }
      if (options.once) return;
      await pause(Math.max(0, options.intervalSeconds * 1000 - (Date.now() - started)), options.signal);
    }
  };
  // Ending the watch stops the probes under way (ssh, docker): the CLI starts no other process meanwhile.
  options.signal?.addEventListener("abort", () => stopChildren());
  await Promise.all(watched.map(pollHost));
  await sender?.idle();
  if (!options.once) return 0;
  return open.size === 0 && (sender?.failed ?? 0) === 0 ? 0 : 1;
}

/** A whole number of seconds from 1 to a day, or a usage error naming the flag. */
function seconds(given: string | undefined, flag: string, fallback: number): number {
  if (given === undefined) return fallback;
  const value = Number(given);
  if (!/^\d+$/.test(given) || value < 1 || value > 86400)
    throw new OpsError(`clawfleet watch: ${flag} ${JSON.stringify(given)} is not a number of seconds from 1 to 86400`, 2);
  return value;
}

/** A whole number of hours from 1 to a year, or a usage error naming the flag. */
function hours(given: string, flag: string): number {
  const value = Number(given);
  if (!/^\d+$/.test(given) || value < 1 || value > 8760)
    throw new OpsError(`clawfleet watch: ${flag} ${JSON.stringify(given)} is not a number of hours from 1 to 8760`, 2);
  return value;
}

/** What `clawfleet watch` is given on its command line. */
export interface WatchFlags {
  readonly webhook: string | undefined;
  readonly interval: string | undefined;
  readonly timeout: string | undefined;
  readonly "backup-max-age": string | undefined;
  readonly once: boolean;
  readonly json: boolean;
}

/** `clawfleet watch`: reads its flags (and CLAWFLEET_WEBHOOK_URL from `env`) and watches the whole fleet. */
export async function runWatch(
  runner: HostRunner,
  fleet: Fleet,
  stackFile: string,
  flags: WatchFlags,
  env: NodeJS.ProcessEnv,
  io: Writers,
  signal?: AbortSignal,
): Promise<number> {
  const given = flags.webhook;
  const text = given ?? env["CLAWFLEET_WEBHOOK_URL"];
  let webhook: URL | undefined;
  if (text !== undefined && text !== "") {
    const source = given !== undefined ? "--webhook" : "CLAWFLEET_WEBHOOK_URL";
    // The URL itself is never printed: its path or user often is the secret.
    try {
      webhook = new URL(text);
    } catch {
      throw new OpsError(`clawfleet watch: ${source} is not a URL; give an http:// or https:// address`, 2);
    }
    if (webhook.protocol !== "http:" && webhook.protocol !== "https:")
      throw new OpsError(`clawfleet watch: ${source} must be an http:// or https:// address, not ${webhook.protocol}`, 2);
  }
  // Backups are read from the hosts' backup folders: a host without them would alert for ever.
  if (flags["backup-max-age"] !== undefined) for (const host of fleet.hosts) hostStateOf("watch --backup-max-age", host, stackFile);
  const options: WatchOptions = {
    stack: stackFile,
    intervalSeconds: seconds(flags.interval, "--interval", 60),
    timeoutSeconds: seconds(flags.timeout, "--timeout", 60),
    once: flags.once,
    json: flags.json,
    backupMaxAgeSeconds: flags["backup-max-age"] === undefined ? undefined : hours(flags["backup-max-age"], "--backup-max-age") * 3600,
    webhook,
    redactor: watchRedactor(env, webhook),
    signal,
  };
  return watchFleet(runner, fleet.hosts, allTargets(fleet), fleet.image, options, io);
}
