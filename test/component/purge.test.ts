import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { planStackFile } from "../../cli/plan";
import { collectFacts } from "../../components/facts";

const work = mkdtempSync(join(tmpdir(), "clawfleet-purge-"));
after(() => rmSync(work, { recursive: true, force: true }));

it("registers only a purge command for a purged tenant, removing its container before its state", async () => {
  const file = join(work, "Pulumi.purge.yaml");
  writeFileSync(
    file,
    `config:
  clawfleet:image: example/openclaw:1
  clawfleet:hosts: { h: { stateRoot: /srv/claw, ports: { from: 20000, to: 20099 }, shared: { port: 20100 } } }
  clawfleet:tenants:
    alice: { tier: dedicated, host: h, port: 20001 }
    dave: { tier: dedicated, host: h, purge: { confirm: dave } }
    erin: { tier: shared, host: h, purge: { confirm: erin } }
`,
  );
  const { result, facts } = await collectFacts(() => planStackFile(file));
  const { resources } = result;
  const children = (component: string) => resources.filter((r) => r.parent?.endsWith(`::${component}`)).map((r) => r.name);
  assert.deepEqual(children("dave"), ["dave-purge"]);
  assert.deepEqual(children("erin"), ["erin-purge"]);
  assert.equal(resources.find((r) => r.name === "dave")?.type, "clawfleet:index:TenantPurge");
  const script = String(resources.find((r) => r.name === "dave-purge")?.inputs["create"]);
  assert.match(script, /as_root docker rm -f 'clawfleet-tenant-dave' >\/dev\/null 2>&1 \|\| true\nas_root rm -rf -- '\/srv\/claw\/users\/dave'$/);
  assert.match(String(resources.find((r) => r.name === "erin-purge")?.inputs["create"]), /as_root rm -rf -- '\/srv\/claw\/shared\/workspaces\/erin'$/);
  assert.ok(!resources.some((r) => r.name.startsWith("dave-container")));
  assert.deepEqual(
    facts.filter((f) => f.kind === "purge").map((f) => f.summaries),
    [{ "dave-purge": "removes the gateway and deletes /srv/claw/users/dave for good" }, { "erin-purge": "deletes /srv/claw/shared/workspaces/erin for good" }],
  );
  const shared = String(resources.find((r) => r.name === "h-shared-config")?.inputs["stdin"]);
  assert.ok(!shared.includes("erin"), "a purged shared tenant leaves the shared gateway");
});
