import assert from "node:assert/strict";
import type { PlannedResource } from "../../../cli/mock-run";
import { dockerApi } from "../docker-api";
import { commandProvider, randomPasswordProvider } from "./command-provider";
import { dockerContainerProvider, dockerNetworkProvider, type DockerProviderOptions } from "./docker-provider";
import { Engine, type ResourceProvider, type StepEvent } from "./engine";
import { childRole } from "../../../names";

/**
 * The engine stand-in with the provider stand-ins for everything the program registers, and
 * the check Pulumi's own integration tests make after every apply: the same program again
 * plans no change, and a refresh finds no drift (and still no change after it).
 */
export class Deployer {
  readonly engine: Engine;
  readonly stops: DockerProviderOptions["stops"] = [];
  private readonly commands: Record<"command:local:Command" | "command:remote:Command", ResourceProvider>;

  constructor(stack: string, env: NodeJS.ProcessEnv, progress: (line: string) => void) {
    const options = { env, progress, stops: this.stops };
    this.commands = { "command:local:Command": commandProvider(env, false, progress), "command:remote:Command": commandProvider(env, true, progress) };
    this.engine = new Engine(
      {
        "docker:index/container:Container": dockerContainerProvider(options),
        "docker:index/network:Network": dockerNetworkProvider(options),
        ...this.commands,
        "random:index/randomPassword:RandomPassword": randomPasswordProvider(stack),
      },
      progress,
    );
  }

  /** `pulumi up`, then the idempotence checks. Returns the steps of the first apply. */
  async deploy(program: readonly PlannedResource[]): Promise<StepEvent[]> {
    const events = await this.engine.apply(program);
    const pending = (steps: StepEvent[]) => steps.filter((s) => s.op !== "same").map((s) => `${s.op} ${s.name} ${s.changed.join(",")}`.trim());
    assert.deepEqual(pending(this.engine.plan(program)), [], "applying the same program again plans no change");
    assert.deepEqual(await this.engine.refresh(), [], "a refresh right after the apply finds no drift");
    assert.deepEqual(pending(this.engine.plan(program)), [], "and plans no change after the refresh");
    return events;
  }

  /**
   * Outputs the program reads from a command (a host's read-back of what its daemon stores), as the engine hands them
   * to it: from state when the command is there unchanged, or from running it first, as the engine creates it before
   * it registers what waits for its output. By resource name, for a second mock run of the program.
   */
  async knownOutputs(program: readonly PlannedResource[]): Promise<Record<string, Record<string, unknown>>> {
    const known: Record<string, Record<string, unknown>> = {};
    for (const resource of program) {
      if (!resource.name.endsWith(`-${childRole.readback}`) || !resource.type.startsWith("command:")) continue;
      const inState = this.engine.state.get(resource.urn);
      const provider = this.commands[resource.type as keyof Deployer["commands"]];
      if (inState !== undefined && provider.diff(inState.outputs, resource.revealedInputs).changed.length === 0) {
        known[resource.name] = { stdout: inState.outputs["stdout"] };
        continue;
      }
      const { outputs } = await provider.create(resource.revealedInputs, { urn: "default:command", inputs: {} }, resource.urn);
      known[resource.name] = { stdout: outputs["stdout"] };
    }
    return known;
  }

  /** The Docker container and network names in state, for teardown. */
  objects(type: "docker:index/container:Container" | "docker:index/network:Network"): string[] {
    return [...this.engine.state.values()].filter((e) => e.type === type).map((e) => String(e.outputs["name"]));
  }

  /** Removes, from this machine's daemon, every container and network in state or in `plan` (test teardown). */
  async removeLocalDockerObjects(plan: readonly PlannedResource[]): Promise<void> {
    const named = (type: "docker:index/container:Container" | "docker:index/network:Network") =>
      new Set([...this.objects(type), ...plan.filter((r) => r.type === type).map((r) => String(r.revealedInputs["name"]))]);
    for (const name of named("docker:index/container:Container")) await dockerApi("DELETE", `/containers/${name}?force=true`).catch(() => undefined);
    for (const name of named("docker:index/network:Network")) await dockerApi("DELETE", `/networks/${name}`).catch(() => undefined);
  }
}

/** What happened to each named resource in a list of steps. */
export function opsFor(events: readonly StepEvent[], name: string): string[] {
  return events.filter((e) => e.name === name).map((e) => e.op);
}
