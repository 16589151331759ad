import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { diffPlans, type PlanForDiff } from "../../cli/diff/compare";
import { renderDiffMarkdown, renderDiffText } from "../../cli/diff/render";
import { mockRandomValue, runUnderMocks, type PlannedResource } from "../../cli/mock-run";
import { renderPlanJson, renderPlanTree } from "../../cli/plan-output";
import { collectFacts, type ComponentFacts } from "../../components/facts";
import { DeclarationError } from "../../declaration/errors";
import { parseFleet } from "../../declaration/parse";

// The program as `pulumi up` runs it: structured config decrypted by the engine, keys marked secret.
const modelKey = "sk-ant-api03-MODELKEYVALUE0000000000000000";
const botToken = "123456789:TELEGRAMBOTTOKENVALUE000000000000000";
const privateKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nPRIVATEKEYBODY\n-----END OPENSSH PRIVATE KEY-----";
const sharedKey = "sk-ant-api03-SHAREDKEYVALUE000000000000000";
const s3Key = "S3SECRETACCESSKEYVALUE/0000+000000000000";
const backups = {
  offsite: {
    s3: { endpoint: "https://s3.example.com", bucket: "fleet-backups", prefix: "prod/", accessKeyId: "AKIAS3ACCESSKEYID000", secretAccessKey: s3Key },
    ageRecipient: "age146l5vqqaykf7gravrtfcwsmf6v0vjjnskt2m75l5xl3wxgrygcaset87d8",
    keep: 3,
    schedule: "*-*-* 03:00:00",
  },
};
const hosts = {
  gw1: {
    ssh: {
      host: "gw1.example.ts.net",
      user: "deploy",
      privateKey,
      hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDUZzTanz2CG879Q/C5QdK2PZPff1WcVXzIN8hc23EtF",
    },
    stateRoot: "/data/clawfleet",
    ports: { from: 18100, to: 18199 },
    shared: { port: 18789, model: "anthropic/claude-sonnet-4-5", modelKeys: { anthropic: sharedKey } },
    tailscale: { serve: true },
  },
};
const tenants = {
  alice: {
    tier: "dedicated",
    host: "gw1",
    model: "anthropic/claude-sonnet-4-5",
    modelKeys: { anthropic: modelKey },
    channels: { telegram: { dmPolicy: "pairing", token: botToken } },
  },
  bob: { tier: "shared", host: "gw1", bindings: [{ channel: "telegram", peer: { kind: "direct", id: "1" } }] },
};

let resources: PlannedResource[] = [];
let outputs: { tenants: Record<string, { token: pulumi.Output<string>; port: number }> };
const tokens = ["alice-token", "gw1-shared-token"].map((name) => mockRandomValue("secrets", name, { length: 48, special: false }));
const secrets = [modelKey, botToken, privateKey, sharedKey, "PRIVATEKEYBODY", s3Key, "AKIAS3ACCESSKEYID000", ...tokens];

function assertNoSecret(text: string, where: string): void {
  for (const secret of secrets) assert.ok(!text.includes(secret), `${where} contains ${secret.slice(0, 16)}...`);
}

let facts: ComponentFacts[] = [];

before(async () => {
  const { result: run, facts: stated } = await collectFacts(() =>
    runUnderMocks({
      project: "clawfleet",
      stack: "secrets",
      config: {
        "clawfleet:image": "ghcr.io/openclaw/openclaw:2026.9.6",
        "clawfleet:hosts": JSON.stringify(hosts),
        "clawfleet:tenants": JSON.stringify(tenants),
        "clawfleet:backups": JSON.stringify(backups),
      },
      secretKeys: ["clawfleet:hosts", "clawfleet:tenants", "clawfleet:backups"],
      program: () => require("../../index") as unknown,
    }),
  );
  facts = stated;
  resources = run.resources;
  outputs = run.outputs as typeof outputs;
});

