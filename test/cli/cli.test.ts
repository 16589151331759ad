import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, describe, it } from "node:test";
import { markdownCode, markdownText, renderDiffMarkdown } from "../../cli/diff/render";
import { mockRandomValue } from "../../cli/mock-run";
import { stackNameProblem } from "../../cli/plan";

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), "clawfleet-cli-"));
after(() => rmSync(work, { recursive: true, force: true }));

async function clawfleet(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["bin/clawfleet.js", ...args], { maxBuffer: 1 << 26 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

const dev = readFileSync("stacks/Pulumi.dev.yaml", "utf8");

/** Writes a variant of the dev stack under the same stack name. */
function variant(dir: string, edit: (text: string) => string): string {
  const folder = join(work, dir);
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(folder, { recursive: true });
  const file = join(folder, "Pulumi.dev.yaml");
  writeFileSync(file, edit(dev));
  return file;
}

function replaceOnce(text: string, from: string, to: string): string {
  assert.ok(text.includes(from), `dev stack no longer contains ${from}`);
  return text.replace(from, to);
}

describe("clawfleet plan", { concurrency: true }, () => {
  it("prints every resource as JSON with secrets as [secret] and no token value", async () => {
    const { code, stdout } = await clawfleet("plan", "stacks/Pulumi.dev.yaml", "--json");
    assert.equal(code, 0);
    const plan = JSON.parse(stdout) as { resources: { urn: string; type: string; name: string; parent: string | null; inputs: Record<string, unknown> }[] };
    assert.equal(plan.resources.length, 47);
    const container = plan.resources.find((r) => r.name === "alice-container");
    assert.equal(container?.inputs["envs"], "[secret]");
    assert.equal(container?.parent, "urn:pulumi:dev::clawfleet::clawfleet:index:DedicatedUser::alice");
    assert.equal(container?.urn, "urn:pulumi:dev::clawfleet::clawfleet:index:DedicatedUser$docker:index/container:Container::alice-container");
    for (const name of ["alice-token", "dave-token", "local-shared-token"]) {
      assert.ok(!stdout.includes(mockRandomValue("dev", name, { length: 48, special: false })));
    }
  });

  it("prints a tree of components and their resources by default", async () => {
    const { code, stdout } = await clawfleet("plan", "stacks/Pulumi.dev.yaml");
    assert.equal(code, 0);
    const lines = stdout.split("\n");
    assert.equal(lines[0], "stack dev: 42 resources in 5 components");
    assert.ok(lines.includes("dedicated tenant alice"));
    assert.ok(lines.includes("shared tenant bob"));
    assert.ok(lines.some((l) => l.startsWith("├─ docker:Container alice-container  (image ghcr.io/openclaw/openclaw:2026.9.6; on 127.0.0.1:18101; 1536 MB")));
    // Each command by what it does, as its component states it, not by a line of its script.
    for (const line of [
      "├─ command:local Command alice-claim  (claims port 18101)",
      "├─ command:local Command alice-ready  (waits until healthy)",
      "├─ command:local Command alice-backup  (backs up before an image change)",
      "└─ command:local Command alice-serve  (serves https 18101; delete before replace)",
      "└─ command:local Command bob-workspace  (creates the workspace /var/lib/clawfleet/shared/workspaces/bob; kept on delete)",
    ])
      assert.ok(lines.includes(line), line);
  });

  it("exits 1 with the problems on stderr and prints no resource for an invalid declaration", async () => {
    const file = variant("invalid", (text) => replaceOnce(text, "port: 18101", "port: 80"));
    const { code, stdout, stderr } = await clawfleet("plan", file);
    assert.equal(code, 1);
    assert.equal(stdout, "");
    assert.equal(
      stderr,
      `${file}: the declaration has 1 problem:\n${file}: tenants.alice.port: must be a port number from 1024 to 65535 (ports below 1024 need root on the host)\n`,
    );
  });

  it("names what is wrong with a command line in one line and exits 2", async () => {
    const missing = await clawfleet("plan");
    assert.deepEqual([missing.code, missing.stderr], [2, "clawfleet plan: missing <stack file>; usage: clawfleet plan <stack file> [--json] [--facts]\n"]);
    const unknown = await clawfleet("diff", "stacks/Pulumi.dev.yaml", "stacks/Pulumi.dev.yaml", "--md");
    assert.deepEqual([unknown.code, unknown.stderr], [2, "clawfleet diff: unknown option --md; see clawfleet diff --help\n"]);
  });

  it("prints the facts diff compares with --facts, and each command's help with --help", async () => {
    const { code, stdout } = await clawfleet("plan", "stacks/Pulumi.dev.yaml", "--facts");
    assert.equal(code, 0);
    const plan = JSON.parse(stdout) as { facts: { kind: string; name: string; roles: Record<string, string> }[] };
    assert.deepEqual(plan.facts.find((f) => f.name === "alice")?.roles["alice-container"], "container");
    const help = await clawfleet("plan", "--help");
    assert.deepEqual([help.code, help.stdout.split("\n")[0]], [0, "usage: clawfleet plan <stack file> [--json] [--facts]"]);
  });

  it("prints its usage on stdout and exits 0 for --help, and names a misspelt command with the one meant", async () => {
    const help = await clawfleet("--help");
    assert.deepEqual([help.code, help.stderr], [0, ""]);
    assert.match(help.stdout, /^usage:\n {2}clawfleet plan <stack file> \[--json\]/);
    const typo = await clawfleet("stauts", "stacks/Pulumi.dev.yaml");
    assert.equal(typo.code, 2);
    assert.equal(typo.stderr.split("\n")[0], 'clawfleet: unknown command "stauts"; did you mean status?');
    const unknown = await clawfleet("deploy");
    assert.equal(unknown.stderr.split("\n")[0], 'clawfleet: unknown command "deploy"');
  });
});

describe("clawfleet diff", { concurrency: true }, () => {
  it("reports no change between a file and itself", async () => {
    const { stdout } = await clawfleet("diff", "stacks/Pulumi.dev.yaml", "stacks/Pulumi.dev.yaml");
    assert.equal(stdout, "stack dev: no changes\n");
  });

  it("adds a tenant without touching the others", async () => {
    const head = variant("add", (text) => `${text}    erin: { tier: dedicated, host: local, port: 18150 }\n`);
    const { stdout } = await clawfleet("diff", "stacks/Pulumi.dev.yaml", head);
    assert.equal(stdout, "stack dev: 1 added, 0 changed, 0 replaced, 0 removed tenants; 0 hosts changed\n\nAdded:\n  erin (dedicated on local)\n");
  });

  it("adds a tenant that becomes the host's canary without an image trial: only a new image runs one", async () => {
    const head = variant("add-first", (text) => `${text}    aaron: { tier: dedicated, host: local, port: 18150 }\n`);
    const { stdout } = await clawfleet("diff", "stacks/Pulumi.dev.yaml", head);
    assert.equal(stdout, "stack dev: 1 added, 0 changed, 0 replaced, 0 removed tenants; 0 hosts changed\n\nAdded:\n  aaron (dedicated on local)\n");
  });

  it("warns that removing a tenant keeps its state", async () => {
    const head = variant("remove", (text) =>
      replaceOnce(text, "    dave:\n      tier: dedicated\n      host: local\n      model: anthropic/claude-haiku-4-5\n", ""),
    );
    const { stdout } = await clawfleet("diff", "stacks/Pulumi.dev.yaml", head, "--markdown");
    assert.equal(
      stdout,
      [
        "### clawfleet: stack `dev`",
        "",
        "0 added, 0 changed, 0 replaced, 1 removed tenants; 0 hosts changed",
        "",
        "#### Removed",
        "",
        "| tenant | tier | host | fields |",
        "| --- | --- | --- | --- |",
        "| `dave` | dedicated | local |  |",
        "",
        "> :warning: dave: gateway container and Serve entry are removed; state is kept at /var/lib/clawfleet/users/dave on host local (to delete it, declare the tenant with purge: { confirm: dave })",
        "",
      ].join("\n"),
    );
  });

  it("shows a rename as a removal plus an addition", async () => {
    const head = variant("rename", (text) => replaceOnce(text, "    dave:\n", "    david:\n"));
    const { stdout } = await clawfleet("diff", "stacks/Pulumi.dev.yaml", head);
    assert.match(stdout, /^stack dev: 1 added, 0 changed, 0 replaced, 1 removed tenants/);
    assert.match(stdout, /Added:\n {2}david \(dedicated on local\)/);
    assert.match(stdout, /Removed:\n {2}dave \(dedicated on local\)/);
  });

  it("flags a port move as a replacement that restarts the gateway", async () => {
    const head = variant("port", (text) => replaceOnce(text, "port: 18101", "port: 18102"));
    const { stdout } = await clawfleet("diff", "stacks/Pulumi.dev.yaml", head, "--markdown");
    assert.match(
      stdout,
      /#### Replaced \(gateway restarts\)\n\n\| tenant \| tier \| host \| fields \|\n\| --- \| --- \| --- \| --- \|\n\| `alice` \| dedicated \| local \| `port`, /,
    );
    assert.match(stdout, /> :warning: alice: the gateway container is recreated \(chats pause for about 30 s; state is kept\)/);
  });

  it("reports a model change as an in-place config change (hot reload, no restart)", async () => {
    const head = variant("model", (text) =>
      replaceOnce(text, "model: anthropic/claude-sonnet-4-5\n      port: 18101", "model: anthropic/claude-opus-4-1\n      port: 18101"),
    );
    const { stdout } = await clawfleet("diff", "stacks/Pulumi.dev.yaml", head);
    assert.equal(
      stdout,
      "stack dev: 0 added, 1 changed, 0 replaced, 0 removed tenants; 0 hosts changed\n\nChanged in place:\n  alice (dedicated on local): config agents.defaults.model, config agents.entries.alice.model\n",
    );
  });

  it("reports a memory change as in place (docker update, no restart) and a cpu change as a restart", async () => {
    const memory = variant("memory", (text) => replaceOnce(text, "memoryMb: 1536", "memoryMb: 2048"));
    assert.equal(
      (await clawfleet("diff", "stacks/Pulumi.dev.yaml", memory)).stdout,
      "stack dev: 0 added, 1 changed, 0 replaced, 0 removed tenants; 0 hosts changed\n\nChanged in place:\n  alice (dedicated on local): memoryMb\n",
    );
    const cpus = variant("cpus", (text) => replaceOnce(text, "memoryMb: 1536", "memoryMb: 1536\n      cpus: 2"));
    assert.match((await clawfleet("diff", "stacks/Pulumi.dev.yaml", cpus)).stdout, /Replaced \(gateway restarts\):\n {2}alice \(dedicated on local\): cpus\n/);
  });

  it("says an image change is tried first, backs every gateway up and restarts them canary first", async () => {
    const head = variant("image", (text) => replaceOnce(text, "ghcr.io/openclaw/openclaw:2026.9.6", "ghcr.io/openclaw/openclaw:2026.10.1"));
    const { stdout } = await clawfleet("diff", "stacks/Pulumi.dev.yaml", head);
    assert.match(stdout, /^stack dev: 0 added, 0 changed, 2 replaced, 0 removed tenants; 1 hosts changed\n/);
    assert.match(
      stdout,
      /Replaced \(gateway restarts\):\n {2}host local: prepare, image preflight, image\n {2}alice \(dedicated on local\): image\n {2}dave \(dedicated on local\): image\n/,
    );
    assert.match(
      stdout,
      /! host local: a new image: it first runs on a copy of one gateway's state and must become healthy, or no gateway changes; each gateway's state is backed up right before its container is replaced; the canary \(first dedicated tenant by id\) goes first\n/,
    );
  });

  it("attributes a shared binding change to its tenant and to the shared gateway's config", async () => {
    const head = variant("binding", (text) => replaceOnce(text, 'id: "111111111"', 'id: "222222222"'));
    const { stdout } = await clawfleet("diff", "stacks/Pulumi.dev.yaml", head);
    assert.equal(
      stdout,
      "stack dev: 0 added, 1 changed, 0 replaced, 0 removed tenants; 1 hosts changed\n\nChanged in place:\n  host local: config bindings\n  bob (shared on local): bindings\n",
    );
  });
});

describe("clawfleet diff of a token rotation", () => {
  it("says the gateway restarts and its token changes", async () => {
    const base = variant("rotation-base", (text) =>
      replaceOnce(text, "      labels: { team: research }\n", "      labels: { team: research }\n      rotation: r1\n"),
    );
    const head = variant("rotation-head", (text) =>
      replaceOnce(text, "      labels: { team: research }\n", "      labels: { team: research }\n      rotation: r2\n"),
    );
    const { stdout } = await clawfleet("diff", base, head);
    assert.equal(
      stdout,
      [
        "stack dev: 0 added, 0 changed, 1 replaced, 0 removed tenants; 0 hosts changed",
        "",
        "Replaced (gateway restarts):",
        "  alice (dedicated on local): token rotation",
        "",
        "Warnings:",
        "  ! alice: the gateway container is recreated (chats pause for about 30 s; state is kept)",
        "  ! alice: the gateway token changes; hand out the new one (pulumi stack output tenants --show-secrets)",
        "",
      ].join("\n"),
    );
  });
});

describe("clawfleet diff of a purge", () => {
  it("warns loudly that the state is deleted", async () => {
    const head = variant("purge", (text) =>
      replaceOnce(
        text,
        "      model: anthropic/claude-haiku-4-5\n    bob:",
        "      model: anthropic/claude-haiku-4-5\n      purge: { confirm: dave }\n    bob:",
      ),
    );
    const { stdout } = await clawfleet("diff", "stacks/Pulumi.dev.yaml", head);
    assert.equal(
      stdout,
      [
        "stack dev: 0 added, 0 changed, 0 replaced, 1 removed tenants; 0 hosts changed",
        "",
        "Removed:",
        "  dave (dedicated on local): purge",
        "",
        "Warnings:",
        "  ! dave: PURGE: its gateway is removed and its state at /var/lib/clawfleet/users/dave on host local is deleted for good",
        "",
      ].join("\n"),
    );
  });
});

describe("clawfleet diff of a move to another host", () => {
  it("replaces the gateway on the new host and warns to copy the state", async () => {
    const prod = readFileSync("stacks/Pulumi.prod.yaml", "utf8");
    const folder = join(work, "move");
    mkdirSync(folder, { recursive: true });
    const head = join(folder, "Pulumi.prod.yaml");
    writeFileSync(head, replaceOnce(prod, "    grace:\n      tier: dedicated\n      host: gw2\n", "    grace:\n      tier: dedicated\n      host: gw1\n"));
    const { stdout } = await clawfleet("diff", "stacks/Pulumi.prod.yaml", head);
    assert.match(stdout, /Replaced \(gateway restarts\):\n {2}grace \(dedicated on gw1\): secrets, egress, host\n/);
    assert.match(stdout, /! grace: moves from host gw2 to gw1; its state stays on gw2: add movedFrom: gw2 to copy it \(README, Operations\)/);
  });

  it("says the state is copied when the tenant declares movedFrom", async () => {
    const prod = readFileSync("stacks/Pulumi.prod.yaml", "utf8");
    const folder = join(work, "moved-from");
    mkdirSync(folder, { recursive: true });
    const head = join(folder, "Pulumi.prod.yaml");
    writeFileSync(
      head,
      replaceOnce(prod, "    grace:\n      tier: dedicated\n      host: gw2\n", "    grace:\n      tier: dedicated\n      host: gw1\n      movedFrom: gw2\n"),
    );
    const { stdout } = await clawfleet("diff", "stacks/Pulumi.prod.yaml", head);
    assert.match(stdout, /grace \(dedicated on gw1\): secrets, egress, host, move added\n/);
    assert.match(
      stdout,
      /! grace: moves from host gw2 to gw1; the old gateway stops and its state is copied to gw1 before the new one starts \(the copy on gw2 is renamed aside and kept\)/,
    );
  });
});

describe("clawfleet diff of two broken files", () => {
  it("prints both files' problems, base first", async () => {
    const base = variant("broken-base", (text) => replaceOnce(text, "port: 18101", "port: 80"));
    const head = join(work, "broken-head", "Pulumi.dev.yaml");
    mkdirSync(join(work, "broken-head"), { recursive: true });
    writeFileSync(
      head,
      replaceOnce(
        dev,
        "tier: dedicated\n      host: local\n      model: anthropic/claude-haiku",
        "tier: dedicatd\n      host: local\n      model: anthropic/claude-haiku",
      ),
    );
    const { code, stdout, stderr } = await clawfleet("diff", base, head);
    assert.equal(code, 1);
    assert.equal(stdout, "");
    assert.equal(
      stderr,
      [
        `${base}: the declaration has 1 problem:`,
        `${base}: tenants.alice.port: must be a port number from 1024 to 65535 (ports below 1024 need root on the host)`,
        `${head}: the declaration has 1 problem:`,
        `${head}: tenants.dave.tier: must be dedicated or shared, not string "dedicatd"`,
        "",
      ].join("\n"),
    );
  });
});

describe("clawfleet plan as a pipeline stage", () => {
  it("ends quietly when the reader closes the pipe early", async () => {
    const { stdout, stderr, code } = await new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve) => {
      const child = spawn(process.execPath, ["bin/clawfleet.js", "plan", "stacks/Pulumi.dev.yaml", "--json"], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.once("data", (chunk: Buffer) => {
        out += chunk.toString();
        child.stdout.destroy();
      });
      child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
      child.on("close", (status) => resolve({ stdout: out, stderr: err, code: status }));
    });
    assert.ok(stdout.startsWith("{"));
    assert.equal(stderr, "");
    assert.equal(code, 0);
  });
});

describe("day-2 verbs end with what they started", () => {
  // A docker client of the test's own on PATH: the gateway runs; `logs` prints a line every 0.2 s for ever, `inspect` can hang.
  const bin = join(work, "fake-docker");
  const pidFile = join(work, "fake-docker.pid");
  mkdirSync(bin, { recursive: true });
  writeFileSync(
    join(bin, "docker"),
    [
      "#!/bin/sh",
      'case "$1" in',
      '  inspect) [ -n "$HANG" ] && exec sleep 1000; printf \'{"Status":"running","Health":{"Status":"healthy"}}\\t[]\\n\' ;;',
      `  logs) echo $$ >${pidFile}; i=0; while :; do i=$((i+1)); echo "line $i"; sleep 0.2; done ;;`,
      "esac",
      "",
    ].join("\n"),
    { mode: 0o755 },
  );

  function start(args: string[], env: NodeJS.ProcessEnv = {}) {
    rmSync(pidFile, { force: true });
    return spawn(process.execPath, ["bin/clawfleet.js", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, PATH: `${bin}:${process.env["PATH"] ?? ""}`, ...env },
    });
  }

  /** True once the fake docker's logs process is gone, within 10 s. */
  async function logsProcessGone(): Promise<boolean> {
    const pid = Number(readFileSync(pidFile, "utf8"));
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        return true;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return false;
  }

  function ended(child: ReturnType<typeof start>): Promise<{ code: number | null; stderr: string }> {
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    return new Promise((resolve) => child.on("close", (code) => resolve({ code, stderr })));
  }

  it("logs --follow into a reader that closes the pipe ends quietly, and its docker logs ends too", async () => {
    const child = start(["logs", "stacks/Pulumi.dev.yaml", "alice", "--follow"]);
    const done = ended(child);
    child.stdout?.once("data", () => child.stdout?.destroy());
    const { code, stderr } = await done;
    assert.deepEqual([code, stderr], [0, ""]);
    assert.equal(await logsProcessGone(), true, "docker logs --follow outlived the CLI");
  });

  it("SIGTERM ends logs --follow with the shell's code for it, and its docker logs with it", async () => {
    const child = start(["logs", "stacks/Pulumi.dev.yaml", "alice", "--follow"]);
    const done = ended(child);
    child.stdout?.once("data", () => child.kill("SIGTERM"));
    const { code } = await done;
    assert.equal(code, 143);
    assert.equal(await logsProcessGone(), true, "docker logs --follow outlived the CLI");
  });

  it("a host that does not answer within the bound is named, and status exits 1", async () => {
    const { code, stderr } = await ended(start(["status", "stacks/Pulumi.dev.yaml"], { HANG: "1", CLAWFLEET_HOST_TIMEOUT_SECONDS: "2" }));
    assert.equal(code, 1);
    assert.equal(stderr.split("\n")[0], "clawfleet: host local did not answer within 2 s; check its Docker daemon (docker info)");
  });
});

