import * as pulumi from "@pulumi/pulumi";
import type { DedicatedTenant, Host } from "../declaration/schema";
import { GatewayResources, type GatewayPlacement } from "../runtimes/docker/gateway";
import { renderMoveState } from "../runtimes/docker/commands";
import { gateway, renderDedicatedConfig, serializeConfig } from "./render/config";
import { componentType, dedicatedContainerName, gatewayIdentity, tenantLabel, tenantStateDir, tierLabel } from "../names";
import { recordFacts } from "./facts";
import { secretEnvOf } from "./secret-env";

export interface DedicatedUserArgs {
  /** The validated tenant (its port already allocated). */
  readonly tenant: DedicatedTenant;
  /** The host it runs on (`GatewayHost.placement`). */
  readonly placement: GatewayPlacement;
  /** The host it runs on; the tenant's state is `<stateRoot>/users/<id>` there. */
  readonly host: Host;
  /** Where the tenant's state was before (`movedFrom` host and/or `renamedFrom` id): it is copied over once. */
  readonly movedFrom?: { readonly host: Host; readonly id: string } | undefined;
  /** Health gates it waits for: the host's canary and the gateway before it in its rollout lane. */
  readonly after?: readonly pulumi.Resource[] | undefined;
}

/** A dedicated-tier user: an own gateway container with its own token, port, state and config. */
export class DedicatedUser extends pulumi.ComponentResource {
  readonly port: number;
  readonly host: string;
  /** The gateway token (secret). */
  readonly token: pulumi.Output<string>;
  readonly loopbackUrl: string;
  readonly tailnetUrl: string | undefined;
  readonly gateway: GatewayResources;

  constructor(name: string, args: DedicatedUserArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType.dedicatedUser, name, { host: args.placement.hostId, tier: "dedicated" }, opts);
    const { tenant, placement } = args;
    const stateDir = tenantStateDir(args.host.stateRoot, "dedicated", tenant.id);
    this.gateway = new GatewayResources(
      name,
      {
        placement,
        containerName: dedicatedContainerName(tenant.id),
        stateDir,
        configText: serializeConfig(renderDedicatedConfig(tenant)),
        port: tenant.port,
        memoryMb: tenant.memoryMb,
        cpus: tenant.cpus,
        pidsLimit: tenant.pidsLimit,
        identity: gatewayIdentity("tenant", tenant.id),
        labels: { ...tenant.labels, [tenantLabel]: tenant.id, [tierLabel]: "dedicated" },
        secretEnv: secretEnvOf(tenant.modelKeys, tenant.channels),
        rotation: tenant.rotation,
        after: args.after,
        moveState:
          args.movedFrom === undefined
            ? undefined
            : renderMoveState({
                from: { dir: tenantStateDir(args.movedFrom.host.stateRoot, "dedicated", args.movedFrom.id), ssh: args.movedFrom.host.ssh },
                to: { dir: tenantStateDir(args.host.stateRoot, "dedicated", tenant.id), ssh: args.host.ssh },
                containerName: dedicatedContainerName(args.movedFrom.id),
                uid: gateway.uid,
              }),
      },
      this,
    );
    recordFacts({ kind: "dedicated", type: componentType.dedicatedUser, name, host: placement.hostId, stateDir, roles: this.gateway.roles });
    this.port = tenant.port;
    this.host = placement.hostId;
    this.token = this.gateway.token.result;
    this.loopbackUrl = this.gateway.loopbackUrl;
    this.tailnetUrl = this.gateway.tailnetUrl;
    this.registerOutputs({ port: this.port, host: this.host, loopbackUrl: this.loopbackUrl, tailnetUrl: this.tailnetUrl, token: this.token });
  }
}
