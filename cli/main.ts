import { collectFacts } from "../components/facts";
import { DeclarationError } from "../declaration/errors";
import { diffStackFiles, ReportedError } from "./diff";
import { opsUsage, opsVerbs, runOps } from "./ops/main";
import { planStackFile } from "./plan";
import { renderPlanJson, renderPlanTree } from "./plan-output";

export { stopChildren } from "./ops/host-shell";

const usage = `usage:
  clawfleet plan <stack file> [--json]        resources the stack would register (offline)
  clawfleet diff <base file> <head file> [--markdown]   per-tenant review summary of a change
day-2 operations on the deployed gateways (clawfleet <command> --help for each):
${opsUsage()}`;

const commands = ["plan", "diff", ...opsVerbs];

/** The command a misspelt one was most likely meant to be: one edit away (or a prefix), else none. */
export function nearestCommand(word: string): string | undefined {
  const distance = (a: string, b: string): number => {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let diagonal = row[0] ?? 0;
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const above = row[j] ?? 0;
        row[j] = Math.min(above + 1, (row[j - 1] ?? 0) + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
        diagonal = above;
      }
    }
    return row[b.length] ?? 0;
  };
  return commands.find((c) => distance(word, c) <= (c.length > 4 ? 2 : 1)) ?? commands.find((c) => word.length >= 3 && c.startsWith(word));
}

/** Runs the CLI; returns the exit code. Output goes through the given writers. */
export async function main(argv: readonly string[], out: (text: string) => void, err: (text: string) => void): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== undefined && opsVerbs.includes(command)) return runOps(command, rest, out, err);
  if (command === "--help" || command === "-h" || command === "help") {
    out(usage);
    return 0;
  }
  if (command !== undefined && !commands.includes(command)) {
    const near = command.startsWith("-") ? undefined : nearestCommand(command);
    err(`clawfleet: unknown command ${JSON.stringify(command)}${near === undefined ? "" : `; did you mean ${near}?`}\n${usage}`);
    return 2;
  }
  const flags = new Set(rest.filter((arg) => arg.startsWith("--")));
  const files = rest.filter((arg) => !arg.startsWith("--"));
  try {
    // --facts (not in the usage: diff passes it to the plan it runs) adds what the components state about themselves.
    if (command === "plan" && files.length === 1 && flags.has("--facts") && [...flags].every((f) => f === "--json" || f === "--facts")) {
      const { result: plan, facts } = await collectFacts(() => planStackFile(files[0] as string));
      out(renderPlanJson(plan, facts));
      return 0;
    }
    if (command === "plan" && files.length === 1 && [...flags].every((f) => f === "--json")) {
      const plan = await planStackFile(files[0] as string);
      out(flags.has("--json") ? renderPlanJson(plan) : renderPlanTree(plan));
      return 0;
    }
    if (command === "diff" && files.length === 2 && [...flags].every((f) => f === "--markdown")) {
      out(await diffStackFiles(files[0] as string, files[1] as string, flags.has("--markdown") ? "markdown" : "text"));
      return 0;
    }
    err(usage);
    return 2;
  } catch (error) {
    if (error instanceof DeclarationError || error instanceof ReportedError) {
      err(error.message);
      return 1;
    }
    throw error;
  }
}
