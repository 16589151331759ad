import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { planStackFile } from "../../cli/plan";
import { preflightStateDirsOf } from "../../runtimes/docker/upgrade";

const work = mkdtempSync(join(tmpdir(), "clawfleet-rollout-"));
after(() => rmSync(work, { recursive: true, force: true }));

it("rolls gateways out after the host's canary, in two lanes: each waits until the canary and the one two places before it are healthy", async () => {
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
  assert.deepEqual(waitsFor("alice-container"), [], "alice, first by id, is the canary");
  assert.deepEqual(waitsFor("bob-container"), ["alice-ready"]);
  assert.deepEqual(waitsFor("carol-container"), ["alice-ready"]);
  assert.deepEqual(waitsFor("dave-container"), ["alice-ready", "bob-ready"]);
  assert.deepEqual(waitsFor("erin-container"), ["alice-ready", "carol-ready"]);
  assert.deepEqual(waitsFor("zed-container"), [], "another host rolls out on its own");
  assert.ok(urn("erin-container"));

  // An image change: the preflight first, then a backup of each gateway right before its container.
  const byName = (name: string) => resources.find((r) => r.name === name);
  const preflight = byName("h1-preflight");
  assert.deepEqual(preflight?.inputs["triggers"], ["example/openclaw:1"]);
  assert.equal(preflight?.inputs["update"], "true", "a new canary or another tenant's state runs no trial: only a new image does");
  assert.deepEqual(preflightStateDirsOf(String(preflight?.inputs["create"])), ["/srv/claw/users/alice"], "a copy of the canary's state");
  assert.match(String(preflight?.inputs["create"]), /delete config\.channels;/, "the trial never talks to chat services");
  assert.equal(preflight?.inputs["stdin"], undefined, "the script does not change with the canary's config");
  for (const id of ["alice", "erin"]) {
    const backup = byName(`${id}-backup`);
    assert.deepEqual(backup?.inputs["triggers"], ["example/openclaw:1"]);
    assert.ok(backup?.options.dependsOn.includes(urn("h1-preflight") ?? ""), `${id}-backup waits for the preflight`);
    assert.ok(byName(`${id}-container`)?.options.dependsOn.includes(backup?.urn ?? ""), `${id}-container waits for its backup`);
  }
});
