import { firstJson, gatewayCliReason, inspectGateway, redactorOf, notRunningMessage, requireRunning, runGatewayCli } from "./gateway-access";
import type { LogsOptions } from "../../runtimes/ops";
import { opsOf } from "../runtime";
import { OpsError } from "./errors";
import { unreachableError, type HostRunner } from "./host-shell";
import { Redactor } from "./redact";
import { renderTable } from "./status";
import type { TenantTarget } from "./targets";

/** Where a verb writes: whole lines to stdout and stderr. */
export interface Writers {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

/** One line on stderr saying that a shared tenant's verb acts on the whole shared gateway. */
function sharedNote(target: TenantTarget, what: string): string {
  return `clawfleet: note: ${target.id} is an agent in host ${target.host.id}'s shared gateway (${target.container}); ${what}`;
}

export type { LogsOptions };

/** The log of the tenant's gateway, with every secret in its environment redacted. Works on a stopped gateway too. */
export async function logs(runner: HostRunner, target: TenantTarget, stackFile: string, options: LogsOptions, io: Writers): Promise<number> {
  const facts = await inspectGateway(runner, target);
  if (facts.status === "missing") throw new OpsError(notRunningMessage(target, facts, stackFile));
  const redactor = redactorOf(facts, target);
  if (target.tier === "shared") io.err(sharedNote(target, "these are that gateway's logs, for all of its tenants"));
  const argv = opsOf(target.host).logsCommand(target.container, options);
  let errors = "";
  const code = await runner.stream(target.host, argv, {
    onStdout: (line) => io.out(redactor.redact(line)),
    onStderr: (line) => {
      errors += `${line}\n`;
      io.err(redactor.redact(line));
    },
  });
  const unreachable = unreachableError(target.host, { code, stdout: "", stderr: errors });
  if (unreachable !== undefined) throw unreachable;
  return code;
}

/** An option line `--agent <id>` in the gateway CLI's help for a command. */
const agentOption = /^\s+(?:-\w, )?--agent <[^>]+>/m;

/** The gateway's own CLI in the tenant's gateway; a shared tenant's agent is passed where the command takes `--agent`. */
export async function exec(runner: HostRunner, target: TenantTarget, stackFile: string, args: readonly string[], io: Writers): Promise<number> {
  let argv = [...args];
  const own = args.indexOf("--") === -1 ? args : args.slice(0, args.indexOf("--"));
  const agents = own.flatMap((a, i) => (a === "--agent" ? [own[i + 1] ?? ""] : a.startsWith("--agent=") ? [a.slice("--agent=".length)] : []));
  const agentGiven = agents.length > 0;
  if (target.tier === "shared" && agents.some((agent) => agent !== target.agentId)) {
    throw new OpsError(
      `tenant ${target.id} is agent ${target.agentId ?? target.id} in host ${target.host.id}'s shared gateway; exec acts for that agent only, not --agent ${agents.find((a) => a !== target.agentId) ?? ""}: drop --agent (clawfleet adds --agent ${target.agentId ?? target.id} where the command takes it) or name the other tenant instead`,
      2,
    );
  }
  const { redactor } = await requireRunning(runner, target, stackFile);
  if (target.tier === "shared" && target.agentId !== undefined && !agentGiven && !own.includes("--help") && args.length > 0) {
    // Only the command's words ask for its help: an argument after them (or after --) could make it run.
    const firstOption = own.findIndex((a) => a.startsWith("-"));
    const words = firstOption === -1 ? own : own.slice(0, firstOption);
    const help = await runGatewayCli(runner, target, redactor, [...words, "--help"], { progress: io.err });
    if (agentOption.test(help.stdout.join("\n"))) {
      argv = [...args, "--agent", target.agentId];
      io.err(`clawfleet: running for agent ${target.agentId} in host ${target.host.id}'s shared gateway (--agent ${target.agentId})`);
    } else {
      io.err(sharedNote(target, `\`openclaw ${args.join(" ")}\` takes no --agent, so it acts on the whole gateway`));
    }
  }
  const run = await runGatewayCli(runner, target, redactor, argv, { live: { out: io.out, err: io.err } });
  return run.code;
}

function requireChannel(target: TenantTarget, channel: string): void {
  if (target.channels.includes(channel)) return;
  const where =
    target.tier === "shared"
      ? `host ${target.host.id}'s shared gateway (hosts.${target.host.id}.shared.channels)`
      : `tenant ${target.id} (tenants.${target.id}.channels)`;
  throw new OpsError(
    `${where} declares no ${channel} channel, so there is nothing to pair; declared channels: ${target.channels.length === 0 ? "(none)" : target.channels.join(", ")}`,
  );
}

interface PairingRequest {
  id: string;
  code: string;
  createdAt: string;
  meta?: Record<string, string>;
}

/** Pending DM pairing requests of one channel (people who wrote to the bot and got a code). */
export async function pairingList(runner: HostRunner, target: TenantTarget, stackFile: string, channel: string, json: boolean, io: Writers): Promise<number> {
  requireChannel(target, channel);
  const { redactor } = await requireRunning(runner, target, stackFile);
  if (target.tier === "shared") io.err(sharedNote(target, "DM pairing belongs to that gateway, so these are the requests of all its tenants"));
  const run = await runGatewayCli(runner, target, redactor, ["pairing", "list", channel, "--json"], { progress: io.err });
  const listed = firstJson<{ requests: PairingRequest[] }>(run.stdout);
  if (run.code !== 0 || listed === undefined) throw new OpsError(`tenant ${target.id}: openclaw pairing list ${channel} failed: ${gatewayCliReason(run)}`);
  if (json) {
    io.out(JSON.stringify({ tenant: target.id, channel, requests: listed.requests }, null, 2));
    return 0;
  }
  if (listed.requests.length === 0) {
    io.out(`No pending ${channel} pairing requests on tenant ${target.id}'s gateway.`);
    return 0;
  }
  const rows = listed.requests.map((r) => {
    const { accountId, ...meta } = r.meta ?? {};
    const details = Object.entries(meta).map(([k, v]) => `${k}=${v}`);
    return [r.code, r.id, accountId ?? "default", details.join(" "), r.createdAt];
  });
  io.out(renderTable(["CODE", "SENDER", "ACCOUNT", "DETAILS", "REQUESTED"], rows));
  io.out(`\nApprove one with: clawfleet pairing approve ${stackFile} ${target.id} ${channel} <code>`);
  return 0;
}

/**
 * Approves a DM pairing code. The gateway stores the sender in its allowlist and then tries to
 * make the first approved sender its command owner by writing openclaw.json; the stack owns
 * that file (OPENCLAW_CONFIG_READONLY=1), so that second step fails with exit 1 after the
 * approval is stored. The approval line is what counts.
 */
export async function pairingApprove(runner: HostRunner, target: TenantTarget, stackFile: string, channel: string, code: string, io: Writers): Promise<number> {
  requireChannel(target, channel);
  const { redactor } = await requireRunning(runner, target, stackFile);
  const run = await runGatewayCli(runner, target, redactor, ["pairing", "approve", channel, code], { progress: io.err });
  const approved = run.stdout.map((line) => /^Approved (\S+) sender (.+)\.$/.exec(line.trim())).find((m) => m !== null);
  if (approved === undefined || approved === null) {
    throw new OpsError(`tenant ${target.id}: ${channel} pairing code ${JSON.stringify(code)} was not approved: ${gatewayCliReason(run)}`);
  }
  io.out(`approved ${channel} sender ${approved[2] ?? ""} on tenant ${target.id}'s gateway (${target.container}); they can write to the bot now`);
  if (target.tier === "shared") io.err(sharedNote(target, "the sender may now write to that gateway; its bindings decide which agent answers"));
  if (run.code !== 0 && run.stderr.some((line) => line.includes("OPENCLAW_CONFIG_READONLY"))) {
    io.err(
      "clawfleet: note: the gateway also tried to record this sender as its command owner in openclaw.json, which the stack owns (read-only); the approval itself is stored",
    );
  }
  return 0;
}

interface PendingDevice {
  requestId: string;
  deviceId: string;
  clientId?: string;
  clientMode?: string;
  platform?: string;
  role?: string;
  scopes?: string[];
  remoteIp?: string;
  ts?: number;
  isRepair?: boolean;
}

interface PairedDevice {
  deviceId: string;
  displayName?: string;
  operatorLabel?: string;
  clientId?: string;
  role?: string;
  scopes?: string[];
  approvedAtMs?: number;
}

interface DeviceList {
  pending: PendingDevice[];
  paired: PairedDevice[];
}

const shortId = (id: string) => (id.length > 12 ? `${id.slice(0, 12)}…` : id);
const when = (ms: number | undefined) => (ms === undefined ? "-" : new Date(ms).toISOString().replace(/\.\d+Z$/, "Z"));

function pendingTable(pending: readonly PendingDevice[]): string {
  return renderTable(
    ["REQUEST", "DEVICE", "CLIENT", "ROLE", "SCOPES", "FROM", "REQUESTED"],
    pending.map((p) => [
      p.requestId,
      shortId(p.deviceId),
      [p.clientId, p.platform].filter(Boolean).join(" "),
      `${p.role ?? "-"}${p.isRepair === true ? " (upgrade)" : ""}`,
      (p.scopes ?? []).join(",") || "-",
      p.remoteIp ?? "-",
      when(p.ts),
    ]),
  );
}

async function listDevices(runner: HostRunner, target: TenantTarget, redactor: Redactor, progress: (text: string) => void): Promise<DeviceList> {
  const run = await runGatewayCli(runner, target, redactor, ["devices", "list", "--json"], { progress });
  const listed = firstJson<DeviceList>(run.stdout);
  if (run.code !== 0 || listed === undefined) throw new OpsError(`tenant ${target.id}: openclaw devices list failed: ${gatewayCliReason(run)}`);
  return listed;
}

/** Pending and paired devices (browsers, apps, CLIs) of the tenant's gateway. */
export async function devicesList(runner: HostRunner, target: TenantTarget, stackFile: string, json: boolean, io: Writers): Promise<number> {
  const { redactor } = await requireRunning(runner, target, stackFile);
  if (target.tier === "shared") io.err(sharedNote(target, "devices pair with that gateway, for all of its tenants"));
  const listed = await listDevices(runner, target, redactor, io.err);
  if (json) {
    io.out(JSON.stringify({ tenant: target.id, ...listed }, null, 2));
    return 0;
  }
  io.out(`Pending (${listed.pending.length})`);
  if (listed.pending.length > 0) {
    io.out(pendingTable(listed.pending));
    io.out(`Approve one with: clawfleet devices approve ${stackFile} ${target.id} <request>`);
  }
  io.out(`\nPaired (${listed.paired.length})`);
  if (listed.paired.length > 0) {
    io.out(
      renderTable(
        ["DEVICE", "NAME", "CLIENT", "ROLE", "SCOPES", "APPROVED"],
        listed.paired.map((d) => [
          shortId(d.deviceId),
          d.operatorLabel ?? d.displayName ?? "-",
          d.clientId ?? "-",
          d.role ?? "-",
          (d.scopes ?? []).join(",") || "-",
          when(d.approvedAtMs),
        ]),
      ),
    );
  }
  return 0;
}

/** Approves one pending device request; without an id, shows the pending ones and asks for one. */
export async function devicesApprove(runner: HostRunner, target: TenantTarget, stackFile: string, requestId: string | undefined, io: Writers): Promise<number> {
  const { redactor } = await requireRunning(runner, target, stackFile);
  if (requestId === undefined) {
    const { pending } = await listDevices(runner, target, redactor, io.err);
    if (pending.length === 0) {
      throw new OpsError(
        `tenant ${target.id}'s gateway has no pending device requests; open the Control UI in the new browser (it shows "pairing required") and run this again`,
      );
    }
    io.out(pendingTable(pending));
    throw new OpsError(`name the request to approve: clawfleet devices approve ${stackFile} ${target.id} <request> (check its client and address first)`);
  }
  const run = await runGatewayCli(runner, target, redactor, ["devices", "approve", requestId, "--json"], { progress: io.err });
  const approved = firstJson<{ requestId: string; device: PairedDevice & { remoteIp?: string } }>(run.stdout);
  if (run.code !== 0 || approved?.device === undefined) {
    throw new OpsError(`tenant ${target.id}: device request ${JSON.stringify(requestId)} was not approved: ${gatewayCliReason(run)}`);
  }
  const device = approved.device;
  const from = device.remoteIp === undefined ? "" : ` from ${device.remoteIp}`;
  io.out(
    `approved device ${shortId(device.deviceId)} (${device.clientId ?? "unknown client"}${from}, ${device.role ?? "operator"}: ${(device.scopes ?? []).join(",")}) on tenant ${target.id}'s gateway; the browser connects on its next retry`,
  );
  if (target.tier === "shared") io.err(sharedNote(target, "the device is paired with that gateway"));
  return 0;
}
