import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { shellQuote } from "../../../runtimes/shell";
import type { Op, StepEvent } from "../standin/engine";

/*
 * Deploys the program through the real Pulumi CLI and engine (built by scripts/install-pulumi.sh),
 * with the real plugins it is given and the provider stand-ins served as provider plugins for the
 * others (./provider-plugin.ts), the same shape as
 * ../standin/deployer.ts: `deploy()` returns the steps of the apply, and every apply is followed by
 * the check Pulumi's own integration tests make (ProgramTest: a preview that plans nothing, then a
 * refresh that finds nothing), here with Pulumi's own commands: `pulumi preview --expect-no-changes`
 * and `pulumi refresh --expect-no-changes`. A refresh that reads every resource back unchanged leaves
 * the state as it was, so a preview after it would repeat the first one.
 *
 * Everything is the test's own: a project directory whose Pulumi.yaml runs the repository, a
 * PULUMI_HOME holding the plugin launchers, a file:// backend and a passphrase secrets provider.
 */

/** The plugins the SDK packages ask for, each served by provider-plugin.ts unless a real one is given. */
const pluginPackages = ["docker", "command", "random"] as const;

/** One engine event of a step, as `--event-log` writes it (sdk/go/common/apitype/events.go). */
export interface EngineStep {
  readonly kind: "pre" | "outputs" | "failed";
  readonly op: string;
  readonly urn: string;
  readonly name: string;
  readonly type: string;
  readonly diffs: string[];
  /** old.retainOnDelete: a delete that only drops the resource from state. */
  readonly retained: boolean;
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
}

export interface Timing {
  readonly command: string;
  readonly seconds: number;
}

const replacementOps = new Set(["replace", "create-replacement", "delete-replaced"]);

/** The engine's ops folded into the stand-in's: one step per resource, a replacement's three ops as "replace". */
export function stepsOf(events: readonly EngineStep[]): StepEvent[] {
  const byUrn = new Map<string, EngineStep[]>();
  for (const event of events) {
    if (event.kind === "failed") continue;
    byUrn.set(event.urn, [...(byUrn.get(event.urn) ?? []), event]);
  }
  const steps: StepEvent[] = [];
  for (const [urn, list] of byUrn) {
    const first = list[0] as EngineStep;
    const ops = new Set(list.map((e) => e.op));
    const changed = [...new Set(list.flatMap((e) => e.diffs))];
    let op: Op;
    if ([...ops].some((o) => replacementOps.has(o))) op = "replace";
    else if (ops.has("delete")) op = list.some((e) => e.retained) ? "retain" : "delete";
    else if (ops.has("create")) op = "create";
    else if (ops.has("update")) op = "update";
    else if (ops.has("same")) op = "same";
    else continue; // refresh and read steps are not program steps
    steps.push({ urn, name: first.name, type: first.type, op, changed: op === "same" ? [] : changed });
  }
  return steps;
}

/** Reads an `--event-log` file. */
export function readEventLog(file: string): EngineStep[] {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  const steps: EngineStep[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const event = JSON.parse(line) as Record<string, { metadata?: StepMetadata } | undefined>;
    for (const [key, kind] of [
      ["resourcePreEvent", "pre"],
      ["resOutputsEvent", "outputs"],
      ["resOpFailedEvent", "failed"],
    ] as const) {
      const metadata = event[key]?.metadata;
      if (metadata === undefined) continue;
      steps.push({
        kind,
        op: metadata.op,
        urn: metadata.urn,
        name: metadata.urn.slice(metadata.urn.lastIndexOf("::") + 2),
        type: metadata.type,
        diffs: metadata.diffs ?? [],
        retained: metadata.old?.retainOnDelete === true,
      });
    }
  }
  return steps;
}

interface StepMetadata {
  op: string;
  urn: string;
  type: string;
  diffs?: string[];
  old?: { retainOnDelete?: boolean } | null;
}

