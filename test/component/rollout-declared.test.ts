import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { planStackFile } from "../../cli/plan";
import { preflightStateDirsOf } from "../../runtimes/docker/upgrade";

// One plan per file: Node loads the program once per process (rollout.test.ts plans the default order).

const work = mkdtempSync(join(tmpdir(), "clawfleet-rollout-declared-"));
after(() => rmSync(work, { recursive: true, force: true }));

it("goes first with a declared canary, tries the new image on its state, rolls the rest out one at a time with lanes: 1, and keeps each gateway's declared number of backups", async () => {
  const file = join(work, "Pulumi.canary.yaml");
  writeFileSync(
    file,
    [
      "config:",
      "  clawfleet:image: example/openclaw:1",
      "  clawfleet:hosts:",
      "    h1: { stateRoot: /srv/claw, ports: { from: 20000, to: 20099 }, rollout: { canary: dave, lanes: 1 } }",
      "  clawfleet:tenants:",
      ...["erin", "alice", "dave", "carol", "bob"].map(
        (id, index) => `    ${id}: { tier: dedicated, host: h1, port: ${20001 + index}${id === "erin" ? ", upgradeBackups: 5" : ""} }`,
      ),
      "",
    ].join("\n"),
  );
  const { resources } = await planStackFile(file);
  const waitsFor = (name: string) =>
    (resources.find((r) => r.name === name)?.options.dependsOn ?? []).filter((u) => u.endsWith("-ready")).map((u) => u.split("::").pop());
  assert.deepEqual(waitsFor("dave-container"), []);
  assert.deepEqual(waitsFor("alice-container"), ["dave-ready"]);
  assert.deepEqual(waitsFor("bob-container"), ["dave-ready", "alice-ready"]);
  assert.deepEqual(waitsFor("carol-container"), ["dave-ready", "bob-ready"]);
  assert.deepEqual(waitsFor("erin-container"), ["dave-ready", "carol-ready"]);
  // Each pre-upgrade backup is taken in the same order, right before its gateway's container is replaced.
  assert.deepEqual(waitsFor("dave-backup"), []);
  assert.deepEqual(waitsFor("bob-backup"), ["dave-ready", "alice-ready"]);
  assert.deepEqual(preflightStateDirsOf(String(resources.find((r) => r.name === "h1-preflight")?.inputs["create"])), ["/srv/claw/users/dave"]);

  // Each gateway keeps its declared number of pre-upgrade backups (3 unless it says otherwise), the oldest removed first.
  const create = (name: string) => String(resources.find((r) => r.name === name)?.inputs["create"]);
  assert.match(create("erin-backup"), /ls -1t '\/srv\/claw\/backups\/clawfleet-tenant-erin' \| sed -n '[^']*' \| tail -n \+6 \|/);
  assert.match(create("alice-backup"), /ls -1t '\/srv\/claw\/backups\/clawfleet-tenant-alice' \| sed -n '[^']*' \| tail -n \+4 \|/);

  await assert.rejects(planStackFile(file), {
    message: `the program runs once per process and ran for ${file}; plan ${file} in a process of its own`,
  });
});
