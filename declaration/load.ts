import { readFileSync, statSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import * as pulumiRuntimeConfig from "@pulumi/pulumi/runtime/config";
import { LineCounter, parseDocument, isAlias, isMap, isScalar, isSeq, type Document, type Node as YamlNode } from "yaml";
import { z } from "zod";
import { DeclarationError, joinPath, type Problem } from "./errors";
import { checkSharedMachines } from "./machines";
import { allocatePorts, type HostPorts } from "./ports";
import {
  compareIds,
  dedicatedTenantSchema,
  hostSchema,
  idPattern,
  idRule,
  imageSchema,
  pathToken,
  sharedTenantSchema,
  tierSchema,
  type DedicatedTenant,
  type DedicatedTenantDecl,
  type Fleet,
  type Host,
  type PurgedTenant,
  type SharedTenant,
  type Tenant,
} from "./schema";
import { SecretValue, looksLikeCredential } from "./secret";

/** The config namespace of the project; keys are `clawfleet:<name>`. */
export const namespace = "clawfleet";
const topLevelKeys = ["image", "hosts", "tenants"] as const;

/**
 * Config paths whose values are secrets. Under `pulumi up` a structured key that holds
 * any secure value arrives decrypted as a whole and marked secret, so these paths say
 * which strings inside it to keep wrapped.
 */
export const secretPaths: readonly string[] = [
  "hosts.*.ssh.privateKey",
  "hosts.*.shared.modelKeys.*",
  "hosts.*.shared.channels.*.token",
  "tenants.*.modelKeys.*",
  "tenants.*.channels.*.token",
];

/** Raw namespace values (`image`, `hosts`, ...) as they came from the stack, secrets wrapped. */
export type RawDeclaration = Record<string, unknown>;

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
  if (!isRecord(root) || !isRecord(root["config"])) {
    throw new DeclarationError(file, [{ path: "", message: "has no config: map; a stack file starts with config: and keys such as clawfleet:hosts" }]);
  }
  const raw: RawDeclaration = {};
  for (const [key, value] of Object.entries(root["config"])) {
    if (key.startsWith(`${namespace}:`)) setOwn(raw, key.slice(namespace.length + 1), value);
  }
  return raw;
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

/**
 * Wraps the strings found at `secretPaths` in SecretValue. Used for config the Pulumi
 * engine has already decrypted and marked secret as a whole. Takes plain JSON values
 * only: the copy it works on would turn a SecretValue already inside into a plain object.
 */
export function wrapSecretPaths(raw: RawDeclaration): RawDeclaration {
  const wrapped = structuredClone(raw);
  for (const pattern of secretPaths) {
    const [top, ...rest] = pattern.split(".");
    if (top === undefined || !(top in wrapped)) continue;
    wrapped[top] = wrapAt(wrapped[top], rest);
  }
  return wrapped;
}

function wrapAt(value: unknown, segments: readonly string[]): unknown {
  if (segments.length === 0) return typeof value === "string" ? new SecretValue(value) : value;
  if (!isRecord(value)) return value;
  const [head, ...rest] = segments;
  const keys = head === "*" ? Object.keys(value) : [head as string];
  for (const key of keys) {
    if (key in value) value[key] = wrapAt(value[key], rest);
  }
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof SecretValue);
}

/** Turns one zod issue into problems at `base` + the issue's path. */
function issueProblems(schema: z.ZodType, base: readonly PropertyKey[], issue: z.core.$ZodIssue): Problem[] {
  const segments = [...base, ...issue.path];
  if (issue.code === "invalid_key") {
    // A record's key failed its own schema: its message says what a key must be.
    return [{ path: joinPath(segments), message: issue.issues[0]?.message ?? "is not a valid name here" }];
  }
  if (issue.code === "unrecognized_keys") {
    const known = knownKeysAt(schema, issue.path);
    return issue.keys.map((key) => ({ path: joinPath([...segments, key]), message: unknownKeyMessage(key, known) }));
  }
  const path = joinPath(segments);
  return [{ path, message: issue.message.replaceAll(pathToken, path) }];
}

