import { gatewayCommon } from "../../components/gateway-spec";
import type { GatewayState } from "../../runtimes/ops";
import { opsOf } from "../runtime";
import { describeHost, unreachableError, withProgress, type HostRunner } from "./host-shell";
import { OpsError } from "./errors";
import { Redactor } from "./redact";
import type { TenantTarget } from "./targets";

/** How the gateway's own CLI is started inside the clawfleet gateway image. */
export const openclawCli: readonly string[] = gatewayCommon.process.cli;

/** What a verb needs to know about a tenant's gateway before it touches it. */
export interface GatewayFacts extends GatewayState {
  /** What its credentials file holds, as `<pointer>=<value>` (`/modelKeys/anthropic=...`): kept in memory only. */
  readonly credentials: readonly string[];
}

/** Reads a tenant's gateway: its state, health and environment, and its credentials file (two commands on its host). */
export async function inspectGateway(runner: HostRunner, target: TenantTarget): Promise<GatewayFacts> {
  const ops = opsOf(target.host);
  const result = await runner.run(target.host, ops.inspectCommand(target.container));
  const unreachable = unreachableError(target.host, result);
  if (unreachable !== undefined) throw unreachable;
  const state = ops.readGateway(result);
  if ("error" in state) throw new OpsError(`host ${describeHost(target.host)}: gateway ${target.container}: ${state.error}`);
  const credentials =
    state.credentialsFile !== undefined
      ? credentialsOf(state.credentialsFile)
      : state.status === "missing"
        ? []
        : await readCredentials(runner, target, state.status === "running");
  return { ...state, credentials };
}

/**
 * The gateway's credentials, so that no verb prints them: read inside the running gateway as its own user (the file is
 * private to it), or on the host as root when it does not run. Unreadable (no root, or a gateway deployed before
 * credentials moved to the file): none, and its environment's secrets are still redacted.
 */
async function readCredentials(runner: HostRunner, target: TenantTarget, running: boolean): Promise<string[]> {
  const { spec } = target;
  const file = `${spec.process.secretsDir}/${spec.process.secretsFile}`;
  // A runtime without state folders on its host has no file there to read.
  if (!running && opsOf(target.host).hostState === undefined) return [];
  const result = running
    ? await runner.run(target.host, opsOf(target.host).execCommand(target.container, ["cat", file]))
    : await runner.run(target.host, ["cat", `${spec.secretsDir}/${spec.process.secretsFile}`], { root: true });
  return result.code === 0 ? credentialsOf(result.stdout) : [];
}

/** Every string of a credentials file's JSON, as `<JSON pointer>=<value>`; none when it is not JSON. */
function credentialsOf(text: string): string[] {
  try {
    return leavesOf(JSON.parse(text) as unknown, "");
  } catch {
    return [];
  }
}

/** Every string in a JSON value, as `<JSON pointer>=<string>`. */
function leavesOf(value: unknown, pointer: string): string[] {
  if (typeof value === "string") return [`${pointer}=${value}`];
  if (typeof value !== "object" || value === null) return [];
  return Object.entries(value).flatMap(([key, inner]) => leavesOf(inner, `${pointer}/${key.replaceAll("~", "~0").replaceAll("/", "~1")}`));
}

/** A redactor of every secret the gateway holds: its environment's and its credentials file's. */
export function redactorOf(facts: GatewayFacts, target: TenantTarget): Redactor {
  return new Redactor(
    [...facts.env, ...facts.credentials],
    [...target.secretEnvNames, ...facts.credentials.map((entry) => entry.slice(0, entry.indexOf("=")))],
  );
}

/** The error for a gateway that is not running, naming the tenant, where it is and what to do. */
export function notRunningMessage(target: TenantTarget, facts: GatewayFacts, stackFile: string): string {
  const whose = target.tier === "shared" ? `tenant ${target.id}'s shared gateway` : `tenant ${target.id}'s gateway`;
  if (facts.status === "missing") {
    return `${whose} (container ${target.container}) does not exist on host ${target.host.id}; deploy the stack with pulumi up`;
  }
  return `${whose} (container ${target.container}) on host ${target.host.id} is not running (${facts.status}); start it with pulumi up, and read why it stopped with: clawfleet logs ${stackFile} ${target.id}`;
}

/** Inspects the gateway and fails unless it is running; returns its facts and a redactor for its secrets. */
export async function requireRunning(runner: HostRunner, target: TenantTarget, stackFile: string): Promise<{ facts: GatewayFacts; redactor: Redactor }> {
  const facts = await inspectGateway(runner, target);
  if (facts.status !== "running") throw new OpsError(notRunningMessage(target, facts, stackFile));
  return { facts, redactor: redactorOf(facts, target) };
}

export interface GatewayCliRun {
  readonly code: number;
  readonly stdout: string[];
  readonly stderr: string[];
}

/**
 * Runs the gateway's own CLI inside the tenant's gateway and returns
 * its output redacted. `live` also hands each line over as it arrives.
 */
export async function runGatewayCli(
  runner: HostRunner,
  target: TenantTarget,
  redactor: Redactor,
  args: readonly string[],
  options: {
    live?: { out: (line: string) => void; err: (line: string) => void };
    progress?: (text: string) => void;
    /** The most it may take before its host counts as not answering (default: the host bound of every command). */
    timeoutSeconds?: number;
  } = {},
): Promise<GatewayCliRun> {
  const { live, progress, timeoutSeconds } = options;
  const stdout: string[] = [];
  const stderr: string[] = [];
  const running = runner.stream(target.host, opsOf(target.host).execCommand(target.container, [...target.spec.process.cli, ...args]), {
    ...(timeoutSeconds === undefined ? {} : { timeoutSeconds }),
    onStdout: (line) => {
      const clean = redactor.redact(line);
      stdout.push(clean);
      live?.out(clean);
    },
    onStderr: (line) => {
      const clean = redactor.redact(line);
      stderr.push(clean);
      live?.err(clean);
    },
  });
  // The gateway's CLI loads for several seconds before it prints anything.
  const code =
    progress === undefined ? await running : await withProgress(progress, `waiting for openclaw ${args.slice(0, 2).join(" ")} in ${target.container}`, running);
  const unreachable = unreachableError(target.host, { code, stdout: stdout.join("\n"), stderr: stderr.join("\n") });
  if (unreachable !== undefined) throw unreachable;
  return { code, stdout, stderr };
}

/** The gateway CLI's own reason for a failure (`[openclaw] Reason: ...`), or its last line. */
export function gatewayCliReason(run: GatewayCliRun): string {
  const lines = [...run.stderr, ...run.stdout];
  const reason = lines.find((line) => line.startsWith("[openclaw] Reason: "));
  if (reason !== undefined) return reason.slice("[openclaw] Reason: ".length);
  return lines.filter((line) => line.trim() !== "").pop() ?? `exit code ${run.code}`;
}

/** The first JSON value in a command's output (the gateway CLI may print log lines before it). */
export function firstJson<T>(lines: readonly string[]): T | undefined {
  const text = lines.join("\n");
  for (let at = text.search(/[[{]/); at !== -1;) {
    try {
      return JSON.parse(text.slice(at)) as T;
    } catch {
      const next = text.slice(at + 1).search(/\n[[{]/);
      at = next === -1 ? -1 : at + 1 + next + 1;
    }
  }
  return undefined;
}
