import type { GatewaySpec } from "../../components/gateway-spec";
import { dockerCpus } from "../../names";

/**
 * A gateway container's isolation and limits in Docker's terms, from its spec: the container is
 * created with exactly these (gateway.ts), and doctor compares a running one with them (ops.ts).
 */
export interface ContainerSettings {
  readonly image: string;
  /** `uid:gid`. */
  readonly user: string;
  readonly readOnly: boolean;
  readonly capDrop: readonly string[];
  readonly capAdd: readonly string[];
  readonly securityOpts: readonly string[];
  readonly memoryMb: number;
  /** CPUs as the provider sends and reads them back (`1.5`). */
  readonly cpus: string;
  /** Set after create with `docker update` (the provider has no pids field). */
  readonly pidsLimit: number;
  /** The one published port: inside the container, on the host, and the host address. */
  readonly port: { readonly internal: number; readonly external: number; readonly ip: string; readonly protocol: "tcp" };
  /** Its own network, named like the gateway; it is on no other. */
  readonly network: string;
  /** The OCI runtime (`isolation`); undefined: the daemon's default. */
  readonly runtime: string | undefined;
}

export function containerSettingsOf(spec: GatewaySpec): ContainerSettings {
  const { confinement, process, limits } = spec;
  return {
    image: spec.image,
    user: `${process.uid}:${process.uid}`,
    readOnly: confinement.readOnlyRoot,
    capDrop: confinement.dropCapabilities,
    capAdd: confinement.addCapabilities,
    securityOpts: confinement.noNewPrivileges ? ["no-new-privileges:true"] : [],
    memoryMb: limits.memoryMb,
    cpus: dockerCpus(limits.cpus),
    pidsLimit: limits.pidsLimit,
    port: { internal: process.port, external: spec.port, ip: confinement.publishAddress, protocol: "tcp" },
    network: spec.name,
    runtime: spec.isolation,
  };
}
