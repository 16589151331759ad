/*
 * What the Docker runtime names and marks on a host: the labels it sets on every container and network it creates
 * (beside the tenant and tier labels every runtime sets, from names.ts).
 */

/** Docker label on everything clawfleet creates. */
export const managedLabel = "clawfleet.managed";
/** Docker label naming the gateway a container runs: `tenant/<id>` or `shared/<host id>`. */
export const gatewayLabel = "clawfleet.gateway";
/** Docker label naming the Pulumi project and stack that own the container. */
export const stackLabel = "clawfleet.stack";
/** Docker label naming the host a container or network belongs to. */
export const hostLabel = "clawfleet.host";
/** Docker label of a container that `clawfleet rollback` or a failed health gate put back on the previous image: the image that failed. */
export const rollbackLabel = "clawfleet.rollback";

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
