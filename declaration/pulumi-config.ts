import * as pulumi from "@pulumi/pulumi";
import * as pulumiRuntimeConfig from "@pulumi/pulumi/runtime/config";
import { DeclarationError } from "./errors";
import { parseFleet, type RuntimeCheck } from "./parse";
import { isRecord, namespace, type RawDeclaration } from "./raw";
import type { Fleet } from "./schema";
import { SecretValue } from "./secret";

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
  "backups.offsite.s3.accessKeyId",
  "backups.offsite.s3.secretAccessKey",
  "hosts.*.backups.offsite.s3.accessKeyId",
  "hosts.*.backups.offsite.s3.secretAccessKey",
];

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

/**
 * Reads this stack's `clawfleet:*` config from the Pulumi engine (under `pulumi up` or
 * the mock runtime) and parses it. A key the engine marks secret had secure values
 * inside it; the strings at `secretPaths` are kept wrapped.
 */
export function loadFleetFromPulumiConfig(runtimeChecks: readonly RuntimeCheck[] = []): Fleet {
  const file = `stacks/Pulumi.${pulumi.getStack()}.yaml`;
  const raw: RawDeclaration = {};
  const secretKeys: RawDeclaration = {};
  for (const [fullKey, text] of Object.entries(pulumi.runtime.allConfig())) {
    if (!fullKey.startsWith(`${namespace}:`)) continue;
    const key = fullKey.slice(namespace.length + 1);
    const target = isConfigSecret(fullKey) ? secretKeys : raw;
    target[key] = parseConfigValue(text);
  }
  return parseFleet(file, { ...raw, ...wrapSecretPaths(secretKeys) }, runtimeChecks);
}

/**
 * The program's entry to the declaration: like loadFleetFromPulumiConfig, but a
 * DeclarationError becomes a RunError, which `pulumi preview`/`up` print as the
 * problem lines alone, without a stack trace.
 */
export function loadFleetForPulumi(runtimeChecks: readonly RuntimeCheck[]): Fleet {
  try {
    return loadFleetFromPulumiConfig(runtimeChecks);
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
