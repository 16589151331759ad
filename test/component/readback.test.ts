import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import type { PlannedResource } from "../../cli/mock-run";
import { planStackFile, type Plan } from "../../cli/plan";

// The dev stack with its host's read-back answered as a daemon that merges values of its own would answer it (what
// the engine hands the program from state once the read-back ran): default log options `compress` and `labels`, no
// swap accounting, and an image whose HEALTHCHECK sets a start interval.
const stored = {
  logConfig: { Type: "json-file", Config: { "max-file": "3", "max-size": "10m", compress: "true", labels: "clawfleet.gateway" } },
  memory: 67108864,
  memorySwap: -1,
  healthcheck: { Test: ["CMD-SHELL", "true"], Interval: 10e9, Timeout: 5e9, StartPeriod: 120e9, StartInterval: 2e9, Retries: 3 },
};

let plan: Plan;
before(async () => {
  plan = await planStackFile("stacks/Pulumi.dev.yaml", { knownOutputs: { "local-readback": { stdout: `${JSON.stringify(stored)}\n` } } });
});

function byName(name: string): PlannedResource {
  const found = plan.resources.find((r) => r.name === name);
  assert.ok(found, `no resource named ${name}`);
  return found;
}

describe("gateway containers on a host whose daemon merges settings of its own", () => {
  it("send what the daemon stores, so the provider reads back what was sent", () => {
    for (const name of ["alice-container", "dave-container", "local-shared-container"]) {
      const inputs = byName(name).inputs;
      assert.deepEqual(inputs["logOpts"], { "max-file": "3", "max-size": "10m", compress: "true", labels: "clawfleet.gateway" }, name);
      assert.equal(inputs["memorySwap"], -1, name);
      assert.equal(typeof inputs["memory"], "number");
      const { tests, ...timings } = inputs["healthcheck"] as Record<string, unknown>;
      assert.equal((tests as string[])[0], "CMD", "the gateway's own probe, never the image's");
      assert.deepEqual(timings, { interval: "10s", timeout: "5s", startPeriod: "2m0s", startInterval: "2s", retries: 3 }, name);
    }
  });
});
