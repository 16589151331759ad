import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dedicatedGatewaySpec, egressOf, gatewayConfinement, gatewayHealth, sharedGatewaySpec, tailnetNameOf } from "../../components/gateway-spec";
import { renderDedicatedConfig, renderSharedConfig, serializeConfig } from "../../components/render/config";
import { parseFleet } from "../../declaration/parse";
import type { DedicatedTenant, Fleet, Host, SharedTenant } from "../../declaration/schema";
import { readStackFile } from "../../declaration/stack-file";
import { SecretValue } from "../../declaration/secret";
import { healthGateSeconds, healthStartPeriodSeconds } from "../../names";

const stack = `config:
  clawfleet:image: ghcr.io/openclaw/openclaw:2026.9.6
  clawfleet:hosts:
    gw1:
      ssh: { host: gw1.example.ts.net, user: deploy, hostKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDUZzTanz2CG879Q/C5QdK2PZPff1WcVXzIN8hc23EtF }
      stateRoot: /data/claw
      ports: { from: 18100, to: 18199 }
      shared: { port: 18789, memoryMb: 3072 }
      tailscale: { serve: true }
    here: { stateRoot: /srv/claw, ports: { from: 18100, to: 18199 } }
  clawfleet:tenants:
    alice: { tier: dedicated, host: gw1, port: 18101, memoryMb: 2048, cpus: 1.5, pidsLimit: 256, rotation: "r1", upgradeBackups: 7, labels: { team: a } }
    bob: { tier: shared, host: gw1, bindings: [{ channel: telegram, peer: { kind: direct, id: "1" } }] }
`;
const fleet: Fleet = parseFleet("spec.yaml", readStackFile("spec.yaml", stack));
const host = (id: string) => fleet.hosts.find((h) => h.id === id) as Host;
const alice = fleet.tenants.find((t) => t.id === "alice") as DedicatedTenant;
const shared = fleet.tenants.filter((t): t is SharedTenant => t.tier === "shared");

