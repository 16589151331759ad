import { parseArgs } from "node:util";
import type { HostRunner } from "./ops/host-shell";

/** A failure already worded for the user (printed as is, exit code 1). */
export class ReportedError extends Error {
  override readonly name = "ReportedError";
}

/** A usage problem: printed as one line, exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface OptionSpec {
  readonly type: "boolean" | "string";
  /** One letter that also sets it (`-f`). */
  readonly short?: string;
  /** What its value is, in the usage line and help (`<id>`); string options only. */
  readonly value?: string;
  /** Its line(s) in the command's `--help`. */
  readonly help: string | readonly string[];
}

type Options = Readonly<Record<string, OptionSpec>>;

/** The options a handler receives, typed from its command's table entry. */
export type OptionValues<O extends Options> = { readonly [K in keyof O]: O[K]["type"] extends "boolean" ? boolean : string | undefined };

export interface CommandInput<O extends Options = Options> {
  readonly positionals: readonly string[];
  readonly options: OptionValues<O>;
  /** What a command with `passThrough` hands on: the arguments after its own. */
  readonly passThrough: readonly string[];
}

/** Where a handler writes (whole lines) and how it reaches hosts. */
export interface CommandIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly runner: HostRunner;
}

export interface Command<O extends Options = Options> {
  /** `plan`, or a verb with its subcommand (`pairing list`). */
  readonly name: string;
  /** One line: what it does (in `clawfleet --help` and the command's own). */
  readonly summary: string;
  /** Positional arguments in order; `?` marks an optional one (`<request>?`). */
  readonly args: readonly string[];
  readonly options: O;
  /** Lines of the command's `--help` before its options. */
  readonly help: readonly string[];
  /** The arguments after its own go on to another program, shown as this in the usage line (`<openclaw args...>`). */
  readonly passThrough?: string;
  /** `offline` commands read only the stack file; `day-2` ones reach the hosts. */
  readonly group: "offline" | "day-2";
  readonly run: (input: CommandInput<O>, io: CommandIo) => Promise<number>;
}

/** A table entry, with its handler's options typed from its own `options`. */
export function command<const O extends Options>(spec: Command<O>): Command {
  return spec as unknown as Command;
}

const optional = (arg: string) => arg.endsWith("?");

export function usageLine(spec: Command): string {
  const args = spec.args.map((a) => (optional(a) ? `[${a.slice(0, -1)}]` : a));
  const options = Object.entries(spec.options).map(([name, o]) => (o.type === "string" ? `[--${name} ${o.value ?? "<value>"}]` : `[--${name}]`));
  const rest = spec.passThrough === undefined ? [] : [`-- ${spec.passThrough}`];
  return ["clawfleet", spec.name, ...args, ...options, ...rest].join(" ");
}

/** A command's `--help`: its usage line, summary, the help lines and one aligned entry per option. */
export function helpOf(spec: Command): string {
  const entries = Object.entries(spec.options).map(([name, o]) => {
    const names = [...(o.short === undefined ? [] : [`-${o.short}`]), `--${name}`].join(", ") + (o.type === "string" ? ` ${o.value ?? "<value>"}` : "");
    return { names, help: typeof o.help === "string" ? [o.help] : o.help };
  });
  const width = Math.max(0, ...entries.map((e) => e.names.length)) + 2;
  const optionLines = entries.flatMap(({ names, help }) => help.map((line, i) => `  ${(i === 0 ? names : "").padEnd(width)}${line}`));
  return [`usage: ${usageLine(spec)}`, "", spec.summary, ...(spec.help.length + optionLines.length > 0 ? ["", ...spec.help, ...optionLines] : [])].join("\n");
}

/** `clawfleet --help`: every command's usage line and summary, the offline ones first. */
export function usageOf(table: readonly Command[]): string {
  const lines = (group: Command["group"]) => table.filter((c) => c.group === group).map((c) => `  ${usageLine(c)}\n      ${c.summary}`);
  return ["usage:", ...lines("offline"), "day-2 operations on the deployed gateways (clawfleet <command> --help for each):", ...lines("day-2")].join("\n");
}

/** The first word of every command (`pairing` for `pairing list`), in table order. */
export function verbsOf(table: readonly Command[]): string[] {
  return [...new Set(table.map((c) => c.name.split(" ")[0] ?? c.name))];
}

