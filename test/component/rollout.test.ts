import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { planStackFile } from "../../cli/plan";

const work = mkdtempSync(join(tmpdir(), "clawfleet-rollout-"));
after(() => rmSync(work, { recursive: true, force: true }));

it("rolls gateways out in two lanes per host: each waits until the one two places before it is healthy", async () => {
  const file = join(work, "Pulumi.rollout.yaml");
  const tenants = ["erin", "alice", "dave", "carol", "bob"].map((id, index) => `    ${id}: { tier: dedicated, host: h1, port: ${20001 + index} }`);
  writeFileSync(
    file,
    [
      "config:",
      "  clawfleet:image: example/openclaw:1",
      "  clawfleet:hosts:",
      "    h1: { stateRoot: /srv/claw, ports: { from: 20000, to: 20099 } }",
      "    h2: { stateRoot: /srv/claw2, ports: { from: 20100, to: 20199 } }",
      "  clawfleet:tenants:",
      ...tenants,
      "    zed: { tier: dedicated, host: h2, port: 20101 }",
      "",
    ].join("\n"),
  );
  const { resources } = await planStackFile(file);
  const urn = (name: string) => resources.find((r) => r.name === name)?.urn;
  const waitsFor = (name: string) =>
    (resources.find((r) => r.name === name)?.options.dependsOn ?? []).filter((u) => u.endsWith("-ready")).map((u) => u.split("::").pop());
  assert.deepEqual(waitsFor("alice-container"), []);
  assert.deepEqual(waitsFor("bob-container"), []);
  assert.deepEqual(waitsFor("carol-container"), ["alice-ready"]);
  assert.deepEqual(waitsFor("dave-container"), ["bob-ready"]);
  assert.deepEqual(waitsFor("erin-container"), ["carol-ready"]);
  assert.deepEqual(waitsFor("zed-container"), [], "another host rolls out on its own");
  assert.ok(urn("erin-container"));
});
