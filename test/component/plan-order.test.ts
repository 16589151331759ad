import assert from "node:assert/strict";
import { it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { runUnderMocks } from "../../cli/mock-run";

class Thing extends pulumi.CustomResource {
  constructor(name: string, value: pulumi.Input<string>, opts?: pulumi.CustomResourceOptions) {
    super("test:index:Thing", name, { value }, opts);
  }
}

class Group extends pulumi.ComponentResource {
  constructor(name: string, late: pulumi.Input<string>) {
    super("test:index:Group", name, {}, {});
    // The first child waits for a value that settles late; the second has nothing to wait for.
    new Thing(`${name}-slow`, late, { parent: this });
    new Thing(`${name}-fast`, "now", { parent: this });
    this.registerOutputs({});
  }
}

it("lists resources in the order the program constructed them, however their inputs settle", async () => {
  const late = new Promise<string>((resolve) => setTimeout(() => resolve("later"), 50));
  const { resources } = await runUnderMocks({
    project: "clawfleet",
    stack: "test",
    config: {},
    secretKeys: [],
    program: () => {
      const slow = new Thing("slow", pulumi.output(late));
      new Thing("fast", "now");
      new Group("group", pulumi.output(late));
      // Constructed last, registered only after `slow` has its URN.
      new Thing("after-slow", "now", { dependsOn: [slow] });
    },
  });
  assert.deepEqual(
    resources.map((r) => r.name),
    ["slow", "fast", "group", "group-slow", "group-fast", "after-slow"],
  );
  assert.equal(resources.find((r) => r.name === "group-slow")?.parent, "urn:pulumi:test::clawfleet::test:index:Group::group");
  assert.deepEqual(resources.find((r) => r.name === "slow")?.inputs, { value: "later" });
});
