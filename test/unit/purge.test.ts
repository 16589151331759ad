import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { renderPurge } from "../../runtimes/docker/commands";
import { DeclarationError } from "../../declaration/errors";
import { parseFleet } from "../../declaration/parse";
import { readStackFile } from "../../declaration/stack-file";

const stack = (purge: string) => `config:
  clawfleet:image: ghcr.io/openclaw/openclaw:2026.9.6
  clawfleet:hosts: { h: { stateRoot: /srv/claw, ports: { from: 20000, to: 20099 } } }
  clawfleet:tenants:
    alice: { tier: dedicated, host: h, port: 20001 }
    dave: { tier: dedicated, host: h, purge: ${purge} }
`;

const work = mkdtempSync(join(tmpdir(), "clawfleet-purge-"));
after(() => rmSync(work, { recursive: true, force: true }));

describe("purge", () => {
  it("takes a tenant out of the running fleet only when confirm repeats its id", () => {
    const fleet = parseFleet("p.yaml", readStackFile("p.yaml", stack("{ confirm: dave }")));
    assert.deepEqual(
      fleet.tenants.map((t) => t.id),
      ["alice"],
    );
    assert.deepEqual(fleet.purged, [{ id: "dave", tier: "dedicated", host: "h" }]);
  });

  it("refuses a confirmation that does not repeat the id, and deletes nothing", () => {
    assert.throws(
      () => parseFleet("p.yaml", readStackFile("p.yaml", stack("{ confirm: yes }"))),
      (error: unknown) =>
        error instanceof DeclarationError &&
        JSON.stringify(error.lines) ===
          JSON.stringify([
            "p.yaml: tenants.dave.purge.confirm: must repeat the tenant id (dave) to confirm deleting its state for good; remove purge to keep the state",
          ]),
    );
  });

  it("deletes exactly the tenant's directory, quoted", () => {
    const root = join(work, "root");
    mkdirSync(join(root, "users", "dave", "state"), { recursive: true });
    mkdirSync(join(root, "users", "alice"), { recursive: true });
    writeFileSync(join(root, "users", "dave", "state", "openclaw.sqlite"), "x");
    const result = spawnSync("/bin/sh", ["-c", renderPurge({ dir: join(root, "users", "dave"), containerName: undefined })], { encoding: "utf8" });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(existsSync(join(root, "users", "dave")), false);
    assert.equal(existsSync(join(root, "users", "alice")), true);
  });
});
