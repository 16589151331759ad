import { SecretValue } from "./secret";

/**
 * A fast reader for the YAML that stack files are written in: block maps, block lists of
 * one-line items, one-line flow maps and lists, plain, single- and double-quoted scalars
 * without escapes, and comments. It returns what readStackFile's full parse returns for the
 * same text (secure values as SecretValue placeholders), or undefined when the text uses
 * anything else or anything the full parse would report (duplicate keys, numbers YAML reads
 * differently than written, tags, aliases, deep nesting): the full parse then reads it and
 * says what is wrong. The full parser takes seconds for tens of thousands of tenants.
 */
export function readPlainYaml(text: string, maxDepth: number): unknown {
  if (/[\t\r\uFEFF]/.test(text)) return undefined;
  const lines: Line[] = [];
  for (const raw of text.split("\n")) {
    const content = raw.trimStart();
    if (content === "" || content.startsWith("#")) continue;
    const indent = raw.length - content.length;
    // Document markers and directives start at column 0.
    if (indent === 0 && (content.startsWith("---") || content.startsWith("...") || content.startsWith("%"))) return undefined;
    lines.push({ indent, text: content.trimEnd() });
  }
  if (lines.length === 0 || (lines[0] as Line).indent !== 0) return undefined;
  const reader = new BlockReader(lines, maxDepth);
  try {
    const root = reader.map(0, 0);
    return reader.done() ? root : undefined;
  } catch (error) {
    if (error === notPlain) return undefined;
    throw error;
  }
}

interface Line {
  readonly indent: number;
  readonly text: string;
}

/** Thrown inside the reader when the text leaves the subset it reads. */
const notPlain = Symbol("not plain YAML");

function fail(): never {
  throw notPlain;
}

/** A key the full parse reads as the same string: a plain name that no YAML 1.2 core rule turns into null or a boolean. */
const plainKey = /^[A-Za-z_][A-Za-z0-9_./-]*(?::[A-Za-z0-9_./-]+)*$/;
const keyWords = new Set(["null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE"]);

function checkedKey(key: string): string {
  if (!plainKey.test(key) || keyWords.has(key)) fail();
  return key;
}

