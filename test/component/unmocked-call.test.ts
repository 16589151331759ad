import assert from "node:assert/strict";
import { it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { runUnderMocks } from "../../cli/mock-run";

it("fails the run when the program calls a provider function the mocks do not cover", async () => {
  await assert.rejects(
    runUnderMocks({
      project: "clawfleet",
      stack: "test",
      config: {},
      secretKeys: [],
      program: () => pulumi.runtime.invoke("docker:index/getNetwork:getNetwork", { name: "bridge" }),
    }),
    /the program called docker:index\/getNetwork:getNetwork, which the offline plan does not mock/,
  );
});
