/** Names, timing and provider facts that the program, its commands and the CLI share: one home for each. */

/** Docker label on everything clawfleet creates. */
export const managedLabel = "clawfleet.managed";
/** Docker label naming the gateway a container runs: `tenant/<id>` or `shared/<host id>`. */
export const gatewayLabel = "clawfleet.gateway";
/** Docker label naming the Pulumi project and stack that own the container. */
export const stackLabel = "clawfleet.stack";

/** Seconds Docker waits after SIGTERM before it kills the gateway (it needs about 2). */
export const stopTimeoutSeconds = 30;

/** Backups kept per gateway of the state taken right before an image change. */
export const upgradeBackupsKept = 3;

/** Seconds after a gateway starts during which failed health checks do not count (it needs 10-25 s, more when busy). */
export const healthStartPeriodSeconds = 120;

/** Seconds a new gateway has to report healthy before the deploy stops (start is 10-25 s; far more on a loaded host). */
export const healthGateSeconds = 300;

/**
 * docker.Container fields the provider (kreuzwerker v4.5.0 resourceDockerContainerUpdate)
 * changes on the running container with `docker update`, without a restart.
 */
export const inPlaceContainerFields: readonly string[] = ["memory", "memorySwap", "restart"];

/**
 * docker.Container fields the provider accepts as in-place updates but never applies to a
 * running container; clawfleet replaces the container when they change.
 */
export const recordedOnlyContainerFields = ["healthcheck", "tmpfs", "init"] as const;

/**
 * CPUs in the exact text the provider reads back (kreuzwerker v4.5.0 nanoInt64ToDecimalString:
 * nine decimals; exactly nine zeros in that text gives one decimal, otherwise trailing zeros
 * are cut, so 1 reads "1.0", 1.5 "1.5" and 10 "10."). cpus forces a new container, so any
 * other text would replace every gateway on every deploy.
 */
export function dockerCpus(cpus: number): string {
  const nine = (Math.round(cpus * 1e9) / 1e9).toFixed(9);
  if ([...nine].filter((c) => c === "0").length === 9) return (Math.round(cpus * 1e9) / 1e9).toFixed(1);
  return nine.replace(/0+$/, "");
}

/** The `clawfleet.gateway` label value of a dedicated tenant's or a host's shared gateway. */
export function gatewayIdentity(kind: "tenant" | "shared", id: string): string {
  return `${kind}/${id}`;
}
