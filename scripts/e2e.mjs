#!/usr/bin/env node
// Runs the end-to-end suite (test/e2e/*.e2e.test.ts): first the gateway images every file
// uses are built or reused once; then the Kubernetes file (its own cluster, its own
// runtime) beside the single-gateway Docker files; then every other file, one at a time.
//
// Usage: node scripts/e2e.mjs                 the whole suite, in its phases
//        node scripts/e2e.mjs <file>...       those files only, one after another
//
// The suite is bound by CPU. Measured on a 2-CPU machine: two Docker lanes at once drove
// the load average to 16 (gateways took over two minutes to start and failed their health
// checks); the Kubernetes file beside the four single-gateway Docker files took 1313 s for
// the phase, about 13% less than those files one after another, its upgrade 403 s instead
// of 205 s (each of its gates allows 300 s). So only that pair runs at once. Files that
// could not run beside each other (the same SSH test host, the same host ports) are never
// in two lanes of one phase (`exclusive`), and the files that time a gateway's recovery
// against a normal start (gateways.e2e) have the machine to themselves. A file in no lane
// is an error, so a new file is never left out silently.
//
// Output: within a phase, the first lane streams as it comes and the second is printed once
// the first has ended (scripts/parallel.mjs), so no two files' lines interleave. Every phase
// runs even when an earlier one failed; the exit code is 1 when any file failed.

import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const e2eDir = join(repo, "test", "e2e");

/** Phases run one after another; the lanes of a phase run at the same time, each lane's files in order. */
export const phases = [
  [
    // One gateway each; isolation uses the SSH test host, which no file of the other lane does.
    ["egress", "isolation", "offsite", "usage"],
    ["kubernetes"],
  ],
  // Most wanted first: with a deadline, the last ones are the first left out.
  [["gateways", "ops", "routes", "upgrade", "rollback", "engine", "ssh-host"]],
];

/** Files that must never run at the same time as each other: one SSH test host; port 18989 (upgrade, usage). */
export const exclusive = [
  ["engine", "gateways", "isolation", "ssh-host"],
  ["upgrade", "usage"],
];

const fileOf = (name) => `test/e2e/${name}.e2e.test.ts`;

/** The e2e files on disk that no lane names, and the names no file answers. */
export function unplaced() {
  const onDisk = readdirSync(e2eDir)
    .filter((f) => f.endsWith(".e2e.test.ts"))
    .map((f) => f.slice(0, -".e2e.test.ts".length));
  const named = phases.flat(2);
  return {
    missing: onDisk.filter((n) => !named.includes(n)).sort(),
    unknown: named.filter((n) => !onDisk.includes(n)),
    twice: named.filter((n, i) => named.indexOf(n) !== i),
  };
}

const tsxTest = (files) => `npx tsx --test --test-concurrency=1 ${files.join(" ")}`;

/**
 * About how long each file takes, in seconds, on the slowest run measured here (2 CPUs, the whole suite): with
 * CLAWFLEET_E2E_DEADLINE set (CI's end, in Unix seconds), a file that would not end before it is not started.
 */
export const expectedSeconds = {
  egress: 230,
  engine: 480,
  gateways: 1100,
  isolation: 330,
  kubernetes: 1360,
  offsite: 390,
  ops: 1200,
  rollback: 470,
  routes: 760,
  "ssh-host": 120,
  upgrade: 480,
  usage: 430,
};

function run(command) {
  const started = performance.now();
  const result = spawnSync(command, { cwd: repo, shell: true, stdio: "inherit" });
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  console.error(`e2e: ${result.status === 0 ? "passed" : "FAILED"} in ${seconds} s: ${command}`);
  return result.status === 0;
}

/**
 * Runs one lane's files one after another. Past the deadline's reach a file is not started: it says so, loudly, and
 * the files after it are still tried (a shorter one may fit).
 */
export function runLane(names, deadline = Number(process.env["CLAWFLEET_E2E_DEADLINE"] ?? Infinity), now = () => Date.now() / 1000) {
  let ok = true;
  const notRun = [];
  for (const name of names) {
    const left = Math.floor(deadline - now());
    const needs = expectedSeconds[name] ?? 0;
    if (needs > left) {
      notRun.push(name);
      console.error(`e2e: NOT RUN, past CI's time budget: ${fileOf(name)} (takes about ${needs} s, ${Math.max(0, left)} s left)`);
      continue;
    }
    ok = run(tsxTest([fileOf(name)])) && ok;
  }
  if (notRun.length > 0) console.error(`e2e: ${notRun.length} file(s) NOT RUN for lack of time: ${notRun.map(fileOf).join(", ")}`);
  return ok;
}

function main(args) {
  if (args[0] === "--lane") return runLane((args[1] ?? "").split(",").filter(Boolean));
  if (args.length > 0) {
    const files = args.map((a) => relative(repo, join(process.cwd(), a)));
    return run(tsxTest(files));
  }
  const { missing, unknown, twice } = unplaced();
  if (missing.length > 0 || unknown.length > 0 || twice.length > 0) {
    const lines = [
      ...missing.map((n) => `${fileOf(n)} is in no lane: add it to a lane in scripts/e2e.mjs`),
      ...unknown.map((n) => `scripts/e2e.mjs names ${fileOf(n)}, which does not exist`),
      ...twice.map((n) => `scripts/e2e.mjs names ${fileOf(n)} twice`),
    ];
    console.error(lines.map((l) => `e2e: ${l}`).join("\n"));
    return false;
  }
  // Built here once: two files building the same image at the same time would share one stage folder.
  for (const args of [[], ["--openclaw", "2026.9.5"]]) {
    if (!run(["bash", "scripts/docker-up.sh", "--with-test-tools", "&&", "bash", "scripts/build-gateway-image.sh", ...args, ">/dev/null"].join(" ")))
      return false;
  }
  let ok = true;
  for (const lanes of phases) {
    if (lanes.length === 1) ok = runLane(lanes[0]) && ok;
    else ok = run(`node scripts/parallel.mjs ${lanes.map((lane) => JSON.stringify(`node scripts/e2e.mjs --lane ${lane.join(",")}`)).join(" ")}`) && ok;
  }
  return ok;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = main(process.argv.slice(2)) ? 0 : 1;
