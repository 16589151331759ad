import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { renderBackupBeforeUpgrade } from "./upgrade";
import { childRole, stopTimeoutSeconds, upgradeBackupDirOf, workDirOf } from "../../names";
import { gatewayLabel, hostLabel, managedLabel, stackLabel } from "./names";
import { renderRollback } from "./rollback";
import {
  renderClaimPort,
  renderEnsureStateDir,
  renderHealthGate,
  renderMoveState,
  renderRemoveSecrets,
  renderServeAdd,
  renderServeRemove,
  renderSetPidsLimit,
  renderWriteFile,
  renderWriteSecrets,
} from "./commands";
import { containerChange, recordedOnlyContainerFields } from "./container-fields";
import { containerSettingsOf, healthCheckOf } from "./container-settings";
import { renderEgressApply, renderEgressRemove } from "./egress";
import { gatewayLogDriver, memorySwapOf, type ReadBack } from "./readback";
import type { HostCommandRunner } from "./host-command";
import type { GatewaySpec } from "../../components/gateway-spec";
import type { Host } from "../../declaration/schema";
import type { GatewayRunArgs, RunningGateway } from "../../components/runtime";
import type { RuntimeChild } from "../../components/facts";

/** What a prepared Docker host gives each gateway it runs. */
export interface DockerHost {
  readonly hostId: string;
  /** How the host is reached; undefined for this machine. */
  readonly ssh: Host["ssh"];
  readonly docker: docker.Provider;
  readonly run: HostCommandRunner;
  /** The host's preparation; every gateway waits for it. */
  readonly prepared: pulumi.Resource;
  /** The new image's trial run on a copy of the canary's state; no container is replaced before it passes. */
  readonly preflight: pulumi.Resource | undefined;
  /** The host's state root; each gateway's pre-upgrade backups go below it (upgradeBackupDirOf). */
  readonly stateRoot: string;
  /** `<project>/<stack>`, the `clawfleet.stack` label of every container. */
  readonly stack: string;
  /** What the host's daemon stores for the gateway's log, swap and health-check settings; containers send exactly that. */
  readonly readBack: pulumi.Output<ReadBack>;
}

export { goDuration } from "./readback";

/**
 * Runs one gateway on a Docker host: state directory, config file, port claim, network,
 * container, process limit, health gate and Tailscale Serve entry.
 */
