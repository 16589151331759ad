import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import Ajv, { type ValidateFunction } from "ajv";
import { renderDedicatedConfig, renderSharedConfig, serializeConfig, type GatewayConfig } from "../../components/render/config";
import { parseFleet } from "../../declaration/parse";
import { readStackFile } from "../../declaration/stack-file";
import type { DedicatedTenant, Fleet, SharedTenant } from "../../declaration/schema";

// `openclaw config schema` of the pinned gateway version (see test/fixtures/openclaw/README.md).
const schema = JSON.parse(readFileSync("test/fixtures/openclaw/config-schema.json", "utf8")) as {
  properties: Record<string, { properties?: Record<string, unknown> }>;
};
const ajv = new Ajv({ strict: false, allErrors: true, logger: false, validateFormats: false });
const validators = new Map<string, ValidateFunction>();

/** Validates each top-level section the renderer writes against the gateway's own schema for it. */
function schemaErrors(config: GatewayConfig): string[] {
  const errors: string[] = [];
  for (const [section, value] of Object.entries(config)) {
    const sub = schema.properties[section];
    if (sub === undefined) {
      errors.push(`${section}: not a key of the gateway's config`);
      continue;
    }
    const validate = validators.get(section) ?? ajv.compile(sub);
    validators.set(section, validate);
    if (!validate(value)) errors.push(...(validate.errors ?? []).map((e) => `${section}${e.instancePath}: ${e.message ?? ""}`));
  }
  return errors;
}

function fleetOf(yaml: string): Fleet {
  return parseFleet("test.yaml", readStackFile("test.yaml", yaml));
}

const devFleet = fleetOf(readFileSync("stacks/Pulumi.dev.yaml", "utf8"));
const dedicated = (id: string) => devFleet.tenants.find((t): t is DedicatedTenant => t.id === id && t.tier === "dedicated") as DedicatedTenant;
const sharedTenants = devFleet.tenants.filter((t): t is SharedTenant => t.tier === "shared");
const host = devFleet.hosts[0];
assert.ok(host);

/** Every gateway clawfleet renders: local mode, lan bind inside the container, token from the environment. */
const gatewaySection = {
  mode: "local",
  port: 18789,
  bind: "lan",
  auth: { mode: "token", token: { source: "env", provider: "default", id: "OPENCLAW_GATEWAY_TOKEN" } },
  tailscale: { mode: "off" },
};

/** Every gateway reads its model keys and channel tokens from its credentials file, mounted read-only. */
const secretsSection = { providers: { clawfleet: { source: "file", path: "/run/clawfleet/secrets.json", mode: "json" } } };

describe("renderDedicatedConfig", () => {
  it("renders a single-agent gateway: local mode, lan bind inside the container, token from the environment", () => {
    assert.deepEqual(renderDedicatedConfig(dedicated("alice")), {
      gateway: gatewaySection,
      secrets: secretsSection,
      agents: {
        defaults: { model: "anthropic/claude-sonnet-4-5" },
        entries: { alice: { name: "alice", workspace: "/state/workspace", model: "anthropic/claude-sonnet-4-5" } },
      },
      channels: { telegram: { dmPolicy: "allowlist", groupPolicy: "allowlist", allowFrom: ["123456789"] } },
    });
  });

  it("is accepted by the gateway's schema, and never uses the legacy agents.list", () => {
    for (const id of ["alice", "dave"]) {
      const config = renderDedicatedConfig(dedicated(id));
      assert.deepEqual(schemaErrors(config), []);
      assert.ok(!("list" in config.agents));
    }
  });

  it("references channel credentials in the credentials file, never by value", () => {
    const fleet = fleetOf(`config:
  clawfleet:image: ghcr.io/openclaw/openclaw:2026.9.6
  clawfleet:hosts: { h: { stateRoot: /srv/claw, ports: { from: 20000, to: 20099 } } }
  clawfleet:tenants:
    erin:
      tier: dedicated
      host: h
      channels: { telegram: { token: { secure: v1:AAAA } }, discord: { dmPolicy: pairing, token: { secure: v1:BBBB } } }
`);
    const config = renderDedicatedConfig(fleet.tenants[0] as DedicatedTenant);
    assert.deepEqual(config.channels, {
      telegram: { dmPolicy: "pairing", groupPolicy: "allowlist", botToken: { source: "file", provider: "clawfleet", id: "/channels/telegram" } },
      discord: { dmPolicy: "pairing", groupPolicy: "allowlist", token: { source: "file", provider: "clawfleet", id: "/channels/discord" } },
    });
    assert.deepEqual(schemaErrors(config), []);
    assert.ok(!serializeConfig(config).includes("v1:"));
  });

  it("points a Telegram channel at its own Bot API server when the stack names one, accepted by the gateway's schema", () => {
    const fleet = fleetOf(`config:
  clawfleet:image: ghcr.io/openclaw/openclaw:2026.9.6
  clawfleet:hosts: { h: { stateRoot: /srv/claw, ports: { from: 20000, to: 20099 } } }
  clawfleet:tenants:
    erin: { tier: dedicated, host: h, channels: { telegram: { apiRoot: "http://10.0.0.5:8081", token: { secure: v1:AAAA } } } }
`);
    const config = renderDedicatedConfig(fleet.tenants[0] as DedicatedTenant);
    assert.deepEqual(config.channels?.["telegram"]?.["apiRoot"], "http://10.0.0.5:8081");
    assert.deepEqual(schemaErrors(config), []);
  });
});