/** Sets a key as the full parse does (an own property, also for `__proto__`); a repeated key is for the full parse to report. */
function setKey(target: Record<string, unknown>, key: string, value: unknown): void {
  if (Object.hasOwn(target, key)) fail();
  if (key === "__proto__") Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/** `{ secure: ... }` is a secure value, as readStackFile's full parse reads it. */
function finishMap(map: Record<string, unknown>): unknown {
  const keys = Object.keys(map);
  if (keys.length === 1 && keys[0] === "secure" && typeof map["secure"] === "string") return new SecretValue(`[secure:${map["secure"].slice(0, 12)}]`);
  return map;
}

/** A plain scalar's value by the YAML 1.2 core schema, for the forms whose reading is plain; anything else is left to the full parse. */
function plainValue(text: string): unknown {
  if (text === "null" || text === "Null" || text === "NULL" || text === "~") return null;
  if (text === "true" || text === "True" || text === "TRUE") return true;
  if (text === "false" || text === "False" || text === "FALSE") return false;
  if (/^[-+.0-9]/.test(text)) {
    if (/^(-?[1-9][0-9]*|0)$/.test(text) && Number.isSafeInteger(Number(text))) return Number(text);
    if (/^([1-9][0-9]*|0)\.[0-9]+$/.test(text) && text.length <= 15) return Number(text);
    fail();
  }
  return text;
}

/** The start of a plain scalar the full parse reads as one: no indicator character. */
const plainStart = /^[A-Za-z0-9/._+~-]/;

function blockPlain(line: string): unknown {
  const comment = line.indexOf(" #");
  const text = comment === -1 ? line : line.slice(0, comment).trimEnd();
  if (!plainStart.test(text) || text.startsWith("- ") || text === "-") fail();
  if (text.includes(": ") || text.endsWith(":") || text.includes(" #") || /[[\]{},"]/.test(text)) fail();
  return plainValue(text);
}

class BlockReader {
  private next = 0;
  constructor(
    private readonly lines: readonly Line[],
    private readonly maxDepth: number,
  ) {}

  done(): boolean {
    return this.next === this.lines.length;
  }

  private peek(): Line | undefined {
    return this.lines[this.next];
  }

  /** A block map whose keys sit at `indent`. */
  map(indent: number, depth: number): unknown {
    if (depth > this.maxDepth - 2) fail();
    const map: Record<string, unknown> = {};
    for (let line = this.peek(); line !== undefined && line.indent === indent; line = this.peek()) {
      if (line.text.startsWith("-")) fail();
      this.next += 1;
      const split = line.text.indexOf(": ");
      const key = checkedKey(split === -1 ? (line.text.endsWith(":") ? line.text.slice(0, -1) : fail()) : line.text.slice(0, split));
      const rest = split === -1 ? "" : line.text.slice(split + 2).trim();
      let value: unknown;
      if (rest !== "") value = inlineValue(rest, depth + 1);
      else {
        const below = this.peek();
        if (below !== undefined && below.indent > indent)
          value = below.text.startsWith("- ") ? this.list(below.indent, depth + 1) : this.map(below.indent, depth + 1);
        else if (below !== undefined && below.indent === indent && below.text.startsWith("- ")) value = this.list(indent, depth + 1);
        else value = null;
      }
      setKey(map, key, value);
    }
    const after = this.peek();
    if (after !== undefined && after.indent > indent) fail();
    return finishMap(map);
  }

  /** A block list of one-line items at `indent`. */
  private list(indent: number, depth: number): unknown[] {
    if (depth > this.maxDepth - 2) fail();
    const items: unknown[] = [];
    for (let line = this.peek(); line !== undefined && line.indent === indent && line.text.startsWith("- "); line = this.peek()) {
      this.next += 1;
      items.push(inlineValue(line.text.slice(2).trim(), depth + 1));
    }
    const after = this.peek();
    if (after !== undefined && after.indent > indent) fail();
    return items;
  }
}

/** A value that ends on its line: a flow map or list, a quoted or a plain scalar, then at most a comment. */
function inlineValue(text: string, depth: number): unknown {
  if (text.startsWith("{") || text.startsWith("[") || text.startsWith('"') || text.startsWith("'")) {
    const reader = new FlowReader(text, depth);
    const value = reader.value();
    reader.end();
    return value;
  }
  return blockPlain(text);
}

/** One line of flow YAML: `{ key: value, ... }`, `[a, b]`, quoted and plain scalars. */
class FlowReader {
  private at = 0;
  constructor(
    private readonly text: string,
    private readonly depth: number,
  ) {}

  private spaces(): void {
    while (this.text[this.at] === " ") this.at += 1;
  }

  /** Only spaces, or a comment after a space, may follow the value. */
  end(): void {
    const rest = this.text.slice(this.at);
    if (rest !== "" && !/^ +(#.*)?$/.test(rest)) fail();
  }

  value(depth = this.depth): unknown {
    if (depth > 30) fail();
    const first = this.text[this.at];
    if (first === "{") return this.map(depth);
    if (first === "[") return this.list(depth);
    if (first === '"' || first === "'") return this.quoted();
    return plainValue(this.plain());
  }

  private map(depth: number): unknown {
    this.at += 1;
    const map: Record<string, unknown> = {};
    this.spaces();
    if (this.text[this.at] === "}") {
      this.at += 1;
      return map;
    }
    for (;;) {
      const key = checkedKey(this.plain());
      if (this.text[this.at] !== ":" || this.text[this.at + 1] !== " ") fail();
      this.at += 2;
      this.spaces();
      setKey(map, key, this.value(depth + 1));
      this.spaces();
      const next = this.text[this.at];
      this.at += 1;
      if (next === "}") return finishMap(map);
      if (next !== ",") fail();
      this.spaces();
      if (this.text[this.at] === "}") fail();
    }
  }

  private list(depth: number): unknown[] {
    this.at += 1;
    const items: unknown[] = [];
    this.spaces();
    if (this.text[this.at] === "]") {
      this.at += 1;
      return items;
    }
    for (;;) {
      items.push(this.value(depth + 1));
      this.spaces();
      const next = this.text[this.at];
      this.at += 1;
      if (next === "]") return items;
      if (next !== ",") fail();
      this.spaces();
      if (this.text[this.at] === "]") fail();
    }
  }

  /** A quoted scalar on this line; escapes and folding are for the full parse. */
  private quoted(): string {
    const quote = this.text[this.at] as string;
    let value = "";
    for (let at = this.at + 1; at < this.text.length; at += 1) {
      const char = this.text[at] as string;
      if (char === "\\" && quote === '"') fail();
      if (char !== quote) {
        value += char;
        continue;
      }
      if (quote === "'" && this.text[at + 1] === "'") {
        value += "'";
        at += 1;
        continue;
      }
      this.at = at + 1;
      return value;
    }
    return fail();
  }

  /** A plain scalar inside flow: up to `,`, a closing bracket, or `: `. */
  private plain(): string {
    const start = this.at;
    while (this.at < this.text.length && !",[]{}".includes(this.text[this.at] as string) && !(this.text[this.at] === ":" && this.text[this.at + 1] === " ")) {
      if (this.text[this.at] === "#" && this.text[this.at - 1] === " ") fail();
      if (this.text[this.at] === ":" && (this.text[this.at + 1] === undefined || ",[]{}".includes(this.text[this.at + 1] as string))) fail();
      this.at += 1;
    }
    const text = this.text.slice(start, this.at).trimEnd();
    if (text === "" || !plainStart.test(text) || text.startsWith("- ") || text === "-" || text.includes(":") || text.includes('"')) fail();
    return text;
  }
}
