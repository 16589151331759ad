import { spawnSync } from "node:child_process";
import { request } from "node:http";
import type { Duplex } from "node:stream";
import { hostLabel } from "../../runtimes/docker/names";
import { renderEgressRemove } from "../../runtimes/docker/egress";

/** How to reach a Docker daemon: the local socket, or a connection made per request (ssh dial-stdio). */
export interface DockerEndpoint {
  readonly connect?: (() => Duplex) | undefined;
}

/** A small client for the Docker Engine API (what the docker provider talks to); the local socket by default. */
export async function dockerApi<T = unknown>(
  method: string,
  path: string,
  body?: unknown,
  options: { text?: boolean; endpoint?: DockerEndpoint } = {},
): Promise<T> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const connect = options.endpoint?.connect;
  return new Promise<T>((resolve, reject) => {
    const req = request(
      {
        ...(connect === undefined ? { socketPath: "/var/run/docker.sock" } : { createConnection: connect, host: "docker" }),
        method,
        path,
        headers: payload === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if ((res.statusCode ?? 500) >= 400) {
            reject(new DockerApiError(res.statusCode ?? 500, `${method} ${path}: ${res.statusCode} ${text.trim()}`));
            return;
          }
          resolve((options.text === true || text === "" ? text : JSON.parse(text)) as T);
        });
      },
    );
    req.on("error", reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

export class DockerApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ContainerInfo {
  Id: string;
  Name: string;
  State: { Status: string; Running: boolean; StartedAt: string; Pid: number; Health?: { Status: string; Log?: { Output: string; ExitCode: number }[] } };
  RestartCount: number;
  HostConfig: Record<string, unknown>;
  Config: Record<string, unknown>;
  NetworkSettings: { Ports: Record<string, { HostIp: string; HostPort: string }[] | null>; Networks: Record<string, unknown> };
}

export async function inspectContainer(name: string, endpoint?: DockerEndpoint): Promise<ContainerInfo | undefined> {
  try {
    return await dockerApi<ContainerInfo>("GET", `/containers/${encodeURIComponent(name)}/json`, undefined, { endpoint });
  } catch (error) {
    if (error instanceof DockerApiError && error.status === 404) return undefined;
    throw error;
  }
}

/** Runs a command in a running container and returns its output and exit code. */
export async function dockerExec(container: string, cmd: string[], env: string[] = [], endpoint?: DockerEndpoint): Promise<{ code: number; output: string }> {
  const exec = await dockerApi<{ Id: string }>(
    "POST",
    `/containers/${encodeURIComponent(container)}/exec`,
    { Cmd: cmd, Env: env, AttachStdout: true, AttachStderr: true },
    { endpoint },
  );
  const output = await dockerApi<string>("POST", `/exec/${exec.Id}/start`, { Detach: false, Tty: true }, { text: true, endpoint });
  const info = await dockerApi<{ ExitCode: number }>("GET", `/exec/${exec.Id}/json`, undefined, { endpoint });
  return { code: info.ExitCode, output };
}

/**
 * Removes what a test stack left on this machine's Docker: every container and network labelled with one of its
 * hosts (the program's host label), the containers named in `extra` (a preflight's trial container), and each
 * network's egress chain in DOCKER-USER, as the egress command's delete removes it.
 */
export async function removeHostObjects(hosts: readonly string[], extra: readonly string[] = []): Promise<void> {
  const containers = [...extra];
  const networks: string[] = [];
  // Several label values in one filter match only objects carrying all of them: one query per host.
  for (const host of hosts) {
    const filters = encodeURIComponent(JSON.stringify({ label: [`${hostLabel}=${host}`] }));
    const listed = await dockerApi<{ Names: string[] }[]>("GET", `/containers/json?all=true&filters=${filters}`);
    containers.push(...listed.map((c) => (c.Names[0] ?? "").replace(/^\//, "")));
    networks.push(...(await dockerApi<{ Name: string }[]>("GET", `/networks?filters=${filters}`)).map((n) => n.Name));
  }
  for (const name of containers) await dockerApi("DELETE", `/containers/${name}?force=true`).catch(() => undefined);
  for (const name of networks) await dockerApi("DELETE", `/networks/${name}`).catch(() => undefined);
  for (const name of networks) spawnSync("sh", ["-c", renderEgressRemove({ network: name })], { stdio: "ignore" });
}

/** A container that got SIGTERM and exited: how long it took, and its exit code. */
export interface ContainerStop {
  readonly name: string;
  readonly seconds: number;
  readonly exitCode: number;
}

/**
 * Follows this machine's Docker event stream and records every stop that began with SIGTERM (`docker stop`, a
 * provider's delete with a grace period): the seconds from the signal to the exit, and the exit code. A kill with
 * another signal (a test's SIGKILL) or an exit without a signal (an OOM) is not a stop. `ready` resolves once the
 * daemon has answered, so nothing after it is missed.
 */
export function watchStops(accept: (name: string, labels: Record<string, string>) => boolean): {
  stops: ContainerStop[];
  ready: Promise<void>;
  close: () => void;
} {
  const stops: ContainerStop[] = [];
  const signalled = new Map<string, number>();
  const filters = encodeURIComponent(JSON.stringify({ type: ["container"], event: ["kill", "die"] }));
  let buffered = "";
  const onEvent = (line: string) => {
    const event = JSON.parse(line) as { Action: string; Actor: { Attributes: Record<string, string> }; timeNano: number };
    const name = event.Actor.Attributes["name"] ?? "";
    // Docker puts the container's labels among the event's attributes.
    if (!accept(name, event.Actor.Attributes)) return;
    const at = event.timeNano / 1e9;
    if (event.Action === "kill" && ["15", "SIGTERM"].includes(event.Actor.Attributes["signal"] ?? "")) signalled.set(name, at);
    if (event.Action === "die" && signalled.has(name)) {
      stops.push({ name, seconds: at - (signalled.get(name) ?? at), exitCode: Number(event.Actor.Attributes["exitCode"]) });
      signalled.delete(name);
    }
  };
  const req = request({ socketPath: "/var/run/docker.sock", method: "GET", path: `/events?filters=${filters}` });
  const ready = new Promise<void>((resolve, reject) => {
    req.on("response", (res) => {
      resolve();
      // close() ends the stream on purpose.
      res.on("error", () => undefined);
      res.on("data", (chunk: Buffer) => {
        buffered += chunk.toString("utf8");
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        for (const line of lines) if (line.trim() !== "") onEvent(line);
      });
    });
    req.on("error", reject);
  });
  req.end();
  return { stops, ready, close: () => req.destroy() };
}
