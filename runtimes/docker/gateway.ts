import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { renderBackupBeforeUpgrade } from "./upgrade";
import {
  childName,
  childRole,
  dockerCpus,
  upgradeBackupsKept,
  gatewayLabel,
  healthGateSeconds,
  healthStartPeriodSeconds,
  hostLabel,
  managedLabel,
  recordedOnlyContainerFields,
  stackLabel,
  stopTimeoutSeconds,
} from "../../names";
import { renderClaimPort, renderEnsureStateDir, renderHealthGate, renderServeAdd, renderServeRemove, renderSetPidsLimit, renderWriteFile } from "./commands";
import { gateway, healthProbe } from "../../components/render/config";
import type { HostCommandRunner } from "./host-command";

/** What a host gives each gateway it runs. */
export interface GatewayPlacement {
  readonly hostId: string;
  readonly image: string;
  readonly docker: docker.Provider;
  readonly run: HostCommandRunner;
  /** The host's preparation; every gateway waits for it. */
  readonly prepared: pulumi.Resource;
  /** The new image's trial run on a copy of the canary's state; no container is replaced before it passes. */
  readonly preflight: pulumi.Resource | undefined;
  /** Where each gateway's pre-upgrade backups go: `<backupRoot>/<gateway>`. */
  readonly backupRoot: string;
  /** MagicDNS name when the host publishes gateways with Tailscale Serve. */
  readonly tailnetName: string | undefined;
  /** `<project>/<stack>`, the `clawfleet.stack` label of every container. */
  readonly stack: string;
}

export interface GatewayArgs {
  readonly placement: GatewayPlacement;
  /** Docker container and network name on the host, and the container's hostname. */
  readonly containerName: string;
  /** Which gateway this is, `tenant/<id>` or `shared/<host id>` (the `clawfleet.gateway` label). */
  readonly identity: string;
  /** State directory on the host, bind-mounted at /state. */
  readonly stateDir: string;
  /** The rendered openclaw.json (contains no secret). */
  readonly configText: string;
  /** Host port on 127.0.0.1. */
  readonly port: number;
  readonly memoryMb: number;
  readonly cpus: number;
  readonly pidsLimit: number;
  readonly labels: Readonly<Record<string, string>>;
  /** Extra environment from secure config, such as model keys: variable name -> secret value. */
  readonly secretEnv: Readonly<Record<string, string>>;
  /** Changing this value rotates the gateway token. */
  readonly rotation: string | undefined;
  /** A script that brings the state over from the tenant's previous host (runs once, before the config is written). */
  readonly moveState?: string | undefined;
  /** Health gates this gateway waits for: the host's canary, and the one before it in its rollout lane. */
  readonly after?: readonly pulumi.Resource[] | undefined;
}

