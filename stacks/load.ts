import * as pulumi from "@pulumi/pulumi";
import * as pulumiRuntimeConfig from "@pulumi/pulumi/runtime/config";
import { parseDocument, isMap, isScalar, isSeq, type Node as YamlNode } from "yaml";
import { z } from "zod";
import { DeclarationError, joinPath, type Problem } from "./errors";
import { allocatePorts, type HostPorts } from "./ports";
import {
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

/**
 * Reads a stack file (`stacks/Pulumi.<stack>.yaml`) without the Pulumi CLI.
 * `secure:` values become placeholders; duplicate keys and syntax errors are problems.
 */
export function readStackFile(file: string, text: string): RawDeclaration {
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  const problems: Problem[] = document.errors.map((error) => {
    const at = error.linePos?.[0];
    const where = at === undefined ? "" : `line ${at.line}, column ${at.col}: `;
    const what = error.code === "DUPLICATE_KEY" ? "a key appears twice in one map; keep one of them" : firstLine(error.message);
    return { path: "", message: `${where}${what}` };
  });
  if (problems.length > 0) throw new DeclarationError(file, problems);

  const root: unknown = document.contents === null ? null : toPlain(document.contents as YamlNode);
  if (!isRecord(root) || !isRecord(root["config"])) {
    throw new DeclarationError(file, [{ path: "", message: "has no config: map; a stack file starts with config: and keys such as clawfleet:hosts" }]);
  }
  const raw: RawDeclaration = {};
  for (const [key, value] of Object.entries(root["config"])) {
    if (key.startsWith(`${namespace}:`)) raw[key.slice(namespace.length + 1)] = value;
  }
  return raw;
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? text;
}

/** Converts YAML nodes to plain values, turning `{ secure: ... }` into SecretValue placeholders. */
function toPlain(node: YamlNode | null): unknown {
  if (node === null) return null;
  if (isScalar(node)) return node.value;
  if (isSeq(node)) return node.items.map((item) => toPlain(item as YamlNode));
  if (isMap(node)) {
    const result: Record<string, unknown> = {};
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      result[key] = toPlain(pair.value as YamlNode | null);
    }
    const keys = Object.keys(result);
    if (keys.length === 1 && keys[0] === "secure" && typeof result["secure"] === "string") {
      return new SecretValue(`[secure:${result["secure"].slice(0, 12)}]`);
    }
    return result;
  }
  return undefined;
}

/**
 * Wraps the strings found at `secretPaths` in SecretValue. Used for config the Pulumi
 * engine has already decrypted and marked secret as a whole.
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
function issueProblems(base: readonly PropertyKey[], issue: z.core.$ZodIssue): Problem[] {
  const segments = [...base, ...issue.path];
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => ({
      path: joinPath([...segments, key]),
      message: "is not a field clawfleet knows; check the spelling against the README's declaration reference",
    }));
  }
  const path = joinPath(segments);
  return [{ path, message: issue.message.replaceAll(pathToken, path) }];
}

/** Messages for the cases zod words in its own terms. */
function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code === "invalid_type") {
    if (issue.input === undefined) return "is required";
    return `must be ${article(issue.expected)}, not ${describeValue(issue.input)}`;
  }
  if (issue.code === "invalid_value" && issue.values.length === 1) return `must be ${JSON.stringify(issue.values[0])}`;
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
  return `${typeof value} ${JSON.stringify(value)}`;
}

function parseWith<T extends z.ZodType>(schema: T, value: unknown, base: readonly PropertyKey[], problems: Problem[]): z.output<T> | undefined {
  const result = schema.safeParse(value, { error: describeIssue });
  if (result.success) return result.data;
  for (const issue of result.error.issues) problems.push(...issueProblems(base, issue));
  return undefined;
}

/** Flags credential-looking strings anywhere in the declaration (outside secure values). */
function findPlaintextCredentials(value: unknown, segments: PropertyKey[], problems: Problem[]): void {
  if (typeof value === "string" && looksLikeCredential(value)) {
    const path = joinPath(segments);
    problems.push({
      path,
      message: `looks like a credential in plain text; remove it from the file and keep it in secure config (pulumi config set --secret --path 'clawfleet:${path}' <value>)`,
    });
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => findPlaintextCredentials(item, [...segments, index], problems));
  } else if (isRecord(value)) {
    for (const [key, item] of Object.entries(value)) findPlaintextCredentials(item, [...segments, key], problems);
  }
}