describe("GatewaySpec", () => {
  it("describes a dedicated tenant's gateway from its declaration", () => {
    const spec = dedicatedGatewaySpec(alice, host("gw1"), fleet.image);
    assert.deepEqual(spec, {
      identity: "tenant/alice",
      tier: "dedicated",
      hostId: "gw1",
      name: "clawfleet-tenant-alice",
      image: "ghcr.io/openclaw/openclaw:2026.9.6",
      port: 18101,
      rotation: "r1",
      tokenEnv: "OPENCLAW_GATEWAY_TOKEN",
      stateDir: "/data/claw/users/alice",
      config: { file: "openclaw.json", text: serializeConfig(renderDedicatedConfig(alice)) },
      limits: { memoryMb: 2048, cpus: 1.5, pidsLimit: 256 },
      upgradeBackups: 7,
      labels: { team: "a", "clawfleet.tenant": "alice", "clawfleet.tier": "dedicated" },
      env: { OPENCLAW_STATE_DIR: "/state", OPENCLAW_CONFIG_READONLY: "1", OPENCLAW_DISABLE_BONJOUR: "1", HOME: "/home/node" },
      secrets: { file: { modelKeys: {}, channels: {} }, env: {} },
      secretsDir: "/data/claw/secrets/clawfleet-tenant-alice",
      health: gatewayHealth,
      process: {
        uid: 1000,
        port: 18789,
        stateDir: "/state",
        home: "/home/node",
        cli: ["node", "/app/node_modules/openclaw/openclaw.mjs"],
        secretsDir: "/run/clawfleet",
        secretsFile: "secrets.json",
      },
      confinement: gatewayConfinement,
      tailnetName: "gw1.example.ts.net",
      tailnetPort: 18101,
      egress: { allow: [] },
      isolation: undefined,
      movedFrom: undefined,
    });
    assert.equal(gatewayHealth.startPeriodSeconds, healthStartPeriodSeconds);
    assert.equal(gatewayHealth.gateSeconds, healthGateSeconds);
    assert.deepEqual(gatewayConfinement, {
      readOnlyRoot: true,
      dropCapabilities: ["ALL"],
      addCapabilities: [],
      noNewPrivileges: true,
      publishAddress: "127.0.0.1",
    });
  });

  it("puts model keys and channel tokens in the credentials file, and only keys openclaw's config has no place for in the environment", () => {
    const keyed: DedicatedTenant = {
      ...alice,
      modelKeys: { anthropic: new SecretValue("sk-ant-1"), inhouse: new SecretValue("sk-in-2"), brave: new SecretValue("bsa-3") },
      modelProviders: { inhouse: { baseUrl: "http://10.0.0.5:8000/v1", api: "openai-completions", models: [] } },
      channels: { telegram: { dmPolicy: "pairing", groupPolicy: "allowlist", token: new SecretValue("123:tg") } },
    };
    const spec = dedicatedGatewaySpec(keyed, host("gw1"), fleet.image);
    assert.deepEqual(spec.secrets, {
      file: { modelKeys: { anthropic: "sk-ant-1", inhouse: "sk-in-2" }, channels: { telegram: "123:tg" } },
      env: { BRAVE_API_KEY: "bsa-3" },
    });
    const config = JSON.parse(spec.config.text) as { models: { providers: Record<string, { apiKey?: unknown }> } };
    assert.deepEqual(config.models.providers["anthropic"], { apiKey: { source: "file", provider: "clawfleet", id: "/modelKeys/anthropic" } });
    assert.deepEqual(config.models.providers["inhouse"]?.apiKey, { source: "file", provider: "clawfleet", id: "/modelKeys/inhouse" });
    assert.equal(config.models.providers["brave"], undefined);
    // Every reference in the config points at a value the credentials file holds, and every value is referenced.
    const refs: { source: string; provider: string; id: string }[] = [];
    const walk = (value: unknown): void => {
      if (typeof value !== "object" || value === null) return;
      if ("id" in value && "source" in value && (value as { source: unknown }).source === "file")
        refs.push(value as { source: string; provider: string; id: string });
      else for (const inner of Object.values(value)) walk(inner);
    };
    walk(config);
    const at = (pointer: string) =>
      pointer
        .split("/")
        .slice(1)
        .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], spec.secrets.file);
    assert.deepEqual(refs.map((ref) => [ref.provider, ref.id, at(ref.id)]).sort(), [
      ["clawfleet", "/channels/telegram", "123:tg"],
      ["clawfleet", "/modelKeys/anthropic", "sk-ant-1"],
      ["clawfleet", "/modelKeys/inhouse", "sk-in-2"],
    ]);
  });

  it("keeps a gateway from private ranges by its host's policy, with the tenant's own over it", () => {
    const gw1 = host("gw1");
    const allowing = { ...gw1, egress: { blockPrivate: true, allow: ["10.20.0.5/32"] } };
    assert.deepEqual(egressOf(allowing), { allow: ["10.20.0.5/32"] });
    assert.deepEqual(egressOf(allowing, { ...alice, egress: { allow: ["10.20.0.5/32", "192.168.7.0/24"] } }), { allow: ["10.20.0.5/32", "192.168.7.0/24"] });
    assert.equal(egressOf(allowing, { ...alice, egress: { blockPrivate: false } }), undefined);
    const open = { ...gw1, egress: { blockPrivate: false, allow: ["10.20.0.5/32"] } };
    assert.equal(egressOf(open), undefined);
    assert.deepEqual(egressOf(open, { ...alice, egress: { blockPrivate: true } }), { allow: ["10.20.0.5/32"] });
    assert.deepEqual(sharedGatewaySpec(allowing, fleet.image, shared)?.egress, { allow: ["10.20.0.5/32"] });
  });

  it("runs a gateway under the tenant's OCI runtime, else the host's, else the daemon's default", () => {
    const gw1 = host("gw1");
    assert.equal(dedicatedGatewaySpec(alice, gw1, fleet.image).isolation, undefined);
    const gvisor = { ...gw1, isolation: "runsc" };
    assert.equal(dedicatedGatewaySpec(alice, gvisor, fleet.image).isolation, "runsc");
    assert.equal(dedicatedGatewaySpec({ ...alice, isolation: "kata" }, gvisor, fleet.image).isolation, "kata");
    assert.equal(sharedGatewaySpec(gvisor, fleet.image, shared)?.isolation, "runsc");
  });

  it("names where a moved or renamed tenant's state was", () => {
    const spec = dedicatedGatewaySpec(alice, host("gw1"), fleet.image, { host: host("here"), id: "alix" });
    assert.deepEqual(spec.movedFrom, { host: host("here"), stateDir: "/srv/claw/users/alix", name: "clawfleet-tenant-alix" });
  });

  it("describes a host's shared gateway, and none for a host without one", () => {
    const spec = sharedGatewaySpec(host("gw1"), fleet.image, shared);
    assert.equal(spec?.identity, "shared/gw1");
    assert.equal(spec?.name, "clawfleet-shared-gw1");
    assert.equal(spec?.stateDir, "/data/claw/shared");
    assert.equal(spec?.config.text, serializeConfig(renderSharedConfig(host("gw1"), shared)));
    assert.deepEqual(spec?.limits, { memoryMb: 3072, cpus: 2, pidsLimit: 1024 });
    assert.deepEqual(spec?.labels, { "clawfleet.tier": "shared" });
    assert.equal(spec?.rotation, undefined);
    assert.equal(sharedGatewaySpec(host("here"), fleet.image, []), undefined);
  });

  it("publishes on the tailnet only when the host serves, under its dnsName or its .ts.net SSH name", () => {
    assert.equal(tailnetNameOf(host("gw1"), "clawfleet-tenant-alice"), "gw1.example.ts.net");
    assert.equal(tailnetNameOf(host("here"), "clawfleet-tenant-alice"), undefined);
    assert.equal(
      tailnetNameOf({ ...host("gw1"), tailscale: { serve: true, dnsName: "other.example.ts.net" } }, "clawfleet-tenant-alice"),
      "other.example.ts.net",
    );
  });
});