/** A duration as Go prints it (the provider reads health-check durations back this way). */
export function goDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`;
}

/**
 * The resources that run one OpenClaw gateway on a host: token, state directory, config
 * file, network, container, process limit and Tailscale Serve entry, named `${name}-<role>`.
 */
export class GatewayResources {
  readonly token: random.RandomPassword;
  readonly container: docker.Container;
  readonly configFile: pulumi.CustomResource;
  readonly stateDir: pulumi.CustomResource;
  readonly serve: pulumi.CustomResource | undefined;
  /** Succeeds once Docker reports the current container healthy; the next gateway of the lane waits for it. */
  readonly ready: pulumi.CustomResource;
  /** Host port on 127.0.0.1 (and the HTTPS port on the tailnet). */
  readonly port: number;
  readonly loopbackUrl: string;
  readonly tailnetUrl: string | undefined;
  /** Each child's role, by its resource name. */
  readonly roles: Record<string, string> = {};
  private readonly name: string;

  /** The name of the child with `role`, recorded with its role. */
  private child(role: string): string {
    const childResource = childName(this.name, role);
    this.roles[childResource] = role;
    return childResource;
  }

  constructor(name: string, args: GatewayArgs, parent: pulumi.Resource) {
    this.name = name;
    const { placement } = args;
    const opts = { parent };

    this.token = new random.RandomPassword(
      this.child(childRole.token),
      { length: 48, special: false, ...(args.rotation === undefined ? {} : { keepers: { rotation: args.rotation } }) },
      { ...opts, additionalSecretOutputs: ["result"] },
    );

    // State outlives the container and the tenant: no delete command, and kept if removed.
    this.stateDir = placement.run(
      this.child(childRole.state),
      { create: renderEnsureStateDir({ dir: args.stateDir, uid: gateway.uid }) },
      { ...opts, dependsOn: [placement.prepared], retainOnDelete: true },
    );

    // Runs where Pulumi runs, since it talks to both hosts; kept out of deletes like the state it moves.
    const moved =
      args.moveState === undefined
        ? undefined
        : new command.local.Command(
            this.child(childRole.move),
            { create: args.moveState, interpreter: ["/bin/sh", "-c"], addPreviousOutputInEnv: false },
            { ...opts, dependsOn: [this.stateDir], retainOnDelete: true },
          );

    // The file is rewritten in place on change; the gateway hot-reloads it.
    this.configFile = placement.run(
      this.child(childRole.config),
      { create: renderWriteFile({ dir: args.stateDir, file: gateway.configFile, uid: gateway.uid }), stdin: args.configText },
      { ...opts, dependsOn: moved === undefined ? [this.stateDir] : [this.stateDir, moved], retainOnDelete: true },
    );

    const hostLabelOf = { label: hostLabel, value: placement.hostId };
    const identityLabels = [
      { label: managedLabel, value: "true" },
      { label: gatewayLabel, value: args.identity },
      { label: stackLabel, value: placement.stack },
      hostLabelOf,
    ];

    // A gateway that this deploy removes may still hold the port (Pulumi deletes last).
    const claim = placement.run(
      this.child(childRole.claim),
      {
        create: renderClaimPort({
          hostId: placement.hostId,
          port: args.port,
          gateway: args.identity,
          containerName: args.containerName,
          stack: placement.stack,
        }),
      },
      { ...opts, dependsOn: [placement.prepared] },
    );

    // The host label makes a move to another host a replacement: Pulumi keeps a resource whose
    // inputs are unchanged on its old host even when its provider changes.
    const network = new docker.Network(
      this.child(childRole.network),
      { name: args.containerName, driver: "bridge", labels: [{ label: managedLabel, value: "true" }, hostLabelOf] },
      { ...opts, provider: placement.docker, deleteBeforeReplace: true },
    );

    // Right before a container is replaced for a new image, its state is backed up with the gateway's own tool.
    const backup = placement.run(
      this.child(childRole.backup),
      {
        create: renderBackupBeforeUpgrade({
          containerName: args.containerName,
          image: placement.image,
          stateDir: args.stateDir,
          backupDir: `${placement.backupRoot}/${args.containerName}`,
          keep: upgradeBackupsKept,
        }),
        triggers: [placement.image],
      },
      { ...opts, dependsOn: [this.stateDir, ...(placement.preflight === undefined ? [] : [placement.preflight])] },
    );

    const secretEnv = Object.entries(args.secretEnv).map(([key, value]) => pulumi.secret(`${key}=${value}`));
    this.container = new docker.Container(
      this.child(childRole.container),
      {
        name: args.containerName,
        // A stable hostname lets a replacement reclaim the state lease a killed gateway left behind.
        hostname: args.containerName,
        image: placement.image,
        user: `${gateway.uid}:${gateway.uid}`,
        envs: [
          `OPENCLAW_STATE_DIR=${gateway.stateDir}`,
          "OPENCLAW_CONFIG_READONLY=1",
          "OPENCLAW_DISABLE_BONJOUR=1",
          `HOME=${gateway.home}`,
          pulumi.interpolate`${gateway.tokenEnv}=${this.token.result}`,
          ...secretEnv,
        ],
        ports: [{ internal: gateway.port, external: args.port, ip: "127.0.0.1", protocol: "tcp" }],
        mounts: [{ type: "bind", source: args.stateDir, target: gateway.stateDir, readOnly: false }],
        tmpfs: { "/tmp": "rw,nosuid,nodev,size=64m", [gateway.home]: `rw,nosuid,nodev,size=64m,uid=${gateway.uid},gid=${gateway.uid}` },
        readOnly: true,
        capabilities: { drops: ["ALL"] },
        securityOpts: ["no-new-privileges:true"],
        init: true,
        memory: args.memoryMb,
        memorySwap: args.memoryMb,
        cpus: dockerCpus(args.cpus),
        restart: "unless-stopped",
        networksAdvanced: [{ name: network.name }],
        healthcheck: {
          tests: ["CMD", "node", "-e", healthProbe],
          interval: goDuration(10),
          timeout: goDuration(5),
          retries: 3,
          startPeriod: goDuration(healthStartPeriodSeconds),
          startInterval: goDuration(0),
        },
        stopSignal: "SIGTERM",
        stopTimeout: stopTimeoutSeconds,
        destroyGraceSeconds: stopTimeoutSeconds,
        logDriver: "json-file",
        logOpts: { "max-size": "10m", "max-file": "3" },
        labels: [...identityLabels, ...Object.entries(args.labels).map(([label, value]) => ({ label, value }))],
      },
      {
        ...opts,
        provider: placement.docker,
        dependsOn: [this.configFile, claim, backup, ...(args.after ?? [])],
        // The container name and host port are fixed, so the old container must go first.
        deleteBeforeReplace: true,
        // The provider records a change of these without applying it to the running container.
        replaceOnChanges: [...recordedOnlyContainerFields],
      },
    );

    // The Docker provider has no pids limit; set it on each new container.
    placement.run(
      this.child(childRole.limits),
      { create: renderSetPidsLimit({ containerName: args.containerName, pidsLimit: args.pidsLimit }), triggers: [this.container.id] },
      { ...opts, dependsOn: [this.container] },
    );

    // Checked for every new container on every deploy: the provider's own wait holds for one run only.
    this.ready = placement.run(
      this.child(childRole.ready),
      {
        create: renderHealthGate({ containerName: args.containerName, timeoutSeconds: healthGateSeconds }),
        triggers: [this.container.id],
      },
      { ...opts, dependsOn: [this.container] },
    );

    this.port = args.port;
    this.loopbackUrl = `http://127.0.0.1:${args.port}/`;
    this.tailnetUrl = placement.tailnetName === undefined ? undefined : `https://${placement.tailnetName}:${args.port}/`;
    this.serve =
      placement.tailnetName === undefined
        ? undefined
        : placement.run(
            this.child(childRole.serve),
            {
              create: renderServeAdd({ httpsPort: args.port, localPort: args.port }),
              delete: renderServeRemove({ httpsPort: args.port, localPort: args.port, gateway: args.identity }),
            },
            { ...opts, dependsOn: [this.ready], replaceOnChanges: ["*"], deleteBeforeReplace: true },
          );
  }
}