/** Error diagnostics of a run, from its event log: what a failed command says. */
function errorsIn(file: string): string[] {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((line) => line.includes('"diagnosticEvent"'))
    .map((line) => (JSON.parse(line) as { diagnosticEvent: { severity: string; message: string; urn?: string } }).diagnosticEvent)
    .filter((d) => d.severity === "error")
    .map((d) => `${d.urn === undefined ? "" : `${d.urn.slice(d.urn.lastIndexOf("::") + 2)}: `}${d.message.trim()}`);
}

/**
 * PULUMI_* of the tools scripts/install-pulumi.sh built (the CLI and the Node.js language host), and in PATH only the
 * folders it puts first; fails with one line naming the script when they are not installed.
 */
export function pulumiTools(repo: string): Promise<NodeJS.ProcessEnv> {
  const script = join(repo, "scripts", "install-pulumi.sh");
  // The folders the script puts first: PATH after its lines, less PATH before them.
  const shell = `before=$PATH; out=$(bash ${shellQuote(script)} --print-env --only cli,nodejs) || exit 3; eval "$out"; pulumi version >/dev/null || exit 4; PATH=\${PATH%":$before"} exec ${shellQuote(process.execPath)} -e 'process.stdout.write(JSON.stringify(process.env))'`;
  return new Promise((resolve, reject) => {
    execFile("bash", ["-c", shell], { encoding: "utf8" }, (error, stdout, stderr) => {
      if (error !== null) {
        const said = stderr.trim().split("\n").pop() ?? "";
        reject(
          new Error(
            `the real Pulumi CLI and Node.js language host are not installed: run \`bash scripts/install-pulumi.sh --only cli,nodejs\` (it says: ${said})`,
          ),
        );
        return;
      }
      const env = JSON.parse(stdout) as NodeJS.ProcessEnv;
      resolve(Object.fromEntries(Object.entries(env).filter(([key]) => key === "PATH" || key.startsWith("PULUMI_"))));
    });
  });
}

/**
 * The real plugins scripts/install-pulumi.sh built: docker and random, each the upstream Terraform provider behind the
 * Terraform bridge with a mapping of ours onto the SDK package's names (scripts/pulumi-resource-<name>). Fails with
 * one line naming the script when they are not installed. command has no real plugin here (the proxy refuses it).
 */
export function realPlugins(repo: string): Promise<{ docker: string; random: string }> {
  const script = join(repo, "scripts", "install-pulumi.sh");
  const [docker, random] = ["docker", "random"].map((pkg) => `"$PULUMI_HOME/plugins/resource-${pkg}-v${pluginVersion(repo, pkg)}/pulumi-resource-${pkg}"`);
  const shell = `out=$(bash ${shellQuote(script)} --print-env --only docker,random) || exit 3; eval "$out"; printf '%s\\n' ${docker} ${random}`;
  return new Promise((resolve, reject) => {
    execFile("bash", ["-c", shell], { encoding: "utf8" }, (error, stdout, stderr) => {
      if (error !== null) {
        const said = stderr.trim().split("\n").pop() ?? "";
        reject(
          new Error(`the docker and random provider plugins are not installed: run \`bash scripts/install-pulumi.sh --only docker,random\` (it says: ${said})`),
        );
        return;
      }
      const [dockerPath = "", randomPath = ""] = stdout.trim().split("\n");
      resolve({ docker: dockerPath, random: randomPath });
    });
  });
}

/**
 * The real Kubernetes plugin scripts/install-k8s-tools.sh built, for the @pulumi/kubernetes version the program uses;
 * fails with one line naming the script when it is not installed.
 */
export function kubernetesPlugin(repo: string): Promise<string> {
  const script = join(repo, "scripts", "install-k8s-tools.sh");
  const shell = `out=$(bash ${shellQuote(script)} --print-env --only kubernetes-plugin) || exit 3; eval "$out"; p="$PULUMI_HOME/plugins/resource-kubernetes-v${pluginVersion(repo, "kubernetes")}/pulumi-resource-kubernetes"; test -x "$p" || exit 4; printf '%s\n' "$p"`;
  return new Promise((resolve, reject) => {
    execFile("bash", ["-c", shell], { encoding: "utf8" }, (error, stdout, stderr) => {
      if (error !== null) {
        const said = stderr.trim().split("\n").pop() ?? "";
        reject(
          new Error(`the Kubernetes provider plugin is not installed: run \`bash scripts/install-k8s-tools.sh --only kubernetes-plugin\` (it says: ${said})`),
        );
        return;
      }
      resolve(stdout.trim());
    });
  });
}

