import type { Host } from "../../declaration/schema";
import { stateRootOf, upgradeBackupDirOf } from "../../names";
import type { Writers } from "./gateway-verbs";
import { liveStderr, unreachableError, withProgress, type HostRunner } from "./host-shell";
import { hostStateOf, type TenantTarget } from "./targets";
import { opsOf } from "../runtime";

/** Seconds one gateway's rollback may take: unpacking a large archive, then up to the health gate's time to come up. */
const rollbackTimeoutSeconds = 3600;

/** What the rollback did for one tenant. */
export interface RollbackOutcome {
  readonly tenant: string;
  readonly host: string;
  /** `rolled back`, `nothing to do` or `failed`. */
  readonly result: "rolled back" | "nothing to do" | "failed";
  readonly line: string;
}

/** The line the host's rollback script printed, in words; a failure's reason is its last line on stderr. */
export function describeRollback(target: TenantTarget, code: number, stdout: string, stderr: string): RollbackOutcome {
  const last = stdout.trim().split("\n").pop() ?? "";
  const [kind = "", ...fields] = last.split("\t");
  const base = { tenant: target.id, host: target.host.id };
  if (code === 0 && kind === "done") {
    const [failed = "", previous = "", archive = "", aside = "", health = ""] = fields;
    return {
      ...base,
      result: health === "healthy" ? "rolled back" : "failed",
      line: `tenant ${target.id}: put back on ${previous} from ${archive} (it ran ${failed}); it is ${health}; the state it had is kept at ${aside} on host ${target.host.id}`,
    };
  }
  if (code === 0 && kind === "none") return { ...base, result: "nothing to do", line: `tenant ${target.id}: nothing to do: ${fields.join(" ")}` };
  const reason =
    stderr
      .trim()
      .split("\n")
      .filter((l) => l.trim() !== "")
      .pop() ?? `exit ${code}`;
  return { ...base, result: "failed", line: `tenant ${target.id}: rollback failed on host ${target.host.id}: ${reason.replace(/^clawfleet: /, "")}` };
}

/**
 * Puts every dedicated gateway of the given hosts back on the image it ran before its last image
 * change, on the pre-upgrade archive taken right before that change; one after the other, each
 * waited for until healthy. A gateway that already runs that image is left alone, so a second run
 * does nothing. Prints one line per tenant; exits 1 when any rollback failed or a host did not answer.
 */
export async function rollback(runner: HostRunner, targets: readonly TenantTarget[], hosts: readonly Host[], stackFile: string, io: Writers): Promise<number> {
  // Every host is checked before any gateway is touched.
  for (const host of hosts) if (opsOf(host).volumeState === undefined) hostStateOf("rollback", host, stackFile);
  const mine = targets.filter((t) => t.tier === "dedicated" && hosts.includes(t.host));
  let failed = 0;
  let rolledBack = 0;
  for (const target of mine) {
    const volumeState = opsOf(target.host).volumeState;
    // A volume runtime's pods say what they do as they do it; its last line, when it fails, goes into the tenant's line.
    const live = volumeState === undefined ? undefined : liveStderr(io.err);
    const result = await withProgress(
      io.err,
      `still rolling back ${target.container} on host ${target.host.id}`,
      volumeState !== undefined
        ? // From this machine, through the runtime's own tool.
          runner.run(target.host, ["sh", "-c", volumeState.rollback(target.spec, `tenant:${target.id}`)], {
            timeoutSeconds: rollbackTimeoutSeconds,
            onStderrLine: live?.onStderrLine,
          })
        : runner.run(
            target.host,
            [
              "sh",
              "-c",
              hostStateOf("rollback", target.host, stackFile).rollbackScript(target.spec, upgradeBackupDirOf(stateRootOf(target.host), target.container)),
              "rollback",
              "any",
            ],
            { root: true, timeoutSeconds: rollbackTimeoutSeconds },
          ),
    );
    const unreachable = unreachableError(target.host, result);
    if (unreachable !== undefined) {
      io.out(`tenant ${target.id}: ${unreachable.message}`);
      failed++;
      continue;
    }
    live?.rest(result.stderr, result.code !== 0);
    const outcome = describeRollback(target, result.code, result.stdout, result.stderr);
    if (outcome.result === "failed") failed++;
    if (outcome.result === "rolled back") rolledBack++;
    io.out(outcome.line);
  }
  if (mine.length === 0) io.err(`clawfleet: no dedicated tenant on ${hosts.map((h) => h.id).join(", ")}; nothing to roll back`);
  if (rolledBack > 0) {
    io.err(
      `clawfleet: declare the image each rolled-back tenant runs (or one that works) in ${stackFile} before the next pulumi up; its deploy then replaces the rolled-back gateways on their restored state`,
    );
  }
  return failed === 0 ? 0 : 1;
}
