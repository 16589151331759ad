import { DeclarationError } from "../declaration/errors";
import { helpOf, nearestVerb, parseCommandLine, ReportedError, usageOf, UsageError, verbsOf } from "./command-line";
import { commands } from "./commands";
import { OpsError } from "./ops/errors";
import { processRunner, type HostRunner } from "./ops/host-shell";

export { stopChildren } from "./ops/host-shell";

/** Runs the CLI; returns the exit code. Output goes through the given writers, whole lines at a time. */
export async function main(
  argv: readonly string[],
  out: (text: string) => void,
  err: (text: string) => void,
  runner: HostRunner = processRunner,
): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === "--help" || verb === "-h" || verb === "help") {
    (verb === undefined ? err : out)(usageOf(commands));
    return verb === undefined ? 2 : 0;
  }
  if (!verbsOf(commands).includes(verb)) {
    const near = verb.startsWith("-") ? undefined : nearestVerb(commands, verb);
    err(`clawfleet: unknown command ${JSON.stringify(verb)}${near === undefined ? "" : `; did you mean ${near}?`}\n${usageOf(commands)}`);
    return 2;
  }
  try {
    const parsed = parseCommandLine(commands, verb, rest);
    if (parsed.kind === "help") {
      out(parsed.commands.map(helpOf).join("\n\n"));
      return 0;
    }
    return await parsed.command.run(parsed.input, { out, err, runner });
  } catch (error) {
    if (error instanceof UsageError) {
      err(error.message);
      return 2;
    }
    if (error instanceof OpsError) {
      err(error.message.startsWith("clawfleet") ? error.message : `clawfleet: ${error.message}`);
      return error.exitCode;
    }
    if (error instanceof DeclarationError || error instanceof ReportedError) {
      err(error.message);
      return 1;
    }
    throw error;
  }
}