function unknownKeyMessage(key: string, known: readonly string[]): string {
  const close = known.filter((candidate) => candidate.toLowerCase() === key.toLowerCase() || editDistance(candidate, key) <= (key.length <= 4 ? 1 : 2));
  if (close.length > 0) return `is not a field clawfleet knows; did you mean ${close.join(" or ")}?`;
  if (known.length > 0) return `is not a field clawfleet knows; the fields here are ${known.join(", ")}`;
  return "is not a field clawfleet knows; check the spelling against the README's declaration reference";
}

/** The keys of the object schema at `path` inside `schema` (through optional, default, record and list). */
function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let current: z.core.$ZodType | undefined = schema;
  let index = 0;
  while (current !== undefined) {
    const def = current._zod.def as z.core.$ZodTypeDef & Record<string, unknown>;
    if (def.type === "optional" || def.type === "default" || def.type === "nullable" || def.type === "prefault") {
      current = def["innerType"] as z.core.$ZodType;
    } else if (def.type === "pipe") {
      current = def["in"] as z.core.$ZodType;
    } else if (index === path.length) {
      return def.type === "object" ? Object.keys(def["shape"] as object) : [];
    } else if (def.type === "object") {
      current = (def["shape"] as Record<string, z.core.$ZodType>)[String(path[index])];
      index += 1;
    } else if (def.type === "record") {
      current = def["valueType"] as z.core.$ZodType;
      index += 1;
    } else if (def.type === "array") {
      current = def["element"] as z.core.$ZodType;
      index += 1;
    } else {
      return [];
    }
  }
  return [];
}

/** Edit distance counting a swap of neighbours as one edit, as in "prot" for "port". */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i += 1) {
    const row = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const above = rows[i - 1] ?? [];
      let best = Math.min((above[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (above[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, (rows[i - 2]?.[j - 2] ?? 0) + 1);
      row[j] = best;
    }
    rows.push(row);
  }
  return rows[a.length]?.[b.length] ?? 0;
}

/** Messages for the cases zod words in its own terms. */
function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code === "invalid_type") {
    if (issue.input === undefined) return "is required";
    if (issue.expected === "int") return `must be a whole number, not ${describeValue(issue.input)}`;
    return `must be ${article(issue.expected)}, not ${describeValue(issue.input)}`;
  }
  if (issue.code === "invalid_value" && issue.values.length === 1) return `must be ${JSON.stringify(issue.values[0])}`;
  if (issue.code === "too_small" || issue.code === "too_big") return describeBound(issue);
  return undefined;
}

function describeBound(issue: z.core.$ZodRawIssue<z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig>): string | undefined {
  const limit = Number(issue.code === "too_small" ? issue.minimum : issue.maximum);
  const inclusive = issue.inclusive !== false;
  if (issue.origin === "number" || issue.origin === "int") {
    if (issue.code === "too_small") return inclusive ? `must be at least ${limit}` : `must be greater than ${limit}`;
    return inclusive ? `must be at most ${limit}` : `must be less than ${limit}`;
  }
  if (issue.origin === "string") {
    if (issue.code === "too_small") return limit <= 1 ? "must not be empty" : `must be at least ${limit} characters long`;
    return `must be at most ${limit} characters long`;
  }
  return undefined;
}

function article(expected: string): string {
  if (expected === "object") return "a map";
  if (expected === "array") return "a list";
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (value instanceof SecretValue) return "a secret";
  if (typeof value === "object") return "a map";
  if (typeof value === "string" && looksLikeCredential(value)) return "a value that looks like a credential";
  if (typeof value === "string") return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  return `${typeof value} ${String(value)}`;
}

