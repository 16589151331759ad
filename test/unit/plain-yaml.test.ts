import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { stackYaml } from "../../bench/fleet";
import { readYamlDocument } from "../../declaration/stack-file";
import { readPlainYaml } from "../../declaration/plain-yaml";

/**
 * readStackFile reads most files with readPlainYaml and the rest with the full YAML parse:
 * a file must read the same either way, and every file the full parse has a problem with
 * must go to it, so the user sees its message.
 */

const maxDepth = 32;

function fullRead(text: string): { value: unknown } | { problem: string } {
  try {
    return { value: readYamlDocument("t.yaml", text) };
  } catch (error) {
    return { problem: error instanceof Error ? error.message : String(error) };
  }
}

function assertSameReading(text: string): void {
  const plain = readPlainYaml(text, maxDepth);
  if (plain === undefined) return;
  const full = fullRead(text);
  assert.ok("value" in full, `the plain reader read a file the full parse rejects:\n${text}\n${"problem" in full ? full.problem : ""}`);
  assert.deepStrictEqual(plain, full.value, text);
  // Key order too: it is the order tenants and hosts are declared in.
  assert.equal(JSON.stringify(plain), JSON.stringify(full.value), text);
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? yamlFiles(path) : /\.ya?ml$/.test(name) ? [path] : [];
  });
}

test("the stacks, the test fixtures and the benchmark's fleet read the same as with the full parse", () => {
  const root = join(__dirname, "../..");
  const files = [...yamlFiles(join(root, "stacks")), ...yamlFiles(join(root, "test/fixtures"))];
  for (const file of files) assertSameReading(readFileSync(file, "utf8"));
  const bench = stackYaml({ dedicated: 150 });
  assert.notEqual(readPlainYaml(bench, maxDepth), undefined, "the plain reader reads the benchmark's fleet");
  assertSameReading(bench);
  for (const name of ["Pulumi.dev.yaml", "Pulumi.prod.yaml"]) {
    assert.notEqual(readPlainYaml(readFileSync(join(root, "stacks", name), "utf8"), maxDepth), undefined, `the plain reader reads ${name}`);
  }
});

test("every file the full parse reports a problem in goes to the full parse", () => {
  for (const file of yamlFiles(join(__dirname, "../fixtures/invalid"))) {
    const text = readFileSync(file, "utf8");
    if ("problem" in fullRead(text)) assert.equal(readPlainYaml(text, maxDepth), undefined, file);
  }
});

/** Scalars whose reading YAML makes tricky: numbers in other notations, words that are booleans or null, indicators, comments. */
const scalarText = fc.oneof(
  fc.constantFrom(
    "a",
    "gw1",
    "0",
    "-0",
    "7",
    "-12",
    "012",
    "+1",
    "0x1F",
    "0o17",
    "1e3",
    "1.5",
    "-1.5",
    ".5",
    "1.",
    ".inf",
    "-.inf",
    ".nan",
    "9007199254740993",
    "123456789012345678",
    "0.1234567890123456789",
    "true",
    "False",
    "TRUE",
    "yes",
    "no",
    "on",
    "null",
    "Null",
    "~",
    "~x",
    "2026-11-01",
    "2026-11",
    "12:30",
    "a: b",
    "a:b",
    "a #c",
    "a#c",
    "#c",
    "- a",
    "-a",
    "-",
    "? a",
    ":a",
    "a:",
    "&x a",
    "*x",
    "!!str 1",
    "!x a",
    "|",
    ">",
    "@a",
    "`a`",
    "%a",
    "[a, b]",
    "[a,b]",
    "[ ]",
    "[]",
    "{}",
    "{ a: 1 }",
    "{a: 1}",
    "{ a:1 }",
    "{ a: 1, }",
    "{ a: [1, { b: c }] }",
    "{ a }",
    "{ a: }",
    "{ secure: x }",
    "{ secure: v1:abc }",
    '{ "a": 1 }',
    '"q"',
    '"a\\nb"',
    '"a # b"',
    '"a" b',
    '"a" # c',
    "'it''s'",
    "'a",
    "carol's chat",
    "a  b",
    "ssh-ed25519 AAAA+/=",
    "__proto__",
    "a,b",
    "a]",
    "a}",
  ),
  fc.stringMatching(/^[ -~]{0,12}$/),
);

const key = fc.oneof(
  fc.constantFrom("a", "b", "secure", "__proto__", "clawfleet:x", "1", "true", "null", "a b", "a:", '"a"', "- a", "<<"),
  fc.stringMatching(/^[a-z]{1,3}$/),
);

interface Entry {
  readonly key: string;
  readonly value: string | readonly string[] | Tree;
}
type Tree = readonly Entry[];

/** Well-formed nesting (so most files get past the indentation), with tricky keys and scalars, list items and comments. */
const tree: fc.Arbitrary<Tree> = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.array(
    fc.record({
      key,
      value: fc.oneof({ depthSize: "small" }, scalarText, fc.array(scalarText, { minLength: 1, maxLength: 3 }), tie("tree")),
    }),
    { maxLength: 4 },
  ),
})).tree;

function render(entries: Tree, indent: string, extra: () => string): string[] {
  return entries.flatMap(({ key: k, value }) => {
    if (typeof value === "string") return [`${indent}${k}: ${value}`, extra()];
    if (value.length > 0 && typeof value[0] === "string") return [`${indent}${k}:`, ...(value as string[]).map((item) => `${indent}  - ${item}`)];
    return [`${indent}${k}:`, ...render(value as Tree, `${indent}  `, extra)];
  });
}

const document = fc
  .tuple(tree, fc.array(fc.constantFrom("", "# c", "  # c", "   ", "---", "\t a: 1", "  a: 1", "x"), { maxLength: 3 }), fc.nat(20))
  .map(([entries, extras, seed]) => {
    let next = seed;
    // Now and then a blank line, a comment or a stray line between entries.
    const extra = () => (extras.length === 0 || (next = (next * 7 + 3) % 11) > 2 ? "" : (extras[next % extras.length] as string));
    return `config:\n${render(entries, "  ", extra).join("\n")}\n`;
  });

test("generated files read the same as with the full parse, or go to it", () => {
  fc.assert(fc.property(document, assertSameReading), { numRuns: 3000 });
});
