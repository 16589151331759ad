#!/usr/bin/env node
// Run shell commands at the same time and exit non-zero if any of them fails.
//
// Usage: node scripts/parallel.mjs "<command>" "<command>" ...
//
// Output keeps the order the commands were given in: the first command's output
// streams as it comes, each later one is held back until every command before it
// has finished, so no two outputs interleave and the last command's closing lines
// (a test runner's summary) stay the last lines printed. After each command but a
// passing last one, a line on stderr says how it ended and when. Every command runs
// to its end, so one run reports every failing check; the exit code is 1 when any
// failed.

import { spawn } from "node:child_process";

const commands = process.argv.slice(2);
if (commands.length === 0) {
  console.error('usage: node scripts/parallel.mjs "<command>" ...');
  process.exit(2);
}

const started = performance.now();
/** @type {{ command: string, chunks: { stream: "stdout" | "stderr", data: Buffer }[], live: boolean, done: boolean, code: number | null, signal: string | null, seconds: number, child: import("node:child_process").ChildProcess }[]} */
const jobs = commands.map((command) => {
  // Its own process group, so a signal to this runner can reach everything it started.
  const child = spawn(command, { shell: true, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const job = { command, chunks: [], live: false, done: false, code: null, signal: null, seconds: 0, child };
  for (const stream of /** @type {const} */ (["stdout", "stderr"])) {
    child[stream].on("data", (data) => {
      if (job.live) process[stream].write(data);
      else job.chunks.push({ stream, data });
    });
  }
  return job;
});

let next = 0;
/** Prints, in order, every finished command not printed yet, and streams the first unfinished one. */
function flush() {
  while (next < jobs.length) {
    const job = jobs[next];
    if (!job.live) {
      job.live = true;
      for (const { stream, data } of job.chunks) process[stream].write(data);
      job.chunks = [];
    }
    if (!job.done) return;
    const how = job.code === 0 ? "ok" : job.signal !== null ? `killed by ${job.signal}` : `failed with exit code ${job.code}`;
    // The last command's closing lines stay the last ones when it passes.
    if (job.code !== 0 || next < jobs.length - 1) process.stderr.write(`parallel: ${how} after ${job.seconds.toFixed(1)} s: ${job.command}\n`);
    next += 1;
  }
  const failed = jobs.filter((job) => job.code !== 0);
  if (failed.length > 0) {
    process.stderr.write(`parallel: ${failed.length} of ${jobs.length} failed:\n${failed.map((job) => `  ${job.command}\n`).join("")}`);
    process.exitCode = 1;
  }
}

let remaining = jobs.length;
for (const job of jobs) {
  // "close", not "exit": the command's output has been read to its end.
  job.child.on("close", (code, signal) => {
    job.done = true;
    job.code = code;
    job.signal = signal;
    job.seconds = (performance.now() - started) / 1000;
    remaining -= 1;
    flush();
  });
  job.child.on("error", (error) => {
    job.chunks.push({ stream: "stderr", data: Buffer.from(`parallel: could not start ${job.command}: ${error.message}\n`) });
  });
}
flush();

for (const signal of /** @type {const} */ (["SIGINT", "SIGTERM", "SIGHUP"])) {
  process.on(signal, () => {
    for (const job of jobs) {
      if (job.done || job.child.pid === undefined) continue;
      try {
        process.kill(-job.child.pid, signal);
      } catch {
        // already gone
      }
    }
    if (remaining === 0) process.exit(1);
    process.exitCode = 1;
  });
}