/** The plugin version an SDK package asks the engine for. */
function pluginVersion(repo: string, pkg: string): string {
  const manifest = JSON.parse(readFileSync(join(repo, "node_modules", "@pulumi", pkg, "package.json"), "utf8")) as { pulumi: { version: string } };
  return manifest.pulumi.version;
}

export interface EngineDeployerOptions {
  readonly repo: string;
  /** The test's work directory; the project, PULUMI_HOME and backend go under it. */
  readonly work: string;
  readonly stack: string;
  /** Environment of the CLI, and through it of the program and the plugins. */
  readonly env: NodeJS.ProcessEnv;
  readonly progress: (line: string) => void;
  /** Real plugins by package (a path to the binary); the others are the stand-ins. */
  readonly plugins?: Partial<Record<(typeof pluginPackages)[number], string>>;
  /** The real Kubernetes plugin, for a stack with Kubernetes hosts (it has no stand-in). */
  readonly kubernetesPlugin?: string | undefined;
}

export class EngineDeployer {
  readonly project: string;
  readonly home: string;
  readonly backend: string;
  readonly stackFile: string;
  /** Every pulumi command run, with its wall time. */
  readonly timings: Timing[] = [];
  /** The engine events of the last `up` or `destroy`. */
  lastEvents: EngineStep[] = [];
  private readonly env: NodeJS.ProcessEnv;
  private salt = "";
  private runs = 0;

  private constructor(
    private readonly options: EngineDeployerOptions,
    tools: NodeJS.ProcessEnv,
  ) {
    this.project = join(options.work, "project");
    this.home = join(options.work, "pulumi-home");
    this.backend = join(options.work, "backend");
    this.stackFile = join(this.project, `Pulumi.${options.stack}.yaml`);
    const env: NodeJS.ProcessEnv = {
      ...options.env,
      ...tools,
      // The tools first, then what the test gives the program and the plugins (a tailscale of its own, say).
      PATH: `${tools["PATH"] ?? ""}:${options.env["PATH"] ?? process.env["PATH"] ?? ""}`,
      PULUMI_HOME: this.home,
      PULUMI_CONFIG_PASSPHRASE: "clawfleet engine e2e",
      // --event-log is offered only with this set (pkg/cmd/pulumi/operations/up.go).
      PULUMI_DEBUG_COMMANDS: "true",
      // The language host built from sdk v3.68.0 ignores Pulumi.yaml's runtime options and always
      // registers the SDK's ts-node (with this repository's TypeScript); type checking is `npm run lint`'s job.
      PULUMI_NODEJS_TRANSPILE_ONLY: "true",
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    };
    delete env["NODE_OPTIONS"];
    this.env = env;
  }

  /**
   * The deployer every e2e suite uses: the real CLI and engine with the real docker and random plugins (command is the
   * stand-in, served as a plugin: the proxy refuses its module).
   */
  static async real(options: Omit<EngineDeployerOptions, "plugins">): Promise<EngineDeployer> {
    options.progress("setting up the real Pulumi CLI with the real docker and random providers and the command stand-in as a plugin");
    return EngineDeployer.create({ ...options, plugins: await realPlugins(options.repo) });
  }

  /** The project, the plugin launchers, `pulumi login file://...` and `pulumi stack init`. */
  static async create(options: EngineDeployerOptions): Promise<EngineDeployer> {
    const deployer = new EngineDeployer(options, await pulumiTools(options.repo));
    await deployer.setUp();
    return deployer;
  }

