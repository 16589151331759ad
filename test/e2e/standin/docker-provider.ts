import { spawn } from "node:child_process";
import { Duplex } from "node:stream";
import { dockerApi, DockerApiError, type DockerEndpoint } from "../docker-api";
import { PartialCreateError, unknown, type Diff, type ProviderConfig, type ResourceProvider } from "./engine";

/*
 * A stand-in for @pulumi/docker 5.2.0, which wraps the Terraform provider kreuzwerker/docker
 * v4.5.0 (internal/provider/resource_docker_container*.go, resource_docker_network*.go,
 * config.go, helpers.go). It talks to a real Docker daemon through the Engine API; the rules
 * it copies, each tested in test/standin/docker-provider.test.ts or the e2e suite:
 *
 * D1 Container fields that force a new container (schema ForceNew): see `replaceFields`.
 * D2 Fields resourceDockerContainerUpdate applies with one ContainerUpdate call, no restart:
 *    memory, memorySwap (-1 sent as is), restart, cpuShares. must_run false -> true starts the
 *    container. Without swap accounting the daemon stores MemorySwap -1 whatever is sent
 *    (moby daemon/daemon_unix.go verifyPlatformContainerResources), and read writes that back.
 * D3 Fields an update only records in state, never applying them: everything else
 *    (healthcheck, tmpfs, init, wait, waitTimeout, destroyGraceSeconds, ...). An update does
 *    not read back: state after it is the inputs sent.
 * D4 Create: ContainerCreate on the default bridge, the id is set, the bridge is swapped for
 *    networksAdvanced, the container starts, and with `wait` it is polled every second until
 *    "healthy" or `waitTimeout` (default 60 s; "unhealthy" is not final); a timeout fails with
 *    "container failed to be in healthy state" AFTER the id is set, so the engine keeps it.
 * D5 Read (resourceDockerContainerRead) writes back, from inspect: name, image (Config.Image),
 *    hostname, user, securityOpts, restart, init, readOnly, capabilities (when any), mounts
 *    (with readOnly), tmpfs, memory and memorySwap in MB, cpus as nanoInt64ToDecimalString,
 *    runtime (always: Optional+Computed), logDriver, logOpts (when set: all the daemon stores, its default log-opts merged in),
 *    healthcheck with Go durations (when the container has one; the fields sent as zero hold
 *    the image's HEALTHCHECK values, moby daemon/commit.go merge), stopSignal, stopTimeout, ports (when running or must_run is true in state, so a
 *    stopped container reads back none and is replaced), and mustRun false when stopped.
 *    It never writes envs, labels or networksAdvanced: state keeps what was sent.
 * D6 Delete: stop with destroyGraceSeconds (0 when unset: an immediate kill), force remove,
 *    wait; "No such container" is success.
 * D7 Network: every input forces a new network; read writes back name, driver, labels and
 *    options; delete treats a missing network as deleted, and one with containers attached
 *    fails after retrying for 30 s.
 * D8 Diffs compare the program's inputs with the read-back state; list fields that are sets
 *    in the schema (envs, labels, mounts, securityOpts, capabilities, networksAdvanced; ports
 *    are sorted on read) compare without order. Optional+Computed fields the program leaves
 *    out are not compared. Within a set element, a field left out equals the field at its zero
 *    value (the SDK hashes unset fields as zero): the real provider's state holds every field of
 *    an element (`bindOptions: null`, `aliases: []`, `gwPriority: 0`).
 * D9 Connection: `unix://` socket, or `ssh://user@host:port`, which runs
 *    `ssh -o ConnectTimeout=30 -T <sshOpts> -l user -p port -- host docker system dial-stdio`
 *    through the system ssh client (docker/cli connhelper): agent, host keys and the remote
 *    user's access to the socket all matter.
 */

/** D1: kreuzwerker v4.5.0 resource_docker_container.go, ForceNew fields (Pulumi names). */
export const replaceFields = new Set([
  "name",
  "image",
  "hostname",
  "user",
  "envs",
  "labels",
  "ports",
  "mounts",
  "readOnly",
  "capabilities",
  "cpus",
  "logOpts",
  "logDriver",
  "securityOpts",
  "stopSignal",
  "stopTimeout",
  "networksAdvanced",
  "command",
  "entrypoint",
  "pidMode",
  // resource_docker_container.go line 300: "runtime" is Optional, Computed and ForceNew.
  "runtime",
]);
/** D2: resourceDockerContainerUpdate's ContainerUpdate fields. */
export const updateFields = new Set(["memory", "memorySwap", "restart", "cpuShares"]);
/** D8: set-typed fields, compared without order. */
const setFields = new Set(["envs", "labels", "mounts", "securityOpts", "networksAdvanced", "ports"]);

