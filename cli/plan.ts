import { basename, join } from "node:path";
import { DeclarationError, type Problem } from "../declaration/errors";
import { parseFleet } from "../declaration/parse";
import { namespace, type RawDeclaration } from "../declaration/raw";
import { readStackFile, readStackFileText } from "../declaration/stack-file";
import { SecretValue } from "../declaration/secret";
import { runUnderMocks, type MockRunOptions, type PlannedResource } from "./mock-run";
import { runtimeChecks } from "./runtime";

export const project = "clawfleet";

/** The CLI's own entry, bin/clawfleet.js: this file and the bundle in dist/ both sit one folder below the root. */
export const cliEntry = join(__dirname, "..", "bin", "clawfleet.js");

/** `stacks/Pulumi.dev.yaml` -> `dev`. */
export function stackNameOf(file: string): string {
  const match = /^Pulumi\.(.+)\.ya?ml$/.exec(basename(file));
  return match?.[1] ?? basename(file).replace(/\.ya?ml$/, "");
}

/** Pulumi's rule for a stack name (the part after any org/project). */
const stackNamePattern = /^[A-Za-z0-9_.-]{1,100}$/;

/** The problem with the stack name a file's name gives, if any. */
export function stackNameProblem(file: string): Problem | undefined {
  const stack = stackNameOf(file);
  if (stackNamePattern.test(stack)) return undefined;
  return {
    path: "",
    message: `the file name gives the stack name ${JSON.stringify(stack)}, which Pulumi refuses; name the file Pulumi.<stack>.yaml with a stack name of 1-100 characters from A-Z, a-z, 0-9, '-', '_' and '.'`,
  };
}

function holdsSecretValue(value: unknown): boolean {
  if (value instanceof SecretValue) return true;
  if (Array.isArray(value)) return value.some(holdsSecretValue);
  if (typeof value === "object" && value !== null) return Object.values(value).some(holdsSecretValue);
  return false;
}

/** The config the Pulumi engine would hand the program for this declaration. */
export function engineConfigOf(raw: RawDeclaration): { config: Record<string, string>; secretKeys: string[] } {
  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    const fullKey = `${namespace}:${key}`;
    config[fullKey] = typeof value === "string" ? value : JSON.stringify(value);
    if (holdsSecretValue(value)) secretKeys.push(fullKey);
  }
  return { config, secretKeys };
}

export interface Plan {
  readonly stack: string;
  readonly resources: PlannedResource[];
  /** The program's exports (stack outputs). */
  readonly outputs: unknown;
}

/**
 * Evaluates the real program (index.ts) for one stack file under the mock runtime.
 * Secure values become placeholders, random values are deterministic. Throws
 * DeclarationError for an invalid declaration, before any resource is registered.
 */
/** The stack file this process planned: Node loads the program once, so a second plan would repeat the first one's resources. */
let planned: string | undefined;

export async function planStackFile(file: string, options: Pick<MockRunOptions, "knownOutputs"> = {}): Promise<Plan> {
  if (planned !== undefined) throw new Error(`the program runs once per process and ran for ${planned}; plan ${file} in a process of its own`);
  const nameProblem = stackNameProblem(file);
  let raw: RawDeclaration;
  try {
    raw = readStackFile(file, readStackFileText(file));
    // The file states which values are secure; the engine only says which keys hold one.
    parseFleet(file, raw, runtimeChecks);
  } catch (error) {
    if (nameProblem !== undefined && error instanceof DeclarationError) throw new DeclarationError(file, [nameProblem, ...error.problems]);
    throw error;
  }
  if (nameProblem !== undefined) throw new DeclarationError(file, [nameProblem]);
  const stack = stackNameOf(file);
  const { config, secretKeys } = engineConfigOf(raw);
  planned = file;
  const { resources, outputs } = await runUnderMocks({
    project,
    stack,
    config,
    secretKeys,
    program: () => require("../index") as unknown,
    ...options,
  });
  return { stack, resources, outputs };
}
