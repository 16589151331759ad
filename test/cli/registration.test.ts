import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import { stackYaml } from "../../bench/fleet";

/*
 * The plan registers resources through cli/mock-register.ts, a faster copy of what the SDK's
 * registerResource does under mocks. These tests hold the copy to the SDK: the same stacks
 * planned both ways (CLAWFLEET_REGISTRATION=sdk) give the same plan --json, byte for byte, through the
 * CLI itself and with larger generated fleets than test/component/registration.test.ts plans in npm test
 * (which also checks the installed SDK version and nesting at any depth).
 */

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), "clawfleet-registration-"));
after(() => rmSync(work, { recursive: true, force: true }));

async function planJson(file: string, registration: "fast" | "sdk"): Promise<string> {
  const { stdout } = await run(process.execPath, ["bin/clawfleet.js", "plan", file, "--json"], {
    env: { ...process.env, CLAWFLEET_REGISTRATION: registration },
    maxBuffer: 1 << 26,
  });
  return stdout;
}

async function assertSamePlan(file: string): Promise<void> {
  const [fast, sdk] = await Promise.all([planJson(file, "fast"), planJson(file, "sdk")]);
  assert.ok(fast.length > 0);
  assert.equal(fast, sdk, `${file}: the fast registration path and the SDK's own differ`);
}

describe("the plan's fast registration path", () => {
  it("plans the example stacks exactly as the SDK's own registration does", async () => {
    await assertSamePlan("stacks/Pulumi.dev.yaml");
    await assertSamePlan("stacks/Pulumi.prod.yaml");
  });

  it("plans generated fleets exactly as the SDK's own registration does", async () => {
    // A fixed seed: the same fleets on every run, so a difference can be reproduced.
    const shapes = fc.sample(
      fc.record({
        dedicated: fc.integer({ min: 1, max: 150 }),
        variant: fc.record({ addShared: fc.boolean(), addDedicated: fc.boolean(), changeSharedModel: fc.constantFrom(undefined, 0, 1) }),
      }),
      { numRuns: 4, seed: 20261203 },
    );
    for (const [index, { dedicated, variant }] of shapes.entries()) {
      const dir = join(work, `fleet-${index}`);
      mkdirSync(dir, { recursive: true });
      const file = join(dir, "Pulumi.generated.yaml");
      writeFileSync(file, stackYaml({ dedicated }, variant));
      await assertSamePlan(file);
    }
  });

  it("refuses an unknown CLAWFLEET_REGISTRATION with a line naming it", async () => {
    await assert.rejects(
      run(process.execPath, ["bin/clawfleet.js", "plan", "stacks/Pulumi.dev.yaml"], { env: { ...process.env, CLAWFLEET_REGISTRATION: "quick" } }),
      (error: { code: number; stderr: string }) => {
        assert.equal(error.code, 1);
        assert.equal(error.stderr.trim(), 'clawfleet: CLAWFLEET_REGISTRATION="quick" is not a registration path; use fast or sdk (or leave it unset)');
        return true;
      },
    );
  });
});