/** The command a misspelt verb was most likely meant to be: one edit away (two for a long one), or a prefix; else none. */
export function nearestVerb(table: readonly Command[], word: string): string | undefined {
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
  const verbs = verbsOf(table);
  return verbs.find((c) => distance(word, c) <= (c.length > 4 ? 2 : 1)) ?? verbs.find((c) => word.length >= 3 && c.startsWith(word));
}

export type Parsed =
  | { readonly kind: "run"; readonly command: Command; readonly input: CommandInput }
  /** `--help` of one command, or of every subcommand of a verb (`pairing --help`). */
  | { readonly kind: "help"; readonly commands: readonly Command[] };

/** The option named in one of parseArgs' errors (`Unknown option '--jsno'. ...`). */
function optionIn(error: Error): string {
  return /'(-[^' ]+)/.exec(error.message)?.[1] ?? "option";
}

/**
 * Picks the command `argv` names from the table and parses its arguments (parseArgs, strict).
 * `argv` starts after the verb's words are known to be in the table; a usage problem is a UsageError.
 */
export function parseCommandLine(table: readonly Command[], verb: string, argv: readonly string[]): Parsed {
  let rest = [...argv];
  let spec = table.find((c) => c.name === verb);
  if (spec === undefined) {
    const subcommands = table.filter((c) => c.name.startsWith(`${verb} `));
    const sub = rest[0];
    if (sub === undefined || sub === "--help" || sub === "-h") return { kind: "help", commands: subcommands };
    spec = subcommands.find((c) => c.name === `${verb} ${sub}`);
    if (spec === undefined)
      throw new UsageError(`clawfleet ${verb}: unknown command ${JSON.stringify(sub)}; use one of: ${subcommands.map((c) => c.name).join(", ")}`);
    rest = rest.slice(1);
  }
  const name = spec.name;
  const dashes = rest.indexOf("--");
  let own = dashes === -1 ? rest : rest.slice(0, dashes);
  let passThrough = dashes === -1 ? [] : rest.slice(dashes + 1);
  if (spec.passThrough === undefined && passThrough.length > 0)
    throw new UsageError(
      `clawfleet ${name}: unexpected ${passThrough.map((a) => JSON.stringify(a)).join(" ")} after --; only exec passes arguments on to the gateway`,
    );
  const options = {
    ...Object.fromEntries(Object.entries(spec.options).map(([key, o]) => [key, { type: o.type, ...(o.short === undefined ? {} : { short: o.short }) }])),
    help: { type: "boolean", short: "h" },
  } as const;
  if (spec.passThrough !== undefined) {
    // Without `--`, everything after the last positional belongs to the other program.
    const { tokens } = parseArgs({ args: own, options, strict: false, allowPositionals: true, tokens: true });
    const last = tokens.filter((t) => t.kind === "positional")[spec.args.length - 1];
    if (last !== undefined) {
      passThrough = [...own.slice(last.index + 1), ...passThrough];
      own = own.slice(0, last.index + 1);
    }
  }
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof options; strict: true; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: own, options, strict: true, allowPositionals: true });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION")
      throw new UsageError(`clawfleet ${name}: unknown option ${optionIn(error as Error)}; see clawfleet ${name} --help`);
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
      const option = optionIn(error as Error);
      const named = option.startsWith("--") ? spec.options[option.slice(2)] : Object.values(spec.options).find((o) => `-${o.short}` === option);
      throw new UsageError(`clawfleet ${name}: ${option} ${named?.type === "string" ? "needs a value" : "takes no value"}; see clawfleet ${name} --help`);
    }
    throw error;
  }
  const { help, ...values } = parsed.values as Record<string, string | boolean | undefined>;
  if (help === true) return { kind: "help", commands: [spec] };
  const positionals = parsed.positionals;
  const required = spec.args.filter((a) => !optional(a)).length;
  if (positionals.length < required)
    throw new UsageError(`clawfleet ${name}: missing ${spec.args[positionals.length] ?? "argument"}; usage: ${usageLine(spec)}`);
  if (positionals.length > spec.args.length)
    throw new UsageError(`clawfleet ${name}: unexpected argument ${JSON.stringify(positionals[spec.args.length])}; usage: ${usageLine(spec)}`);
  if (spec.passThrough !== undefined && passThrough.length === 0) throw new UsageError(`clawfleet ${name}: nothing to run; usage: ${usageLine(spec)}`);
  const typed = Object.fromEntries(Object.entries(spec.options).map(([key, o]) => [key, o.type === "boolean" ? values[key] === true : values[key]]));
  return { kind: "run", command: spec, input: { positionals, options: typed as OptionValues<Options>, passThrough } };
}
