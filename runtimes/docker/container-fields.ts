import type { RuntimeChild } from "../../components/facts";

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

/** The declaration field each container input carries, as the diff names it. */
export const containerFieldNames: Readonly<Record<string, string>> = {
  ports: "port",
  image: "image",
  memory: "memoryMb",
  memorySwap: "memoryMb",
  cpus: "cpus",
  labels: "labels",
  envs: "environment (secrets)",
  runtime: "isolation",
};

/** How a change to a gateway container's inputs reaches the gateway, for the diff. */
export const containerChange: RuntimeChild = { kind: "gateway", fields: containerFieldNames, inPlace: inPlaceContainerFields };
