import { z } from "zod";
import { joinPath, type Problem } from "./errors";
import { hostSchema, pathToken } from "./schema";
import { SecretValue, looksLikeCredential } from "./secret";

/** Turns one zod issue into problems at `base` + the issue's path. */
function issueProblems(schema: z.ZodType, value: unknown, base: readonly PropertyKey[], issue: z.core.$ZodIssue): Problem[] {
  const segments = [...base, ...issue.path];
  if (issue.code === "invalid_key") {
    // A record's key failed its own schema: its message says what a key must be.
    return [{ path: joinPath(segments), message: issue.issues[0]?.message ?? "is not a valid name here" }];
  }
  if (issue.code === "unrecognized_keys") {
    const known = knownKeysAt(schema, issue.path);
    // A shared tenant runs in its host's shared gateway: that gateway's settings are the host's, not the tenant's.
    const sharedTenant = segments.length === 2 && segments[0] === "tenants" && known.includes("bindings");
    const tenant = issue.path.reduce<unknown>((v, key) => (typeof v === "object" && v !== null ? (v as Record<PropertyKey, unknown>)[key] : undefined), value);
    const host =
      typeof tenant === "object" && tenant !== null && typeof (tenant as { host?: unknown }).host === "string" ? (tenant as { host: string }).host : "<host>";
    return issue.keys.map((key) => ({
      path: joinPath([...segments, key]),
      message:
        sharedTenant && sharedGatewayKeys.includes(key)
          ? `is a setting of the host's shared gateway, which serves all of its shared tenants; set it as hosts.${host}.shared.${key}`
          : sharedTenant && key === "egress"
            ? `is a gateway's setting, and a shared tenant runs in its host's shared gateway, which follows hosts.${host}.egress; set it there, or set tier: dedicated`
            : unknownKeyMessage(key, known),
    }));
  }
  const path = joinPath(segments);
  return [{ path, message: issue.message.replaceAll(pathToken, path) }];
}

/** What a host's shared gateway declares for all of its tenants. */
const sharedGatewayKeys: readonly string[] = Object.keys(hostSchema.shape.shared.unwrap().shape);

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

export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (value instanceof SecretValue) return "a secret";
  if (typeof value === "object") return "a map";
  if (typeof value === "string" && looksLikeCredential(value)) return "a value that looks like a credential";
  if (typeof value === "string") return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  return `${typeof value} ${String(value)}`;
}

/** Parses `value` with `schema`; on failure adds each issue, worded for the user, at `base` + its path. */
export function parseWith<T extends z.ZodType>(schema: T, value: unknown, base: readonly PropertyKey[], problems: Problem[]): z.output<T> | undefined {
  const result = schema.safeParse(value, { error: describeIssue });
  if (result.success) return result.data;
  for (const issue of result.error.issues) problems.push(...issueProblems(schema, value, base, issue));
  return undefined;
}
