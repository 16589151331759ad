import assert from "node:assert/strict";
import { it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { runUnderMocks } from "../../cli/mock-run";

/** A component three levels deep with a command at the bottom, as a future runtime might nest them. */
function nested(): void {
  const outer = new pulumi.ComponentResource("clawfleet:test:Outer", "o", {}, {});
  const middle = new pulumi.ComponentResource("clawfleet:test:Middle", "m", {}, { parent: outer });
  new command.local.Command("c", { create: "true" }, { parent: middle });
}

it("names resources at any depth as the engine does: the whole chain of parent types, on both registration paths", async () => {
  for (const path of ["fast", "sdk"]) {
    process.env["CLAWFLEET_REGISTRATION"] = path;
    try {
      const { resources } = await runUnderMocks({ project: "clawfleet", stack: "test", config: {}, secretKeys: [], program: async () => nested() });
      assert.deepEqual(
        resources.map((r) => r.urn),
        [
          "urn:pulumi:test::clawfleet::clawfleet:test:Outer::o",
          "urn:pulumi:test::clawfleet::clawfleet:test:Outer$clawfleet:test:Middle::m",
          "urn:pulumi:test::clawfleet::clawfleet:test:Outer$clawfleet:test:Middle$command:local:Command::c",
        ],
        path,
      );
      assert.equal(resources[2]?.parent, "urn:pulumi:test::clawfleet::clawfleet:test:Outer$clawfleet:test:Middle::m", path);
    } finally {
      delete process.env["CLAWFLEET_REGISTRATION"];
    }
  }
});
