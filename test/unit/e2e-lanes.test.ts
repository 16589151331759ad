import assert from "node:assert/strict";
import { describe, it } from "node:test";
// @ts-expect-error -- a plain ES module script without type declarations
import { exclusive, expectedSeconds, phases, runLane, unplaced } from "../../scripts/e2e.mjs";

const allPhases = phases as string[][][];

describe("the e2e suite's lanes (scripts/e2e.mjs)", () => {
  it("places every e2e file in exactly one lane, so none is left out of CI", () => {
    assert.deepEqual(unplaced(), { missing: [], unknown: [], twice: [] });
  });

  it("never runs two files that share the SSH test host or a port at the same time", () => {
    for (const group of exclusive as string[][]) {
      for (const lanes of allPhases) {
        const lanesWithGroup = lanes.filter((lane) => lane.some((name) => group.includes(name)));
        assert.ok(lanesWithGroup.length <= 1, `${group.join(", ")} in lanes ${JSON.stringify(lanesWithGroup)} of one phase`);
      }
    }
  });

  it("runs the timed crash cases with nothing beside them", () => {
    const phase = allPhases.find((lanes) => lanes.flat().includes("gateways"));
    assert.equal(phase?.length, 1);
  });

  it("knows about how long every file takes, so a deadline can leave out only what would not end before it", () => {
    assert.deepEqual(Object.keys(expectedSeconds as Record<string, number>).sort(), allPhases.flat(2).sort());
  });

  it("starts no file that would not end before CI's deadline, says so, and starts none at all when nothing fits", () => {
    const lines: string[] = [];
    const error = console.error;
    console.error = (line: string) => lines.push(line);
    try {
      // 100 s left: neither file fits; nothing is run, and the lane has not failed.
      assert.equal(
        runLane(["routes", "ssh-host"], 1100, () => 1000),
        true,
      );
    } finally {
      console.error = error;
    }
    assert.deepEqual(lines, [
      "e2e: NOT RUN, past CI's time budget: test/e2e/routes.e2e.test.ts (takes about 760 s, 100 s left)",
      "e2e: NOT RUN, past CI's time budget: test/e2e/ssh-host.e2e.test.ts (takes about 120 s, 100 s left)",
      "e2e: 2 file(s) NOT RUN for lack of time: test/e2e/routes.e2e.test.ts, test/e2e/ssh-host.e2e.test.ts",
    ]);
  });
});
