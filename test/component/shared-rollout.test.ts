import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { planStackFile } from "../../cli/plan";

// One program run per file: the mock runtime is set up once per process.
const work = mkdtempSync(join(tmpdir(), "clawfleet-shared-rollout-"));
after(() => rmSync(work, { recursive: true, force: true }));

it("starts a host's shared gateway after the host's canary is healthy, like every other gateway there", async () => {
  const file = join(work, "Pulumi.shared-rollout.yaml");
  writeFileSync(
    file,
    [
      "config:",
      "  clawfleet:image: example/openclaw:1",
      "  clawfleet:hosts:",
      "    h1: { stateRoot: /srv/claw, ports: { from: 20000, to: 20099 }, shared: { port: 20090 } }",
      "    h2: { stateRoot: /srv/claw2, ssh: { host: gw2.example.net, user: deploy, hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl' }, ports: { from: 20100, to: 20199 }, shared: { port: 20190 } }",
      "  clawfleet:tenants:",
      "    bob: { tier: dedicated, host: h1, port: 20001 }",
      "    alice: { tier: dedicated, host: h1, port: 20002 }",
      "    team: { tier: shared, host: h1 }",
      "    solo: { tier: shared, host: h2 }",
      "",
    ].join("\n"),
  );
  const { resources } = await planStackFile(file);
  const waitsFor = (name: string) =>
    (resources.find((r) => r.name === name)?.options.dependsOn ?? []).filter((u) => u.endsWith("-ready")).map((u) => u.split("::").pop());
  assert.deepEqual(waitsFor("h1-shared-container"), ["alice-ready"], "alice, first by id, is h1's canary");
  assert.deepEqual(waitsFor("h2-shared-container"), [], "a host with no dedicated tenant has no canary to wait for");
});
