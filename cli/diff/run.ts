// `clawfleet diff`: plans both stack files, each in a child process of its own, then compares and renders them.
import { spawn } from "node:child_process";
import { DeclarationError } from "../../declaration/errors";
import { readStackFileText } from "../../declaration/stack-file";
import { ReportedError } from "../command-line";
import { cliEntry, stackNameOf, stackNameProblem } from "../plan";
import { diffPlans, type PlanForDiff } from "./compare";
import { renderDiffMarkdown, renderDiffText } from "./render";

/**
 * Runs `clawfleet plan <file> --json` in a child process with an IPC channel: the child
 * exits when the channel closes, so it never outlives this process, however that ends.
 */
function planInChild(file: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliEntry, "plan", file, "--json", "--facts"], {
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    child.channel?.unref();
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(stdout).toString("utf8"), stderr: Buffer.concat(stderr).toString("utf8") }));
  });
}

/** Plans a stack file in its own process (the mock runtime is process-wide). An empty file is an empty fleet. */
async function planJson(file: string): Promise<PlanForDiff> {
  let text: string;
  try {
    text = readStackFileText(file);
  } catch (error) {
    if (error instanceof DeclarationError) throw new ReportedError(error.message);
    throw error;
  }
  if (text.trim() === "") return { resources: [], facts: [] };
  const { code, stdout, stderr } = await planInChild(file);
  if (code !== 0) throw new ReportedError(stderr.trimEnd() || `clawfleet plan ${file} exited with ${String(code)}`);
  const { resources, facts } = JSON.parse(stdout) as PlanForDiff;
  return { resources, facts };
}

export async function diffStackFiles(baseFile: string, headFile: string, format: "text" | "markdown"): Promise<string> {
  const nameProblem = stackNameProblem(headFile);
  if (nameProblem !== undefined) throw new DeclarationError(headFile, [nameProblem]);
  // Both files are planned to the end, so two broken files report both, base first.
  const [base, head] = await Promise.allSettled([planJson(baseFile), planJson(headFile)]);
  const failures = [base, head].flatMap((result) => (result.status === "rejected" ? [result.reason as unknown] : []));
  if (failures.length > 0) {
    if (failures.every((failure) => failure instanceof ReportedError)) throw new ReportedError(failures.map((f) => (f as Error).message).join("\n"));
    throw failures.find((failure) => !(failure instanceof ReportedError));
  }
  const diff = diffPlans(stackNameOf(headFile), (base as PromiseFulfilledResult<PlanForDiff>).value, (head as PromiseFulfilledResult<PlanForDiff>).value);
  return format === "markdown" ? renderDiffMarkdown(diff) : renderDiffText(diff);
}
