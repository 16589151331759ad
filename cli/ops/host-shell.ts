import { spawn, type ChildProcess } from "node:child_process";
import { shellQuote, sshPinOptions } from "../../runtimes/shell";
import type { CommandResult } from "../../runtimes/ops";
import type { Host } from "../../declaration/schema";
import { opsOf } from "../runtime";
import { OpsError } from "./errors";

export type { CommandResult };

export interface RunOptions {
  /** Run as root: through `sudo -n` unless the user (local, or the SSH user) is root already. */
  readonly root?: boolean;
  /** Bytes for the command's standard input. */
  readonly stdin?: string | Buffer;
  /** Seconds the command may take before it is stopped and the host counts as not answering (default 120). */
  readonly timeoutSeconds?: number;
  /** Called with each complete line of standard error as it arrives; the result still holds all of it. */
  readonly onStderrLine?: (line: string) => void;
}

/**
 * Seconds a host command may take unless it says otherwise: a host that accepts SSH and then
 * hangs must not hold a verb for ever. CLAWFLEET_HOST_TIMEOUT_SECONDS sets another bound.
 */
export function defaultHostTimeoutSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const set = Number(env["CLAWFLEET_HOST_TIMEOUT_SECONDS"]);
  return Number.isInteger(set) && set > 0 ? set : 120;
}

/**
 * Every process the CLI started that still runs. Each runs in a process group of its own, so
 * that it and what it started (ssh, docker's client) end with the CLI: on a signal, a closed
 * pipe or a bound, the whole group is stopped.
 */
const liveChildren = new Set<ChildProcess>();

function stopGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

/** Stops every process the CLI started (their whole process groups), as the CLI ends. */
export function stopChildren(signal: NodeJS.Signals = "SIGTERM"): void {
  for (const child of liveChildren) stopGroup(child, signal);
}

function track(child: ChildProcess): ChildProcess {
  liveChildren.add(child);
  child.on("close", () => liveChildren.delete(child));
  return child;
}

export interface StreamOptions extends RunOptions {
  /** Called with each complete line of standard output, without its newline. */
  readonly onStdout: (line: string) => void;
  readonly onStderr: (line: string) => void;
}

/**
 * Runs commands on a gateway host the way the program reaches it: this machine directly, an
 * SSH host with the system `ssh` client, its declared host key pinned and no prompts.
 */
export interface HostRunner {
  run(host: Host, argv: readonly string[], options?: RunOptions): Promise<CommandResult>;
  /** Runs a long command (logs --follow, the gateway's CLI), handing over its output line by line. Resolves to the exit code. */
  stream(host: Host, argv: readonly string[], options: StreamOptions): Promise<number>;
}

/** Seconds `ssh` waits for a host before giving up, so a host that is down fails fast. */
export const sshConnectTimeoutSeconds = 10;

/** How a host is named in messages: `local` or `gw2 (deploy@gw2.example.ts.net:22)`. */
export function describeHost(host: Host): string {
  return host.ssh === undefined ? host.id : `${host.id} (${host.ssh.user}@${host.ssh.host}:${host.ssh.port})`;
}

/**
 * The process to start for `argv` on `host`: the argv itself here, or `ssh` with the pinned
 * host key, BatchMode and a connect timeout, the remote command quoted word by word.
 * `localUid` is the uid of this process (root needs no sudo).
 */
export function commandLine(host: Host, argv: readonly string[], options: { root?: boolean; localUid: number }): string[] {
  const ssh = host.ssh;
  const asRoot = options.root === true && (ssh === undefined ? options.localUid !== 0 : ssh.user !== "root");
  const command = asRoot ? ["sudo", "-n", ...argv] : [...argv];
  if (ssh === undefined) return command;
  return [
    "ssh",
    "-o",
    "BatchMode=yes",
    "-o",
    `ConnectTimeout=${sshConnectTimeoutSeconds}`,
    ...sshPinOptions(ssh),
    "-p",
    String(ssh.port),
    `${ssh.user}@${ssh.host}`,
    "--",
    command.map(shellQuote).join(" "),
  ];
}

/** OpenSSH exits 255 when it cannot connect or authenticate; the remote command's own codes pass through. */
const sshFailureCode = 255;

