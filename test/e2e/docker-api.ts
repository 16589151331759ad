import { request } from "node:http";
import type { Duplex } from "node:stream";

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
