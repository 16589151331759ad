import { spawn } from "node:child_process";
import { isDeepStrictEqual } from "node:util";
import type { PlannedResource } from "../../cli/mock-run";
import { dockerApi, DockerApiError, inspectContainer } from "./docker-api";

/**
 * A small stand-in for the Pulumi engine plus the docker and command providers, so the
 * resources the program registers (taken from a mock run) can be applied to a real
 * Docker engine and a real shell. It diffs against what it applied before, like the
 * engine: unchanged resources are left alone, changed ones updated or replaced, removed
 * ones deleted (unless retainOnDelete).
 *
 * docker.Container fields it maps to the Engine API (any other field fails the apply):
 * name, image, user, envs, ports, mounts (bind), tmpfs, readOnly, capabilities, securityOpts,
 * init, memory, memorySwap, cpus, restart, networksAdvanced, healthcheck, wait, waitTimeout,
 * stopSignal, stopTimeout, destroyGraceSeconds, logDriver, logOpts, labels.
 */

export type Action = "create" | "update" | "replace" | "delete" | "same" | "retain";

export interface AppliedEvent {
  readonly name: string;
  readonly type: string;
  readonly action: Action;
}

interface AppliedResource {
  readonly resource: PlannedResource;
  /** The real id (container or network id); mock ids in later inputs are mapped to it. */
  readonly id: string;
}

const containerFields = new Set([
  "name",
  "image",
  "user",
  "envs",
  "ports",
  "mounts",
  "tmpfs",
  "readOnly",
  "capabilities",
  "securityOpts",
  "init",
  "memory",
  "memorySwap",
  "cpus",
  "restart",
  "networksAdvanced",
  "healthcheck",
  "wait",
  "waitTimeout",
  "stopSignal",
  "stopTimeout",
  "destroyGraceSeconds",
  "logDriver",
  "logOpts",
  "labels",
]);
const networkFields = new Set(["name", "driver", "labels"]);
const commandFields = new Set(["create", "delete", "stdin", "triggers", "interpreter", "addPreviousOutputInEnv"]);

/** Docker duration strings ("10s", "1m") to nanoseconds. */
function nanoseconds(duration: string): number {
  const match = /^(\d+)(ms|s|m|h)$/.exec(duration);
  if (match === null) throw new Error(`applier: cannot read duration ${duration}`);
  const unit = { ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 }[match[2] as "ms" | "s" | "m" | "h"];
  return Number(match[1]) * unit;
}

function checkFields(resource: PlannedResource, known: Set<string>): void {
  const unknown = Object.keys(resource.revealedInputs).filter((key) => !known.has(key));
  if (unknown.length > 0) throw new Error(`applier: ${resource.type} ${resource.name} has fields the applier does not map: ${unknown.join(", ")}`);
}

