import assert from "node:assert/strict";
import { describe, it } from "node:test";
// @ts-expect-error -- a plain ES module script without type declarations
import { exclusive, phases, unplaced } from "../../scripts/e2e.mjs";

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
});
