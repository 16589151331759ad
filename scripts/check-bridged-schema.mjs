#!/usr/bin/env node
// Checks that the schema of the bridged Docker provider (scripts/pulumi-resource-docker) names
// every property of docker.Container and docker.Network, and of their nested types, exactly as
// the installed @pulumi/docker SDK package does: a property the SDK sends under another name
// would reach the provider as an unknown input.
//
// Usage: node scripts/check-docker-schema.mjs <schema.json>
// Exit status 1 with one line per difference.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const sdkDir = join(repo, "node_modules", "@pulumi", "docker");
const schema = JSON.parse(readFileSync(process.argv[2], "utf8"));

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

const nested = interfaces(join("types", "input.d.ts"));
for (const [token, type] of Object.entries(schema.types ?? {})) {
  const name = token.slice(token.lastIndexOf(":") + 1);
  if (name.startsWith("Container") || name.startsWith("Network")) compare(name, nested.get(name), new Set(Object.keys(type.properties ?? {})));
}
for (const [module, resource] of [
  ["container", "Container"],
  ["network", "Network"],
]) {
  const declared = interfaces(`${module}.d.ts`);
  const entry = schema.resources?.[`docker:index/${module}:${resource}`];
  if (entry === undefined) {
    problems.push(`docker:index/${module}:${resource}: not in the provider's schema`);
    continue;
  }
  compare(`${resource}Args`, declared.get(`${resource}Args`), new Set(Object.keys(entry.inputProperties ?? {})));
  compare(`${resource}State`, declared.get(`${resource}State`), new Set(Object.keys(entry.properties ?? {})));
}
for (const line of problems) process.stderr.write(`check-docker-schema: ${line}\n`);
process.exit(problems.length === 0 ? 0 : 1);