function parseWith<T extends z.ZodType>(schema: T, value: unknown, base: readonly PropertyKey[], problems: Problem[]): z.output<T> | undefined {
  const result = schema.safeParse(value, { error: describeIssue });
  if (result.success) return result.data;
  for (const issue of result.error.issues) problems.push(...issueProblems(schema, base, issue));
  return undefined;
}

const credentialScanMessage = "looks like a credential in plain text";

/** Flags credential-looking strings anywhere in the declaration (outside secure values). */
function findPlaintextCredentials(value: unknown, segments: PropertyKey[], problems: Problem[]): void {
  if (typeof value === "string" && looksLikeCredential(value)) {
    const path = joinPath(segments);
    problems.push({
      path,
      message: `${credentialScanMessage}; remove it from the file and keep it in secure config (pulumi config set --secret --path 'clawfleet:${path}' <value>)`,
    });
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => findPlaintextCredentials(item, [...segments, index], problems));
  } else if (isRecord(value)) {
    for (const [key, item] of Object.entries(value)) {
      if (looksLikeCredential(key)) {
        problems.push({
          path: joinPath(segments),
          message:
            "has a key that looks like a credential in plain text (not repeated here); remove it from the file and keep credentials in secure config (pulumi config set --secret)",
        });
        continue;
      }
      findPlaintextCredentials(item, [...segments, key], problems);
    }
  }
}

/** Names every JavaScript object has (`__proto__`, `constructor`): as ids they would break the rendered configs. */
const reservedIds = new Set(Object.getOwnPropertyNames(Object.prototype).filter((name) => idPattern.test(name)));

/** Parses a map whose keys are ids; reports bad ids and an empty or missing map. */
function parseIdMap(raw: RawDeclaration, key: "hosts" | "tenants", problems: Problem[]): [string, unknown][] {
  const value = raw[key];
  if ((value === undefined || value === null) && key === "tenants") return [];
  const example = key === "hosts" ? "gw1: { stateRoot: /data/clawfleet, ports: { from: 18100, to: 18999 } }" : "alice: { tier: dedicated, host: gw1 }";
  if (value === undefined || value === null) {
    problems.push({ path: key, message: `is required; declare at least one under clawfleet:${key}, such as ${example}` });
    return [];
  }
  if (!isRecord(value)) {
    problems.push({ path: key, message: `must be a map of ${key === "hosts" ? "host name" : "tenant id"} to settings, not ${describeValue(value)}` });
    return [];
  }
  const entries = Object.entries(value);
  // A stack may run its hosts with no tenant, so the last tenant can be removed.
  if (entries.length === 0 && key === "hosts") problems.push({ path: key, message: `is empty; declare at least one, such as ${example}` });
  return entries.filter(([id]) => {
    if (looksLikeCredential(id)) return false; // the credential scan reports it, without the id
    if (reservedIds.has(id)) {
      problems.push({
        path: joinPath([key, id]),
        message: `${JSON.stringify(id)} is a name every JavaScript object has, so clawfleet cannot use it as a ${key === "hosts" ? "host name" : "tenant id"}; pick another`,
      });
      return false;
    }
    if (idPattern.test(id)) return true;
    const foreign = [...id].find((char) => char > "\u007f");
    const hint =
      foreign === undefined
        ? ""
        : ` (it contains ${JSON.stringify(foreign)}, U+${(foreign.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}, which only looks like a Latin letter or sign)`;
    problems.push({
      path: joinPath([key, id]),
      message: `${JSON.stringify(id)} is not a valid ${key === "hosts" ? "host name" : "tenant id"}${hint}: ${idRule}`,
    });
    return false;
  });
}

/**
 * The boundary: validates a raw declaration and returns the typed fleet, or throws one
 * DeclarationError that lists every problem. Nothing past this function re-checks input.
 */
