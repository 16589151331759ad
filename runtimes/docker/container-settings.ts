import { dockerCpus } from "./names";
import type { GatewayCommon, GatewayEnv, GatewayHealth, GatewaySpec } from "../../components/gateway-spec";
import { shellQuote } from "../shell";

/**
 * How a gateway is confined in Docker's terms, from what every gateway has (gateway-spec.ts): the gateway's
 * container, and every throwaway container of its image (the image preflight, the backups and the rollback's
 * restore), read it here.
 */
export interface ContainerConfinement {
  /** `uid:gid`. */
  readonly user: string;
  readonly readOnly: boolean;
  readonly capDrop: readonly string[];
  readonly capAdd: readonly string[];
  readonly securityOpts: readonly string[];
  /** Its writable scratch space on a read-only root: path -> mount options. */
  readonly tmpfs: Readonly<Record<string, string>>;
}

/**
 * A gateway container's isolation and limits in Docker's terms, from its spec: the container is
 * created with exactly these (gateway.ts), and doctor compares a running one with them (ops.ts).
 */
export interface ContainerSettings extends ContainerConfinement {
  readonly image: string;
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
  /** Bind mounts: its state (writable), and the folder of its credentials file (read-only). */
  readonly mounts: readonly { readonly source: string; readonly target: string; readonly readOnly: boolean }[];
}

/** The security option that keeps a process from gaining privileges, as Docker writes it. */
export const noNewPrivileges = "no-new-privileges:true";

export function containerConfinementOf({ process, confinement }: Pick<GatewayCommon, "process" | "confinement">): ContainerConfinement {
  const uid = process.uid;
  return {
    user: `${uid}:${uid}`,
    readOnly: confinement.readOnlyRoot,
    capDrop: confinement.dropCapabilities,
    capAdd: confinement.addCapabilities,
    securityOpts: confinement.noNewPrivileges ? [noNewPrivileges] : [],
    tmpfs: { "/tmp": "rw,nosuid,nodev,size=64m", [process.home]: `rw,nosuid,nodev,size=64m,uid=${uid},gid=${uid}` },
  };
}

export function containerSettingsOf(spec: GatewaySpec): ContainerSettings {
  const { confinement, process, limits } = spec;
  return {
    image: spec.image,
    ...containerConfinementOf(spec),
    memoryMb: limits.memoryMb,
    cpus: dockerCpus(limits.cpus),
    pidsLimit: limits.pidsLimit,
    port: { internal: process.port, external: spec.port, ip: confinement.publishAddress, protocol: "tcp" },
    network: spec.name,
    runtime: spec.isolation,
    mounts: [
      { source: spec.stateDir, target: process.stateDir, readOnly: false },
      { source: spec.secretsDir, target: process.secretsDir, readOnly: true },
    ],
  };
}

/** `docker run` and `docker create` flags of a confinement, by kind, so that each command keeps its own order. */
export interface ConfinementFlags {
  readonly user: string;
  readonly readOnly: readonly string[];
  /** Capabilities dropped, then added. */
  readonly capabilities: readonly string[];
  readonly securityOpts: readonly string[];
  readonly tmpfs: readonly string[];
}

/**
 * A value as it is, unquoted. The image preflight and the backups have always written the fixed words of their flags
 * (`1000:1000`, `ALL`) bare and the rollback quoted; each command keeps its text, since a changed text makes
 * Pulumi run the command again on the next deploy.
 */
export const bare = (value: string): string => value;

export function confinementFlags(gateway: Pick<GatewayCommon, "process" | "confinement">, quote: (value: string) => string = shellQuote): ConfinementFlags {
  const c = containerConfinementOf(gateway);
  return {
    user: `--user ${quote(c.user)}`,
    readOnly: c.readOnly ? ["--read-only"] : [],
    capabilities: [...c.capDrop.map((cap) => `--cap-drop ${quote(cap)}`), ...c.capAdd.map((cap) => `--cap-add ${quote(cap)}`)],
    securityOpts: c.securityOpts.map((opt) => `--security-opt ${quote(opt)}`),
    tmpfs: Object.entries(c.tmpfs).map(([path, options]) => `--tmpfs ${quote(`${path}:${options}`)}`),
  };
}

/**
 * A throwaway container of the gateway's image that runs the gateway's CLI on a copy of its state (a backup, a
 * restore): the gateway's user, capabilities and security options, and no network. Its root stays writable: its
 * home is /tmp.
 */
export function toolContainerFlags(gateway: Pick<GatewayCommon, "process" | "confinement">): string {
  const flags = confinementFlags(gateway, bare);
  return [flags.user, ...flags.capabilities, ...flags.securityOpts, "--network none"].join(" ");
}

/** The gateway's health check inside its container: `node -e <probe>`. */
export function healthCheckOf(health: GatewayHealth): readonly [string, string, string] {
  return ["node", "-e", health.probe];
}

/** The health check as the Docker CLI's `--health-cmd` takes it: one shell command line. */
export function healthCmdFlag(health: GatewayHealth): string {
  const [node, flag, probe] = healthCheckOf(health);
  return `--health-cmd ${shellQuote(`${node} ${flag} ${shellQuote(probe)}`)}`;
}

/** `-e NAME=value` flags of the gateway's variables, in the order given, each value through `quote`. */
export function envFlags(env: Partial<GatewayEnv>, quote: (value: string) => string): string {
  return Object.entries(env)
    .map(([name, value]) => `-e ${name}=${quote(value)}`)
    .join(" ");
}
