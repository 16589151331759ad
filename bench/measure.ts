import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { ComponentFacts } from "../components/facts";
import type { PlanJsonResource } from "../cli/diff/compare";

export const repo = resolve(__dirname, "..");
export const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

/** The section of bench/results.md that `npm run bench:engine` (bench/engine.ts) writes. */
export const engineHeading = "## The real Pulumi engine";

/** Median, min and max of a few runs. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly runs: number;
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new Error("no runs to summarize");
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
  return { median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number, runs: sorted.length };
}

/** `median (min–max)` with a unit and a number of decimals. */
export function show(value: Spread, unit: string, decimals = 1): string {
  const f = (n: number) => n.toFixed(decimals);
  return value.runs === 1 ? `${f(value.median)} ${unit}` : `${f(value.median)} ${unit} (${f(value.min)}–${f(value.max)})`;
}

export interface PlanRun {
  readonly seconds: number;
  /** Peak resident memory of the process that evaluated the program, in MB. */
  readonly peakMb: number | undefined;
  readonly resources: PlanJson["resources"];
  /** What the components stated about themselves, when planned with `--facts` (as diff does). */
  readonly facts: ComponentFacts[];
}

export interface PlanJson {
  resources: PlanJsonResource[];
  facts?: ComponentFacts[];
}

const gnuTime = "/usr/bin/time";

/**
 * Runs `clawfleet plan <file> --json` in its own process, exactly as a user would
 * (bin/clawfleet.js), timing it from here. Peak memory comes from GNU time, which reports
 * the largest resident set among the processes it waited for.
 */
export async function planInChild(file: string, outFile: string, options: { facts?: boolean } = {}): Promise<PlanRun> {
  const rssFile = `${outFile}.rss`;
  const command = [process.execPath, join(repo, "bin", "clawfleet.js"), "plan", file, "--json", ...(options.facts === true ? ["--facts"] : [])];
  const argv = existsSync(gnuTime) ? [gnuTime, "-f", "%M", "-o", rssFile, ...command] : command;
  const started = performance.now();
  const { code, stderr } = await new Promise<{ code: number; stderr: string }>((done, fail) => {
    const child = spawn(argv[0] as string, argv.slice(1), { cwd: repo, stdio: ["ignore", "pipe", "pipe"] });
    const chunks: Buffer[] = [];
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", fail);
    child.on("close", (status) => {
      writeFileSync(outFile, Buffer.concat(chunks));
      done({ code: status ?? 1, stderr });
    });
  });
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`clawfleet plan ${file} exited ${code}: ${stderr.trim()}`);
  const peakKb = existsSync(rssFile) ? Number(readFileSync(rssFile, "utf8").trim().split("\n").pop()) : NaN;
  rmSync(rssFile, { force: true });
  const plan = JSON.parse(readFileSync(outFile, "utf8")) as PlanJson;
  return { seconds, peakMb: Number.isFinite(peakKb) ? peakKb / 1024 : undefined, resources: plan.resources, facts: plan.facts ?? [] };
}

/**
 * The markdown with the section under `heading` (up to the next `## ` heading) replaced by
 * `section`, or `section` appended when there is none: each bench script writes its own part of
 * bench/results.md and leaves the others as they are.
 */
export function replaceSection(markdown: string, heading: string, section: string): string {
  const body = section.trimEnd();
  const start = markdown.startsWith(`${heading}\n`) ? 0 : markdown.indexOf(`\n${heading}\n`) + 1;
  if (start === 0 && !markdown.startsWith(`${heading}\n`)) return `${markdown.trimEnd()}\n\n${body}\n`;
  const next = markdown.indexOf("\n## ", start + heading.length);
  const rest = next === -1 ? "" : markdown.slice(next + 1);
  return `${markdown.slice(0, start)}${body}\n${rest === "" ? "" : `\n${rest}`}`;
}

/** The section under `heading` (up to the next `## ` heading), or undefined. */
export function sectionOf(markdown: string, heading: string): string | undefined {
  const start = markdown.startsWith(`${heading}\n`) ? 0 : markdown.indexOf(`\n${heading}\n`) + 1;
  if (start === 0 && !markdown.startsWith(`${heading}\n`)) return undefined;
  const next = markdown.indexOf("\n## ", start + heading.length);
  return markdown.slice(start, next === -1 ? undefined : next + 1).trimEnd();
}

/** Markdown as the repository's prettier writes it (unchanged when prettier is missing). */
export async function formatted(markdown: string): Promise<string> {
  try {
    const prettier = require("prettier") as typeof import("prettier");
    const config = (await prettier.resolveConfig(join(repo, "bench", "results.md"))) ?? {};
    return await prettier.format(markdown, { ...config, parser: "markdown" });
  } catch {
    return markdown;
  }
}
