import { redactCredentials } from "./secret";

/** One thing wrong with a declaration: where it is (`tenants.alice.port`) and what to do. */
export interface Problem {
  readonly path: string;
  readonly message: string;
}

/**
 * The only error the declaration boundary throws. It carries every problem found,
 * so a user fixes them all in one pass; `message` is what the CLI prints.
 */
export class DeclarationError extends Error {
  override readonly name = "DeclarationError";

  constructor(
    readonly file: string,
    readonly problems: readonly Problem[],
  ) {
    super(formatProblems(file, problems));
  }

  /** One line per problem: `<file>: <path>: <message>`. */
  get lines(): string[] {
    return this.problems.map((problem) => formatProblem(this.file, problem));
  }
}

/** A credential put in the wrong place (a key, a host name, a tier) is never repeated back. */
function formatProblem(file: string, { path, message }: Problem): string {
  return redactCredentials(path === "" ? `${file}: ${message}` : `${file}: ${path}: ${message}`);
}

function formatProblems(file: string, problems: readonly Problem[]): string {
  const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
  return [redactCredentials(`${file}: the declaration has ${count}:`), ...problems.map((p) => formatProblem(file, p))].join("\n");
}

/** Joins config path segments the way `pulumi config set --path` spells them. */
export function joinPath(segments: readonly PropertyKey[]): string {
  return segments
    .map((segment, index) => {
      if (typeof segment === "number") return `[${segment}]`;
      const text = String(segment);
      const plain = /^[A-Za-z0-9_-]+$/.test(text);
      if (!plain) return `[${JSON.stringify(text)}]`;
      return index === 0 ? text : `.${text}`;
    })
    .join("");
}
