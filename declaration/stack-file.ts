import { readFileSync, statSync } from "node:fs";
import { LineCounter, parseDocument, isAlias, isMap, isScalar, isSeq, type Document, type Node as YamlNode } from "yaml";
import { DeclarationError, joinPath, type Problem } from "./errors";
import { readPlainYaml } from "./plain-yaml";
import { isRecord, namespace, type RawDeclaration } from "./raw";
import { SecretValue } from "./secret";

/** Larger than any real fleet's file (1000 tenants take about 250 kB); reading stops before parsing. */
export const maxStackFileBytes = 16 * 1024 * 1024;

/**
 * Reads a stack file from disk: a missing, unreadable or oversized file, or a
 * directory, is a DeclarationError that says so, never a system error.
 */
export function readStackFileText(file: string): string {
  const fail = (message: string): never => {
    throw new DeclarationError(file, [{ path: "", message }]);
  };
  let size = 0;
  try {
    const stat = statSync(file);
    if (stat.isDirectory()) fail("is a directory; give the path of a stack file, such as stacks/Pulumi.dev.yaml");
    if (!stat.isFile()) fail("is not a regular file; give the path of a stack file, such as stacks/Pulumi.dev.yaml");
    size = stat.size;
  } catch (error) {
    if (error instanceof DeclarationError) throw error;
    fail(fileErrorMessage(error));
  }
  if (size > maxStackFileBytes) {
    fail(
      `is ${(size / 1048576).toFixed(1)} MB; a stack file may be at most ${maxStackFileBytes / 1048576} MB (about 60,000 tenants): split the fleet into stacks`,
    );
  }
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    return fail(fileErrorMessage(error));
  }
}

function fileErrorMessage(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (code === "ENOENT") return "does not exist; give the path of a stack file, such as stacks/Pulumi.dev.yaml";
  if (code === "EACCES" || code === "EPERM") return "cannot be read (permission denied); make it readable by this user";
  if (code === "EISDIR") return "is a directory; give the path of a stack file, such as stacks/Pulumi.dev.yaml";
  return `cannot be read (${typeof code === "string" ? code : "unknown error"}); check the path and the file`;
}

/**
 * Reads a stack file (`stacks/Pulumi.<stack>.yaml`) without the Pulumi CLI.
 * `secure:` values become placeholders; duplicate keys (also two spellings of one key,
 * such as 1 and "1"), syntax errors, values YAML would change (0x10, +012, digits past
 * 2^53, !!timestamp) and nesting past any real declaration are problems.
 */
export function readStackFile(file: string, text: string): RawDeclaration {
  if (text.length > maxStackFileBytes) {
    throw new DeclarationError(file, [{ path: "", message: `is larger than ${maxStackFileBytes / 1048576} MB; split the fleet into stacks` }]);
  }
  // Most files are plain YAML, which a simpler reader takes in a fraction of the time; it leaves anything else to the full parse.
  const root = readPlainYaml(text, maxDepth) ?? readYamlDocument(file, text);
  if (!isRecord(root) || !isRecord(root["config"])) {
    throw new DeclarationError(file, [{ path: "", message: "has no config: map; a stack file starts with config: and keys such as clawfleet:hosts" }]);
  }
  const raw: RawDeclaration = {};
  for (const [key, value] of Object.entries(root["config"])) {
    if (key.startsWith(`${namespace}:`)) setOwn(raw, key.slice(namespace.length + 1), value);
  }
  return raw;
}

/** The full YAML parse of a stack file, with every problem it finds (readStackFile uses it when readPlainYaml declines). */
export function readYamlDocument(file: string, text: string): unknown {
  const lineCounter = new LineCounter();
  // Duplicate keys are found below with one lookup per key (the parser's own check compares each key with all others).
  const document = parseDocument(text, { uniqueKeys: false, prettyErrors: false, lineCounter });
  const seen = new Set<string>();
  const problems: Problem[] = [];
  for (const error of document.errors) {
    const at = lineCounter.linePos(error.pos[0]);
    const message = `line ${at.line}, column ${at.col}: ${syntaxMessage(error.code, error.message)}`;
    // The parser can report one unclosed bracket twice at the same place.
    if (!seen.has(message)) problems.push({ path: "", message });
    seen.add(message);
  }
  if (problems.length > 0) throw new DeclarationError(file, problems);

  const context: PlainContext = { file, document, text, lineCounter, aliases: 0, problems: [] };
  const root: unknown = document.contents === null ? null : toPlain(document.contents as YamlNode, context, [], 0);
  if (context.problems.length > 0) throw new DeclarationError(file, context.problems);
  return root;
}

/** The parser's messages, where they speak of its own internals, in the user's terms. */
function syntaxMessage(code: string, message: string): string {
  if (code === "MULTIPLE_DOCS") {
    return "a second YAML document starts here (---); a stack file is one document: remove the --- line and merge or delete what follows";
  }
  if (message.startsWith("Maximum call stack size exceeded")) {
    return `nests too deeply to read; a declaration needs fewer than ${maxDepth} levels (config, clawfleet:tenants, id, field, ...)`;
  }
  return firstLine(message);
}

/** Plain assignment of `__proto__` would set the prototype and drop the key from the declaration. */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? text;
}

/** Bounds alias expansion, so a small file cannot expand into a huge or endless value. */
const maxAliasExpansions = 1000;
/** Deeper than any declaration (config, clawfleet:tenants, id, channels, telegram, allowFrom, item is 7). */
const maxDepth = 32;