export function parseFleet(file: string, raw: RawDeclaration): Fleet {
  const problems: Problem[] = [];
  for (const key of Object.keys(raw)) {
    if (!(topLevelKeys as readonly string[]).includes(key)) {
      problems.push({
        path: joinPath([key]),
        message: `is not a clawfleet setting (${JSON.stringify(`${namespace}:${key}`).slice(1, -1)}); known settings: ${topLevelKeys.map((k) => `clawfleet:${k}`).join(", ")}`,
      });
    }
  }
  findPlaintextCredentials(raw, [], problems);

  const image =
    raw["image"] === undefined
      ? (problems.push({ path: "image", message: "is required: the gateway image reference, such as ghcr.io/openclaw/openclaw:2026.9.6" }), undefined)
      : parseWith(imageSchema, raw["image"], ["image"], problems);

  const hosts = new Map<string, Host>();
  const invalidHosts = new Set<string>();
  for (const [id, value] of parseIdMap(raw, "hosts", problems)) {
    const host = parseWith(hostSchema, value, ["hosts", id], problems);
    if (host === undefined) invalidHosts.add(id);
    else hosts.set(id, { ...host, id });
  }
  for (const host of hosts.values()) checkHost(host, problems);
  problems.push(...checkSharedMachines([...hosts.values()]));

  const dedicated: { id: string; decl: DedicatedTenantDecl }[] = [];
  const shared: SharedTenant[] = [];
  const purged: PurgedTenant[] = [];
  const hostsWithBadRefs = new Set<string>();
  for (const [id, entry] of parseIdMap(raw, "tenants", problems)) {
    const base = ["tenants", id];
    if (!isRecord(entry)) {
      problems.push({ path: joinPath(base), message: `must be a map of tenant settings, not ${describeValue(entry)}` });
      continue;
    }
    const value = { ...entry };
    const tier = tierSchema.safeParse(value["tier"]).data;
    if (tier === undefined) {
      problems.push({
        path: joinPath([...base, "tier"]),
        message:
          value["tier"] === undefined
            ? "is required; set tier: dedicated (its own gateway container) or tier: shared (an agent in the host's shared gateway)"
            : `must be dedicated or shared, not ${describeValue(value["tier"])}`,
      });
      continue;
    }
    if (tier === "dedicated" && "bindings" in value) {
      problems.push({
        path: joinPath([...base, "bindings"]),
        message: "bindings route chats inside a shared gateway; a dedicated tenant gets all of its gateway's chats. Remove bindings or set tier: shared",
      });
      // The remaining fields are still checked, so every problem shows in one pass.
      delete value["bindings"];
      hostsWithBadRefs.add(id);
    }
    const hostId = value["host"];
    if (typeof hostId === "string" && (invalidHosts.has(hostId) || (isRecord(raw["hosts"]) && Object.hasOwn(raw["hosts"], hostId) && !hosts.has(hostId)))) {
      // The host's own problems are reported under hosts.<id>; a second line here would only repeat them.
      hostsWithBadRefs.add(id);
    } else if (typeof hostId === "string" && !hosts.has(hostId)) {
      const declared = [...hosts.keys(), ...invalidHosts];
      const known = declared.length > 10 ? `${declared.slice(0, 10).join(", ")} (and ${declared.length - 10} more)` : declared.join(", ");
      problems.push({
        path: joinPath([...base, "host"]),
        message: `names host ${JSON.stringify(hostId)}, which is not declared; use one of: ${known === "" ? "(no valid hosts)" : known}`,
      });
      hostsWithBadRefs.add(id);
    }
    if (isRecord(value["purge"])) {
      const decl = parseWith(tier === "dedicated" ? dedicatedTenantSchema : sharedTenantSchema, value, base, problems);
      if (decl === undefined || hostsWithBadRefs.has(id)) continue;
      if (decl.purge?.confirm !== id) {
        problems.push({
          path: joinPath([...base, "purge", "confirm"]),
          message: `must repeat the tenant id (${id}) to confirm deleting its state for good; remove purge to keep the state`,
        });
        continue;
      }
      purged.push({ id, tier, host: decl.host });
      continue;
    }
    if (tier === "dedicated") {
      const decl = parseWith(dedicatedTenantSchema, value, base, problems);
      if (decl === undefined || hostsWithBadRefs.has(id)) continue;
      if (decl.movedFrom !== undefined && (decl.movedFrom === decl.host || !hosts.has(decl.movedFrom))) {
        problems.push({
          path: joinPath([...base, "movedFrom"]),
          message:
            decl.movedFrom === decl.host
              ? `is the tenant's own host (${decl.host}); name the host it moves away from, or remove movedFrom`
              : `names host ${JSON.stringify(decl.movedFrom)}, which is not declared; keep the old host declared until the move is deployed`,
        });
        continue;
      }
      if (decl.renamedFrom !== undefined && (decl.renamedFrom === id || (isRecord(raw["tenants"]) && Object.hasOwn(raw["tenants"], decl.renamedFrom)))) {
        problems.push({
          path: joinPath([...base, "renamedFrom"]),
          message:
            decl.renamedFrom === id
              ? `is the tenant's own id; name the id it had before, or remove renamedFrom`
              : `names tenant ${decl.renamedFrom}, which is still declared; remove that tenant in the same change, or remove renamedFrom`,
        });
        continue;
      }
      dedicated.push({ id, decl });
    } else {
      const decl = parseWith(sharedTenantSchema, value, base, problems);
      if (decl === undefined || hostsWithBadRefs.has(id)) continue;
      if (hosts.get(decl.host)?.shared === undefined) {
        problems.push({
          path: joinPath([...base, "host"]),
          message: `host ${decl.host} has no shared gateway; add hosts.${decl.host}.shared: { port: <port> } or set tier: dedicated`,
        });
        continue;
      }
      shared.push({ ...decl, id });
    }
  }

  const hostPorts = new Map<string, HostPorts>([...hosts].map(([id, host]) => [id, { range: host.ports, sharedPort: host.shared?.port }]));
  // Pinned ports claim first, then ids in code-point order: a derived port never takes a pinned one.
  const requests = [...dedicated]
    .sort((a, b) => Number(a.decl.port === undefined) - Number(b.decl.port === undefined) || compareIds(a.id, b.id))
    .map(({ id, decl }) => ({ tenant: id, host: decl.host, pinned: decl.port }));
  const allocation = allocatePorts(requests, hostPorts);
  problems.push(...allocation.problems);

  const tenants: Tenant[] = [];
  for (const { id, decl } of dedicated) {
    const assigned = allocation.ports.get(id);
    if (assigned === undefined) continue;
    const tenant: DedicatedTenant = { ...decl, id, port: assigned.port, portDerived: assigned.derived };
    tenants.push(tenant);
  }
  tenants.push(...shared);
  checkMemoryBudgets(hosts, tenants, problems);
  checkChatClaims(shared, problems);

  if (problems.length > 0 || image === undefined) throw new DeclarationError(file, withoutRepeats(problems));
  return { image, hosts: [...hosts.values()], tenants, purged };
}