/** The Engine API body for a docker.Container's inputs. */
export function containerCreateBody(inputs: Record<string, unknown>): Record<string, unknown> {
  const ports = (inputs["ports"] ?? []) as { internal: number; external: number; ip: string; protocol: string }[];
  const mounts = (inputs["mounts"] ?? []) as { type: string; source: string; target: string; readOnly?: boolean }[];
  const healthcheck = inputs["healthcheck"] as { tests: string[]; interval: string; timeout: string; retries: number; startPeriod: string } | undefined;
  const networks = (inputs["networksAdvanced"] ?? []) as { name: string }[];
  const capabilities = (inputs["capabilities"] ?? {}) as { drops?: string[]; adds?: string[] };
  const labels = (inputs["labels"] ?? []) as { label: string; value: string }[];
  for (const mount of mounts) if (mount.type !== "bind") throw new Error(`applier: mount type ${mount.type} is not mapped`);
  if (networks.length > 1) throw new Error("applier: more than one network is not mapped");
  return {
    Image: inputs["image"],
    User: inputs["user"],
    Env: inputs["envs"],
    Labels: Object.fromEntries(labels.map((l) => [l.label, l.value])),
    StopSignal: inputs["stopSignal"],
    StopTimeout: inputs["stopTimeout"],
    ExposedPorts: Object.fromEntries(ports.map((p) => [`${p.internal}/${p.protocol}`, {}])),
    Healthcheck:
      healthcheck === undefined
        ? undefined
        : {
            Test: healthcheck.tests,
            Interval: nanoseconds(healthcheck.interval),
            Timeout: nanoseconds(healthcheck.timeout),
            Retries: healthcheck.retries,
            StartPeriod: nanoseconds(healthcheck.startPeriod),
          },
    HostConfig: {
      PortBindings: Object.fromEntries(ports.map((p) => [`${p.internal}/${p.protocol}`, [{ HostIp: p.ip, HostPort: String(p.external) }]])),
      Mounts: mounts.map((m) => ({ Type: "bind", Source: m.source, Target: m.target, ReadOnly: m.readOnly ?? false })),
      Tmpfs: inputs["tmpfs"],
      ReadonlyRootfs: inputs["readOnly"] ?? false,
      CapDrop: capabilities.drops,
      CapAdd: capabilities.adds,
      SecurityOpt: inputs["securityOpts"],
      Init: inputs["init"] ?? false,
      Memory: typeof inputs["memory"] === "number" ? inputs["memory"] * 1024 * 1024 : undefined,
      MemorySwap: typeof inputs["memorySwap"] === "number" ? inputs["memorySwap"] * 1024 * 1024 : undefined,
      NanoCpus: typeof inputs["cpus"] === "string" ? Math.round(Number(inputs["cpus"]) * 1e9) : undefined,
      RestartPolicy: { Name: inputs["restart"] ?? "no" },
      NetworkMode: networks[0]?.name,
      LogConfig: inputs["logDriver"] === undefined ? undefined : { Type: inputs["logDriver"], Config: inputs["logOpts"] ?? {} },
    },
  };
}

export interface CommandEnvironment {
  /** Environment for command resources (PATH with the fake tailscale, FAKE_TAILSCALE_DIR). */
  readonly env: NodeJS.ProcessEnv;
}

export interface ShellResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export async function runShell(script: string, stdin: string | undefined, env: NodeJS.ProcessEnv): Promise<ShellResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", script], { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(stdin ?? "");
  });
}

export class Applier {
  private readonly applied = new Map<string, AppliedResource>();
  /** Every action taken, in order, across applies. */
  readonly events: AppliedEvent[] = [];
  /** How each container stopped: seconds from SIGTERM to exit, and its exit code (137 = killed). */
  readonly stops: { name: string; seconds: number; exitCode: number | undefined }[] = [];

  constructor(
    private readonly commands: CommandEnvironment,
    private readonly progress: (line: string) => void,
  ) {}

  /** The names of containers and networks currently applied (for teardown). */
  get dockerObjects(): { containers: string[]; networks: string[] } {
    const of = (type: string) => [...this.applied.values()].filter((a) => a.resource.type === type).map((a) => String(a.resource.revealedInputs["name"]));
    return { containers: of("docker:index/container:Container"), networks: of("docker:index/network:Network") };
  }

  /** Brings the real world to the planned resources. */
  async apply(plan: readonly PlannedResource[]): Promise<AppliedEvent[]> {
    const start = this.events.length;
    const planned = new Set(plan.map((r) => r.urn));
    const removed = [...this.applied.values()].filter((a) => !planned.has(a.resource.urn)).reverse();
    for (const gone of removed) await this.remove(gone);

    const done = new Map<string, Promise<void>>();
    const byUrn = new Map(plan.map((r) => [r.urn, r]));
    const schedule = (resource: PlannedResource): Promise<void> => {
      const existing = done.get(resource.urn);
      if (existing !== undefined) return existing;
      const dependencies = resource.options.dependsOn.map((urn) => byUrn.get(urn)).filter((r): r is PlannedResource => r !== undefined);
      const promise = Promise.all(dependencies.map(schedule)).then(() => this.applyOne(resource));
      done.set(resource.urn, promise);
      return promise;
    };
    await Promise.all(plan.map(schedule));
    return this.events.slice(start);
  }