/** Docker connection for a provider's config (D9). */
export function endpointOf(config: ProviderConfig, env: NodeJS.ProcessEnv): DockerEndpoint {
  const host = String(config.inputs["host"] ?? "unix:///var/run/docker.sock");
  if (host === "unix:///var/run/docker.sock") return {};
  const match = /^ssh:\/\/([^@]+)@([^:/]+):(\d+)$/.exec(host);
  if (match === null) throw new Error(`stand-in: docker host ${host} is not mapped`);
  const [, user, address, port] = match as unknown as [string, string, string, string];
  const sshOpts = parseJsonList(config.inputs["sshOpts"]);
  return {
    connect: () => {
      const child = spawn("ssh", ["-o", "ConnectTimeout=30", "-T", ...sshOpts, "-l", user, "-p", port, "--", address, "docker", "system", "dial-stdio"], {
        env,
        stdio: ["pipe", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      const duplex = Duplex.from({ readable: child.stdout, writable: child.stdin });
      child.on("close", (code) => {
        if (code !== 0 && code !== null) duplex.destroy(new Error(`ssh ${user}@${address}:${port} dial-stdio failed (${code}): ${stderr.trim()}`));
      });
      duplex.on("close", () => child.kill());
      return duplex;
    },
  };
}

/** Provider inputs arrive as the SDK sends them: a list, or (for the real provider) its JSON text. */
function parseJsonList(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value === "string") return JSON.parse(value) as string[];
  return [];
}

function canonical(key: string, value: unknown): string {
  if (value === unknown) return "<unknown>";
  if (setFields.has(key) && Array.isArray(value)) return JSON.stringify(value.map((item) => JSON.stringify(sortKeys(setElement(item)))).sort());
  if (key === "capabilities" && typeof value === "object" && value !== null) {
    const caps = value as { adds?: string[]; drops?: string[] };
    return JSON.stringify({ adds: [...(caps.adds ?? [])].sort(), drops: [...(caps.drops ?? [])].sort() });
  }
  return JSON.stringify(sortKeys(value));
}

/**
 * A set element as the provider hashes it: a field left out and a field at its zero value (null,
 * "", false, 0, an empty list or object) are the same element. The Terraform SDK hashes unset
 * optional fields as their zero values (terraform-plugin-sdk v2 helper/schema/serialize.go,
 * SerializeResourceForHash: computed-only fields are skipped, a nil value writes nothing), and the
 * bridge writes every field of an element back
 * (`bindOptions: null`, `aliases: []`), with the bookkeeping key `__defaults` in its inputs.
 */
function setElement(item: unknown): unknown {
  if (typeof item !== "object" || item === null || Array.isArray(item)) return item;
  const isZero = (value: unknown) =>
    value === null ||
    value === "" ||
    value === false ||
    value === 0 ||
    (Array.isArray(value) && value.length === 0) ||
    (typeof value === "object" && value !== null && Object.keys(value).length === 0);
  return Object.fromEntries(Object.entries(item).filter(([key, value]) => key !== "__defaults" && !isZero(value)));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

/** D8 */
function diffInputs(olds: Record<string, unknown>, news: Record<string, unknown>, forceNew: (key: string) => boolean): Diff {
  const changed = Object.keys(news).filter((key) => canonical(key, olds[key]) !== canonical(key, news[key]));
  // D2: a stopped container reads back must_run false; the program's default is true.
  if (olds["mustRun"] === false && news["mustRun"] !== false) changed.push("mustRun");
  return { changed, replaces: changed.filter(forceNew) };
}

/**
 * Go's time.Duration.String() (go/src/time/time.go, Duration.String and fmtFrac): below a second the
 * largest of ns, µs, ms with the fraction's trailing zeros cut ("500ms", "1.5µs"); from a second on
 * h, m and s, hours and minutes only when non-zero before them ("1h0m0s", "2m0.5s").
 */
export function goDurationOfNanos(nanos: number): string {
  if (nanos === 0) return "0s";
  const frac = (value: number, digits: number): string => {
    const rest = String(value % 10 ** digits)
      .padStart(digits, "0")
      .replace(/0+$/, "");
    return `${Math.floor(value / 10 ** digits)}${rest === "" ? "" : `.${rest}`}`;
  };
  if (nanos < 1e3) return `${nanos}ns`;
  if (nanos < 1e6) return `${frac(nanos, 3)}µs`;
  if (nanos < 1e9) return `${frac(nanos, 6)}ms`;
  const h = Math.floor(nanos / 3600e9);
  const m = Math.floor((nanos % 3600e9) / 60e9);
  const s = `${frac(nanos % 60e9, 9)}s`;
  return h > 0 ? `${h}h${m}m${s}` : m > 0 ? `${m}m${s}` : s;
}

/** helpers.go nanoInt64ToDecimalString. */
export function nanoToDecimalString(nanos: number): string {
  if (nanos === 0) return "0";
  const nine = (nanos / 1e9).toFixed(9);
  if ([...nine].filter((c) => c === "0").length === 9) return (nanos / 1e9).toFixed(1);
  return nine.replace(/0+$/, "");
}

/** Duration strings ("10s", "1m0s", "1.5s", "500ms") to nanoseconds, as Go's time.ParseDuration reads them. */
export function nanoseconds(duration: string): number {
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g;
  let consumed = 0;
  const units = { h: 3600e9, m: 60e9, s: 1e9, ms: 1e6, us: 1e3, µs: 1e3, ns: 1 };
  for (let match = re.exec(duration); match !== null; match = re.exec(duration)) {
    total += Math.round(Number(match[1]) * units[match[2] as keyof typeof units]);
    consumed += match[0].length;
  }
  if (consumed !== duration.length || duration === "") throw new Error(`stand-in: cannot read duration ${duration}`);
  return total;
}

interface Inspect {
  Id: string;
  Name: string;
  Image: string;
  State: { Running: boolean; Status: string; Health?: { Status: string } };
  Config: {
    Image: string;
    Hostname: string;
    User: string;
    StopSignal?: string;
    StopTimeout?: number;
    Healthcheck?: { Test: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; StartInterval?: number; Retries?: number };
  };
  HostConfig: {
    ReadonlyRootfs: boolean;
    SecurityOpt: string[] | null;
    RestartPolicy: { Name: string };
    Init: boolean | null;
    CapAdd: string[] | null;
    CapDrop: string[] | null;
    Mounts?: { Type: string; Source: string; Target: string; ReadOnly?: boolean }[];
    Tmpfs?: Record<string, string>;
    Memory: number;
    MemorySwap: number;
    NanoCpus: number;
    Runtime?: string;
    LogConfig: { Type: string; Config: Record<string, string> };
  };
  NetworkSettings: { Ports: Record<string, { HostIp: string; HostPort: string }[] | null> | null };
}

/** D5: resourceDockerContainerRead, in Pulumi's input names, over the previous state. */
export function containerStateFromInspect(info: Inspect, previous: Record<string, unknown>): Record<string, unknown> {
  const state: Record<string, unknown> = { ...previous };
  state["name"] = info.Name.replace(/^\//, "");
  state["image"] = String(previous["image"] ?? "").startsWith("sha256:") ? info.Image : info.Config.Image;
  state["hostname"] = info.Config.Hostname;
  state["user"] = info.Config.User;
  state["securityOpts"] = info.HostConfig.SecurityOpt ?? [];
  state["restart"] = info.HostConfig.RestartPolicy.Name;
  state["init"] = info.HostConfig.Init ?? false;
  state["readOnly"] = info.HostConfig.ReadonlyRootfs;
  const adds = info.HostConfig.CapAdd ?? [];
  const drops = info.HostConfig.CapDrop ?? [];
  if (adds.length > 0 || drops.length > 0) state["capabilities"] = { ...(adds.length > 0 ? { adds } : {}), ...(drops.length > 0 ? { drops } : {}) };
  state["mounts"] = (info.HostConfig.Mounts ?? []).map((m) => ({ type: m.Type, source: m.Source, target: m.Target, readOnly: m.ReadOnly ?? false }));
  state["tmpfs"] = info.HostConfig.Tmpfs ?? {};
  state["memory"] = info.HostConfig.Memory / 1024 / 1024;
  state["memorySwap"] = info.HostConfig.MemorySwap > 0 ? info.HostConfig.MemorySwap / 1024 / 1024 : info.HostConfig.MemorySwap;
  if (info.HostConfig.NanoCpus > 0) state["cpus"] = nanoToDecimalString(info.HostConfig.NanoCpus);
  // resource_docker_container_funcs.go line 879: d.Set("runtime", container.HostConfig.Runtime), always (Computed).
  if (info.HostConfig.Runtime !== undefined) state["runtime"] = info.HostConfig.Runtime;
  state["logDriver"] = info.HostConfig.LogConfig.Type;
  // containerLogOptsForState (funcs.go, read): everything the daemon stores, its own defaults merged in (moby
  // daemon/logs.go mergeAndVerifyLogConfig), when the state holds a non-empty log_opts (d.GetOk); nothing otherwise.
  const sentLogOpts = previous["logOpts"];
  if (typeof sentLogOpts === "object" && sentLogOpts !== null && Object.keys(sentLogOpts).length > 0) state["logOpts"] = info.HostConfig.LogConfig.Config;
  const health = info.Config.Healthcheck;
  if (health !== undefined) {
    state["healthcheck"] = {
      tests: health.Test,
      interval: goDurationOfNanos(health.Interval ?? 0),
      timeout: goDurationOfNanos(health.Timeout ?? 0),
      startPeriod: goDurationOfNanos(health.StartPeriod ?? 0),
      startInterval: goDurationOfNanos(health.StartInterval ?? 0),
      retries: health.Retries ?? 0,
    };
  }
  state["stopSignal"] = info.Config.StopSignal ?? "";
  state["stopTimeout"] = info.Config.StopTimeout ?? 0;
  // Upstream reads the published ports when the container runs or must_run is true in state
  // (internal/provider/resource_docker_container_funcs.go, read, around line 800): a stopped
  // container publishes none, so its ports read back empty and the next plan replaces it.
  if ((info.State.Running || previous["mustRun"] !== false) && previous["ports"] !== undefined) {
    state["ports"] = Object.entries(info.NetworkSettings.Ports ?? {})
      .flatMap(([key, bindings]) => {
        const [internal, protocol] = key.split("/");
        return (bindings ?? []).map((b) => ({ internal: Number(internal), external: Number(b.HostPort), ip: b.HostIp, protocol }));
      })
      .sort((a, b) => a.internal - b.internal);
  }
  if (!info.State.Running) state["mustRun"] = false;
  return state;
}

/**
 * memory_swap as sent (funcs.go, create around line 342 and update around line 1060): MB to bytes when
 * positive, -1 (no swap limit) as is, 0 left out (d.GetOk).
 */
export function memorySwapBytes(value: unknown): number | undefined {
  if (typeof value !== "number" || value === 0) return undefined;
  return value > 0 ? value * 1024 * 1024 : value;
}

/** The Engine API body ContainerCreate receives for a docker.Container's inputs (D4: no networks yet). */
export function containerCreateBody(inputs: Record<string, unknown>): Record<string, unknown> {
  const ports = (inputs["ports"] ?? []) as { internal: number; external: number; ip: string; protocol: string }[];
  const mounts = (inputs["mounts"] ?? []) as { type: string; source: string; target: string; readOnly?: boolean }[];
  const healthcheck = inputs["healthcheck"] as Record<string, unknown> | undefined;
  const capabilities = (inputs["capabilities"] ?? {}) as { drops?: string[]; adds?: string[] };
  const labels = (inputs["labels"] ?? []) as { label: string; value: string }[];
  const known = new Set([...replaceFields, ...updateFields, "tmpfs", "init", "healthcheck", "wait", "waitTimeout", "destroyGraceSeconds", "mustRun"]);
  const unmapped = Object.keys(inputs).filter((key) => !known.has(key) || ["command", "entrypoint", "pidMode", "cpuShares"].includes(key));
  if (unmapped.length > 0) throw new Error(`stand-in: container fields not mapped: ${unmapped.join(", ")}`);
  return {
    Image: inputs["image"],
    Hostname: inputs["hostname"],
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
            Test: healthcheck["tests"],
            Interval: nanoseconds(String(healthcheck["interval"] ?? "0s")),
            Timeout: nanoseconds(String(healthcheck["timeout"] ?? "0s")),
            Retries: healthcheck["retries"],
            StartPeriod: nanoseconds(String(healthcheck["startPeriod"] ?? "0s")),
            StartInterval: nanoseconds(String(healthcheck["startInterval"] ?? "0s")),
          },
    HostConfig: {
      PortBindings: Object.fromEntries(ports.map((p) => [`${p.internal}/${p.protocol}`, [{ HostIp: p.ip, HostPort: String(p.external) }]])),
      Mounts: mounts.map((m) => ({ Type: m.type, Source: m.source, Target: m.target, ReadOnly: m.readOnly ?? false })),
      Tmpfs: inputs["tmpfs"],
      ReadonlyRootfs: inputs["readOnly"] ?? false,
      CapDrop: capabilities.drops,
      CapAdd: capabilities.adds,
      SecurityOpt: inputs["securityOpts"],
      Init: inputs["init"] ?? false,
      Memory: typeof inputs["memory"] === "number" ? inputs["memory"] * 1024 * 1024 : undefined,
      MemorySwap: memorySwapBytes(inputs["memorySwap"]),
      NanoCpus: typeof inputs["cpus"] === "string" ? Math.round(Number(inputs["cpus"]) * 1e9) : undefined,
      RestartPolicy: { Name: inputs["restart"] ?? "no" },
      // resource_docker_container_funcs.go line 257: Runtime: d.Get("runtime"), "" (the daemon's default) when unset.
      Runtime: inputs["runtime"] ?? "",
      LogConfig: inputs["logDriver"] === undefined ? undefined : { Type: inputs["logDriver"], Config: inputs["logOpts"] ?? {} },
    },
  };
}

function isNoSuch(error: unknown): boolean {
  return error instanceof DockerApiError && (error.status === 404 || /no such container/i.test(error.message));
}

export interface DockerProviderOptions {
  /** Environment of the ssh client (SSH_AUTH_SOCK). */
  readonly env: NodeJS.ProcessEnv;
  readonly progress: (line: string) => void;
  /** Every stop a delete made: seconds from SIGTERM to exit, and the exit code. */
  readonly stops: { name: string; seconds: number; exitCode: number | undefined }[];
}

export function dockerContainerProvider(options: DockerProviderOptions): ResourceProvider {
  const api = <T>(config: ProviderConfig, method: string, path: string, body?: unknown) =>
    dockerApi<T>(method, path, body, { endpoint: endpointOf(config, options.env) });
  const read = async (config: ProviderConfig, id: string, previous: Record<string, unknown>) => {
    try {
      return containerStateFromInspect(await api<Inspect>(config, "GET", `/containers/${id}/json`), previous);
    } catch (error) {
      if (isNoSuch(error)) return undefined;
      throw error;
    }
  };
  return {
    diff: (olds, news) => diffInputs(olds, news, (key) => replaceFields.has(key)),
    async create(inputs, config) {
      const name = String(inputs["name"]);
      const created = await api<{ Id: string }>(config, "POST", `/containers/create?name=${encodeURIComponent(name)}`, containerCreateBody(inputs));
      const id = created.Id;
      try {
        const networks = (inputs["networksAdvanced"] ?? []) as { name: string }[];
        if (networks.length > 0) {
          await api(config, "POST", "/networks/bridge/disconnect", { Container: id }).catch((error: unknown) => {
            if (!(error instanceof DockerApiError && /is not connected to the network bridge/.test(error.message))) throw error;
          });
          for (const network of networks) await api(config, "POST", `/networks/${encodeURIComponent(network.name)}/connect`, { Container: id });
        }
        await api(config, "POST", `/containers/${id}/start`);
        if (inputs["wait"] === true) {
          const timeout = Number(inputs["waitTimeout"] ?? 60);
          const deadline = Date.now() + timeout * 1000;
          for (;;) {
            const info = await api<Inspect>(config, "GET", `/containers/${id}/json`);
            if (info.State.Health?.Status === "healthy") break;
            if (Date.now() > deadline) throw new Error("container failed to be in healthy state");
            await new Promise((resolve) => setTimeout(resolve, 1000));
          }
        }
      } catch (error) {
        // D4: the id is set, so the engine keeps the container with an init error.
        throw new PartialCreateError(`creating ${name}: ${(error as Error).message}`, id, inputs);
      }
      return { id, outputs: (await read(config, id, inputs)) ?? inputs };
    },
    async update(id, olds, news, config) {
      const diff = diffInputs(olds, news, () => false);
      const applied = diff.changed.filter((key) => updateFields.has(key));
      if (applied.length > 0) {
        await api(config, "POST", `/containers/${id}/update`, {
          RestartPolicy: { Name: news["restart"] ?? "no" },
          Memory: typeof news["memory"] === "number" ? news["memory"] * 1024 * 1024 : undefined,
          MemorySwap: memorySwapBytes(news["memorySwap"]),
        });
      }
      if (diff.changed.includes("mustRun")) await api(config, "POST", `/containers/${id}/start`);
      // D3: no read after an update.
      const state: Record<string, unknown> = { ...olds, ...news };
      delete state["mustRun"];
      return state;
    },
    async delete(id, outputs, config) {
      const name = String(outputs["name"]);
      const grace = Number(outputs["destroyGraceSeconds"] ?? 0);
      const started = Date.now();
      try {
        const running = (await api<Inspect>(config, "GET", `/containers/${id}/json`)).State.Running;
        await api(config, "POST", `/containers/${id}/stop?t=${grace}`);
        // Only a stop of a running gateway says how it shuts down.
        if (running) {
          const stopped = await api<{ State: { ExitCode?: number } }>(config, "GET", `/containers/${id}/json`);
          options.stops.push({ name, seconds: (Date.now() - started) / 1000, exitCode: stopped.State.ExitCode });
        }
      } catch (error) {
        if (!isNoSuch(error) && !(error instanceof DockerApiError && error.status === 304)) throw error;
      }
      try {
        await api(config, "DELETE", `/containers/${id}?force=true&v=true`);
      } catch (error) {
        if (!isNoSuch(error)) throw error;
      }
    },
    read: (id, outputs, config) => read(config, id, outputs),
  };
}

interface NetworkInspect {
  Name: string;
  Driver: string;
  Labels: Record<string, string> | null;
  Options: Record<string, string> | null;
  Containers?: Record<string, unknown>;
}

export function dockerNetworkProvider(options: DockerProviderOptions): ResourceProvider {
  const api = <T>(config: ProviderConfig, method: string, path: string, body?: unknown) =>
    dockerApi<T>(method, path, body, { endpoint: endpointOf(config, options.env) });
  const read = async (config: ProviderConfig, id: string, previous: Record<string, unknown>) => {
    try {
      const info = await api<NetworkInspect>(config, "GET", `/networks/${id}`);
      return {
        ...previous,
        name: info.Name,
        driver: info.Driver,
        labels: Object.entries(info.Labels ?? {}).map(([label, value]) => ({ label, value })),
        options: info.Options ?? {},
      };
    } catch (error) {
      if (error instanceof DockerApiError && error.status === 404) return undefined;
      throw error;
    }
  };
  return {
    // D7: every input forces a new network.
    diff: (olds, news) => diffInputs(olds, news, () => true),
    async create(inputs, config) {
      const unmapped = Object.keys(inputs).filter((key) => !["name", "driver", "labels"].includes(key));
      if (unmapped.length > 0) throw new Error(`stand-in: network fields not mapped: ${unmapped.join(", ")}`);
      const labels = (inputs["labels"] ?? []) as { label: string; value: string }[];
      const created = await api<{ Id: string }>(config, "POST", "/networks/create", {
        Name: inputs["name"],
        Driver: inputs["driver"],
        Labels: Object.fromEntries(labels.map((l) => [l.label, l.value])),
      });
      return { id: created.Id, outputs: (await read(config, created.Id, inputs)) ?? inputs };
    },
    update: () => Promise.reject(new Error("stand-in: docker_network has no update")),
    async delete(id, _outputs, config) {
      const deadline = Date.now() + 30_000;
      for (;;) {
        try {
          await api(config, "DELETE", `/networks/${id}`);
          return;
        } catch (error) {
          if (error instanceof DockerApiError && error.status === 404) return;
          if (!(error instanceof DockerApiError && /active endpoints/.test(error.message)) || Date.now() > deadline) {
            if (Date.now() > deadline) throw new Error("timeout while waiting for state to become 'removed' (last state: 'pending', timeout: 30s)");
            throw error;
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    },
    read: (id, outputs, config) => read(config, id, outputs),
  };
}
