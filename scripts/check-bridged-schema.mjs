#!/usr/bin/env node
// Checks that the schema of a provider we bridge ourselves (scripts/pulumi-resource-<package>)
// names every property of the resources the program uses, and of their nested types, exactly as
// the installed @pulumi/<package> SDK package does: a property the SDK sends under another name
// would reach the provider as an unknown input.
//
// Usage: node scripts/check-bridged-schema.mjs <package> <schema.json>
// Exit status 1 with one line per difference.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
/** Per package: the resources the program uses (module, name), and the prefixes of their nested types' names. */
const checked = {
  docker: {
    resources: [
      ["container", "Container"],
      ["network", "Network"],
    ],
    nested: ["Container", "Network"],
  },
  random: { resources: [["randomPassword", "RandomPassword"]], nested: [] },
};
const pkg = process.argv[2] ?? "";
const wanted = checked[pkg];
if (wanted === undefined) {
  process.stderr.write(`check-bridged-schema: no checks for package "${pkg}" (known: ${Object.keys(checked).join(", ")})\n`);
  process.exit(2);
}
const sdkDir = join(repo, "node_modules", "@pulumi", pkg);
const schema = JSON.parse(readFileSync(process.argv[3], "utf8"));

/** Property names of each `export interface` in a declaration file. */
function interfaces(file) {
  const text = readFileSync(join(sdkDir, file), "utf8");
  const found = new Map();
  for (const match of text.matchAll(/export interface (\w+) \{([\s\S]*?)\n\}/g)) {
    found.set(match[1], new Set([...match[2].matchAll(/^ {4}(\w+)\??:/gm)].map((m) => m[1])));
  }
  return found;
}

const problems = [];
function compare(what, sdk, ours) {
  if (sdk === undefined) return problems.push(`${what}: the SDK declares no such type`);
  for (const name of sdk) if (!ours.has(name)) problems.push(`${what}.${name}: in the SDK, not in the provider's schema`);
  for (const name of ours) if (!sdk.has(name)) problems.push(`${what}.${name}: in the provider's schema, not in the SDK`);
}

const nested = wanted.nested.length === 0 ? new Map() : interfaces(join("types", "input.d.ts"));
for (const [token, type] of Object.entries(schema.types ?? {})) {
  const name = token.slice(token.lastIndexOf(":") + 1);
  if (wanted.nested.some((prefix) => name.startsWith(prefix))) compare(name, nested.get(name), new Set(Object.keys(type.properties ?? {})));
}
for (const [module, resource] of wanted.resources) {
  const declared = interfaces(`${module}.d.ts`);
  const entry = schema.resources?.[`${pkg}:index/${module}:${resource}`];
  if (entry === undefined) {
    problems.push(`${pkg}:index/${module}:${resource}: not in the provider's schema`);
    continue;
  }
  compare(`${resource}Args`, declared.get(`${resource}Args`), new Set(Object.keys(entry.inputProperties ?? {})));
  compare(`${resource}State`, declared.get(`${resource}State`), new Set(Object.keys(entry.properties ?? {})));
}
for (const line of problems) process.stderr.write(`check-bridged-schema: ${line}\n`);
process.exit(problems.length === 0 ? 0 : 1);
