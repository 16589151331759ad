import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import Ajv from "ajv";
import { renderDedicatedConfig, renderSharedConfig, type GatewayConfig } from "../../components/render/config";
import { DeclarationError } from "../../declaration/errors";
import { gatewayRoutes } from "../../declaration/gateway-routes";
import { parseFleet } from "../../declaration/parse";
import { checkRoutes, servedProviders, type GatewayRoutes } from "../../declaration/routes";
import { channelCredentials, type DedicatedTenant, type Fleet, type SharedTenant } from "../../declaration/schema";
import { SecretValue } from "../../declaration/secret";

// What the gateway image serves (declaration/gateway-routes.ts, generated from openclaw in the image), and what the
// declaration and the rendered config make of it. The e2e (test/e2e/routes.e2e.test.ts) asks the image again.

const repo = join(__dirname, "..", "..");
const file = "stacks/Pulumi.routes.yaml";
const imageDecl = JSON.parse(readFileSync(join(repo, "scripts", "gateway-image.json"), "utf8")) as { openclaw: string; plugins: string[] };

/** One host with a shared gateway, and the tenants given. */
function fleet(tenants: Record<string, unknown>, shared: Record<string, unknown> = {}): Fleet {
  return parseFleet(file, {
    image: "clawfleet/openclaw-gateway:2026.9.6-0123456789ab",
    hosts: { gw1: { stateRoot: "/data/clawfleet", ports: { from: 18100, to: 18199 }, shared: { port: 18789, ...shared } } },
    tenants,
  });
}

function problemsOf(tenants: Record<string, unknown>, shared: Record<string, unknown> = {}): string[] {
  try {
    fleet(tenants, shared);
  } catch (error) {
    if (error instanceof DeclarationError) return error.lines;
    throw error;
  }
  assert.fail("the declaration was accepted");
}

const key = () => new SecretValue("stand-in");
const served =
  "anthropic, apple-fm, clawrouter, copilot-proxy, fal, github-copilot, google, google-gemini-cli, google-vertex, huggingface, litellm, lmstudio, microsoft-foundry, minimax, minimax-portal, nvidia, ollama, ollama-cloud, openai, opencode-go, openrouter, sglang, together, vllm, xai";
const imageFix = (pkg: string) =>
  `add ${pkg} to "plugins" in scripts/gateway-image.json (the build installs it from npm at the openclaw version), rebuild the image and run npx tsx scripts/generate-gateway-routes.ts`;

describe("the gateway routes table", () => {
  it("describes the openclaw version and the plugins scripts/gateway-image.json builds (regenerate it after changing either)", () => {
    assert.equal(gatewayRoutes.openclaw, imageDecl.openclaw);
    assert.deepEqual(gatewayRoutes.imagePlugins, [...imageDecl.plugins].sort());
  });

  it("has a route for each channel the declaration accepts, and the image serves every one", () => {
    assert.deepEqual(Object.keys(gatewayRoutes.channels).sort(), Object.keys(channelCredentials).sort());
    assert.deepEqual(gatewayRoutes.channels, {
      telegram: { plugin: "telegram", from: "openclaw", installsAtStart: [] },
      discord: { plugin: "discord", from: "image", package: "@openclaw/discord", installsAtStart: [] },
      slack: { plugin: "slack", from: "image", package: "@openclaw/slack", installsAtStart: [] },
    });
  });

  it("serves the providers openclaw bundles, and keeps openai off the Codex harness it would install", () => {
    assert.equal(servedProviders(gatewayRoutes).join(", "), served);
    for (const provider of servedProviders(gatewayRoutes)) assert.equal(gatewayRoutes.providers[provider]?.from, "openclaw", provider);
    assert.deepEqual(gatewayRoutes.providers["openai"], {
      plugin: "openai",
      from: "openclaw",
      installsAtStart: [],
      pinRuntime: "openclaw",
      installsUnpinned: ["@openclaw/codex"],
    });
    assert.deepEqual(gatewayRoutes.providers["mistral"], {
      plugin: "mistral",
      from: "npm",
      package: "@openclaw/mistral-provider",
      installsAtStart: ["@openclaw/mistral-provider"],
    });
    assert.deepEqual(gatewayRoutes.keyEnvs["OPENROUTER_API_KEY"], {
      installsAtStart: [],
      webSearchOff: true,
      installsWithWebSearch: ["@openclaw/perplexity-plugin"],
    });
  });
});

