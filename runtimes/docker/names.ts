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
