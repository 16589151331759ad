import type { DedicatedTenant, Host, SharedTenant } from "../declaration/schema";
import {
  dedicatedContainerName,
  gatewayIdentity,
  healthGateSeconds,
  healthStartPeriodSeconds,
  sharedContainerName,
  secretNameOf,
  secretsDirOf,
  sharedStateOf,
  stateRootOf,
  tenantLabel,
  tenantStateOf,
  tierLabel,
} from "../names";
import { gateway, healthProbe, renderDedicatedConfig, renderPreflightConfig, renderSharedConfig, serializeConfig } from "./render/config";
import { gatewaySecretsOf, type GatewaySecrets } from "./secrets";

/** Memory, CPUs and processes one gateway may use. */
export interface GatewayLimits {
  readonly memoryMb: number;
  readonly cpus: number;
  readonly pidsLimit: number;
}

/** How a gateway's health is checked, and how long a new one has to become healthy. */
export interface GatewayHealth {
  /** A Node script run inside the gateway: exits 0 when /healthz answers with the gateway's own body. */
  readonly probe: string;
  /** Seconds after a start during which failed checks do not count. */
  readonly startPeriodSeconds: number;
  /** Seconds a new gateway has to report healthy before the deploy stops. */
  readonly gateSeconds: number;
}

/** The gateway process as the image runs it. */
export interface GatewayProcess {
  /** Numeric user and group it runs as; its state is owned by it. */
  readonly uid: number;
  /** The port it listens on. */
  readonly port: number;
  /** Where it finds its state directory. */
  readonly stateDir: string;
  /** Its writable home. */
  readonly home: string;
  /** How its own CLI starts inside the image (`openclaw ...`). */
  readonly cli: readonly string[];
  /** Where its credentials file is mounted (read-only), and the file's name there. */
  readonly secretsDir: string;
  readonly secretsFile: string;
}

/** The gateway's own switches, in this order: state from the mount, config read-only to it, no mDNS; and its home. */
export interface GatewayEnv {
  readonly OPENCLAW_STATE_DIR: string;
  readonly OPENCLAW_CONFIG_READONLY: string;
  readonly OPENCLAW_DISABLE_BONJOUR: string;
  readonly HOME: string;
}

/**
 * How a gateway is confined, whatever runs it: the hardened container, the first rung of OpenClaw's isolation
 * ladder. The runtime creates the gateway with it, and doctor compares the running gateway with it.
 */
export interface GatewayConfinement {
  /** Only its state and its scratch space are writable. */
  readonly readOnlyRoot: boolean;
  /** Linux capabilities taken away (`ALL`) and given back (none). */
  readonly dropCapabilities: readonly string[];
  readonly addCapabilities: readonly string[];
  /** It can never gain privileges (setuid binaries, file capabilities). */
  readonly noNewPrivileges: boolean;
  /** Its port is published on this address of its host only. */
  readonly publishAddress: string;
}

/**
 * What one OpenClaw gateway is, independent of what runs it: built from the declaration by the
 * components, and handed to a runtime (components/runtime.ts) to run.
 */