describe("the declaration refuses what the gateway image cannot start", () => {
  it("a model of a provider openclaw does not bundle, naming the field, the plugin and both fixes", () => {
    assert.deepEqual(problemsOf({ alice: { tier: "dedicated", host: "gw1", model: "mistral/mistral-large-latest" } }), [
      `${file}: tenants.alice.model: mistral/mistral-large-latest: openclaw 2026.9.6 does not bundle provider mistral, so the gateway would try to install @openclaw/mistral-provider at start and never become ready; use a model of a provider the image serves (${served}), or ${imageFix("@openclaw/mistral-provider")}`,
    ]);
  });

  it("the same for a shared gateway's model, a dedicated tenant's and a shared tenant's, all in one pass", () => {
    const lines = problemsOf(
      {
        bob: { tier: "shared", host: "gw1", model: "deepseek/deepseek-chat" },
        carol: { tier: "dedicated", host: "gw1", model: "groq/llama-3.3-70b-versatile" },
      },
      { model: "groq/llama-3.3-70b-versatile" },
    );
    assert.deepEqual(
      lines.map((line) => line.slice(0, line.indexOf(" so the gateway"))),
      [
        `${file}: hosts.gw1.shared.model: groq/llama-3.3-70b-versatile: openclaw 2026.9.6 does not bundle provider groq,`,
        `${file}: tenants.carol.model: groq/llama-3.3-70b-versatile: openclaw 2026.9.6 does not bundle provider groq,`,
        `${file}: tenants.bob.model: deepseek/deepseek-chat: openclaw 2026.9.6 does not bundle provider deepseek,`,
      ],
    );
  });

  it("a provider openclaw does not know, listing the ones the image serves", () => {
    assert.deepEqual(problemsOf({ alice: { tier: "dedicated", host: "gw1", model: "anthropc/claude-sonnet-4-5" } }), [
      `${file}: tenants.alice.model: names provider anthropc, which openclaw 2026.9.6 does not know; use a model of a provider the gateway image serves: ${served}`,
    ]);
  });

  it("a model key whose variable alone makes openclaw install a plugin, on a tenant and on a shared gateway", () => {
    assert.deepEqual(
      problemsOf({ alice: { tier: "dedicated", host: "gw1", modelKeys: { mistral: key(), anthropic: key() } } }, { modelKeys: { groq: key() } }),
      [
        `${file}: hosts.gw1.shared.modelKeys.groq: is passed as GROQ_API_KEY, which makes openclaw 2026.9.6 install @openclaw/groq-provider at start (not in the gateway image), so the gateway would never become ready; remove the key, or ${imageFix("@openclaw/groq-provider")}`,
        `${file}: tenants.alice.modelKeys.mistral: is passed as MISTRAL_API_KEY, which makes openclaw 2026.9.6 install @openclaw/mistral-provider at start (not in the gateway image), so the gateway would never become ready; remove the key, or ${imageFix("@openclaw/mistral-provider")}`,
      ],
    );
  });

  it("a channel whose plugin the image lacks (a table for an image without Discord), naming the channel and the fix", () => {
    const withoutDiscord: GatewayRoutes = {
      ...gatewayRoutes,
      imagePlugins: ["@openclaw/slack"],
      channels: {
        ...gatewayRoutes.channels,
        discord: { plugin: "discord", from: "npm", package: "@openclaw/discord", installsAtStart: ["@openclaw/discord"] },
      },
    };
    const routed = fleet({ alice: { tier: "dedicated", host: "gw1", channels: { discord: { token: key() }, telegram: {} } } }, { channels: { discord: {} } });
    assert.deepEqual(checkRoutes(withoutDiscord, routed.hosts, routed.tenants), [
      {
        path: "hosts.gw1.shared.channels.discord",
        message: `the gateway image has no discord plugin, so the gateway would try to install @openclaw/discord at start and never become ready; remove the channel, or ${imageFix("@openclaw/discord")}`,
      },
      {
        path: "tenants.alice.channels.discord",
        message: `the gateway image has no discord plugin, so the gateway would try to install @openclaw/discord at start and never become ready; remove the channel, or ${imageFix("@openclaw/discord")}`,
      },
    ]);
    assert.deepEqual(checkRoutes(gatewayRoutes, routed.hosts, routed.tenants), []);
  });

  it("accepts every channel, a router's three-part reference and an OpenRouter key", () => {
    const accepted = fleet({
      alice: {
        tier: "dedicated",
        host: "gw1",
        model: "openrouter/anthropic/claude-sonnet-4-5",
        modelKeys: { openrouter: key() },
        channels: { telegram: { token: key() }, discord: { token: key() }, slack: { token: key() } },
      },
      bob: { tier: "shared", host: "gw1", model: "openrouter/meta-llama/llama-3.3-70b-instruct:free" },
    });
    assert.deepEqual(
      accepted.tenants.map((t) => t.model),
      ["openrouter/anthropic/claude-sonnet-4-5", "openrouter/meta-llama/llama-3.3-70b-instruct:free"],
    );
  });

  it("still refuses a reference without a model, or with an empty part", () => {
    for (const model of ["openrouter/", "openrouter//claude", "openrouter/anthropic/", "anthropic"]) {
      assert.deepEqual(
        problemsOf({ alice: { tier: "dedicated", host: "gw1", model } }),
        [`${file}: tenants.alice.model: must be a model reference provider/model, such as anthropic/claude-sonnet-4-5`],
        model,
      );
    }
  });
});

