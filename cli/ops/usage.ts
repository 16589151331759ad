import type { Host } from "../../declaration/schema";
import { OpsError } from "./errors";
import { firstJson, gatewayCliReason, notRunningMessage, inspectGateway, redactorOf, runGatewayCli } from "./gateway-access";
import type { HostRunner } from "./host-shell";
import { renderTable } from "./status";
import type { TenantTarget } from "./targets";

/** The days asked about, as `usage.cost` takes them: whole UTC calendar days, both ends included. */
export interface UsageRange {
  readonly startDate: string;
  readonly endDate: string;
}

/** Token counts and estimated cost, as the gateway's `usage.cost` totals them (openclaw's CostUsageTotals). */
export interface UsageTotals {
  readonly input: number;
  readonly output: number;
  readonly cacheRead: number;
  readonly cacheWrite: number;
  readonly totalTokens: number;
  /** Estimated USD, from the per-token prices of the models' config (`models.providers.*.models[].cost`). */
  readonly totalCost: number;
  /** Tokens of models without a price: their cost is not in totalCost. */
  readonly missingCostEntries: number;
}

/** One tenant's usage, or why it could not be read. */
export interface TenantUsage {
  readonly tenant: string;
  readonly host: string;
  readonly tier: "dedicated" | "shared";
  readonly container: string;
  /** The agent asked about in a shared gateway; undefined for a dedicated gateway (all of its agents). */
  readonly agentId: string | undefined;
  /** Its declared `budget.usdPerMonth`; undefined: no budget. */
  readonly budgetUsdPerMonth: number | undefined;
  readonly totals: UsageTotals | undefined;
  /** openclaw's own word on its usage cache (`fresh`, or `refreshing`/`stale`: the totals may miss recent turns). */
  readonly cache: string | undefined;
  readonly error: string | undefined;
}

export interface HostUsage {
  readonly host: string;
  /** The sum of the host's tenants that answered. */
  readonly totals: UsageTotals;
  /** Why the host could not be asked; undefined when it answered. */
  readonly error: string | undefined;
}

export interface FleetUsage {
  readonly stack: string;
  readonly startDate: string;
  readonly endDate: string;
  readonly tenants: readonly TenantUsage[];
  readonly hosts: readonly HostUsage[];
  readonly totals: UsageTotals;
}

const empty: UsageTotals = { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, totalTokens: 0, totalCost: 0, missingCostEntries: 0 };

export function addTotals(a: UsageTotals, b: UsageTotals): UsageTotals {
  return {
    input: a.input + b.input,
    output: a.output + b.output,
    cacheRead: a.cacheRead + b.cacheRead,
    cacheWrite: a.cacheWrite + b.cacheWrite,
    totalTokens: a.totalTokens + b.totalTokens,
    // Cents rounding is left to the output; sums stay exact to the gateway's own figures.
    totalCost: a.totalCost + b.totalCost,
    missingCostEntries: a.missingCostEntries + b.missingCostEntries,
  };
}

const day = (date: Date) => date.toISOString().slice(0, 10);

/** The first day of `now`'s calendar month (UTC) to `now`'s day: the period a monthly budget covers. */
export function monthToDate(now: Date): UsageRange {
  return { startDate: `${day(now).slice(0, 8)}01`, endDate: day(now) };
}

/**
 * The range `--since` or `--days` asks for (this calendar month, UTC, without either): `--since` a day
 * (YYYY-MM-DD, UTC) up to today, `--days N` the last N days including today.
 */
export function usageRange(flags: { since?: string | undefined; days?: string | undefined }, now: Date): UsageRange {
  if (flags.since !== undefined && flags.days !== undefined) throw new OpsError("clawfleet usage: give --since or --days, not both", 2);
  if (flags.since !== undefined) {
    const given = flags.since;
    const parsed = /^\d{4}-\d{2}-\d{2}$/.test(given) ? new Date(`${given}T00:00:00Z`) : undefined;
    if (parsed === undefined || Number.isNaN(parsed.getTime()) || day(parsed) !== given)
      throw new OpsError(`clawfleet usage: --since ${JSON.stringify(given)} is not a day; use YYYY-MM-DD (UTC), such as 2026-11-01`, 2);
    if (given > day(now)) throw new OpsError(`clawfleet usage: --since ${given} is after today (${day(now)} UTC)`, 2);
    return { startDate: given, endDate: day(now) };
  }
  if (flags.days !== undefined) {
    const days = Number(flags.days);
    if (!/^\d+$/.test(flags.days) || days < 1 || days > 3660)
      throw new OpsError(`clawfleet usage: --days ${JSON.stringify(flags.days)} is not a number of days from 1 to 3660`, 2);
    const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - (days - 1)));
    return { startDate: day(start), endDate: day(now) };
  }
  return monthToDate(now);
}