  private async setUp(): Promise<void> {
    const { repo, stack } = this.options;
    for (const dir of [this.project, this.home, this.backend]) mkdirSync(dir, { recursive: true });
    writeFileSync(join(this.project, "Pulumi.yaml"), `name: clawfleet\nruntime: nodejs\nmain: ${relative(this.project, repo)}\n`);
    symlinkSync(join(repo, "node_modules"), join(this.project, "node_modules"));
    for (const pkg of pluginPackages) {
      const version = pluginVersion(repo, pkg);
      const dir = join(this.home, "plugins", `resource-${pkg}-v${version}`);
      mkdirSync(dir, { recursive: true });
      const launcher = join(dir, `pulumi-resource-${pkg}`);
      const real = this.options.plugins?.[pkg];
      if (real !== undefined) {
        symlinkSync(real, launcher);
        continue;
      }
      const argv = [process.execPath, "--require", join(repo, "test", "register.cjs"), join(repo, "test", "e2e", "engine", "provider-plugin.ts"), pkg, version];
      writeFileSync(
        launcher,
        `#!/bin/sh\n# The ${pkg} provider stand-in as a plugin for the real engine.\nNODE_OPTIONS= exec ${argv.map(shellQuote).join(" ")} "$@"\n`,
      );
      chmodSync(launcher, 0o755);
    }
    if (this.options.kubernetesPlugin !== undefined) {
      const dir = join(this.home, "plugins", `resource-kubernetes-v${pluginVersion(repo, "kubernetes")}`);
      mkdirSync(dir, { recursive: true });
      symlinkSync(this.options.kubernetesPlugin, join(dir, "pulumi-resource-kubernetes"));
    }
    await this.pulumi(["login", `file://${this.backend}`]);
    await this.pulumi(["stack", "init", stack, "--secrets-provider", "passphrase"]);
    const salt = /^encryptionsalt: .*$/m.exec(readFileSync(this.stackFile, "utf8"));
    assert.ok(salt, `pulumi stack init wrote no encryptionsalt to ${this.stackFile}`);
    this.salt = salt[0];
  }

  /**
   * What a user's shell has for this stack: the tools on PATH, the PULUMI_HOME that is logged in to the backend and the
   * passphrase (for the CLI's own `pulumi config get`).
   */
  get pulumiEnv(): NodeJS.ProcessEnv {
    const { PATH, PULUMI_HOME, PULUMI_CONFIG_PASSPHRASE, PULUMI_SKIP_UPDATE_CHECK } = this.env;
    return { PATH, PULUMI_HOME, PULUMI_CONFIG_PASSPHRASE, PULUMI_SKIP_UPDATE_CHECK };
  }

