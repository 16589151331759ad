import assert from "node:assert/strict";
import { describe, it } from "node:test";
// @ts-expect-error -- a plain ES module script without type declarations
import { phases, unplaced } from "../../scripts/e2e.mjs";

describe("the e2e suite's lanes (scripts/e2e.mjs)", () => {
  it("places every e2e file in exactly one lane, so none is left out of CI", () => {
    assert.deepEqual(unplaced(), { missing: [], unknown: [], twice: [] });
  });

  it("keeps the SSH test host's users in one lane, and the timed crash cases alone in a phase", () => {
    const laneOf = (name: string) => (phases as string[][][]).flat().find((lane) => lane.includes(name));
    const sshUsers = ["engine", "isolation", "ssh-host"];
    for (const name of sshUsers) assert.equal(laneOf(name), laneOf("engine"), name);
    const last = (phases as string[][][]).find((lanes) => lanes.flat().includes("gateways"));
    assert.deepEqual(last, [["gateways"]]);
  });
});
