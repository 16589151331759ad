import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mockRandomValue } from "../../../cli/mock-run";
import { unknown, type Diff, type ResourceProvider } from "./engine";

/*
 * A stand-in for @pulumi/command 1.2.1 (pulumi/pulumi-command, provider/pkg/provider/local and
 * remote, on pulumi-go-provider infer) and @pulumi/random's RandomPassword. Rules:
 *
 * C1 Only `triggers` forces a replacement (create-first); any other input change is an
 *    update, which runs `update` when given and `create` otherwise (commandController Update).
 *    The diff compares old INPUTS with new inputs (infer's default diff).
 * C2 `delete` runs with the inputs in state (the old script and connection) on delete and
 *    for the old copy of a replacement.
 * C3 A failed create leaves nothing in state (the provider returns a plain error); a failed
 *    update keeps the old state. The error reads `<err>: running "<cmd>":\n<output>`.
 * C4 local.Command runs `interpreter` (default /bin/sh -c) with the provider's environment
 *    and stdin when it is not empty.
 * C5 remote.Command runs the command as an SSH exec request (the login user's shell runs
 *    it), stdin when not empty; `connection.hostKey` pins the key (ssh.FixedHostKey), and
 *    without it any key is accepted; without privateKey the agent at SSH_AUTH_SOCK is used.
 *    The system ssh client stands in for the Go client here.
 * C6 stdout and stderr are outputs; read returns the state as it is.
 * R1 RandomPassword: every input forces a new value; the value is the one the mock run put
 *    into other resources' inputs, so both agree.
 */

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function run(argv: string[], stdin: string | undefined, env: NodeJS.ProcessEnv): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const [file, ...args] = argv as [string, ...string[]];
    const child = spawn(file, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.on("error", () => undefined);
    child.stdin.end(stdin === undefined || stdin === "" ? undefined : stdin);
  });
}

const commandInputs = [
  "create",
  "update",
  "delete",
  "stdin",
  "triggers",
  "interpreter",
  "environment",
  "connection",
  "addPreviousOutputInEnv",
  "dir",
  "logging",
];

/** C1: old inputs against new inputs. */
function diffCommand(olds: Record<string, unknown>, news: Record<string, unknown>): Diff {
  const changed = commandInputs.filter((key) => news[key] === unknown || JSON.stringify(olds[key]) !== JSON.stringify(news[key]));
  return { changed, replaces: changed.filter((key) => key === "triggers") };
}

interface Connection {
  host: string;
  user?: string;
  port?: number;
  hostKey?: string;
  privateKey?: string;
}

/** The argv that runs `script` for a command resource: locally (C4) or over SSH (C5). */
async function execute(inputs: Record<string, unknown>, script: string, env: NodeJS.ProcessEnv, remote: boolean): Promise<CommandResult> {
  const stdin = typeof inputs["stdin"] === "string" ? inputs["stdin"] : undefined;
  const environment = { ...env, ...((inputs["environment"] ?? {}) as Record<string, string>) };
  if (!remote) {
    const interpreter = (inputs["interpreter"] as string[] | undefined) ?? ["/bin/sh", "-c"];
    return run([...interpreter, script], stdin, environment);
  }
  const connection = inputs["connection"] as Connection;
  const port = connection.port ?? 22;
  const dir = mkdtempSync(join(tmpdir(), "clawfleet-standin-ssh-"));
  try {
    const options = ["-o", "BatchMode=yes", "-o", "GlobalKnownHostsFile=/dev/null"];
    if (connection.hostKey === undefined) {
      options.push("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null");
    } else {
      const knownHosts = join(dir, "known_hosts");
      writeFileSync(knownHosts, `${port === 22 ? connection.host : `[${connection.host}]:${port}`} ${connection.hostKey}\n`);
      options.push("-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${knownHosts}`);
    }
    if (connection.privateKey !== undefined) {
      const key = join(dir, "key");
      writeFileSync(key, connection.privateKey.endsWith("\n") ? connection.privateKey : `${connection.privateKey}\n`, { mode: 0o600 });
      options.push("-o", "IdentitiesOnly=yes", "-i", key);
    }
    return await run(["ssh", ...options, "-p", String(port), "-l", connection.user ?? "root", "--", connection.host, script], stdin, environment);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function commandProvider(env: NodeJS.ProcessEnv, remote: boolean, progress: (line: string) => void): ResourceProvider {
  const runScript = async (inputs: Record<string, unknown>, script: string): Promise<Record<string, unknown>> => {
    const result = await execute(inputs, script, env, remote);
    for (const line of result.stderr.split("\n").filter((l) => l.startsWith("clawfleet:"))) progress(line);
    // C3
    if (result.code !== 0) throw new Error(`exit status ${result.code}: running ${JSON.stringify(script.slice(0, 80))}:\n${result.stdout}${result.stderr}`);
    return { ...inputs, stdout: result.stdout.replace(/\n$/, ""), stderr: result.stderr.replace(/\n$/, "") };
  };
  return {
    diff: diffCommand,
    async create(inputs) {
      return { id: `command-${Math.random().toString(36).slice(2)}`, outputs: await runScript(inputs, String(inputs["create"])) };
    },
    update(_id, _olds, news) {
      return runScript(news, String(news["update"] ?? news["create"]));
    },
    async delete(_id, outputs) {
      if (typeof outputs["delete"] === "string") await runScript(outputs, outputs["delete"]);
    },
    read: (_id, outputs) => Promise.resolve(outputs),
  };
}

/**
 * What terraform-provider-random's random_password holds for an argument left out (its schema's defaults,
 * internal/provider/resource_password.go at e1092b0cfc07: special, upper, lower and numeric `booldefault.StaticBool(true)`,
 * min_* `int64default.StaticInt64(0)`, override_special none): the real provider's state has every one of them, the
 * program sends only what it sets. A missing override_special and an empty one compare alike.
 */
const passwordDefaults: Record<string, unknown> = {
  special: true,
  upper: true,
  lower: true,
  numeric: true,
  minSpecial: 0,
  overrideSpecial: "",
  keepers: {},
};

export function randomPasswordProvider(stack: string): ResourceProvider {
  return {
    diff(olds, news) {
      const keys = ["length", "special", "keepers", "upper", "lower", "numeric", "minSpecial", "overrideSpecial"];
      const value = (bag: Record<string, unknown>, key: string) => JSON.stringify(bag[key] ?? passwordDefaults[key]);
      // Every argument of random_password forces a new password (RequiresReplace in its schema).
      const changed = keys.filter((key) => value(olds, key) !== value(news, key));
      return { changed, replaces: changed };
    },
    create(inputs, _config, urn) {
      const name = urn.slice(urn.lastIndexOf("::") + 2);
      return Promise.resolve({ id: "none", outputs: { ...inputs, result: mockRandomValue(stack, name, inputs) } });
    },
    update: (_id, olds, news) => Promise.resolve({ ...olds, ...news }),
    delete: () => Promise.resolve(),
    read: (_id, outputs) => Promise.resolve(outputs),
  };
}

/** Runs a script with /bin/sh, as local.Command does by default. */
export function runShell(script: string, stdin: string | undefined, env: NodeJS.ProcessEnv): Promise<CommandResult> {
  return run(["/bin/sh", "-c", script], stdin, env);
}
