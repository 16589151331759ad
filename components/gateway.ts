import type * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { childName, childRole } from "../names";
import type { RuntimeChild } from "./facts";
import type { GatewaySpec } from "./gateway-spec";
import type { RuntimeHost } from "./runtime";

/** What a host gives each gateway it runs. */
export interface GatewayPlacement {
  readonly hostId: string;
  readonly image: string;
  /** The host as its runtime prepared it. */
  readonly runtime: RuntimeHost;
}

export interface GatewayArgs {
  readonly spec: GatewaySpec;
  readonly placement: GatewayPlacement;
  /** Readiness gates this gateway waits for: the host's canary, and the one before it in its rollout lane. */
  readonly after?: readonly pulumi.Resource[] | undefined;
}

/**
 * One OpenClaw gateway on a host: its token, and the resources its host's runtime runs it
 * with, all named `${name}-<role>`.
 */
export class GatewayResources {
  readonly token: random.RandomPassword;
  readonly stateDir: pulumi.Resource;
  /** Succeeds once the current gateway is healthy; the next gateway of the lane waits for it. */
  readonly ready: pulumi.Resource;
  /** Host port on 127.0.0.1 (and the HTTPS port on the tailnet). */
  readonly port: number;
  readonly loopbackUrl: string;
  readonly tailnetUrl: string | undefined;
  /** Each child's role, by its resource name. */
  readonly roles: Record<string, string> = {};
  /** What each child does, in a few words, by its resource name (from the runtime). */
  readonly summaries: Record<string, string> = {};
  /** How a change to each of the runtime's children reaches the gateway, by role (from the runtime). */
  readonly runtimeChildren: Readonly<Record<string, RuntimeChild>>;
  private readonly name: string;

  /** The name of the child with `role`, recorded with its role and what it does. */
  private child(role: string, summary?: string): string {
    const childResource = childName(this.name, role);
    this.roles[childResource] = role;
    if (summary !== undefined) this.summaries[childResource] = summary;
    return childResource;
  }

  constructor(name: string, { spec, placement, after }: GatewayArgs, parent: pulumi.Resource) {
    this.name = name;
    this.token = new random.RandomPassword(
      this.child(childRole.token),
      { length: 48, special: false, ...(spec.rotation === undefined ? {} : { keepers: { rotation: spec.rotation } }) },
      { parent, additionalSecretOutputs: ["result"] },
    );
    const running = placement.runtime.runGateway(spec, {
      token: this.token.result,
      after: after ?? [],
      child: (role, summary) => this.child(role, summary),
      parent,
    });
    this.stateDir = running.stateDir;
    this.ready = running.ready;
    this.runtimeChildren = running.children;
    this.port = spec.port;
    this.loopbackUrl = `http://127.0.0.1:${spec.port}/`;
    this.tailnetUrl =
      spec.tailnetName === undefined ? undefined : `https://${spec.tailnetName}${spec.tailnetPort === 443 ? "" : `:${spec.tailnetPort ?? spec.port}`}/`;
  }
}