/** A plain-text secret at a secret path is reported by its field; the credential scan's line would repeat it. */
function withoutRepeats(problems: readonly Problem[]): Problem[] {
  const isScanLine = (problem: Problem) => problem.message.startsWith(credentialScanMessage);
  const fieldLines = new Set(problems.filter((problem) => !isScanLine(problem)).map((problem) => problem.path));
  return problems.filter((problem) => !isScanLine(problem) || !fieldLines.has(problem.path));
}

/**
 * A chat (channel, account, peer, guild, team) routes to one agent of a shared gateway:
 * two tenants on one host that claim the same one are an error naming both.
 */
function checkChatClaims(shared: readonly SharedTenant[], problems: Problem[]): void {
  const owners = new Map<string, string>();
  for (const tenant of shared) {
    tenant.bindings.forEach((binding, index) => {
      const key = JSON.stringify([tenant.host, binding.channel, binding.accountId, binding.peer?.kind, binding.peer?.id, binding.guildId, binding.teamId]);
      const path = `tenants.${tenant.id}.bindings[${index}]`;
      const owner = owners.get(key);
      if (owner === undefined) {
        owners.set(key, path);
        return;
      }
      if (owner.startsWith(`tenants.${tenant.id}.`)) return; // the same tenant twice routes the same way
      const chat = binding.peer === undefined ? `every ${binding.channel} chat` : `${binding.channel} ${binding.peer.kind} ${binding.peer.id}`;
      problems.push({
        path,
        message: `claims the same chat (${chat}) as ${owner} in host ${tenant.host}'s shared gateway; a chat goes to one agent: remove one of the two bindings`,
      });
    });
  }
}

