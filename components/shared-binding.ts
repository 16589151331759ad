import * as pulumi from "@pulumi/pulumi";
import type { Host, SharedTenant } from "../declaration/schema";
import type { GatewayResources, GatewayPlacement } from "./gateway";
import { childName, childRole, componentType, tenantStateOf } from "../names";
import { recordFacts } from "./facts";

export interface SharedBindingArgs {
  /** The validated shared-tier tenant. */
  readonly tenant: SharedTenant;
  /** The host it runs on (`GatewayHost.placement`). */
  readonly placement: GatewayPlacement;
  /** The host's shared gateway, whose config lists this tenant's agent and bindings. */
  readonly sharedGateway: GatewayResources;
  /** The host it runs on; the workspace is `<stateRoot>/shared/workspaces/<id>` there (a folder in the shared gateway's volume on Kubernetes). */
  readonly host: Host;
}

/**
 * A shared-tier user: one agent (and its routing bindings) inside the host's shared
 * gateway, with its own workspace directory. The agent entry itself is part of the
 * shared gateway's config file, rendered from all shared tenants of the host.
 */
export class SharedBinding extends pulumi.ComponentResource {
  readonly agentId: string;
  readonly host: string;
  readonly port: number;
  readonly token: pulumi.Output<string>;
  readonly loopbackUrl: string;
  readonly tailnetUrl: string | undefined;

  constructor(name: string, args: SharedBindingArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType.sharedBinding, name, { host: args.placement.hostId, tier: "shared" }, opts);
    const { tenant, placement, sharedGateway } = args;
    const workspace = childName(name, childRole.workspace);
    const stateDir = tenantStateOf(args.host, "shared", tenant.id);
    placement.runtime.ensureWorkspace(workspace, { tenantId: tenant.id, after: sharedGateway.stateDir }, this);
    recordFacts({
      kind: "shared",
      type: componentType.sharedBinding,
      name,
      host: placement.hostId,
      stateDir,
      roles: { [workspace]: childRole.workspace },
      summaries: { [workspace]: `creates the workspace ${stateDir}` },
    });
    this.agentId = tenant.id;
    this.host = placement.hostId;
    this.port = sharedGateway.port;
    this.token = sharedGateway.token.result;
    this.loopbackUrl = sharedGateway.loopbackUrl;
    this.tailnetUrl = sharedGateway.tailnetUrl;
    this.registerOutputs({ agentId: this.agentId, host: this.host });
  }
}