/** The gateway's answer to `usage.cost` as far as clawfleet reads it. */
interface CostSummary {
  readonly totals?: Partial<Record<keyof UsageTotals, unknown>>;
  readonly cacheStatus?: { readonly status?: unknown };
}

/** Reads a `usage.cost` answer (`gateway call usage.cost --json`); undefined when it is not one. */
export function readCostSummary(lines: readonly string[]): { totals: UsageTotals; cache: string | undefined } | undefined {
  const summary = firstJson<CostSummary>(lines);
  const totals = summary?.totals;
  if (totals === undefined || totals === null || typeof totals !== "object") return undefined;
  const number = (key: keyof UsageTotals) => {
    const value = totals[key];
    return typeof value === "number" && Number.isFinite(value) ? value : 0;
  };
  if (typeof totals.totalTokens !== "number" || typeof totals.totalCost !== "number") return undefined;
  const status = summary?.cacheStatus?.status;
  return {
    totals: {
      input: number("input"),
      output: number("output"),
      cacheRead: number("cacheRead"),
      cacheWrite: number("cacheWrite"),
      totalTokens: number("totalTokens"),
      totalCost: number("totalCost"),
      missingCostEntries: number("missingCostEntries"),
    },
    cache: typeof status === "string" ? status : undefined,
  };
}

/** The `usage.cost` parameters for a tenant: its agent in a shared gateway, every agent of its own gateway. */
export function costParams(target: TenantTarget, range: UsageRange): Record<string, string> {
  return target.tier === "shared" && target.agentId !== undefined ? { ...range, agentId: target.agentId } : { ...range, agentScope: "all" };
}

function identity(target: TenantTarget) {
  const agentId = target.tier === "shared" ? target.agentId : undefined;
  return { tenant: target.id, host: target.host.id, tier: target.tier, container: target.container, agentId, budgetUsdPerMonth: target.budgetUsdPerMonth };
}

/**
 * Seconds to keep asking while openclaw says its usage cache is refreshing: right after a turn it answers with the
 * totals from before it (a real gateway took about 35 s to turn fresh after a first turn), so the answer is taken
 * again, 3 s apart, until it is fresh or this much time has passed.
 */
export const cacheWaitSeconds = 60;

/** One tenant's usage from its gateway (`gateway call usage.cost` inside it, again while its cache refreshes). */
async function tenantUsage(runner: HostRunner, target: TenantTarget, range: UsageRange, stackFile: string, timeoutSeconds: number): Promise<TenantUsage> {
  const base = identity(target);
  const facts = await inspectGateway(runner, target);
  if (facts.status !== "running") return { ...base, totals: undefined, cache: undefined, error: notRunningMessage(target, facts, stackFile) };
  const redactor = redactorOf(facts, target);
  const args = ["gateway", "call", "usage.cost", "--params", JSON.stringify(costParams(target, range)), "--json"];
  const until = Date.now() + cacheWaitSeconds * 1000;
  for (;;) {
    const run = await runGatewayCli(runner, target, redactor, args, { timeoutSeconds });
    if (run.code !== 0) return { ...base, totals: undefined, cache: undefined, error: `usage.cost failed in ${target.container}: ${gatewayCliReason(run)}` };
    const read = readCostSummary(run.stdout);
    if (read === undefined)
      return { ...base, totals: undefined, cache: undefined, error: `usage.cost in ${target.container} gave no cost summary: ${gatewayCliReason(run)}` };
    if (read.cache === undefined || read.cache === "fresh" || Date.now() >= until) return { ...base, totals: read.totals, cache: read.cache, error: undefined };
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }
}

/** Runs `work` on each item, at most `limit` at a time, results in the items' order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

export interface UsageOptions {
  readonly stack: string;
  readonly range: UsageRange;
  /** Hosts asked at the same time. */
  readonly hostsAtOnce: number;
  /** The most one `usage.cost` call may take before its host counts as not answering. */
  readonly timeoutSeconds: number;
}

/**
 * Asks every host's gateways for their tenants' usage: hosts at most `hostsAtOnce` at a time, a host's tenants one
 * after the other (each call starts the gateway's CLI, which is heavy on a small host). A host that does not answer
 * is named with why and its tenants carry that error; the others still count.
 */
