import { spawn } from "node:child_process";
import { join } from "node:path";

/** What a process printed and how it ended. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs this Node with `args` as a process of its own (a command of this repository, as users run it), collecting what
 * it prints; asynchronous, so a fake server in the test's process keeps answering meanwhile.
 */
export function runNode(args: readonly string[], options: { readonly env: NodeJS.ProcessEnv; readonly cwd?: string }): Promise<CliResult> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, args, { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", fail);
    child.on("close", (code) => done({ code: code ?? 1, stdout, stderr }));
  });
}

/** Runs `clawfleet <args>` as users do (bin/clawfleet.js of the repository at `repo`). */
export function runClawfleet(repo: string, args: readonly string[], options: { readonly env: NodeJS.ProcessEnv; readonly cwd?: string }): Promise<CliResult> {
  return runNode([join(repo, "bin", "clawfleet.js"), ...args], options);
}
