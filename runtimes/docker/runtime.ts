import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { childName, childRole, dedicatedContainerName, stateRootOf, tenantStateDir, workDirOf } from "../../names";
import { renderEnsureStateDir, renderPrepareHost, renderPurge } from "./commands";
import { runDockerGateway, type DockerHost } from "./gateway";
import { healthTimings, parseReadBack, renderReadBack } from "./readback";
import { hostCommandRunner } from "./host-command";
import { offsiteCredentials, offsiteUnitOf, renderOffsiteSchedule, renderOffsiteUnschedule } from "./offsite";
import { renderPreflight } from "./upgrade";
import { sshPinOptions } from "../shell";
import type { HostPreparation, Runtime, RuntimeHost } from "../../components/runtime";

/**
 * Gateways as Docker containers: per host a Docker provider (local socket or `ssh://`) and
 * host commands (`local.Command` here, `remote.Command` over SSH) for what Docker does not do.
 */
export const dockerRuntime: Runtime = {
  prepareHost(name: string, { host, image, sampleStateDirs, trialConfig, gateway, scheduledOffsite }: HostPreparation, parent: pulumi.Resource): RuntimeHost {
    const stateRoot = stateRootOf(host);
    const run = hostCommandRunner(host);
    const dockerProvider = new docker.Provider(
      childName(name, childRole.docker),
      host.ssh === undefined
        ? { host: "unix:///var/run/docker.sock" }
        : { host: `ssh://${host.ssh.user}@${host.ssh.host}:${host.ssh.port}`, sshOpts: ["-o", "BatchMode=yes", ...sshPinOptions(host.ssh)] },
      { parent },
    );
    const prepared = run(
      childName(name, childRole.prepare),
      { create: renderPrepareHost({ hostId: host.id, stateRoot: stateRoot, image, tailscale: host.tailscale.serve }) },
      { parent },
    );

    // What the daemon stores for a gateway container from this image (its own defaults merged in); replaced, and run
    // again, with the image. Its output stays in state, so a preview of an unchanged host knows it.
    const timings = healthTimings(gateway.health);
    const readBackCommand = run(
      childName(name, childRole.readback),
      { create: renderReadBack({ hostId: host.id, image, health: timings }), triggers: [image] },
      { parent, dependsOn: [prepared] },
    );
    const readBack = readBackCommand.stdout.apply((stdout: string | undefined) => parseReadBack(stdout, host.id, timings));

    // Replaced (and run) whenever the image changes: the new image must reach healthy on a copy of real state
    // before any container is replaced.
    const preflight =
      sampleStateDirs.length === 0
        ? undefined
        : run(
            childName(name, childRole.preflight),
            {
              create: renderPreflight({
                hostId: host.id,
                image,
                stateDirs: sampleStateDirs,
                workDir: workDirOf(stateRoot),
                gateway,
                fallbackConfig: trialConfig,
              }),
              triggers: [image],
              // The script names the canary's state directory, which changes when tenants come, go or are
              // renamed; the command provider would run create again on such an update. The image did not
              // change, so there is nothing to try: only a replacement (a new image) runs the trial.
              update: "true",
            },
            { parent, dependsOn: [prepared] },
          );

    // The host's own timer backs its gateways up off it; removing the schedule (or the target) removes the timer and
    // the credentials it kept, never the archives.
    const stack = `${pulumi.getProject()}/${pulumi.getStack()}`;
    if (scheduledOffsite !== undefined) {
      run(
        childName(name, childRole.offsite),
        {
          create: renderOffsiteSchedule({ hostId: host.id, stack, stateRoot: stateRoot, offsite: scheduledOffsite }),
          delete: renderOffsiteUnschedule({ stack, stateRoot: stateRoot }),
          stdin: offsiteCredentials(scheduledOffsite),
        },
        { parent, dependsOn: [prepared] },
      );
    }

    const dockerHost: DockerHost = {
      hostId: host.id,
      ssh: host.ssh,
      docker: dockerProvider,
      run,
      prepared,
      preflight,
      stateRoot: stateRoot,
      stack,
      readBack,
    };
    const roles: Record<string, string> = {
      [childName(name, childRole.docker)]: childRole.docker,
      [childName(name, childRole.prepare)]: childRole.prepare,
      [childName(name, childRole.readback)]: childRole.readback,
    };
    const summaries: Record<string, string> = {
      [childName(name, childRole.prepare)]: `prepares the host: tools, state root ${stateRoot}, image`,
      [childName(name, childRole.readback)]: "reads back the settings Docker stores for a container of the image",
    };
    if (scheduledOffsite !== undefined) {
      roles[childName(name, childRole.offsite)] = childRole.offsite;
      summaries[childName(name, childRole.offsite)] =
        `backs up the host's gateways off it on schedule ${scheduledOffsite.schedule} (systemd timer ${offsiteUnitOf(stack)}.timer)`;
    }
    if (preflight !== undefined) {
      roles[childName(name, childRole.preflight)] = childRole.preflight;
      summaries[childName(name, childRole.preflight)] =
        sampleStateDirs.length === 1
          ? `tries a new image on a copy of ${sampleStateDirs.join("")}`
          : `tries a new image on a copy of each gateway's state, one after the other: ${sampleStateDirs.join(", ")}`;
    }

    return {
      roles,
      summaries,
      // The read-back follows the image: the gateways' own diff names what reaches them.
      // The preflight runs only when it is replaced, for a new image; a new canary only changes the script kept for next time.
      children: {
        [childRole.prepare]: { kind: "named" },
        [childRole.readback]: { kind: "follows" },
        ...(scheduledOffsite === undefined ? {} : { [childRole.offsite]: { kind: "named" } as const }),
        [childRole.preflight]: { kind: "runs-on", runsOn: ["triggers"], label: "image preflight" },
      },
      runGateway: (spec, args) => runDockerGateway(spec, args, dockerHost),
      ensureWorkspace: (childResource, { tenantId, after }, owner) =>
        run(
          childResource,
          { create: renderEnsureStateDir({ dir: tenantStateDir(stateRoot, "shared", tenantId), uid: gateway.process.uid }) },
          { parent: owner, dependsOn: [after], retainOnDelete: true },
        ),
      purgeTenant: (childResource, { tier, tenantId }, owner) =>
        run(
          childResource,
          {
            create: renderPurge({
              dir: tenantStateDir(stateRoot, tier, tenantId),
              containerName: tier === "dedicated" ? dedicatedContainerName(tenantId) : undefined,
            }),
          },
          { parent: owner, dependsOn: [prepared] },
        ),
    };
  },
};
