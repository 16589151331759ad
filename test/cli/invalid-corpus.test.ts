import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, test } from "node:test";
import { planStackFile } from "../../cli/plan";
import { DeclarationError } from "../../declaration/errors";

/**
 * Every broken stack file in test/fixtures/invalid is run through the real CLI:
 * exit code 1, nothing on stdout, and stderr exactly the sibling .expected file.
 */

const root = join(__dirname, "../..");
const corpus = join(__dirname, "../fixtures/invalid");
const cases = readdirSync(corpus)
  .filter((name) => name.endsWith(".yaml"))
  .sort()
  .map((name) => name.slice(0, -".yaml".length));

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runCli(file: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["bin/clawfleet.js", "plan", file], { cwd: root, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts every CLI run up front, `concurrency` at a time; each test awaits its own. */
function runAll(names: readonly string[], concurrency: number): Map<string, Promise<Run>> {
  const settle = new Map<string, (run: Run) => void>();
  const runs = new Map(names.map((name) => [name, new Promise<Run>((resolve) => settle.set(name, resolve))]));
  const pending = [...names];
  const worker = async (): Promise<void> => {
    for (let name = pending.shift(); name !== undefined; name = pending.shift()) {
      settle.get(name)?.(await runCli(relative(root, join(corpus, `${name}.yaml`))));
    }
  };
  for (let index = 0; index < concurrency; index += 1) void worker();
  return runs;
}

describe("invalid stack files", () => {
  test("the corpus has at least 40 cases, each with its expected stderr", () => {
    assert.ok(cases.length >= 40, `only ${cases.length} cases`);
    const expected = readdirSync(corpus)
      .filter((name) => name.endsWith(".expected"))
      .map((name) => name.slice(0, -".expected".length))
      .sort();
    assert.deepEqual(expected, cases);
    for (const name of cases) assert.match(name, /^\d\d-[a-z0-9-]+$/);
  });

  const runs = runAll(cases, 4);
  for (const name of cases) {
    test(name, { timeout: 120_000 }, async () => {
      const run = await runs.get(name);
      assert.ok(run !== undefined);
      const expected = readFileSync(join(corpus, `${name}.expected`), "utf8");
      assert.equal(run.stderr, expected);
      assert.equal(run.stdout, "", "nothing is planned or printed");
      assert.equal(run.code, 1);
    });
  }
});

test("planStackFile rejects before the program registers anything", async () => {
  const file = relative(root, join(corpus, "26-port-collision.yaml"));
  const program = require.resolve("../../index");
  await assert.rejects(planStackFile(join(root, file)), (error: unknown) => {
    assert.ok(error instanceof DeclarationError);
    assert.equal(`${error.message}\n`, readFileSync(join(corpus, "26-port-collision.expected"), "utf8").replaceAll(file, join(root, file)));
    return true;
  });
  assert.equal(require.cache[program], undefined, "the program (index.ts) was never loaded, so no resource was registered");
});
