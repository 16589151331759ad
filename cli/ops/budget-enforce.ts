import { firstJson, gatewayCliReason, inspectGateway, redactorOf, runGatewayCli } from "./gateway-access";
import type { HostRunner } from "./host-shell";
import type { TenantTarget } from "./targets";
import { formatUsd, type TenantUsage } from "./usage";

/** A channel as openclaw's `channels.status` reports it. */
interface ChannelRuntime {
  readonly running?: boolean;
  /** Set once it has been stopped; a channel that never started (openclaw's restart breaker holds it) has none. */
  readonly lastStopAt?: number | null;
}

/** What enforcing a budget does to one channel on this poll. */
export type EnforceStep = "stop" | "start" | undefined;

/**
 * `budget.enforce`, decided from the gateway's own channel state, so it needs no memory between polls or runs: at or
 * over its budget a running channel is stopped; under it, a channel that was stopped (and is not running) is started
 * again, which is what a new month does. A channel that never started is left to openclaw.
 */
export function enforceStep(over: boolean, channel: ChannelRuntime | undefined): EnforceStep {
  if (channel === undefined) return undefined;
  if (over) return channel.running === true ? "stop" : undefined;
  return channel.running === false && typeof channel.lastStopAt === "number" ? "start" : undefined;
}

/**
 * Applies `budget.enforce` on one host's poll: `usage` of its tenants this `month` (`2026-12`). openclaw's
 * `channels.stop` keeps the account's credentials and pairings and holds until the gateway restarts, so a tenant over
 * its budget has a restarted gateway's channels stopped again on the next poll. Each stop and start is logged.
 */
export async function enforceBudgets(
  runner: HostRunner,
  usage: readonly TenantUsage[],
  targets: readonly TenantTarget[],
  month: string,
  log: (line: string) => void,
): Promise<void> {
  for (const row of usage) {
    const target = targets.find((t) => t.id === row.tenant);
    if (target === undefined || !target.budgetEnforce || target.budgetUsdPerMonth === undefined || row.totals === undefined) continue;
    if (target.channels.length === 0) continue;
    const spent = row.totals.totalCost;
    const budget = target.budgetUsdPerMonth;
    const over = spent >= budget;
    const facts = await inspectGateway(runner, target);
    if (facts.status !== "running") continue;
    const redactor = redactorOf(facts, target);
    const who = `tenant ${target.id} (host ${target.host.id})`;
    const status = await runGatewayCli(runner, target, redactor, ["gateway", "call", "channels.status", "--json"]);
    const channels = firstJson<{ channels?: Record<string, ChannelRuntime> }>(status.stdout)?.channels;
    if (status.code !== 0 || channels === undefined) {
      log(`${who}: channels.status failed in ${target.container}, so its budget is not enforced on this poll: ${gatewayCliReason(status)}`);
      continue;
    }
    for (const channel of target.channels) {
      const step = enforceStep(over, channels[channel]);
      if (step === undefined) continue;
      const method = step === "stop" ? "channels.stop" : "channels.start";
      const run = await runGatewayCli(runner, target, redactor, ["gateway", "call", method, "--params", JSON.stringify({ channel }), "--json"]);
      const answer = firstJson<{ stopped?: boolean; started?: boolean }>(run.stdout);
      const done = run.code === 0 && (step === "stop" ? answer?.stopped === true : answer?.started === true);
      if (!done) {
        const why = run.code === 0 ? `openclaw answered ${JSON.stringify(answer ?? null)}` : gatewayCliReason(run);
        log(`${who}: ${method} of its ${channel} channel did not take in ${target.container}; the next poll tries again: ${why}`);
      } else if (step === "stop") {
        log(
          `${who}: its budget is spent (${formatUsd(spent)} of ${formatUsd(budget)} in ${month}, UTC): stopped its ${channel} channel; its credentials and pairings are kept, and it starts again once the month's spend is under the budget`,
        );
      } else {
        log(`${who}: its spend in ${month} (${formatUsd(spent)}) is under its budget of ${formatUsd(budget)}: started its ${channel} channel again`);
      }
    }
  }
}