/** Turns a failure to reach the host or its runtime (not a failure of the command) into the error users read. */
export function unreachableError(host: Host, result: CommandResult): OpsError | undefined {
  if (result.timedOutSeconds !== undefined) {
    const check =
      host.kubernetes !== undefined
        ? `check that its Kubernetes API server answers (kubectl --namespace=${host.kubernetes.namespace} get pods)`
        : host.ssh === undefined
          ? "check its Docker daemon (docker info)"
          : `check that it is up and that ssh -p ${host.ssh.port} ${host.ssh.user}@${host.ssh.host} true answers`;
    return new OpsError(`host ${describeHost(host)} did not answer within ${result.timedOutSeconds} s; ${check}`);
  }
  if (host.ssh !== undefined && result.code === sshFailureCode) {
    const reason = result.stderr.trim().split("\n").filter(Boolean).pop() ?? "ssh failed";
    return new OpsError(
      `host ${describeHost(host)} is unreachable: ${reason}; check that it is up and that ssh -p ${host.ssh.port} ${host.ssh.user}@${host.ssh.host} works with your key in ssh-agent`,
    );
  }
  const runtimeFailure = opsOf(host).hostFailure(result);
  if (runtimeFailure !== undefined) return new OpsError(`host ${describeHost(host)}: ${runtimeFailure}`);
  if (/sudo: a password is required|sudo: a terminal is required/.test(result.stderr)) {
    const user = host.ssh?.user ?? "this user";
    return new OpsError(`host ${describeHost(host)}: this needs root, and ${user} has no password-less sudo; run it as root or allow sudo -n`);
  }
  return undefined;
}

/** Splits a byte stream into lines; the last partial line is kept until more arrives or the stream ends. */
export function lineSplitter(onLine: (line: string) => void): { push(chunk: Buffer | string): void; end(): void } {
  let rest = "";
  return {
    push(chunk) {
      rest += chunk.toString();
      const lines = rest.split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) onLine(line);
    },
    end() {
      if (rest !== "") onLine(rest);
      rest = "";
    },
  };
}

/** The runner that starts real processes (`sh`-free: argv goes straight to spawn, or to ssh quoted). */
export const processRunner: HostRunner = {
  run(host, argv, options = {}) {
    const [program, ...args] = commandLine(host, argv, { root: options.root, localUid: process.getuid?.() ?? 0 });
    const bound = options.timeoutSeconds ?? defaultHostTimeoutSeconds();
    return new Promise((resolve, reject) => {
      const child = spawn(program as string, args, { stdio: ["pipe", "pipe", "pipe"], detached: true });
      track(child);
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        stopGroup(child, "SIGTERM");
        setTimeout(() => stopGroup(child, "SIGKILL"), 5000).unref();
      }, bound * 1000);
      const live = options.onStderrLine === undefined ? undefined : lineSplitter(options.onStderrLine);
      child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
      child.stderr.on("data", (chunk: Buffer) => {
        err.push(chunk);
        live?.push(chunk);
      });
      child.on("error", (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(error.code === "ENOENT" ? new OpsError(`${program} is not installed on this machine`) : error);
      });
      child.on("close", (code) => {
        clearTimeout(timer);
        live?.end();
        resolve({
          code: code ?? 1,
          stdout: Buffer.concat(out).toString(),
          stderr: Buffer.concat(err).toString(),
          ...(timedOut ? { timedOutSeconds: bound } : {}),
        });
      });
      child.stdin.on("error", () => undefined);
      child.stdin.end(options.stdin ?? "");
    });
  },
  stream(host, argv, options) {
    const [program, ...args] = commandLine(host, argv, { root: options.root, localUid: process.getuid?.() ?? 0 });
    return new Promise((resolve, reject) => {
      const child = spawn(program as string, args, { stdio: ["pipe", "pipe", "pipe"], detached: true });
      track(child);
      const out = lineSplitter(options.onStdout);
      const err = lineSplitter(options.onStderr);
      child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
      child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
      child.on("error", (error: NodeJS.ErrnoException) =>
        reject(error.code === "ENOENT" ? new OpsError(`${program} is not installed on this machine`) : error),
      );
      child.on("close", (code) => {
        out.end();
        err.end();
        resolve(code ?? 1);
      });
      child.stdin.on("error", () => undefined);
      child.stdin.end(options.stdin ?? "");
    });
  },
};

/**
 * Shows a command's standard error as it comes, each line once the next arrives: the last line of a command that fails
 * is its reason, which the caller says once, as the error. Give `onStderrLine` to the runner; once the command ended,
 * `rest` shows what was not shown yet and returns the reason (the last line) when it failed.
 */
export function liveStderr(show: (line: string) => void): {
  readonly onStderrLine: (line: string) => void;
  rest(stderr: string, failed: boolean): string | undefined;
} {
  let shown = 0;
  let held: string | undefined;
  return {
    onStderrLine(line) {
      if (line.trim() === "") return;
      if (held !== undefined) {
        show(held);
        shown++;
      }
      held = line.trim();
    },
    rest(stderr, failed) {
      const said = stderr
        .split("\n")
        .map((line) => line.trim())
        .filter((line) => line !== "");
      for (const line of failed ? said.slice(shown, -1) : said.slice(shown)) show(line);
      return failed ? said.at(-1) : undefined;
    },
  };
}

/**
 * Prints `what` with the elapsed time every `everySeconds` while `work` runs, so a long
 * step never looks hung; nothing is printed when it finishes before the first tick.
 */
export async function withProgress<T>(err: (text: string) => void, what: string, work: Promise<T>, everySeconds = 5): Promise<T> {
  const started = Date.now();
  const timer = setInterval(() => err(`clawfleet: ${what} (${Math.round((Date.now() - started) / 1000)} s)`), everySeconds * 1000);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}
