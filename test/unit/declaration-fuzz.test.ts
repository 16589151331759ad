import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { DeclarationError } from "../../declaration/errors";
import { parseFleet } from "../../declaration/parse";
import { type RawDeclaration } from "../../declaration/raw";
import { mutate, mutation, pathsOf, value } from "../declaration-arbitraries";
import { readStackFile } from "../../declaration/stack-file";

/**
 * The boundary's contract under arbitrary input: it returns a Fleet or throws one
 * DeclarationError whose every line names the file; it never throws anything else.
 */

const file = "fuzz.yaml";
const devText = readFileSync(join(__dirname, "../../stacks/Pulumi.dev.yaml"), "utf8");
const devRaw = readStackFile(file, devText);

function checkParse(raw: RawDeclaration): void {
  try {
    parseFleet(file, raw);
  } catch (error) {
    assert.ok(error instanceof DeclarationError, `parseFleet threw ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    assert.ok(error.lines.length > 0, "a DeclarationError lists at least one problem");
    for (const line of error.lines) assert.ok(line.startsWith(`${file}: `), line);
    for (const line of error.lines) assert.ok(!line.includes("\n"), `one problem per line: ${JSON.stringify(line)}`);
  }
}

function checkRead(text: string): void {
  let raw: RawDeclaration;
  try {
    raw = readStackFile(file, text);
  } catch (error) {
    assert.ok(error instanceof DeclarationError, `readStackFile threw ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    for (const line of error.lines) assert.ok(line.startsWith(`${file}: `), line);
    return;
  }
  checkParse(raw);
}

test("arbitrary declarations give a Fleet or a DeclarationError", () => {
  const declaration = fc.record({ image: value, hosts: value, tenants: value, extra: fc.dictionary(fc.string(), value, { maxKeys: 2 }) }, { requiredKeys: [] });
  fc.assert(
    fc.property(declaration, ({ extra, ...raw }) => checkParse({ ...(extra ?? {}), ...raw })),
    { numRuns: 1000 },
  );
});

test("mutations of the dev declaration give a Fleet or a DeclarationError", () => {
  const paths = pathsOf(devRaw);
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(), mutation), { minLength: 1, maxLength: 4 }), (changes) => {
      const raw = structuredClone(devRaw);
      for (const [index, change] of changes) {
        const live = pathsOf(raw);
        const path = live.length === 0 ? undefined : live[index % live.length];
        if (path !== undefined) mutate(raw, path, change);
      }
      checkParse(raw);
    }),
    { numRuns: 1000 },
  );
  assert.ok(paths.length > 30, "the dev declaration has enough places to mutate");
});

test("arbitrary YAML text gives a declaration or a DeclarationError", () => {
  const token = fc.constantFrom(
    "config:",
    "clawfleet:hosts:",
    "\n",
    "  ",
    "- ",
    ": ",
    "{",
    "}",
    "[",
    "]",
    ",",
    "&a ",
    "*a",
    "!!str ",
    "'",
    '"',
    "#",
    "a",
    "1",
    "\t",
    "secure: ",
  );
  const yamlish = fc.array(token, { maxLength: 40 }).map((parts) => parts.join(""));
  fc.assert(fc.property(fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), yamlish), checkRead), { numRuns: 800 });
});

test("edits of the dev stack file give a declaration or a DeclarationError", () => {
  const edit = fc.tuple(fc.nat({ max: devText.length }), fc.nat({ max: 8 }), fc.string({ maxLength: 6 }));
  fc.assert(
    fc.property(fc.array(edit, { minLength: 1, maxLength: 3 }), (edits) => {
      let text = devText;
      for (const [at, remove, insert] of edits) text = text.slice(0, at) + insert + text.slice(at + remove);
      checkRead(text);
    }),
    { numRuns: 1000 },
  );
});

test("keys spelled apart but equal after parsing never drop a tenant silently", () => {
  const spellings = fc.constantFrom("1", '"1"', "true", '"true"', "~", '"null"', "null", "16", "0x10", "0o20", "+16", "alice", "'alice'");
  fc.assert(
    fc.property(fc.array(spellings, { minLength: 1, maxLength: 5 }), (keys) => {
      const text = ["config:", "  clawfleet:tenants:", ...keys.map((key) => `    ${key}: { tier: shared }`), ""].join("\n");
      try {
        const raw = readStackFile(file, text);
        assert.equal(Object.keys(raw["tenants"] as object).length, keys.length, "every key written is a tenant read");
      } catch (error) {
        assert.ok(error instanceof DeclarationError);
      }
    }),
    { numRuns: 500 },
  );
});

test("a credential in any field or key is never repeated in an error line", () => {
  const credential = fc.constantFrom(
    "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
    "ghp_abcdefghijklmnopqrstuvwxyz0123",
    "123456789:AAHabcdefghijklmnopqrstuvwxyz012345",
    "xoxb-1234567890-abcdefghij",
  );
  const paths = pathsOf(devRaw);
  fc.assert(
    fc.property(fc.nat(), credential, fc.boolean(), (index, secret, asKey) => {
      const raw = structuredClone(devRaw);
      const path = paths[index % paths.length] as string[];
      mutate(raw, path, asKey ? { kind: "rename", to: secret } : { kind: "replace", with: secret });
      try {
        parseFleet(file, raw);
      } catch (error) {
        assert.ok(error instanceof DeclarationError);
        for (const line of error.message.split("\n")) assert.ok(!line.includes(secret.slice(0, 16)), line);
      }
    }),
    { numRuns: 500 },
  );
});