export interface GatewaySpec {
  /** `tenant/<id>` or `shared/<host id>`. */
  readonly identity: string;
  readonly tier: "dedicated" | "shared";
  /** The host it runs on. */
  readonly hostId: string;
  /** Its name on the host and its hostname: fixed, so a replacement reclaims the state lease a killed gateway left behind. */
  readonly name: string;
  readonly image: string;
  /** Host port on 127.0.0.1, and the HTTPS port on the tailnet. */
  readonly port: number;
  /** Changing this value rotates the gateway token. */
  readonly rotation: string | undefined;
  /** The variable that carries the gateway token. */
  readonly tokenEnv: string;
  /** Where its state is, in its host's terms (tenantStateOf): a directory on a Docker host, a volume on a Kubernetes host; it outlives the gateway. */
  readonly stateDir: string;
  /** The rendered openclaw.json (no secret) and its file name in the state directory. */
  readonly config: { readonly file: string; readonly text: string };
  readonly limits: GatewayLimits;
  /** Backups kept of the state taken right before an image change replaces it. */
  readonly upgradeBackups: number;
  /** Labels of the tenant and the tier, beside the ones the runtime sets. */
  readonly labels: Readonly<Record<string, string>>;
  /** Plain environment, in this order. */
  readonly env: GatewayEnv;
  /** Credentials from secure config: model keys and channel tokens, in its credentials file or its environment. */
  readonly secrets: GatewaySecrets;
  /** Where its credentials file is kept on a Docker host (secretsDirOf), outside its state; a Kubernetes gateway's are in its Secret. */
  readonly secretsDir: string;
  readonly health: GatewayHealth;
  readonly process: GatewayProcess;
  readonly confinement: GatewayConfinement;
  /**
   * Its MagicDNS name when the host publishes it on the tailnet: the host's own (Tailscale Serve on a Docker host), or
   * `<gateway>.<tailnet>` (a device of its own, by the Tailscale Kubernetes operator's Ingress).
   */
  readonly tailnetName: string | undefined;
  /** The HTTPS port it is published on there: its own port on a Docker host, 443 through an Ingress. */
  readonly tailnetPort: number | undefined;
  /** The OCI runtime it runs under; undefined: the daemon's default. */
  readonly isolation: string | undefined;
  /** Its egress policy: blocked ranges (egressBlockedRanges) except `allow`; undefined when it may reach everything. */
  readonly egress: GatewayEgress | undefined;
  /** Where its state was before (`movedFrom` host and/or `renamedFrom` id): copied over once, before the config is written. */
  readonly movedFrom?: { readonly host: Host; readonly stateDir: string; readonly name: string } | undefined;
}

/** A gateway kept from private and link-local addresses, except the ranges it is allowed. */
export interface GatewayEgress {
  /** Allowed ranges inside the blocked ones, as iptables prints them (`10.20.0.5/32`), host's first, without repeats. */
  readonly allow: readonly string[];
}

/** The egress policy of a host's gateway: the tenant's own over the host's; undefined when it is not blocked. */
export function egressOf(host: Host, tenant?: DedicatedTenant): GatewayEgress | undefined {
  if (!(tenant?.egress?.blockPrivate ?? host.egress.blockPrivate)) return undefined;
  return { allow: [...new Set([...host.egress.allow, ...(tenant?.egress?.allow ?? [])])] };
}

/** How every gateway's health is checked. */
export const gatewayHealth: GatewayHealth = { probe: healthProbe, startPeriodSeconds: healthStartPeriodSeconds, gateSeconds: healthGateSeconds };

const gatewayProcess: GatewayProcess = {
  uid: gateway.uid,
  port: gateway.port,
  stateDir: gateway.stateDir,
  home: gateway.home,
  cli: gateway.cli,
  secretsDir: gateway.secretsDir,
  secretsFile: gateway.secretsFile,
};

/** Every gateway's confinement: read-only root, no capabilities, no new privileges, loopback only. */
export const gatewayConfinement: GatewayConfinement = {
  readOnlyRoot: true,
  dropCapabilities: ["ALL"],
  addCapabilities: [],
  noNewPrivileges: true,
  publishAddress: "127.0.0.1",
};

const gatewayEnv: GatewayEnv = {
  OPENCLAW_STATE_DIR: gateway.stateDir,
  OPENCLAW_CONFIG_READONLY: "1",
  OPENCLAW_DISABLE_BONJOUR: "1",
  HOME: gateway.home,
};

/**
 * What every gateway has, whatever its tenant: the process inside, its plain environment, its confinement and its
 * health check. The runtime reads them from here for the gateway, its image preflight, its backups and its rollback.
 */
export type GatewayCommon = Pick<GatewaySpec, "tokenEnv" | "env" | "health" | "process" | "confinement">;

export const gatewayCommon: GatewayCommon = {
  tokenEnv: gateway.tokenEnv,
  env: gatewayEnv,
  health: gatewayHealth,
  process: gatewayProcess,
  confinement: gatewayConfinement,
};

/** The config of the image preflight's gateway when the state it copies holds none yet. */
export const trialConfig: GatewaySpec["config"] = { file: gateway.configFile, text: serializeConfig(renderPreflightConfig()) };

