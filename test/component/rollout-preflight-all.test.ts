import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { planStackFile } from "../../cli/plan";
import { preflightStateDirsOf } from "../../runtimes/docker/upgrade";

// One plan per file: Node loads the program once per process.

const work = mkdtempSync(join(tmpdir(), "clawfleet-preflight-all-"));
after(() => rmSync(work, { recursive: true, force: true }));

it("with rollout.preflight: all, tries a new image on a copy of every gateway's state of the host, the canary's first", async () => {
  const file = join(work, "Pulumi.all.yaml");
  writeFileSync(
    file,
    [
      "config:",
      "  clawfleet:image: example/openclaw:1",
      "  clawfleet:hosts:",
      "    h1: { stateRoot: /srv/claw, ports: { from: 20000, to: 20099 }, shared: { port: 20099 }, rollout: { canary: carol, preflight: all } }",
      "    h2: { stateRoot: /srv/claw2, ports: { from: 20100, to: 20199 } }",
      "  clawfleet:tenants:",
      "    alice: { tier: dedicated, host: h1, port: 20001 }",
      "    carol: { tier: dedicated, host: h1, port: 20002 }",
      "    bob: { tier: shared, host: h1, bindings: [{ channel: telegram, peer: { kind: direct, id: '1' } }] }",
      "    dave: { tier: dedicated, host: h2, port: 20101 }",
      "    erin: { tier: dedicated, host: h2, port: 20102 }",
      "",
    ].join("\n"),
  );
  const { resources } = await planStackFile(file);
  const trials = (name: string) => preflightStateDirsOf(String(resources.find((r) => r.name === name)?.inputs["create"]));
  assert.deepEqual(trials("h1-preflight"), ["/srv/claw/users/carol", "/srv/claw/users/alice", "/srv/claw/shared"]);
  assert.deepEqual(trials("h2-preflight"), ["/srv/claw2/users/dave"], "the canary's only, by default");
});