// `openclaw config schema` of the pinned version (test/fixtures/openclaw/README.md).
const configSchema = JSON.parse(readFileSync(join(repo, "test", "fixtures", "openclaw", "config-schema.json"), "utf8")) as {
  properties: Record<string, object>;
};
const ajv = new Ajv({ strict: false, allErrors: true, logger: false, validateFormats: false });

/** The rendered sections that carry route settings, checked against the gateway's own schema for them. */
function assertGatewayAccepts(config: GatewayConfig): void {
  for (const section of ["agents", "tools"] as const) {
    if (config[section] === undefined) continue;
    const validate = ajv.compile(configSchema.properties[section] ?? {});
    assert.ok(validate(config[section]), `${section}: ${ajv.errorsText(validate.errors)}`);
  }
}

describe("the rendered config keeps each route on what the image holds", () => {
  const routed = fleet(
    {
      alice: { tier: "dedicated", host: "gw1", model: "openai/gpt-5.1", modelKeys: { openai: key() } },
      bob: { tier: "dedicated", host: "gw1", model: "openrouter/anthropic/claude-sonnet-4-5", modelKeys: { openrouter: key() } },
      carol: { tier: "dedicated", host: "gw1" },
      dave: { tier: "shared", host: "gw1", model: "openai/gpt-4.1" },
      erin: { tier: "shared", host: "gw1" },
    },
    { model: "xai/grok-4" },
  );
  const dedicated = (id: string) => routed.tenants.find((t): t is DedicatedTenant => t.id === id && t.tier === "dedicated") as DedicatedTenant;
  const host = routed.hosts[0];
  assert.ok(host);

  it("pins openai models to openclaw's own runtime, which openclaw's schema accepts", () => {
    const config = renderDedicatedConfig(dedicated("alice"));
    assert.deepEqual(config.agents.defaults, { model: "openai/gpt-5.1", models: { "openai/*": { agentRuntime: { id: "openclaw" } } } });
    assert.equal(config.tools, undefined);
    assertGatewayAccepts(config);
  });

  it("turns web search off where an OpenRouter key would make openclaw fetch the Perplexity plugin", () => {
    const config = renderDedicatedConfig(dedicated("bob"));
    assert.deepEqual(config.agents.defaults, { model: "openrouter/anthropic/claude-sonnet-4-5" });
    assert.deepEqual(config.tools, { web: { search: { enabled: false } } });
    assertGatewayAccepts(config);
  });

  it("adds nothing for a provider that needs nothing", () => {
    const config = renderDedicatedConfig(dedicated("carol"));
    assert.deepEqual(config.agents.defaults, { model: "anthropic/claude-sonnet-4-5" });
    assert.equal("tools" in config, false);
  });

  it("pins a shared gateway's openai agents while its default model is another provider's", () => {
    const config = renderSharedConfig(
      host,
      routed.tenants.filter((t): t is SharedTenant => t.tier === "shared"),
    );
    assert.deepEqual(config.agents.defaults, {
      model: "xai/grok-4",
      models: { "openai/*": { agentRuntime: { id: "openclaw" } } },
      systemAgent: { agentId: "dave" },
    });
    assertGatewayAccepts(config);
  });
});
