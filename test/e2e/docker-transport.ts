import { spawn } from "node:child_process";
import { request } from "node:http";
import { Duplex } from "node:stream";

/*
 * Reaches a remote Docker daemon the way the docker provider's `host: ssh://user@host:port` does:
 * the system ssh runs `docker system dial-stdio` on the host, whose stdin/stdout is the daemon's socket.
 */

export interface SshTarget {
  user: string;
  address: string;
  port: number;
}

/** Joins a child's stdout (what we read) and stdin (what we write) into one stream. */
class ChildStdio extends Duplex {
  constructor(
    private readonly child: ReturnType<typeof spawn>,
    private readonly stderr: () => string,
  ) {
    super();
    const stdout = child.stdout;
    const stdin = child.stdin;
    if (stdout === null || stdin === null) throw new Error("ssh was spawned without pipes");
    stdout.on("data", (chunk: Buffer) => {
      if (!this.push(chunk)) stdout.pause();
    });
    stdout.on("end", () => this.push(null));
    stdin.on("error", (error) => this.destroy(error));
    child.on("error", (error) => this.destroy(error));
    child.on("exit", (code, signal) => {
      // A non-zero exit before any answer is a connection failure; say what ssh said.
      if (code !== 0 && signal === null && !this.destroyed) this.destroy(new Error(`ssh exited with ${code}: ${this.stderr().trim()}`));
    });
  }

  override _read(): void {
    this.child.stdout?.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.child.stdin?.write(chunk, encoding, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.child.stdin?.end(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    callback(error);
  }
}

/**
 * Returns a `createConnection` for `http.request` that opens one ssh per connection running
 * `docker system dial-stdio` on the target. `sshOptions` should pin the host key (see ssh-host.ts).
 */
export function sshDialStdio(target: SshTarget, sshOptions: readonly string[], env: NodeJS.ProcessEnv = process.env): () => Duplex {
  return () => {
    const child = spawn("ssh", [...sshOptions, "-T", "-p", String(target.port), `${target.user}@${target.address}`, "--", "docker", "system", "dial-stdio"], {
      env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    return new ChildStdio(child, () => stderr);
  };
}

/** One Docker Engine API call over `connect`, for checks; a JSON body is parsed, any other is returned as text. */
export function dockerRequestOverSsh<T = unknown>(connect: () => Duplex, method: string, path: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const req = request({ createConnection: connect, method, path, host: "docker", headers: { connection: "close" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        if ((res.statusCode ?? 500) >= 400) reject(new Error(`${method} ${path}: ${res.statusCode} ${text.trim()}`));
        else resolve((res.headers["content-type"]?.startsWith("application/json") === true ? JSON.parse(text) : text) as T);
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}
