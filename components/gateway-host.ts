import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { Host, SharedTenant } from "../declaration/schema";
import { GatewayResources, type GatewayPlacement } from "../runtimes/docker/gateway";
import { renderPreflight } from "../runtimes/docker/upgrade";
import { hostCommandRunner } from "../runtimes/docker/host-command";
import { renderPrepareHost, sshPinOptions } from "../runtimes/docker/commands";
import { renderPreflightConfig, renderSharedConfig, serializeConfig } from "./render/config";
import {
  backupRootOf,
  childName,
  childRole,
  componentType,
  gatewayIdentity,
  healthGateSeconds,
  sharedContainerName,
  sharedStateDir,
  tenantStateDir,
  tierLabel,
  workDirOf,
} from "../names";
import { recordFacts } from "./facts";
import { secretEnvOf } from "./secret-env";

export interface GatewayHostArgs {
  /** The validated host declaration. */
  readonly host: Host;
  /** Gateway image reference, pinned to a tag or digest. */
  readonly image: string;
  /** Shared-tier tenants on this host; their agents and bindings form the shared gateway's config. */
  readonly sharedTenants: readonly SharedTenant[];
  /** The dedicated tenant that goes first on this host; the image preflight runs on a copy of its state. */
  readonly canary: string | undefined;
}

/**
 * A gateway host: its Docker engine (local socket or `ssh://`), its preparation (tools,
 * state root 0700, image present) and, when declared, its shared-tier gateway.
 */
export class GatewayHost extends pulumi.ComponentResource {
  /** What every gateway on this host is placed with. */
  readonly placement: GatewayPlacement;
  private readonly componentName: string;
  private readonly host: Host;
  private readonly sharedTenants: readonly SharedTenant[];
  /** Whether the host has an image preflight (a child whose role the facts name). */
  private readonly hasPreflight: boolean;
  private sharedGateway: GatewayResources | undefined;

  constructor(name: string, args: GatewayHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType.gatewayHost, name, { host: args.host.id }, opts);
    this.componentName = name;
    const { host } = args;
    const run = hostCommandRunner(host);

    const dockerProvider = new docker.Provider(
      childName(name, childRole.docker),
      host.ssh === undefined
        ? { host: "unix:///var/run/docker.sock" }
        : { host: `ssh://${host.ssh.user}@${host.ssh.host}:${host.ssh.port}`, sshOpts: ["-o", "BatchMode=yes", ...sshPinOptions(host.ssh)] },
      { parent: this },
    );
    const prepared = run(
      childName(name, childRole.prepare),
      { create: renderPrepareHost({ hostId: host.id, stateRoot: host.stateRoot, image: args.image, tailscale: host.tailscale.serve }) },
      { parent: this },
    );

    // Replaced (and run) whenever the image changes: the new image must reach healthy on a copy of real state
    // (the canary's, or the shared gateway's) before any container is replaced.
    const sampleState =
      args.canary !== undefined
        ? tenantStateDir(host.stateRoot, "dedicated", args.canary)
        : host.shared !== undefined
          ? sharedStateDir(host.stateRoot)
          : undefined;
    const preflight =
      sampleState === undefined
        ? undefined
        : run(
            childName(name, childRole.preflight),
            {
              create: renderPreflight({
                hostId: host.id,
                image: args.image,
                stateDir: sampleState,
                workDir: workDirOf(host.stateRoot),
                timeoutSeconds: healthGateSeconds,
                fallbackConfig: serializeConfig(renderPreflightConfig()),
              }),
              triggers: [args.image],
            },
            { parent: this, dependsOn: [prepared] },
          );

    const tailnetName = host.tailscale.serve ? (host.tailscale.dnsName ?? host.ssh?.host) : undefined;
    const stack = `${pulumi.getProject()}/${pulumi.getStack()}`;
    const backupRoot = backupRootOf(host.stateRoot);
    this.placement = { hostId: host.id, image: args.image, docker: dockerProvider, run, prepared, preflight, backupRoot, tailnetName, stack };

    this.host = host;
    this.sharedTenants = args.sharedTenants;
    this.hasPreflight = preflight !== undefined;
  }

  /** The shared gateway's resources, once declared by `addSharedGateway` (none when the host declares no `shared`). */
  get shared(): GatewayResources | undefined {
    return this.sharedGateway;
  }

  /**
   * Declares the host's shared gateway, when it has one, and completes the host. Its container waits for `after` (the
   * canary's health gate), so a bad image or config stops at one dedicated tenant instead of reaching every shared one.
   */
  addSharedGateway(after: readonly pulumi.Resource[]): void {
    const { host, componentName: name } = this;
    const shared = host.shared;
    this.sharedGateway =
      shared === undefined
        ? undefined
        : new GatewayResources(
            childName(name, childRole.shared),
            {
              placement: this.placement,
              containerName: sharedContainerName(host.id),
              identity: gatewayIdentity("shared", host.id),
              stateDir: sharedStateDir(host.stateRoot),
              configText: serializeConfig(renderSharedConfig(host, this.sharedTenants)),
              port: shared.port,
              memoryMb: shared.memoryMb,
              cpus: 2,
              pidsLimit: 1024,
              labels: { [tierLabel]: "shared" },
              secretEnv: secretEnvOf(shared.modelKeys, shared.channels),
              rotation: undefined,
              after,
            },
            this,
          );

    const roles: Record<string, string> = { [childName(name, childRole.docker)]: childRole.docker, [childName(name, childRole.prepare)]: childRole.prepare };
    if (this.hasPreflight) roles[childName(name, childRole.preflight)] = childRole.preflight;
    for (const [child, role] of Object.entries(this.sharedGateway?.roles ?? {})) roles[child] = `${childRole.shared}-${role}`;
    recordFacts({ kind: "host", type: componentType.gatewayHost, name, host: host.id, roles });

    this.registerOutputs({ sharedUrl: this.sharedGateway?.tailnetUrl ?? this.sharedGateway?.loopbackUrl });
  }
}