function checkHost(host: Host, problems: Problem[]): void {
  const base = `hosts.${host.id}`;
  if (host.tailscale.serve && host.tailscale.dnsName === undefined && !(host.ssh?.host.endsWith(".ts.net") ?? false)) {
    problems.push({
      path: `${base}.tailscale.dnsName`,
      message: "is required when serve is true and ssh.host is not a .ts.net name; set the host's MagicDNS name, such as gw1.example.ts.net",
    });
  }
}

/**
 * Reads this stack's `clawfleet:*` config from the Pulumi engine (under `pulumi up` or
 * the mock runtime) and parses it. A key the engine marks secret had secure values
 * inside it; the strings at `secretPaths` are kept wrapped.
 */
export function loadFleetFromPulumiConfig(): Fleet {
  const file = `stacks/Pulumi.${pulumi.getStack()}.yaml`;
  const raw: RawDeclaration = {};
  const secretKeys: RawDeclaration = {};
  for (const [fullKey, text] of Object.entries(pulumi.runtime.allConfig())) {
    if (!fullKey.startsWith(`${namespace}:`)) continue;
    const key = fullKey.slice(namespace.length + 1);
    const target = isConfigSecret(fullKey) ? secretKeys : raw;
    target[key] = parseConfigValue(text);
  }
  return parseFleet(file, { ...raw, ...wrapSecretPaths(secretKeys) });
}

/**
 * The program's entry to the declaration: like loadFleetFromPulumiConfig, but a
 * DeclarationError becomes a RunError, which `pulumi preview`/`up` print as the
 * problem lines alone, without a stack trace.
 */
export function loadFleetForPulumi(): Fleet {
  try {
    return loadFleetFromPulumiConfig();
  } catch (error) {
    if (error instanceof DeclarationError) throw new pulumi.RunError(error.message);
    throw error;
  }
}

/** The SDK knows which keys hold secure values but does not type the function that says so. */
const isConfigSecret = (pulumiRuntimeConfig as unknown as { isConfigSecret(key: string): boolean }).isConfigSecret;

/** Structured config values reach the program as JSON text; plain values as strings. */
function parseConfigValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function checkMemoryBudgets(hosts: ReadonlyMap<string, Host>, tenants: readonly Tenant[], problems: Problem[]): void {
  const byHost = new Map<string, DedicatedTenant[]>();
  for (const tenant of tenants) {
    if (tenant.tier !== "dedicated") continue;
    const list = byHost.get(tenant.host);
    if (list === undefined) byHost.set(tenant.host, [tenant]);
    else list.push(tenant);
  }
  for (const host of hosts.values()) {
    if (host.memoryMb === undefined) continue;
    const dedicated = byHost.get(host.id) ?? [];
    const used = dedicated.reduce((sum, t) => sum + t.memoryMb, 0) + (host.shared?.memoryMb ?? 0);
    if (used > host.memoryMb) {
      problems.push({
        path: `hosts.${host.id}.memoryMb`,
        message: `${host.memoryMb} MB is less than the ${used} MB the gateways on this host may use (${dedicated.length} dedicated${host.shared === undefined ? "" : " + shared"}); raise memoryMb, lower tenants' memoryMb or move tenants to another host`,
      });
    }
  }
}
