import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { Host } from "../../declaration/schema";

export interface HostCommandArgs {
  readonly create: pulumi.Input<string>;
  readonly delete?: pulumi.Input<string>;
  /** Runs instead of `create` when the inputs change without a replacement; without it, `create` runs again. */
  readonly update?: pulumi.Input<string>;
  readonly stdin?: pulumi.Input<string>;
  /** Re-runs `create` (by replacement) when any of these change. */
  readonly triggers?: pulumi.Input<unknown>[];
}

/**
 * Runs a shell command on a gateway host: `local.Command` for this machine,
 * `remote.Command` over SSH otherwise. Callers never branch on where the host is.
 */
export type HostCommandRunner = (name: string, args: HostCommandArgs, opts: pulumi.CustomResourceOptions) => HostCommand;

/** A command resource; `stdout` is what its last `create` (or `update`) printed, kept in state. */
export type HostCommand = pulumi.CustomResource & { readonly stdout: pulumi.Output<string> };

export function hostCommandRunner(host: Host): HostCommandRunner {
  const ssh = host.ssh;
  if (ssh === undefined) {
    return (name, args, opts) => new command.local.Command(name, { ...args, interpreter: ["/bin/sh", "-c"], addPreviousOutputInEnv: false }, opts);
  }
  const connection: command.types.input.remote.ConnectionArgs = {
    host: ssh.host,
    user: ssh.user,
    port: ssh.port,
    hostKey: ssh.hostKey,
    ...(ssh.privateKey === undefined ? {} : { privateKey: pulumi.secret(ssh.privateKey.value) }),
  };
  return (name, args, opts) => new command.remote.Command(name, { ...args, connection, addPreviousOutputInEnv: false }, opts);
}