interface PlainContext {
  readonly file: string;
  readonly document: Document;
  readonly text: string;
  readonly lineCounter: LineCounter;
  aliases: number;
  readonly problems: Problem[];
}

/** YAML tags whose values are plain JSON: anything else (!!timestamp, !!binary, !!set) has no place in config. */
const plainTags = new Set(["tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"]);

/** Where a node is: its config path inside the clawfleet namespace (or "" outside it) and its line and column. */
function locate(node: YamlNode, segments: readonly PropertyKey[], context: PlainContext): { path: string; at: string } {
  const position = context.lineCounter.linePos(node.range?.[0] ?? 0);
  const [top, second, ...rest] = segments;
  const inNamespace = top === "config" && typeof second === "string" && second.startsWith(`${namespace}:`);
  return {
    path: inNamespace ? joinPath([second.slice(namespace.length + 1), ...rest]) : "",
    at: `line ${position.line}, column ${position.col}`,
  };
}

function report(node: YamlNode, segments: readonly PropertyKey[], context: PlainContext, message: string): void {
  const { path, at } = locate(node, segments, context);
  context.problems.push({ path, message: `${at}: ${message}` });
}

/** The text of a scalar as written in the file. */
function sourceOf(node: YamlNode, context: PlainContext): string {
  const range = node.range;
  return range === undefined || range === null ? "" : context.text.slice(range[0], range[1]).trim();
}

/** A number written so that YAML reads something else than a reader sees: 0x10, +012, 1e3, digits past 2^53. */
function numberProblem(value: number, source: string): string | undefined {
  const decimal = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/.test(source);
  if (!decimal) {
    return `${source} is read as the number ${String(value)}; write ${Number.isFinite(value) ? String(value) : "a decimal number"}, or quote it ("${source}") to keep it as text`;
  }
  if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
    return `${source} has more digits than a number keeps (above 2^53) and would be read as ${String(value)}; quote it ("${source}")`;
  }
  return undefined;
}

/**
 * Converts YAML nodes to plain values, turning `{ secure: ... }` into SecretValue placeholders.
 * Problems go to `context.problems`, with the config path and the line.
 */
function toPlain(node: YamlNode | null, context: PlainContext, segments: PropertyKey[], depth: number): unknown {
  if (node === null) return null;
  if (depth > maxDepth) {
    report(node, segments, context, `nests more than ${maxDepth} levels deep; no declaration needs that many: flatten it`);
    return null;
  }
  if (isAlias(node)) {
    context.aliases += 1;
    if (context.aliases > maxAliasExpansions) {
      throw new DeclarationError(context.file, [
        { path: "", message: `expands more than ${maxAliasExpansions} aliases (*name); write the values out instead of nesting aliases` },
      ]);
    }
    return toPlain((node.resolve(context.document) as YamlNode | undefined) ?? null, context, segments, depth + 1);
  }
  if (isScalar(node)) {
    const value = node.value;
    if (typeof node.tag === "string" && !plainTags.has(node.tag)) {
      report(
        node,
        segments,
        context,
        `${node.tag.replace(/^tag:yaml\.org,2002:/, "!!")} values are not supported in a stack file; quote the value to keep it as text`,
      );
      return null;
    }
    if (typeof value === "number" && node.type === "PLAIN") {
      const problem = numberProblem(value, sourceOf(node, context));
      if (problem !== undefined) report(node, segments, context, problem);
    }
    if (value !== null && typeof value === "object") {
      report(node, segments, context, "is a value YAML reads as an object; quote it to keep it as text");
      return null;
    }
    return value;
  }
  if (isSeq(node)) return node.items.map((item, index) => toPlain(item as YamlNode, context, [...segments, index], depth + 1));
  if (isMap(node)) {
    if (typeof node.tag === "string" && node.tag !== "tag:yaml.org,2002:map") {
      report(node, segments, context, `${node.tag.replace(/^tag:yaml\.org,2002:/, "!!")} values are not supported in a stack file; write a plain map`);
      return null;
    }
    const result: Record<string, unknown> = {};
    const keys = new Map<string, YamlNode>();
    for (const pair of node.items) {
      const keyNode = pair.key as YamlNode | null;
      if (keyNode === null || !isScalar(keyNode) || (keyNode.value !== null && typeof keyNode.value === "object")) {
        if (keyNode !== null) report(keyNode, segments, context, "a key must be a name, not a list or map; write the key as text");
        else if (pair.value !== null) report(pair.value as YamlNode, segments, context, "has no key; write key: value");
        continue;
      }
      const key = String(keyNode.value);
      const source = sourceOf(keyNode, context);
      if (typeof keyNode.value !== "string" && keyNode.type === "PLAIN" && source !== key) {
        report(keyNode, [...segments, key], context, `key ${source} is read as ${key}; quote it ("${source}") or write ${key}`);
      }
      const earlier = keys.get(key);
      if (earlier !== undefined) {
        const earlierSource = sourceOf(earlier, context);
        report(
          keyNode,
          [...segments, key],
          context,
          earlierSource === source
            ? `key ${source} appears twice in one map; keep one of them`
            : `key ${source} is the same key as ${earlierSource} on line ${context.lineCounter.linePos(earlier.range?.[0] ?? 0).line} (both are read as ${key}); keep one of them`,
        );
        continue;
      }
      keys.set(key, keyNode);
      setOwn(result, key, toPlain(pair.value as YamlNode | null, context, [...segments, key], depth + 1));
    }
    if (keys.size === 1 && keys.has("secure") && typeof result["secure"] === "string") {
      return new SecretValue(`[secure:${result["secure"].slice(0, 12)}]`);
    }
    return result;
  }
  return undefined;
}
