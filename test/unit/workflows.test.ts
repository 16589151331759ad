// Guards for the CI workflows: pinned actions, documented secrets that never
// reach a shell's output, least permissions, and the preview/deploy contract.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { parse } from "yaml";

const root = join(__dirname, "..", "..");
const workflowsDir = join(root, ".github", "workflows");
const secretsDoc = join(root, "docs", "deploying-from-ci.md");

type Map = Record<string, unknown>;

interface Workflow {
  name: string;
  text: string;
  doc: Map;
}

interface Finding {
  file: string;
  line: number;
  column: number;
  message: string;
  kind: string;
}

interface LintModule {
  lintWorkflows(files?: string[]): Promise<{ findings: Finding[]; shellcheck: boolean }>;
  lintWorkflowSource(source: string, file: string, options?: { shellcheck?: boolean }): Promise<Finding[]>;
  formatFinding(finding: Finding): string;
  shellcheckAvailable(): boolean;
}

// A computed specifier: the script is plain ESM without type declarations.
async function loadLinter(): Promise<LintModule> {
  const href = pathToFileURL(join(root, "scripts", "lint-workflows.mjs")).href;
  return (await import(href)) as LintModule;
}

function isMap(value: unknown): value is Map {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function mapAt(value: unknown, key: string): Map {
  const child = isMap(value) ? value[key] : undefined;
  return isMap(child) ? child : {};
}

function loadWorkflow(name: string): Workflow {
  const text = readFileSync(join(workflowsDir, name), "utf8");
  const doc: unknown = parse(text);
  assert.ok(isMap(doc), `${name} is not a YAML mapping`);
  return { name, text, doc };
}

function fromText(name: string, text: string): Workflow {
  const doc: unknown = parse(text);
  assert.ok(isMap(doc));
  return { name, text, doc };
}

function jobs(wf: Workflow): [string, Map][] {
  return Object.entries(mapAt(wf.doc, "jobs")).filter((entry): entry is [string, Map] => isMap(entry[1]));
}

function steps(job: Map): Map[] {
  const list = job["steps"];
  return Array.isArray(list) ? list.filter(isMap) : [];
}

// ---- checks: each returns the problems it finds, so a bad workflow can be tested too ----

const PINNED = /^[\w.-]+\/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$/;

function checkPinnedActions(wf: Workflow): string[] {
  const problems: string[] = [];
  const refs: string[] = [];
  for (const [, job] of jobs(wf)) {
    if (typeof job["uses"] === "string") refs.push(job["uses"]);
    for (const step of steps(job)) if (typeof step["uses"] === "string") refs.push(step["uses"]);
  }
  for (const ref of refs) {
    if (ref.startsWith("./")) continue;
    if (!PINNED.test(ref)) {
      problems.push(`${wf.name}: ${ref} is not pinned to a version tag or a commit SHA`);
      continue;
    }
    // A SHA alone hides which release it is; the comment is what reviewers read.
    if (/@[0-9a-f]{40}$/.test(ref) && !new RegExp(`${escape(ref)}\\s+#\\s*v\\d`).test(wf.text)) {
      problems.push(`${wf.name}: ${ref} has no "# vX.Y.Z" comment naming the release`);
    }
  }
  return problems;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

function documentedSecrets(markdown: string): Set<string> {
  const section = markdown.split(/^## /m).find((part) => part.startsWith("Secrets"));
  assert.ok(section, 'the doc has no "## Secrets" section');
  const names = [...section.matchAll(/^\|\s*`([A-Z0-9_]+)`\s*\|/gm)].map((m) => m[1] ?? "");
  return new Set(names);
}

function checkSecretsDocumented(wf: Workflow, documented: Set<string>): string[] {
  const used = new Set([...wf.text.matchAll(/secrets\.([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1] ?? ""));
  used.delete("GITHUB_TOKEN"); // provided by GitHub, nothing to create
  return [...used].filter((name) => !documented.has(name)).map((name) => `${wf.name}: secrets.${name} is not in the table of docs/deploying-from-ci.md`);
}

function secretEnvNames(...envs: Map[]): Set<string> {
  const names = new Set<string>();
  for (const env of envs) {
    for (const [name, value] of Object.entries(env)) {
      if (typeof value === "string" && value.includes("secrets.")) names.add(name);
    }
  }
  return names;
}

function checkRunBlocksKeepSecrets(wf: Workflow): string[] {
  const problems: string[] = [];
  for (const [jobName, job] of jobs(wf)) {
    for (const [index, step] of steps(job).entries()) {
      const run = step["run"];
      if (typeof run !== "string") continue;
      const where = `${wf.name}: job ${jobName}, step ${String(step["name"] ?? index + 1)}`;
      if (run.includes("${{ secrets.") || /\$\{\{[^}]*\bsecrets\./.test(run)) {
        problems.push(`${where}: expands a secret inside run:; pass it through env:`);
      }
      if (/\bset\s+(-[a-z]*x|-o\s+xtrace)\b|\bbash\s+-[a-z]*x\b/.test(run)) {
        problems.push(`${where}: turns on shell tracing, which prints every expanded value`);
      }
      const secretVars = secretEnvNames(mapAt(wf.doc, "env"), mapAt(job, "env"), mapAt(step, "env"));
      for (const line of run.split("\n")) {
        if (!/\b(echo|printf|cat)\b/.test(line)) continue;
        for (const name of secretVars) {
          if (!new RegExp(`\\$\\{?${name}\\b`).test(line)) continue;
          const piped = /[^|]\|[^|]/.test(line);
          const toFile = />/.test(line) && !/GITHUB_(ENV|OUTPUT|STEP_SUMMARY|PATH)/.test(line);
          if (!piped && !toFile) problems.push(`${where}: prints ${name}, which holds a secret`);
        }
      }
    }
  }
  return problems;
}

const ALLOWED_JOB_PERMISSIONS: Record<string, string> = {
  contents: "read",
  "pull-requests": "write",
};

function commentsOnPr(job: Map): boolean {
  return steps(job).some((step) => {
    const withInputs = mapAt(step, "with");
    if (withInputs["comment-on-pr"] === true || withInputs["comment-on-pr"] === "true") return true;
    return typeof step["run"] === "string" && /gh api[\s\S]*\/comments/.test(step["run"]);
  });
}

function checkPermissions(wf: Workflow): string[] {
  const problems: string[] = [];
  const top = wf.doc["permissions"];
  if (top === undefined) {
    problems.push(`${wf.name}: no top-level permissions (the default token may write)`);
  } else if (JSON.stringify(top) !== JSON.stringify({ contents: "read" })) {
    problems.push(`${wf.name}: top-level permissions must be exactly { contents: read }, got ${JSON.stringify(top)}`);
  }
  for (const [jobName, job] of jobs(wf)) {
    const perms = job["permissions"];
    if (perms === undefined) continue;
    if (!isMap(perms)) {
      problems.push(`${wf.name}: job ${jobName} sets permissions to ${JSON.stringify(perms)}`);
      continue;
    }
    for (const [scope, level] of Object.entries(perms)) {
      if (ALLOWED_JOB_PERMISSIONS[scope] !== level && level !== "read" && level !== "none") {
        problems.push(`${wf.name}: job ${jobName} asks for ${scope}: ${String(level)}`);
      }
    }
    if (perms["pull-requests"] === "write" && !commentsOnPr(job)) {
      problems.push(`${wf.name}: job ${jobName} can write pull requests but posts no comment`);
    }
  }
  return problems;
}

function pulumiSteps(wf: Workflow): { jobName: string; job: Map; with: Map }[] {
  const found: { jobName: string; job: Map; with: Map }[] = [];
  for (const [jobName, job] of jobs(wf)) {
    for (const step of steps(job)) {
      if (typeof step["uses"] === "string" && step["uses"].startsWith("pulumi/actions@")) {
        found.push({ jobName, job, with: mapAt(step, "with") });
      }
    }
  }
  return found;
}

function tailscaleStep(job: Map): Map | undefined {
  return steps(job).find((s) => typeof s["uses"] === "string" && s["uses"].startsWith("tailscale/github-action@"));
}

// ---- the workflows in the repository ----

const workflows = ["preview.yml", "deploy.yml"].map(loadWorkflow);
const documented = documentedSecrets(readFileSync(secretsDoc, "utf8"));

describe("every workflow", () => {
  for (const wf of workflows) {
    describe(wf.name, () => {
      it("pins every action to a version tag or a commented commit SHA", () => {
        assert.deepEqual(checkPinnedActions(wf), []);
      });
      it("uses only secrets listed in docs/deploying-from-ci.md", () => {
        assert.deepEqual(checkSecretsDocumented(wf, documented), []);
      });
      it("never expands or prints a secret in a run: block", () => {
        assert.deepEqual(checkRunBlocksKeepSecrets(wf), []);
      });
      it("has least permissions: contents read, pull-requests write only where it comments", () => {
        assert.deepEqual(checkPermissions(wf), []);
      });
      it("keeps the same LOCAL_STACKS as the other workflow", () => {
        const values = workflows.map((w) => mapAt(w.doc, "env")["LOCAL_STACKS"]);
        assert.equal(mapAt(wf.doc, "env")["LOCAL_STACKS"], values[0]);
        assert.equal(typeof values[0], "string");
      });
    });
  }
});

describe("preview.yml", () => {
  const wf = workflows[0]!;

  it("runs on pull requests and runs npm ci and npm test", () => {
    assert.ok("pull_request" in mapAt(wf.doc, "on"));
    const runs = jobs(wf).flatMap(([, job]) => steps(job).map((s) => s["run"]));
    assert.ok(runs.includes("npm ci"));
    assert.ok(runs.includes("npm test"));
  });

  it("previews with pulumi/actions: command preview, comment-on-pr, one stack per matrix job", () => {
    const [pulumi, ...more] = pulumiSteps(wf);
    assert.ok(pulumi, "no pulumi/actions step");
    assert.equal(more.length, 0);
    assert.equal(pulumi.with["command"], "preview");
    assert.equal(pulumi.with["comment-on-pr"], true);
    assert.equal(pulumi.with["work-dir"], ".");
    assert.equal(pulumi.with["stack-name"], "${{ matrix.stack }}");
    assert.match(String(mapAt(mapAt(pulumi.job, "strategy"), "matrix")["stack"]), /fromJSON\(needs\.\w+\.outputs\.\w+\)/);
    const concurrency = mapAt(pulumi.job, "concurrency");
    assert.match(String(concurrency["group"]), /pull_request\.number.*matrix\.stack/);
    assert.equal(concurrency["cancel-in-progress"], true);
    assert.ok(tailscaleStep(pulumi.job), "the preview job does not join the tailnet");
  });

  it("renders the fleet diff from the base branch and keeps one sticky comment", () => {
    const scripts = jobs(wf)
      .flatMap(([, job]) => steps(job).map((s) => s["run"]))
      .filter((run): run is string => typeof run === "string")
      .join("\n");
    assert.match(scripts, /git show "origin\/\$\{BASE_REF\}:\$\{path\}"/);
    assert.match(scripts, /npx clawfleet diff "\$base_file" "\$head_file" --markdown/);
    assert.match(scripts, /--method PATCH/, "an existing comment must be edited, not duplicated");
  });
});

describe("deploy.yml", () => {
  const wf = workflows[1]!;

  it("runs on pushes to main that touch the fleet, and by hand for one stack", () => {
    const on = mapAt(wf.doc, "on");
    assert.deepEqual(mapAt(on, "push")["branches"], ["main"]);
    assert.deepEqual(mapAt(on, "push")["paths"], ["stacks/**", "declaration/**", "components/**", "runtimes/**", "index.ts", "names.ts", "package*.json"]);
    assert.ok(isMap(mapAt(mapAt(on, "workflow_dispatch"), "inputs")["stack"]));
  });

  it("runs pulumi up per stack, gating prod behind the production environment", () => {
    const [pulumi, , ...more] = pulumiSteps(wf);
    assert.ok(pulumi, "no pulumi/actions step");
    assert.equal(more.length, 0);
    assert.equal(pulumi.with["command"], "up");
    assert.equal(pulumi.with["stack-name"], "${{ matrix.stack }}");
    assert.equal(pulumi.job["environment"], "${{ matrix.stack == 'prod' && 'production' || matrix.stack }}");
  });

  it("runs pulumi preview --expect-no-changes right after the up, on the same stack and backend", () => {
    const [up, check] = pulumiSteps(wf);
    assert.ok(up && check, "no second pulumi/actions step after the up");
    assert.equal(check.jobName, up.jobName);
    const jobSteps = steps(up.job);
    const upIndex = jobSteps.findIndex((s) => mapAt(s, "with")["command"] === "up");
    assert.equal(jobSteps[upIndex + 1]?.["uses"], jobSteps[upIndex]?.["uses"], "the check is not the step right after the up");
    assert.equal(check.with["command"], "preview");
    assert.equal(check.with["expect-no-changes"], true);
    for (const key of ["stack-name", "work-dir", "cloud-url", "pulumi-version"]) {
      assert.equal(check.with[key], up.with[key], `the check's ${key} differs from the up's`);
    }
    assert.deepEqual(mapAt(jobSteps[upIndex + 1], "env"), mapAt(jobSteps[upIndex], "env"));
    assert.equal(jobSteps[upIndex + 1]?.["if"], undefined, "the check must run after every up");
  });

  it("never cancels a running deploy of the same stack", () => {
    const [pulumi] = pulumiSteps(wf);
    const concurrency = mapAt(pulumi?.job, "concurrency");
    assert.match(String(concurrency["group"]), /matrix\.stack/);
    assert.equal(concurrency["cancel-in-progress"], false);
    assert.equal(wf.doc["concurrency"], undefined, "a workflow-wide group would queue unrelated stacks");
  });

  it("joins the tailnet with the OAuth client as tag:ci", () => {
    const [pulumi] = pulumiSteps(wf);
    const step = tailscaleStep(pulumi?.job ?? {});
    assert.ok(step, "the deploy job does not join the tailnet");
    assert.deepEqual(mapAt(step, "with"), {
      "oauth-client-id": "${{ secrets.TS_OAUTH_CLIENT_ID }}",
      "oauth-secret": "${{ secrets.TS_OAUTH_SECRET }}",
      tags: "tag:ci",
    });
  });
});

describe("actionlint and shellcheck", () => {
  it("report nothing for the workflows in the repository", async () => {
    const { lintWorkflows, formatFinding } = await loadLinter();
    const { findings } = await lintWorkflows();
    assert.deepEqual(findings.map(formatFinding), []);
  });
});

// ---- the checks can fail: a workflow that breaks every rule ----

const BAD_WORKFLOW = `name: bad
on: push
permissions: write-all
env:
  TOKEN: \${{ secrets.UNDOCUMENTED_TOKEN }}
jobs:
  build:
    runs-on: ubuntu-latest
    permissions:
      contents: write
      pull-requests: write
    steps:
      - uses: actions/checkout@main
      - uses: actions/setup-node
      - uses: pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d
      - run: echo \${{ secrets.PULUMI_ACCESS_TOKEN }}
      - run: |
          set -x
          echo "token is $TOKEN"
      - run: echo \${{ steps.nope.outputs.x }} $UNQUOTED
        shell: bash
`;

describe("the checks on a workflow that breaks every rule", () => {
  const bad = fromText("bad.yml", BAD_WORKFLOW);

  it("flag unpinned, branch-pinned and uncommented SHA actions", () => {
    assert.deepEqual(checkPinnedActions(bad), [
      "bad.yml: actions/checkout@main is not pinned to a version tag or a commit SHA",
      "bad.yml: actions/setup-node is not pinned to a version tag or a commit SHA",
      'bad.yml: pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d has no "# vX.Y.Z" comment naming the release',
    ]);
  });

  it("flag a secret the doc does not list", () => {
    assert.deepEqual(checkSecretsDocumented(bad, documented), ["bad.yml: secrets.UNDOCUMENTED_TOKEN is not in the table of docs/deploying-from-ci.md"]);
  });

  it("flag secrets expanded in run:, shell tracing and printing a secret env var", () => {
    assert.deepEqual(checkRunBlocksKeepSecrets(bad), [
      "bad.yml: job build, step 4: expands a secret inside run:; pass it through env:",
      "bad.yml: job build, step 5: turns on shell tracing, which prints every expanded value",
      "bad.yml: job build, step 5: prints TOKEN, which holds a secret",
    ]);
  });

  it("flag broad permissions and pull-request write without a comment", () => {
    assert.deepEqual(checkPermissions(bad), [
      'bad.yml: top-level permissions must be exactly { contents: read }, got "write-all"',
      "bad.yml: job build asks for contents: write",
      "bad.yml: job build can write pull requests but posts no comment",
    ]);
  });

  it("accept piping a secret into a command and writing it to a file", () => {
    const ok = fromText(
      "ok.yml",
      `permissions:\n  contents: read\njobs:\n  a:\n    steps:\n      - env:\n          KEY: \${{ secrets.SSH_PRIVATE_KEY }}\n        run: |\n          printf '%s\\n' "$KEY" | ssh-add -\n          printf '%s\\n' "$KEY" >> ~/.ssh/id\n`,
    );
    assert.deepEqual(checkRunBlocksKeepSecrets(ok), []);
  });

  it("make actionlint (and shellcheck, when installed) report findings with positions", async () => {
    const { lintWorkflowSource, formatFinding, shellcheckAvailable } = await loadLinter();
    const findings = await lintWorkflowSource(BAD_WORKFLOW, "bad.yml");
    const lines = findings.map(formatFinding);
    assert.ok(
      lines.some((l) => l.startsWith("bad.yml:20:") && /steps\.nope|property "nope"/.test(l)),
      `no actionlint finding for the unknown step:\n${lines.join("\n")}`,
    );
    if (shellcheckAvailable()) {
      assert.ok(
        lines.includes("bad.yml:20:47: shellcheck SC2086 (info): Double quote to prevent globbing and word splitting."),
        `no shellcheck finding for $UNQUOTED:\n${lines.join("\n")}`,
      );
    }
  });
});