/** Parses a map whose keys are ids; reports bad ids and an empty or missing map. */
function parseIdMap(raw: RawDeclaration, key: "hosts" | "tenants", problems: Problem[]): [string, unknown][] {
  const value = raw[key];
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
  if (entries.length === 0) problems.push({ path: key, message: `is empty; declare at least one, such as ${example}` });
  return entries.filter(([id]) => {
    if (idPattern.test(id)) return true;
    problems.push({ path: joinPath([key, id]), message: `${JSON.stringify(id)} is not a valid ${key === "hosts" ? "host name" : "tenant id"}: ${idRule}` });
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
        path: key,
        message: `is not a clawfleet setting (clawfleet:${key}); known settings: ${topLevelKeys.map((k) => `clawfleet:${k}`).join(", ")}`,
      });
    }
  }
  findPlaintextCredentials(raw, [], problems);

  const image =
    raw["image"] === undefined
      ? (problems.push({ path: "image", message: "is required: the gateway image reference, such as ghcr.io/openclaw/openclaw:2026.9.6" }), undefined)
      : parseWith(imageSchema, raw["image"], ["image"], problems);

  const hosts = new Map<string, Host>();
  for (const [id, value] of parseIdMap(raw, "hosts", problems)) {
    const host = parseWith(hostSchema, value, ["hosts", id], problems);
    if (host !== undefined) hosts.set(id, { ...host, id });
  }
  for (const host of hosts.values()) checkHost(host, problems);

  const dedicated: { id: string; decl: DedicatedTenantDecl }[] = [];
  const shared: SharedTenant[] = [];
  const hostsWithBadRefs = new Set<string>();
  for (const [id, value] of parseIdMap(raw, "tenants", problems)) {
    const base = ["tenants", id];
    if (!isRecord(value)) {
      problems.push({ path: joinPath(base), message: `must be a map of tenant settings, not ${describeValue(value)}` });
      continue;
    }
    const tier = parseWith(tierSchema, value["tier"], [...base, "tier"], problems);
    if (tier === undefined) continue;
    if (tier === "dedicated" && "bindings" in value) {
      problems.push({
        path: joinPath([...base, "bindings"]),
        message: "bindings route chats inside a shared gateway; a dedicated tenant gets all of its gateway's chats. Remove bindings or set tier: shared",
      });
      continue;
    }
    const hostId = value["host"];
    if (typeof hostId === "string" && !hosts.has(hostId)) {
      const known = [...hosts.keys()].join(", ");
      problems.push({
        path: joinPath([...base, "host"]),
        message: `names host ${JSON.stringify(hostId)}, which is not declared; use one of: ${known === "" ? "(no valid hosts)" : known}`,
      });
      hostsWithBadRefs.add(id);
    }
    if (tier === "dedicated") {
      const decl = parseWith(dedicatedTenantSchema, value, base, problems);
      if (decl !== undefined && !hostsWithBadRefs.has(id)) dedicated.push({ id, decl });
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
  const requests = [...dedicated].sort((a, b) => a.id.localeCompare(b.id)).map(({ id, decl }) => ({ tenant: id, host: decl.host, pinned: decl.port }));
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

  if (problems.length > 0 || image === undefined) throw new DeclarationError(file, problems);
  return { image, hosts: [...hosts.values()], tenants };
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
  for (const host of hosts.values()) {
    if (host.memoryMb === undefined) continue;
    const dedicated = tenants.filter((t): t is DedicatedTenant => t.tier === "dedicated" && t.host === host.id);
    const used = dedicated.reduce((sum, t) => sum + t.memoryMb, 0) + (host.shared?.memoryMb ?? 0);
    if (used > host.memoryMb) {
      problems.push({
        path: `hosts.${host.id}.memoryMb`,
        message: `${host.memoryMb} MB is less than the ${used} MB the gateways on this host may use (${dedicated.length} dedicated${host.shared === undefined ? "" : " + shared"}); raise memoryMb, lower tenants' memoryMb or move tenants to another host`,
      });
    }
  }
}