/** Where a gateway's credentials are kept: a folder on a Docker host, the gateway's Secret on a Kubernetes host. */
function secretsLocationOf(host: Host, gatewayName: string): string {
  return host.kubernetes === undefined ? secretsDirOf(stateRootOf(host), gatewayName) : `${host.kubernetes.namespace}/${secretNameOf(gatewayName)}`;
}

/**
 * A gateway's MagicDNS name when its host publishes it: the host's own name (Tailscale Serve on the host), or on a
 * Kubernetes host a name of its own in the declared tailnet (the operator makes each Ingress a device).
 */
export function tailnetNameOf(host: Host, gatewayName: string): string | undefined {
  if (!host.tailscale.serve) return undefined;
  if (host.kubernetes !== undefined) return host.tailscale.tailnet === undefined ? undefined : `${gatewayName}.${host.tailscale.tailnet}`;
  return host.tailscale.dnsName ?? host.ssh?.host;
}

/** The HTTPS port a gateway is published on in the tailnet: its own on a Docker host, 443 through an Ingress. */
export function tailnetPortOf(host: Host, port: number): number | undefined {
  if (!host.tailscale.serve) return undefined;
  return host.kubernetes === undefined ? port : 443;
}

/** A dedicated tenant's gateway; `movedFrom` names where its state was before, when it moves. */
export function dedicatedGatewaySpec(
  tenant: DedicatedTenant,
  host: Host,
  image: string,
  movedFrom?: { readonly host: Host; readonly id: string } | undefined,
): GatewaySpec {
  return {
    identity: gatewayIdentity("tenant", tenant.id),
    tier: "dedicated",
    hostId: host.id,
    name: dedicatedContainerName(tenant.id),
    image,
    port: tenant.port,
    rotation: tenant.rotation,
    stateDir: tenantStateOf(host, "dedicated", tenant.id),
    config: { file: gateway.configFile, text: serializeConfig(renderDedicatedConfig(tenant)) },
    limits: { memoryMb: tenant.memoryMb, cpus: tenant.cpus, pidsLimit: tenant.pidsLimit },
    upgradeBackups: tenant.upgradeBackups,
    labels: { ...tenant.labels, [tenantLabel]: tenant.id, [tierLabel]: "dedicated" },
    secrets: gatewaySecretsOf(tenant.modelKeys, tenant.modelProviders, tenant.channels),
    secretsDir: secretsLocationOf(host, dedicatedContainerName(tenant.id)),
    ...gatewayCommon,
    tailnetName: tailnetNameOf(host, dedicatedContainerName(tenant.id)),
    tailnetPort: tailnetPortOf(host, tenant.port),
    egress: egressOf(host, tenant),
    isolation: tenant.isolation ?? host.isolation,
    movedFrom:
      movedFrom === undefined
        ? undefined
        : {
            host: movedFrom.host,
            stateDir: tenantStateOf(movedFrom.host, "dedicated", movedFrom.id),
            name: dedicatedContainerName(movedFrom.id),
          },
  };
}

/** A host's shared gateway, serving the agents of `tenants`; undefined when the host declares none. */
export function sharedGatewaySpec(host: Host, image: string, tenants: readonly SharedTenant[]): GatewaySpec | undefined {
  const shared = host.shared;
  if (shared === undefined) return undefined;
  return {
    identity: gatewayIdentity("shared", host.id),
    tier: "shared",
    hostId: host.id,
    name: sharedContainerName(host.id),
    image,
    port: shared.port,
    rotation: undefined,
    stateDir: sharedStateOf(host),
    config: { file: gateway.configFile, text: serializeConfig(renderSharedConfig(host, tenants)) },
    limits: { memoryMb: shared.memoryMb, cpus: 2, pidsLimit: 1024 },
    upgradeBackups: shared.upgradeBackups,
    labels: { [tierLabel]: "shared" },
    secrets: gatewaySecretsOf(shared.modelKeys, shared.modelProviders, shared.channels),
    secretsDir: secretsLocationOf(host, sharedContainerName(host.id)),
    ...gatewayCommon,
    tailnetName: tailnetNameOf(host, sharedContainerName(host.id)),
    tailnetPort: tailnetPortOf(host, shared.port),
    egress: egressOf(host),
    isolation: host.isolation,
  };
}