export async function collectUsage(runner: HostRunner, targets: readonly TenantTarget[], hosts: readonly Host[], options: UsageOptions): Promise<FleetUsage> {
  const asked = hosts.filter((host) => targets.some((t) => t.host.id === host.id));
  const perHost = await mapBounded(asked, options.hostsAtOnce, async (host): Promise<{ host: HostUsage; tenants: TenantUsage[] }> => {
    const mine = targets.filter((t) => t.host.id === host.id);
    const tenants: TenantUsage[] = [];
    for (const target of mine) {
      try {
        tenants.push(await tenantUsage(runner, target, options.range, options.stack, options.timeoutSeconds));
      } catch (error) {
        // The host itself did not answer: its other tenants would not either.
        const reason = error instanceof Error ? error.message : String(error);
        const unanswered = (t: TenantTarget): TenantUsage => ({
          ...identity(t),
          totals: undefined,
          cache: undefined,
          error: reason,
        });
        tenants.push(...mine.slice(tenants.length).map(unanswered));
        return {
          host: { host: host.id, totals: tenants.reduce((sum, t) => (t.totals === undefined ? sum : addTotals(sum, t.totals)), empty), error: reason },
          tenants,
        };
      }
    }
    return {
      host: { host: host.id, totals: tenants.reduce((sum, t) => (t.totals === undefined ? sum : addTotals(sum, t.totals)), empty), error: undefined },
      tenants,
    };
  });
  const byTenant = new Map(perHost.flatMap((h) => h.tenants).map((t) => [t.tenant, t]));
  const tenants = targets.flatMap((t) => byTenant.get(t.id) ?? []);
  const hostRows = perHost.map((h) => h.host);
  return {
    stack: options.stack,
    ...options.range,
    tenants,
    hosts: hostRows,
    totals: hostRows.reduce((sum, h) => addTotals(sum, h.totals), empty),
  };
}

/** USD to the cent below a dollar's hundredth shown as such: $0.0072, $12.40. */
export function formatUsd(usd: number): string {
  if (usd === 0) return "$0.00";
  if (Math.abs(usd) < 0.01) return `$${usd.toPrecision(2)}`;
  return `$${usd.toFixed(2)}`;
}

const count = (n: number) => n.toLocaleString("en-US");

/** The table: one line per tenant, then one total line per host and the fleet's. */
export function renderUsageTable(usage: FleetUsage, now = new Date()): string {
  const header = ["TENANT", "HOST", "TIER", "INPUT", "OUTPUT", "CACHE READ", "CACHE WRITE", "TOKENS", "COST", "BUDGET"];
  // A share of the budget only means something over the month it is for.
  const thisMonth = usage.startDate === monthToDate(now).startDate && usage.endDate === monthToDate(now).endDate;
  const budget = (t: TenantUsage) =>
    t.budgetUsdPerMonth === undefined
      ? "-"
      : `${formatUsd(t.budgetUsdPerMonth)}/month${thisMonth && t.totals !== undefined ? ` (${Math.floor((t.totals.totalCost / t.budgetUsdPerMonth) * 100)}% spent)` : ""}`;
  const cells = (t: UsageTotals | undefined) =>
    t === undefined
      ? ["-", "-", "-", "-", "-", "-"]
      : [
          count(t.input),
          count(t.output),
          count(t.cacheRead),
          count(t.cacheWrite),
          count(t.totalTokens),
          `${formatUsd(t.totalCost)}${t.missingCostEntries > 0 ? " (some unpriced)" : ""}`,
        ];
  const rows = usage.tenants.map((t) => [t.tenant, t.host, t.tier, ...cells(t.totals), budget(t)]);
  const hostRows = usage.hosts.map((h) => [`(host total)`, h.host, "", ...cells(h.totals)]);
  const lines = [renderTable(header, [...rows, ...hostRows, ["(fleet total)", "", "", ...cells(usage.totals)]])];
  const notes = usage.tenants.filter((t) => t.error === undefined && t.cache !== undefined && t.cache !== "fresh");
  lines.push("", `${usage.startDate} to ${usage.endDate} (UTC days); cost is openclaw's estimate from the declared model prices`);
  for (const t of notes) lines.push(`${t.tenant}: openclaw's usage cache was still ${t.cache}; recent turns may be missing, ask again in a minute`);
  return lines.join("\n");
}

/** `--json`: the same facts, one object; unknown values as null. */
export function renderUsageJson(usage: FleetUsage): string {
  return JSON.stringify(usage, (_key, value: unknown) => (value === undefined ? null : value), 2);
}

/** The lines on stderr for what could not be read: each host that did not answer once, each other tenant with why. */
export function usageErrors(usage: FleetUsage): string[] {
  const hostErrors = usage.hosts.filter((h) => h.error !== undefined).map((h) => `host ${h.host}: ${h.error ?? ""}`);
  const down = new Set(usage.hosts.filter((h) => h.error !== undefined).map((h) => h.host));
  const tenantErrors = usage.tenants.filter((t) => t.error !== undefined && !down.has(t.host)).map((t) => `tenant ${t.tenant}: ${t.error ?? ""}`);
  return [...hostErrors, ...tenantErrors];
}