describe("secrets", () => {
  it("never appear in printed plan inputs, plan JSON or the plan tree", () => {
    assertNoSecret(JSON.stringify(resources.map((r) => r.inputs)), "inputs");
    assertNoSecret(renderPlanJson({ stack: "secrets", resources, outputs }), "plan --json");
    assertNoSecret(renderPlanTree({ stack: "secrets", resources, outputs }, facts), "plan tree");
  });

  it("never appear in command scripts or the config files they write", () => {
    for (const resource of resources.filter((r) => r.type.startsWith("command:"))) {
      for (const key of ["create", "delete", "stdin"]) {
        const value = resource.revealedInputs[key];
        // The credentials files' writers are given them as their (secret) input; their scripts never hold them.
        if (key === "stdin" && (resource.name.endsWith("-secrets") || resource.name === "gw1-offsite")) continue;
        if (typeof value === "string") assertNoSecret(value, `${resource.name}.${key}`);
      }
    }
  });

  it("reach the gateway only through secret inputs: its credentials file's writer, and the SSH connection", () => {
    const alice = resources.find((r) => r.name === "alice-secrets");
    assert.deepEqual(alice?.secretInputs, ["connection", "stdin"]);
    assert.equal(alice?.revealedInputs["stdin"], `${JSON.stringify({ modelKeys: { anthropic: modelKey }, channels: { telegram: botToken } }, null, 2)}\n`);
    const shared = resources.find((r) => r.name === "gw1-shared-secrets");
    assert.equal(shared?.revealedInputs["stdin"], `${JSON.stringify({ modelKeys: { anthropic: sharedKey }, channels: {} }, null, 2)}\n`);
    // Not in the containers' environment: a rotation rewrites the file, and the container stays.
    for (const name of ["alice-container", "gw1-shared-container"]) {
      const container = resources.find((r) => r.name === name);
      assert.deepEqual(container?.secretInputs, ["envs"], name);
      assertNoSecret(JSON.stringify((container?.revealedInputs["envs"] as string[]).filter((e) => !e.startsWith("OPENCLAW_GATEWAY_TOKEN="))), name);
    }
    for (const command of resources.filter((r) => r.type === "command:remote:Command" && !r.name.endsWith("-secrets") && r.name !== "gw1-offsite")) {
      assert.deepEqual(command.secretInputs, ["connection"], command.name);
    }
  });

  it("reach the host's off-host timer only as its secret standard input, which its job's folder keeps", () => {
    const offsite = resources.find((r) => r.name === "gw1-offsite");
    assert.deepEqual(offsite?.secretInputs, ["connection", "stdin"]);
    assert.equal(offsite?.revealedInputs["stdin"], `S3_ACCESS_KEY_ID='AKIAS3ACCESSKEYID000'\nS3_SECRET_ACCESS_KEY='${s3Key}'\n`);
  });

  it("never appear in a diff, text or markdown", () => {
    const printed = JSON.parse(renderPlanJson({ stack: "secrets", resources, outputs }, facts)) as PlanForDiff;
    const diff = diffPlans("secrets", { resources: [], facts: [] }, printed);
    assertNoSecret(renderDiffText(diff), "diff");
    assertNoSecret(renderDiffMarkdown(diff), "diff --markdown");
  });

  it("are secret outputs: every tenant's token", async () => {
    for (const [id, tenant] of Object.entries(outputs.tenants)) assert.equal(await pulumi.isSecret(tenant.token), true, id);
    assert.equal(await pulumi.isSecret(pulumi.output(outputs.tenants["alice"]?.port)), false);
  });

  it("are not repeated in the error for a secret given in plain text", () => {
    const raw = { image: "ghcr.io/openclaw/openclaw:2026.9.6", hosts, tenants };
    assert.throws(
      () => parseFleet("stacks/Pulumi.prod.yaml", raw),
      (error: unknown) => {
        assert.ok(error instanceof DeclarationError);
        assertNoSecret(error.message, "error message");
        assert.ok(error.lines.some((line) => line.startsWith("stacks/Pulumi.prod.yaml: tenants.alice.modelKeys.anthropic: ")));
        return true;
      },
    );
  });
});