describe("a model provider of the stack's own", () => {
  const stack = (tenant: string, shared = "") => `config:
  clawfleet:image: ghcr.io/openclaw/openclaw:2026.9.6
  clawfleet:hosts: { h: { stateRoot: /srv/claw, ports: { from: 20000, to: 20099 }${shared} } }
  clawfleet:tenants:
    erin:
${tenant}
`;
  const erin = `      tier: dedicated
      host: h
      model: inhouse/small-1
      modelKeys: { inhouse: { secure: v1:AAAA } }
      modelProviders:
        inhouse:
          baseUrl: http://10.20.0.5:4000/v1
          models: [{ id: small-1, cost: { input: 3, output: 15 }, contextWindow: 128000 }]`;

  it("renders openclaw's models.providers with each model's price and the key by reference, accepted by the gateway's schema", () => {
    const config = renderDedicatedConfig(fleetOf(stack(erin)).tenants[0] as DedicatedTenant);
    assert.deepEqual(config.models, {
      providers: {
        inhouse: {
          baseUrl: "http://10.20.0.5:4000/v1",
          api: "openai-completions",
          apiKey: { source: "file", provider: "clawfleet", id: "/modelKeys/inhouse" },
          models: [{ id: "small-1", name: "small-1", cost: { input: 3, output: 15, cacheRead: 0, cacheWrite: 0 }, contextWindow: 128000 }],
        },
      },
    });
    assert.equal(config.agents.defaults.model, "inhouse/small-1");
    assert.deepEqual(schemaErrors(config), []);
    assert.ok(!serializeConfig(config).includes("v1:"));
  });

  it("renders a shared gateway's providers for its agents", () => {
    const shared =
      ", shared: { port: 20100, model: inhouse/small-1, modelProviders: { inhouse: { baseUrl: https://llm.example.com/v1, models: [{ id: small-1, cost: { input: 1, output: 2 } }] } } }";
    const fleet = fleetOf(stack("      tier: shared\n      host: h", shared));
    const config = renderSharedConfig(fleet.hosts[0]!, fleet.tenants as SharedTenant[]);
    assert.deepEqual(Object.keys(config.models?.providers ?? {}), ["inhouse"]);
    assert.equal(config.models?.providers["inhouse"]?.apiKey, undefined);
    assert.deepEqual(schemaErrors(config), []);
  });

  it("refuses a model the provider does not list, a price below 0 and an address that carries a credential, naming the fix", () => {
    const lines = (tenant: string) => {
      try {
        fleetOf(stack(tenant));
      } catch (error) {
        return (error as { lines: string[] }).lines;
      }
      return ["accepted"];
    };
    assert.deepEqual(lines(erin.replace("model: inhouse/small-1", "model: inhouse/large-2")), [
      "test.yaml: tenants.erin.model: names model large-2, which modelProviders.inhouse does not list; add it there with its price, or use one of: small-1",
    ]);
    assert.deepEqual(lines(erin.replace("input: 3", "input: -1").replace("http://10.20.0.5:4000/v1", "http://me:pw@10.20.0.5:4000/v1")), [
      "test.yaml: tenants.erin.modelProviders.inhouse.baseUrl: must not carry a user, password or query, which would put a credential in the config; declare the key in modelKeys instead",
      "test.yaml: tenants.erin.modelProviders.inhouse.models[0].cost.input: must be 0 or more US dollars per million tokens",
    ]);
  });
});

describe("renderSharedConfig", () => {
  it("lists one agent per shared tenant with explicit ownership, a system agent and the bindings", () => {
    assert.deepEqual(renderSharedConfig(host, sharedTenants), {
      gateway: gatewaySection,
      secrets: secretsSection,
      agents: {
        ownership: "explicit",
        defaults: { model: "anthropic/claude-sonnet-4-5", systemAgent: { agentId: "bob" } },
        entries: {
          bob: { name: "bob", workspace: "/state/workspaces/bob", model: "anthropic/claude-sonnet-4-5" },
          carol: { name: "carol", workspace: "/state/workspaces/carol", model: "anthropic/claude-haiku-4-5" },
        },
      },
      bindings: [
        { agentId: "bob", match: { channel: "telegram", peer: { kind: "direct", id: "111111111" } } },
        { agentId: "carol", comment: "carol's team chat", match: { channel: "telegram", peer: { kind: "group", id: "-1001234567890" } } },
      ],
    });
    assert.deepEqual(schemaErrors(renderSharedConfig(host, sharedTenants)), []);
  });

  it("does not depend on the order tenants are declared in", () => {
    assert.equal(serializeConfig(renderSharedConfig(host, [...sharedTenants].reverse())), serializeConfig(renderSharedConfig(host, sharedTenants)));
  });

  it("renders a single agent without ownership (OpenClaw wants it only for two or more)", () => {
    const config = renderSharedConfig(host, sharedTenants.slice(0, 1));
    assert.equal(config.agents.ownership, undefined);
    assert.equal(config.agents.defaults?.systemAgent, undefined);
    assert.deepEqual(schemaErrors(config), []);
  });

  it("is caught by the schema check when a section is wrong", () => {
    const broken = { ...renderDedicatedConfig(dedicated("alice")), gateway: { ...renderDedicatedConfig(dedicated("alice")).gateway, bind: "everywhere" } };
    assert.notDeepEqual(schemaErrors(broken as unknown as GatewayConfig), []);
  });
});

describe("serializeConfig", () => {
  it("writes two-space JSON with a trailing newline", () => {
    assert.equal(serializeConfig(renderDedicatedConfig(dedicated("dave"))).endsWith("}\n"), true);
    assert.match(serializeConfig(renderDedicatedConfig(dedicated("dave"))), /^\{\n {2}"gateway": \{/);
  });
});
