import fc from "fast-check";
import { type RawDeclaration } from "../declaration/raw";
import { SecretValue } from "../declaration/secret";

/*
 * Generated declarations (fast-check): arbitrary values and changes to a declaration, for the
 * boundary's fuzz test (test/unit/declaration-fuzz.test.ts) and for generated fleets
 * (test/component/registration.test.ts).
 */

/** Strings a careless or hostile declaration might hold. */
export const nastyString = fc.oneof(
  fc.string(),
  fc.string({ unit: "grapheme" }),
  fc.constantFrom(
    "",
    "/",
    "../x",
    "a;rm -rf /",
    "$(id)",
    "`id`",
    "\u0430lice",
    "alice\n",
    "a".repeat(65),
    "__proto__",
    "constructor",
    "toString",
    "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
    "-----BEGIN OPENSSH PRIVATE KEY-----",
    "ghcr.io/openclaw/openclaw",
    "gw1",
    "local",
    "dedicated",
    "shared",
    "{path}",
  ),
);

const scalar = fc.oneof(
  nastyString,
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -1, 1024, 18101, 18789, 65535, 65536, Number.NaN, Infinity),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.constant(new SecretValue("s")),
);

export const value = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: "small", withCrossShrink: true }, scalar, tie("list"), tie("map")),
  list: fc.array(tie("node"), { maxLength: 4 }),
  map: fc.dictionary(fc.oneof(nastyString, fc.constantFrom("tier", "host", "port", "ssh", "shared", "bindings", "peer", "kind", "secure")), tie("node"), {
    maxKeys: 5,
  }),
})).node;

/** Every path (list of keys) to a value inside `node`. */
export function pathsOf(node: unknown, prefix: string[] = []): string[][] {
  if (typeof node !== "object" || node === null || node instanceof SecretValue) return [];
  return Object.entries(node).flatMap(([key, item]) => [[...prefix, key], ...pathsOf(item, [...prefix, key])]);
}

export type Mutation = { kind: "drop" } | { kind: "rename"; to: string } | { kind: "replace"; with: unknown };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant({ kind: "drop" as const }),
  nastyString.map((to) => ({ kind: "rename" as const, to })),
  value.map((replacement) => ({ kind: "replace" as const, with: replacement })),
);

export function mutate(raw: RawDeclaration, path: readonly string[], change: Mutation): void {
  const parent = path.slice(0, -1).reduce<Record<string, unknown>>((node, key) => node[key] as Record<string, unknown>, raw);
  const key = path[path.length - 1] as string;
  const old = parent[key];
  if (change.kind !== "replace") delete parent[key];
  if (change.kind === "rename") Object.defineProperty(parent, change.to, { value: old, enumerable: true, writable: true, configurable: true });
  if (change.kind === "replace") parent[key] = change.with;
}