  /** Replaces mock ids (`<name>-id`) in inputs with the real ids of applied resources. */
  private resolveIds(value: unknown): unknown {
    if (typeof value === "string" && value.endsWith("-id")) {
      const applied = this.applied.get(value.slice(0, -3));
      if (applied !== undefined) return applied.id;
    }
    if (Array.isArray(value)) return value.map((item) => this.resolveIds(item));
    if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.resolveIds(v)]));
    return value;
  }

  private record(resource: PlannedResource, action: Action): void {
    this.events.push({ name: resource.name, type: resource.type, action });
    if (action !== "same") this.progress(`${action} ${resource.name}`);
  }

  private async applyOne(planned: PlannedResource): Promise<void> {
    if (!planned.custom || planned.type.startsWith("pulumi:providers:") || planned.type === "random:index/randomPassword:RandomPassword") {
      if (planned.type === "pulumi:providers:docker" && planned.revealedInputs["host"] !== "unix:///var/run/docker.sock") {
        throw new Error(`applier: only the local Docker socket is mapped, not ${String(planned.revealedInputs["host"])}`);
      }
      const before = this.applied.get(planned.name);
      this.applied.set(planned.name, { resource: planned, id: `${planned.name}-id` });
      this.record(planned, before === undefined ? "create" : "same");
      return;
    }
    const resource: PlannedResource = { ...planned, revealedInputs: this.resolveIds(planned.revealedInputs) as Record<string, unknown> };
    const previous = this.applied.get(resource.name);
    if (previous !== undefined && isDeepStrictEqual(previous.resource.revealedInputs, resource.revealedInputs)) {
      this.applied.set(resource.name, { resource, id: previous.id });
      this.record(resource, "same");
      return;
    }
    switch (resource.type) {
      case "docker:index/container:Container":
        checkFields(resource, containerFields);
        if (previous !== undefined) await this.deleteContainer(previous.resource);
        this.applied.set(resource.name, { resource, id: await this.createContainer(resource) });
        this.record(resource, previous === undefined ? "create" : "replace");
        return;
      case "docker:index/network:Network":
        checkFields(resource, networkFields);
        if (previous !== undefined) await this.deleteNetwork(previous.resource);
        this.applied.set(resource.name, { resource, id: await this.createNetwork(resource) });
        this.record(resource, previous === undefined ? "create" : "replace");
        return;
      case "command:local:Command": {
        checkFields(resource, commandFields);
        const replace =
          previous !== undefined &&
          (resource.options.replaceOnChanges.includes("*") ||
            !isDeepStrictEqual(previous.resource.revealedInputs["triggers"], resource.revealedInputs["triggers"]));
        if (replace && previous !== undefined) await this.runDelete(previous.resource);
        await this.runCreate(resource);
        this.applied.set(resource.name, { resource, id: `${resource.name}-id` });
        this.record(resource, previous === undefined ? "create" : replace ? "replace" : "update");
        return;
      }
      default:
        throw new Error(`applier: resource type ${resource.type} is not mapped`);
    }
  }

  private async remove(gone: AppliedResource): Promise<void> {
    this.applied.delete(gone.resource.name);
    if (gone.resource.options.retainOnDelete) {
      this.record(gone.resource, "retain");
      return;
    }
    if (gone.resource.type === "docker:index/container:Container") await this.deleteContainer(gone.resource);
    else if (gone.resource.type === "docker:index/network:Network") await this.deleteNetwork(gone.resource);
    else if (gone.resource.type === "command:local:Command") await this.runDelete(gone.resource);
    this.record(gone.resource, "delete");
  }

  private async runCreate(resource: PlannedResource): Promise<void> {
    const result = await runShell(String(resource.revealedInputs["create"]), resource.revealedInputs["stdin"] as string | undefined, this.commands.env);
    if (result.code !== 0) throw new Error(`applier: ${resource.name} create failed (${result.code}): ${result.stderr.trim()}`);
  }

  private async runDelete(resource: PlannedResource): Promise<void> {
    const script = resource.revealedInputs["delete"];
    if (typeof script !== "string") return;
    const result = await runShell(script, undefined, this.commands.env);
    if (result.code !== 0) throw new Error(`applier: ${resource.name} delete failed (${result.code}): ${result.stderr.trim()}`);
  }

  private async createNetwork(resource: PlannedResource): Promise<string> {
    const labels = (resource.revealedInputs["labels"] ?? []) as { label: string; value: string }[];
    const created = await dockerApi<{ Id: string }>("POST", "/networks/create", {
      Name: resource.revealedInputs["name"],
      Driver: resource.revealedInputs["driver"],
      Labels: Object.fromEntries(labels.map((l) => [l.label, l.value])),
      CheckDuplicate: true,
    });
    return created.Id;
  }

  private async deleteNetwork(resource: PlannedResource): Promise<void> {
    try {
      await dockerApi("DELETE", `/networks/${encodeURIComponent(String(resource.revealedInputs["name"]))}`);
    } catch (error) {
      if (!(error instanceof DockerApiError && error.status === 404)) throw error;
    }
  }

  private async createContainer(resource: PlannedResource): Promise<string> {
    const inputs = resource.revealedInputs;
    const name = String(inputs["name"]);
    const created = await dockerApi<{ Id: string }>("POST", `/containers/create?name=${encodeURIComponent(name)}`, containerCreateBody(inputs));
    await dockerApi("POST", `/containers/${created.Id}/start`);
    if (inputs["wait"] === true) await this.waitHealthy(name, Number(inputs["waitTimeout"] ?? 60));
    return created.Id;
  }

  /** Like the provider's `wait`: the container must report healthy in time, or the apply fails. */
  private async waitHealthy(name: string, timeoutSeconds: number): Promise<void> {
    const started = Date.now();
    let lastReport = 0;
    for (;;) {
      const info = await inspectContainer(name);
      const status = info?.State.Health?.Status ?? info?.State.Status ?? "missing";
      const seconds = Math.round((Date.now() - started) / 1000);
      if (status === "healthy") {
        this.progress(`${name} healthy after ${seconds} s`);
        return;
      }
      if (status === "unhealthy" || status === "exited" || seconds > timeoutSeconds) {
        const log = info?.State.Health?.Log?.at(-1)?.Output.trim() ?? "";
        throw new Error(`applier: container ${name} is ${status} after ${seconds} s${log === "" ? "" : `: ${log}`}`);
      }
      if (seconds - lastReport >= 5) {
        lastReport = seconds;
        this.progress(`waiting for ${name} to become healthy (${status}, ${seconds} s)`);
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  private async deleteContainer(resource: PlannedResource): Promise<void> {
    const name = String(resource.revealedInputs["name"]);
    const grace = Number(resource.revealedInputs["destroyGraceSeconds"] ?? 10);
    const started = Date.now();
    try {
      await dockerApi("POST", `/containers/${encodeURIComponent(name)}/stop?t=${grace}`);
      const stopped = await inspectContainer(name);
      this.stops.push({ name, seconds: (Date.now() - started) / 1000, exitCode: (stopped?.State as { ExitCode?: number } | undefined)?.ExitCode });
    } catch (error) {
      if (!(error instanceof DockerApiError && (error.status === 404 || error.status === 304))) throw error;
    }
    try {
      await dockerApi("DELETE", `/containers/${encodeURIComponent(name)}?force=true`);
    } catch (error) {
      if (!(error instanceof DockerApiError && error.status === 404)) throw error;
    }
  }
}