export function runDockerGateway(spec: GatewaySpec, args: GatewayRunArgs, host: DockerHost): RunningGateway {
  const { child } = args;
  const opts = { parent: args.parent };
  const uid = spec.process.uid;
  // Isolation and limits, as doctor expects them of the running container.
  const settings = containerSettingsOf(spec);

  // State outlives the container and the tenant: no delete command, and kept if removed.
  const stateDir = host.run(
    child(childRole.state, `creates the state directory ${spec.stateDir}`),
    { create: renderEnsureStateDir({ dir: spec.stateDir, uid }) },
    { ...opts, dependsOn: [host.prepared], retainOnDelete: true },
  );

  // Runs where Pulumi runs, since it talks to both hosts; kept out of deletes like the state it moves.
  const moved =
    spec.movedFrom === undefined
      ? undefined
      : new command.local.Command(
          child(childRole.move, `copies the state from host ${spec.movedFrom.host.id}`),
          {
            create: renderMoveState({
              from: { dir: spec.movedFrom.stateDir, ssh: spec.movedFrom.host.ssh },
              to: { dir: spec.stateDir, ssh: host.ssh },
              containerName: spec.movedFrom.name,
              uid,
            }),
            interpreter: ["/bin/sh", "-c"],
            addPreviousOutputInEnv: false,
          },
          { ...opts, dependsOn: [stateDir], retainOnDelete: true },
        );

  // The file is rewritten in place on change; the gateway hot-reloads it.
  const configFile = host.run(
    child(childRole.config, `writes ${spec.config.file}`),
    { create: renderWriteFile({ dir: spec.stateDir, file: spec.config.file, uid, stagingDir: workDirOf(host.stateRoot) }), stdin: spec.config.text },
    { ...opts, dependsOn: moved === undefined ? [stateDir] : [stateDir, moved], retainOnDelete: true },
  );

  // Outside the state, so no backup holds it; rewritten and reloaded by a running gateway on change (no restart), and
  // deleted with the gateway. A move to another host deletes it on the old one first.
  const secretsFile = host.run(
    child(childRole.secrets, `writes its credentials file`),
    {
      create: renderWriteSecrets({
        dir: spec.secretsDir,
        file: spec.process.secretsFile,
        uid,
        containerName: spec.name,
        cli: spec.process.cli,
        stagingDir: workDirOf(host.stateRoot),
      }),
      delete: renderRemoveSecrets({ dir: spec.secretsDir }),
      stdin: pulumi.secret(`${JSON.stringify(spec.secrets.file, null, 2)}\n`),
      triggers: [spec.hostId],
    },
    { ...opts, dependsOn: [host.prepared], deleteBeforeReplace: true },
  );

  const hostLabelOf = { label: hostLabel, value: spec.hostId };
  const identityLabels = [
    { label: managedLabel, value: "true" },
    { label: gatewayLabel, value: spec.identity },
    { label: stackLabel, value: host.stack },
    hostLabelOf,
  ];

  // A gateway that this deploy removes may still hold the port (Pulumi deletes last).
  const claim = host.run(
    child(childRole.claim, `claims port ${spec.port}`),
    {
      create: renderClaimPort({ hostId: spec.hostId, port: spec.port, gateway: spec.identity, containerName: spec.name, stack: host.stack }),
    },
    { ...opts, dependsOn: [host.prepared] },
  );

  // The host label makes a move to another host a replacement: Pulumi keeps a resource whose
  // inputs are unchanged on its old host even when its provider changes.
  const network = new docker.Network(
    child(childRole.network),
    { name: settings.network, driver: "bridge", labels: [{ label: managedLabel, value: "true" }, hostLabelOf] },
    { ...opts, provider: host.docker, deleteBeforeReplace: true },
  );

  // In place before the container starts; a new network (a new bridge) takes the old rules away first.
  const egress =
    spec.egress === undefined
      ? undefined
      : host.run(
          child(childRole.egress, `refuses private and link-local addresses${spec.egress.allow.length === 0 ? "" : ` but ${spec.egress.allow.join(", ")}`}`),
          {
            create: renderEgressApply({ hostId: spec.hostId, network: spec.name, allow: spec.egress.allow }),
            delete: renderEgressRemove({ network: spec.name }),
            triggers: [network.id],
          },
          { ...opts, dependsOn: [network], deleteBeforeReplace: true },
        );

  // Right before a container is replaced for a new image, its state is backed up with the gateway's own tool.
  const backupDir = upgradeBackupDirOf(host.stateRoot, spec.name);
  const backup = host.run(
    child(childRole.backup, "backs up before an image change"),
    {
      create: renderBackupBeforeUpgrade({
        containerName: spec.name,
        image: spec.image,
        backupDir,
        keep: spec.upgradeBackups,
      }),
      triggers: [spec.image],
    },
    // In rollout order, right before its container is replaced: the gateways before it are healthy by then.
    { ...opts, dependsOn: [stateDir, ...(host.preflight === undefined ? [] : [host.preflight]), ...args.after] },
  );

  const secretEnv = Object.entries(spec.secrets.env).map(([key, value]) => pulumi.secret(`${key}=${value}`));
  const container = new docker.Container(
    child(childRole.container),
    {
      name: spec.name,
      // A stable hostname lets a replacement reclaim the state lease a killed gateway left behind.
      hostname: spec.name,
      image: settings.image,
      user: settings.user,
      envs: [...Object.entries(spec.env).map(([key, value]) => `${key}=${value}`), pulumi.interpolate`${spec.tokenEnv}=${args.token}`, ...secretEnv],
      ports: [{ ...settings.port }],
      mounts: settings.mounts.map((mount) => ({ type: "bind", ...mount })),
      tmpfs: { ...settings.tmpfs },
      readOnly: settings.readOnly,
      capabilities: { drops: [...settings.capDrop], ...(settings.capAdd.length === 0 ? {} : { adds: [...settings.capAdd] }) },
      securityOpts: [...settings.securityOpts],
      init: true,
      // The OCI runtime (the isolation ladder's second rung); left out, the daemon's default, which the provider reads back.
      ...(settings.runtime === undefined ? {} : { runtime: settings.runtime }),
      memory: settings.memoryMb,
      // No swap on top of memory: the same limit, or -1 where the host keeps no swap limit (it stores -1 then).
      memorySwap: host.readBack.apply((stored) => memorySwapOf(stored, settings.memoryMb)),
      cpus: settings.cpus,
      restart: "unless-stopped",
      networksAdvanced: [{ name: network.name }],
      // Timings as the host stores them: fields left at zero take the image's HEALTHCHECK values.
      healthcheck: host.readBack.apply((stored) => ({ tests: ["CMD", ...healthCheckOf(spec.health)], ...stored.healthcheck })),
      stopSignal: "SIGTERM",
      stopTimeout: stopTimeoutSeconds,
      destroyGraceSeconds: stopTimeoutSeconds,
      logDriver: gatewayLogDriver,
      // Rotation, plus the daemon's default options as it stores them (logOpts forces a new container).
      logOpts: host.readBack.apply((stored) => ({ ...stored.logOpts })),
      labels: [...identityLabels, ...Object.entries(spec.labels).map(([label, value]) => ({ label, value }))],
    },
    {
      ...opts,
      provider: host.docker,
      dependsOn: [configFile, secretsFile, claim, backup, ...(egress === undefined ? [] : [egress]), ...args.after],
      // The container name and host port are fixed, so the old container must go first.
      deleteBeforeReplace: true,
      // The provider records a change of these without applying it to the running container.
      replaceOnChanges: [...recordedOnlyContainerFields],
    },
  );

  // The Docker provider has no pids limit; set it on each new container.
  host.run(
    child(childRole.limits, `limits processes to ${spec.limits.pidsLimit}`),
    { create: renderSetPidsLimit({ containerName: spec.name, pidsLimit: settings.pidsLimit }), triggers: [container.id] },
    { ...opts, dependsOn: [container] },
  );

  // Checked for every new container on every deploy: the provider's own wait holds for one run only.
  const ready = host.run(
    child(childRole.ready, "waits until healthy"),
    {
      create: renderHealthGate({
        containerName: spec.name,
        timeoutSeconds: spec.health.gateSeconds,
        // A new image that fails goes back to the previous one on the pre-upgrade backup before the deploy stops.
        rollback: { script: renderRollback({ spec, backupDir }), backupDir },
      }),
      triggers: [container.id],
    },
    { ...opts, dependsOn: [container] },
  );

  const children: Record<string, RuntimeChild> = {
    [childRole.config]: { kind: "config", input: "stdin" },
    // A new key or token: reported by role, never by value.
    [childRole.secrets]: { kind: "named" },
    // The port claim, the network, the health gate and the pre-upgrade backup follow the port, the host, the container and the image.
    [childRole.claim]: { kind: "follows" },
    [childRole.network]: { kind: "follows" },
    [childRole.backup]: { kind: "follows" },
    [childRole.container]: containerChange,
    [childRole.limits]: { kind: "named" },
    [childRole.ready]: { kind: "follows" },
  };
  if (egress !== undefined) children[childRole.egress] = { kind: "named" };
  if (spec.tailnetName !== undefined) {
    children[childRole.serve] = { kind: "named" };
    host.run(
      child(childRole.serve, `serves https ${spec.port}`),
      {
        create: renderServeAdd({ httpsPort: spec.port, localPort: spec.port }),
        delete: renderServeRemove({ httpsPort: spec.port, localPort: spec.port, gateway: spec.identity }),
      },
      { ...opts, dependsOn: [ready], replaceOnChanges: ["*"], deleteBeforeReplace: true },
    );
  }

  return { stateDir, ready, children };
}
