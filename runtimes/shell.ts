/**
 * POSIX shell text for commands run on gateway hosts, here or over SSH: by a runtime that
 * runs host commands and by the day-2 commands. Every value is single-quoted.
 */

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * The path of a file shipped with clawfleet (`scripts/backup-gateway.sh`, `runtimes/docker/scripts/preflight.sh`),
 * found from here upwards, so that the CLI's bundle in dist/ finds it as the sources do.
 */
export function shippedFile(relative: string, from = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, relative);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error(`cannot find ${relative} next to clawfleet`);
  }
}

/** Quotes a value as one shell word. */
export function shellQuote(value: string | number): string {
  return `'${String(value).replaceAll("'", `'"'"'`)}'`;
}

/** Runs as root directly, or through password-less sudo for a non-root SSH user. */
/**
 * Shell assignments put before a host script on its stdin: values a command line or the environment would show
 * (credentials). They stay unexported: the script reads them, the programs it runs do not inherit them.
 */
export function secretsPrelude(values: Readonly<Record<string, string>>): string {
  return Object.entries(values)
    .map(([name, value]) => `${name}=${shellQuote(value)}\n`)
    .join("");
}

export const asRoot = `as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }`;

export const fail = `fail() { printf 'clawfleet: %s\\n' "$*" >&2; exit 1; }`;

export function script(...lines: string[]): string {
  return ["set -eu", ...lines].join("\n");
}

/** How an SSH host is reached, with the host key every connection must present. */
export interface SshTarget {
  readonly host: string;
  readonly user: string;
  readonly port: number;
  /** `<type> <base64>`; any other key is refused. */
  readonly hostKey: string;
}

/**
 * OpenSSH client options that accept exactly the declared host key: no known_hosts file is
 * read or written, and the key comes from `KnownHostsCommand` (an absolute program, no shell).
 */
export function sshPinOptions(target: SshTarget): string[] {
  const pattern = target.port === 22 ? target.host : `[${target.host}]:${target.port}`;
  return [
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    `KnownHostsCommand=/bin/echo ${pattern} ${target.hostKey}`,
  ];
}

/** The here-document delimiter of `inlineScript`; a script holding this line cannot be inlined. */
const scriptDelimiter = "CLAWFLEET_SCRIPT";

/**
 * A script file as one command line that runs anywhere a shell does (here, or as an SSH session's command): its text
 * in a quoted here-document, run by `sh -c` under `name`, with the values as positional parameters and `env` as the
 * command's environment, so no value is ever parsed as shell.
 */
export function inlineScript(name: string, text: string, args: readonly (string | number)[], env: Readonly<Record<string, string>> = {}): string {
  const assignments = Object.entries(env).map(([key, value]) => `${key}=${shellQuote(value)} `);
  return `${assignments.join("")}sh -c "${quotedText(name, text, scriptDelimiter)}" ${[name, ...args].map(shellQuote).join(" ")}`;
}

/**
 * A command substitution that gives `text` back as it is: a quoted here-document ending at `delimiter`, so nothing in
 * it is expanded. A text holding `delimiter` as a line would end it early, and is refused, naming `name`.
 */
export function quotedText(name: string, text: string, delimiter: string): string {
  if (text.split("\n").includes(delimiter)) throw new Error(`script ${name} holds the line ${delimiter}, which ends it early`);
  return [`$(cat <<'${delimiter}'`, text.replace(/\n+$/, ""), delimiter, ")"].join("\n");
}

/** The single-quoted words `shellQuote` makes, read back, from the start of `text` up to its end. */
function quotedWords(text: string): string[] {
  const words: string[] = [];
  const word = /'((?:[^']|'"'"')*)'(?: |$)/y;
  while (word.lastIndex < text.length) {
    const match = word.exec(text);
    if (match === null) throw new Error(`not a list of quoted words at ${JSON.stringify(text.slice(word.lastIndex, word.lastIndex + 40))}`);
    words.push((match[1] ?? "").replaceAll(`'"'"'`, "'"));
  }
  return words;
}

/** What `inlineScript` was given, read back from its command line: the script's name, its values and its text. */
export function readInlineScript(command: string): { name: string; text: string; args: string[] } {
  const opening = `sh -c "$(cat <<'${scriptDelimiter}'\n`;
  const closing = `\n${scriptDelimiter}\n)" `;
  const start = command.indexOf(opening);
  const end = command.indexOf(closing);
  if (start < 0 || end < 0) throw new Error("not a command made by inlineScript");
  const [name = "", ...args] = quotedWords(command.slice(end + closing.length));
  return { name, text: command.slice(start + opening.length, end), args };
}

/**
 * The script that readies a copy of a gateway's state for the image preflight, whatever runs it
 * (runtimes/scripts/prepare-trial-state.mjs): it frees openclaw's state owner lease and removes the channels from the
 * copy's config. Run by the image's node as `node --input-type=module -e <text> <state dir> <config file> <fallback>`.
 */
export function trialStateScript(): string {
  trialState ??= readFileSync(shippedFile(join("runtimes", "scripts", "prepare-trial-state.mjs")), "utf8");
  return trialState;
}
let trialState: string | undefined;