  /** Runs pulumi in the project directory; fails unless it exits 0 (or `allowFailure`). */
  async pulumi(args: string[], allowFailure = false, stdin?: string): Promise<RunResult> {
    const started = Date.now();
    const result = await new Promise<RunResult>((resolve, reject) => {
      const end = args.includes("--") ? args.indexOf("--") : args.length;
      const argv = [...args.slice(0, end), "--non-interactive", "--color", "never", ...args.slice(end)];
      const child = spawn("pulumi", argv, { cwd: this.project, env: this.env, stdio: ["pipe", "pipe", "pipe"] });
      child.stdin.end(stdin);
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr, seconds: (Date.now() - started) / 1000 }));
    });
    this.timings.push({ command: `pulumi ${args.filter((a) => !a.startsWith("/")).join(" ")}`, seconds: result.seconds });
    if (result.code !== 0 && !allowFailure) {
      throw new Error(`pulumi ${args.join(" ")} exited ${result.code}:\n${(result.stdout + result.stderr).trim().split("\n").slice(-30).join("\n")}`);
    }
    return result;
  }

  /** Writes the stack file: the salt pulumi wrote, then the test's `config:` block. */
  configure(config: string): void {
    writeFileSync(this.stackFile, `${this.salt}\n${config}`);
  }

  /** A `secure:` ciphertext of `value` for this stack, made by `pulumi config set --secret`. */
  async encrypt(value: string): Promise<string> {
    const before = readFileSync(this.stackFile, "utf8");
    try {
      // From stdin, so the value is in no argument list.
      await this.pulumi(["config", "set", "--secret", "clawfleet:cipherScratch"], false, value);
      const secure = /clawfleet:cipherScratch:\s*\n?\s*secure: (\S+)/.exec(readFileSync(this.stackFile, "utf8"));
      assert.ok(secure, "pulumi config set --secret wrote no secure value");
      return secure[1] as string;
    } finally {
      writeFileSync(this.stackFile, before);
    }
  }

  /** Runs an engine command with an event log and returns its steps. */
  private async logged(args: string[], allowFailure: boolean): Promise<{ result: RunResult; events: EngineStep[]; errors: string[] }> {
    this.runs += 1;
    const log = join(this.options.work, `events-${this.runs}-${args[0]}.jsonl`);
    rmSync(log, { force: true });
    const result = await this.pulumi([...args, "--event-log", log], true);
    const events = readEventLog(log);
    const errors = errorsIn(log);
    if (result.code !== 0 && !allowFailure) {
      const said = errors.length > 0 ? errors.join("\n") : (result.stdout + result.stderr).trim().split("\n").slice(-30).join("\n");
      throw new Error(`pulumi ${args.join(" ")} exited ${result.code}:\n${said}`);
    }
    return { result, events, errors };
  }

  /** `pulumi preview --expect-no-changes` (with `--refresh` when asked): the steps it plans, and its exit code. */
  async preview(options: { refresh?: boolean } = {}): Promise<{ steps: StepEvent[]; code: number }> {
    const run = await this.logged(["preview", "--expect-no-changes", ...(options.refresh === true ? ["--refresh"] : [])], true);
    return { steps: stepsOf(run.events), code: run.result.code };
  }

  /** `pulumi up` (with `--refresh` when asked), then the idempotence checks. Returns the steps of the apply. */
  async deploy(options: { refresh?: boolean } = {}): Promise<StepEvent[]> {
    const up = await this.logged(["up", "--yes", "--skip-preview", ...(options.refresh === true ? ["--refresh"] : [])], false);
    this.lastEvents = up.events;
    // Both at once: a preview takes no lock on a file:// backend (pkg/backend/diy/backend.go locks only for update,
    // refresh, destroy and import), and each reads the state the apply left.
    const checks = [
      ["applying the same program again plans no change", ["preview", "--expect-no-changes"]],
      ["a refresh right after the apply finds no drift", ["refresh", "--yes", "--expect-no-changes"]],
    ] as const;
    const runs = await Promise.all(checks.map(([, args]) => this.logged([...args], true)));
    for (const [index, [label, args]] of checks.entries()) {
      const check = runs[index] as Awaited<ReturnType<EngineDeployer["logged"]>>;
      const pending = check.events
        .filter((e) => e.kind !== "failed" && !["same", "refresh"].includes(e.op))
        .map((e) => `${e.op} ${e.name} ${e.diffs.join(",")}`.trim());
      const drift = check.events
        .filter((e) => e.op === "refresh" && e.kind === "outputs" && e.diffs.length > 0)
        .map((e) => `drift ${e.name} ${e.diffs.join(",")}`);
      assert.deepEqual([...new Set([...pending, ...drift])], [], label);
      assert.equal(check.result.code, 0, `${label}: pulumi ${args[0]} exited ${check.result.code}: ${check.errors.join("\n")}`);
    }
    return stepsOf(up.events);
  }

  /** `pulumi destroy`: the steps it took. */
  async destroy(): Promise<StepEvent[]> {
    const run = await this.logged(["destroy", "--yes", "--skip-preview"], false);
    this.lastEvents = run.events;
    return stepsOf(run.events);
  }

  /** The engine's own ops for one resource in the last apply, in the order they finished. */
  opsOf(name: string): string[] {
    return this.lastEvents.filter((e) => e.name === name && e.kind === "outputs").map((e) => e.op);
  }

  /** The resources one engine op finished for in the last apply, in order. */
  finished(op: string): string[] {
    return this.lastEvents.filter((e) => e.op === op && e.kind === "outputs").map((e) => e.name);
  }

  /** `pulumi stack export` (secrets stay encrypted). */
  async exportState(): Promise<string> {
    return (await this.pulumi(["stack", "export"])).stdout;
  }

  /** A stack output, secrets shown. */
  async output(name: string): Promise<unknown> {
    return JSON.parse((await this.pulumi(["stack", "output", name, "--json", "--show-secrets"])).stdout) as unknown;
  }
}