describe("names that reach the pull-request comment", () => {
  it("a stack file name must give a valid Pulumi stack name", () => {
    assert.equal(stackNameProblem("stacks/Pulumi.dev.yaml"), undefined);
    assert.deepEqual(stackNameProblem("stacks/Pulumi.<img src=x>.yaml"), {
      path: "",
      message:
        "the file name gives the stack name \"<img src=x>\", which Pulumi refuses; name the file Pulumi.<stack>.yaml with a stack name of 1-100 characters from A-Z, a-z, 0-9, '-', '_' and '.'",
    });
  });

  it("markdown text escapes HTML and markup; a code span cannot be closed early", () => {
    assert.equal(markdownText("<!-- x --> *a* | [l](u)"), "&lt;\\!-- x --&gt; \\*a\\* \\| \\[l\\](u)");
    assert.equal(markdownCode("a`b|c\nd"), "``a`b\\|c d``");
    const diff = { stack: "x`<b>", tenants: [], hosts: [{ id: "h", effect: "changed" as const, fields: ["`</table>"], warnings: ["<script>"] }] };
    const markdown = renderDiffMarkdown(diff);
    assert.ok(!markdown.includes("<script>"), markdown);
    assert.match(markdown, /^### clawfleet: stack ``x`<b>``$/m);
    assert.match(markdown, /> :warning: &lt;script&gt;$/m);
  });
});

describe("targets", () => {
  it("writes the file_sd list to --out, says on stderr how to authenticate, and prints no token", async () => {
    const file = variant("targets", (text) => replaceOnce(text, "  clawfleet:hosts:", "  clawfleet:observability: { prometheus: true }\n  clawfleet:hosts:"));
    const out = join(work, "targets", "sd.json");
    const result = await clawfleet("targets", file, "--out", out);
    assert.deepEqual([result.code, result.stdout], [0, ""]);
    const entries = JSON.parse(readFileSync(out, "utf8")) as { targets: string[]; labels: Record<string, string> }[];
    assert.deepEqual(
      entries.map((e) => [e.targets, e.labels["tenant"], e.labels["tier"], e.labels["stack"]]),
      [
        [["devbox.example-tailnet.ts.net:18789"], "bob,carol", "shared", "dev"],
        [["devbox.example-tailnet.ts.net:18101"], "alice", "dedicated", "dev"],
        [["devbox.example-tailnet.ts.net:18171"], "dave", "dedicated", "dev"],
      ],
    );
    assert.match(result.stderr, /^3 gateways listed; the list holds no token\.\n/);
    assert.match(result.stderr, /credentials_file: \/etc\/prometheus\/clawfleet\/<gateway>\.token/);
  });

  it("refuses a stack where no host declares prometheus, naming the field", async () => {
    const result = await clawfleet("targets", "stacks/Pulumi.dev.yaml");
    assert.deepEqual(
      [result.code, result.stdout, result.stderr],
      [
        1,
        "",
        "clawfleet targets: no host in stacks/Pulumi.dev.yaml declares observability.prometheus; set clawfleet:observability.prometheus (or hosts.<id>.observability.prometheus) to true\n",
      ],
    );
  });
});
