import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { mockRandomValue, type PlannedResource } from "../../cli/mock-run";
import { planStackFile, type Plan } from "../../cli/plan";
import { collectFacts, type ComponentFacts } from "../../components/facts";
import { containerChange } from "../../runtimes/docker/container-fields";
import { readInlineScript } from "../../runtimes/shell";

// The whole program (index.ts) for the example dev stack, under the mock runtime: one run per file.
let plan: Plan;
let facts: ComponentFacts[];
before(async () => {
  ({ result: plan, facts } = await collectFacts(() => planStackFile("stacks/Pulumi.dev.yaml")));
});

function byName(name: string): PlannedResource {
  const found = plan.resources.find((r) => r.name === name);
  assert.ok(found, `no resource named ${name}`);
  return found;
}

const tokenOf = (name: string) => mockRandomValue("dev", name, { length: 48, special: false });

describe("components of the dev stack", () => {
  it("state their kind, host, state directory and the role of every child they register", () => {
    assert.deepEqual(
      facts.map((f) => [f.kind, f.name, f.host, f.stateDir]),
      [
        ["dedicated", "alice", "local", "/var/lib/clawfleet/users/alice"],
        ["dedicated", "dave", "local", "/var/lib/clawfleet/users/dave"],
        ["host", "local", "local", undefined],
        ["shared", "bob", "local", "/var/lib/clawfleet/shared/workspaces/bob"],
        ["shared", "carol", "local", "/var/lib/clawfleet/shared/workspaces/carol"],
      ],
    );
    for (const stated of facts) {
      const component = plan.resources.find((r) => !r.custom && r.type === stated.type && r.name === stated.name);
      assert.ok(component, `no component ${stated.type} ${stated.name}`);
      const children = plan.resources.filter((r) => r.parent === component.urn).map((r) => r.name);
      assert.deepEqual(Object.keys(stated.roles).sort(), children.sort(), stated.name);
      for (const [child, role] of Object.entries(stated.roles)) assert.equal(child, `${stated.name}-${role}`);
    }
  });

  it("state what each of their commands does, for plan's tree (none is described by its script)", () => {
    const commands = plan.resources.filter((r) => r.type.startsWith("command:")).map((r) => r.name);
    const stated = Object.fromEntries(facts.flatMap((f) => Object.entries(f.summaries ?? {})));
    assert.deepEqual(Object.keys(stated).sort(), commands.sort());
    assert.deepEqual(
      ["alice-state", "alice-config", "alice-claim", "alice-backup", "alice-limits", "alice-ready", "alice-serve"].map((name) => stated[name]),
      [
        "creates the state directory /var/lib/clawfleet/users/alice",
        "writes openclaw.json",
        "claims port 18101",
        "backs up before an image change",
        "limits processes to 512",
        "waits until healthy",
        "serves https 18101",
      ],
    );
    assert.deepEqual(
      ["local-prepare", "local-preflight", "local-shared-claim", "bob-workspace"].map((name) => stated[name]),
      [
        "prepares the host: tools, state root /var/lib/clawfleet, image",
        "tries a new image on a copy of /var/lib/clawfleet/users/alice",
        "claims port 18789",
        "creates the workspace /var/lib/clawfleet/shared/workspaces/bob",
      ],
    );
  });

  it("state, from the runtime, how a change to each of its children reaches the gateway", () => {
    const gateway = (prefix: string) => ({
      [`${prefix}config`]: { kind: "config", input: "stdin" },
      [`${prefix}secrets`]: { kind: "named" },
      [`${prefix}claim`]: { kind: "follows" },
      [`${prefix}network`]: { kind: "follows" },
      [`${prefix}egress`]: { kind: "named" },
      [`${prefix}backup`]: { kind: "follows" },
      [`${prefix}container`]: containerChange,
      [`${prefix}limits`]: { kind: "named" },
      [`${prefix}ready`]: { kind: "follows" },
      [`${prefix}serve`]: { kind: "named" },
    });
    assert.deepEqual(
      facts.map((f) => [f.name, f.runtimeChildren]),
      [
        ["alice", gateway("")],
        ["dave", gateway("")],
        [
          "local",
          {
            prepare: { kind: "named" },
            readback: { kind: "follows" },
            preflight: { kind: "runs-on", runsOn: ["triggers"], label: "image preflight" },
            ...gateway("shared-"),
          },
        ],
        ["bob", undefined],
        ["carol", undefined],
      ],
    );
    for (const stated of facts) for (const role of Object.keys(stated.runtimeChildren ?? {})) assert.ok(Object.values(stated.roles).includes(role), role);
  });

  it("registers one component per host and per tenant, named by host name and tenant id", () => {
    const components = plan.resources.filter((r) => !r.custom).map((r) => `${r.type} ${r.name}`);
    assert.deepEqual(components.sort(), [
      "clawfleet:index:DedicatedUser alice",
      "clawfleet:index:DedicatedUser dave",
      "clawfleet:index:GatewayHost local",
      "clawfleet:index:SharedBinding bob",
      "clawfleet:index:SharedBinding carol",
    ]);
  });

  it("names children <component>-<role> and parents them to their component", () => {
    const roles = (component: string) =>
      plan.resources
        .filter((r) => r.parent === byName(component).urn)
        .map((r) => r.name)
        .sort();
    assert.deepEqual(roles("alice"), [
      "alice-backup",
      "alice-claim",
      "alice-config",
      "alice-container",
      "alice-egress",
      "alice-limits",
      "alice-network",
      "alice-ready",
      "alice-secrets",
      "alice-serve",
      "alice-state",
      "alice-token",
    ]);
    assert.deepEqual(roles("bob"), ["bob-workspace"]);
    assert.deepEqual(roles("local"), [
      "local-docker",
      "local-preflight",
      "local-prepare",
      "local-readback",
      "local-shared-backup",
      "local-shared-claim",
      "local-shared-config",
      "local-shared-container",
      "local-shared-egress",
      "local-shared-limits",
      "local-shared-network",
      "local-shared-ready",
      "local-shared-secrets",
      "local-shared-serve",
      "local-shared-state",
      "local-shared-token",
    ]);
  });

  it("runs a dedicated gateway hardened, on loopback only, with its state bind-mounted and its credentials read-only", () => {
    const container = byName("alice-container");
    const inputs = container.inputs;
    assert.equal(inputs["image"], "ghcr.io/openclaw/openclaw:2026.9.6");
    assert.equal(inputs["name"], "clawfleet-tenant-alice");
    assert.deepEqual(inputs["ports"], [{ internal: 18789, external: 18101, ip: "127.0.0.1", protocol: "tcp" }]);
    assert.deepEqual(inputs["mounts"], [
      { type: "bind", source: "/var/lib/clawfleet/users/alice", target: "/state", readOnly: false },
      { type: "bind", source: "/var/lib/clawfleet/secrets/clawfleet-tenant-alice", target: "/run/clawfleet", readOnly: true },
    ]);
    assert.equal(inputs["user"], "1000:1000");
    assert.equal(inputs["readOnly"], true);
    assert.deepEqual(inputs["capabilities"], { drops: ["ALL"] });
    assert.deepEqual(inputs["securityOpts"], ["no-new-privileges:true"]);
    assert.equal(inputs["init"], true);
    assert.equal(inputs["memory"], 1536);
    assert.equal(inputs["restart"], "unless-stopped");
    assert.deepEqual(Object.keys(inputs["tmpfs"] as object).sort(), ["/home/node", "/tmp"]);
    assert.deepEqual(inputs["networksAdvanced"], [{ name: "clawfleet-tenant-alice" }]);
    const healthcheck = inputs["healthcheck"] as { tests: string[] };
    assert.equal(healthcheck.tests[0], "CMD");
    assert.match(healthcheck.tests.join(" "), /\/healthz.*"status":"live"/);
  });

  it("sends the values the Docker provider reads back, so an unchanged gateway never diffs", () => {
    const inputs = byName("alice-container").inputs;
    assert.equal(inputs["cpus"], "1.0");
    assert.equal(byName("local-shared-container").inputs["cpus"], "2.0");
    const { interval, timeout, startPeriod } = inputs["healthcheck"] as Record<string, string>;
    assert.deepEqual([interval, timeout, startPeriod], ["10s", "5s", "2m0s"]);
    assert.equal(inputs["wait"], undefined, "the provider checks wait only at create; the ready gate checks every new container");
  });

  it("sends, offline (no host to ask), the gateway's own log, swap and health-check settings", () => {
    for (const name of ["alice-container", "local-shared-container"]) {
      const inputs = byName(name).inputs;
      assert.equal(inputs["logDriver"], "json-file");
      assert.deepEqual(inputs["logOpts"], { "max-size": "10m", "max-file": "3" });
      assert.equal(inputs["memorySwap"], inputs["memory"]);
      const { tests, ...timings } = inputs["healthcheck"] as Record<string, unknown>;
      assert.ok(Array.isArray(tests));
      assert.deepEqual(timings, { interval: "10s", timeout: "5s", startPeriod: "2m0s", startInterval: "0s", retries: 3 });
    }
  });

  it("reads back, after the host's preparation, what its daemon stores for a container of the image", () => {
    const readback = byName("local-readback");
    assert.equal(readback.type, "command:local:Command");
    assert.deepEqual(readback.options.dependsOn, [byName("local-prepare").urn], "the image is on the host once the preparation ran");
    assert.deepEqual(readback.inputs["triggers"], ["ghcr.io/openclaw/openclaw:2026.9.6"], "a new image is read back again");
    assert.match(
      String(readback.inputs["create"]),
      /docker create --label clawfleet\.readback=true --log-driver json-file --log-opt 'max-size=10m' --log-opt 'max-file=3' /,
    );
    assert.equal(readback.inputs["delete"], undefined);
  });

  it("gives every gateway a hostname of its own, the same for each replacement", () => {
    assert.equal(byName("alice-container").inputs["hostname"], "clawfleet-tenant-alice");
    assert.equal(byName("local-shared-container").inputs["hostname"], "clawfleet-shared-local");
  });

  it("labels each container with its gateway, stack and host, so claims and moves find it", () => {
    const labels = Object.fromEntries((byName("alice-container").inputs["labels"] as { label: string; value: string }[]).map((l) => [l.label, l.value]));
    assert.equal(labels["clawfleet.gateway"], "tenant/alice");
    assert.equal(labels["clawfleet.stack"], "clawfleet/dev");
    assert.equal(labels["clawfleet.host"], "local");
    const network = byName("alice-network");
    assert.deepEqual(network.inputs["labels"], [
      { label: "clawfleet.managed", value: "true" },
      { label: "clawfleet.host", value: "local" },
    ]);
    assert.equal(network.options.deleteBeforeReplace, true, "the network name is fixed: the old one must go first");
  });

  it("frees the port before the container starts, and gates what follows on Docker's health report", () => {
    const container = byName("alice-container");
    assert.ok(container.options.dependsOn.includes(byName("alice-claim").urn));
    const claim = readInlineScript(String(byName("alice-claim").inputs["create"]));
    assert.equal(claim.name, "claim-port");
    assert.deepEqual(claim.args.slice(0, 5), ["local", "18101", "tenant/alice", "clawfleet-tenant-alice", "clawfleet/dev"]);
    const ready = byName("alice-ready");
    assert.deepEqual(ready.inputs["triggers"], ["alice-container-id"], "a new container id re-runs the gate");
    const gate = readInlineScript(String(ready.inputs["create"]));
    assert.equal(gate.name, "health-gate");
    assert.deepEqual(gate.args.slice(0, 2), ["clawfleet-tenant-alice", "300"]);
    assert.ok(byName("alice-serve").options.dependsOn.includes(ready.urn), "a gateway is published once it is healthy");
  });

  it("passes the token only in a secret environment variable, never in the config file", () => {
    const container = byName("alice-container");
    assert.deepEqual(container.secretInputs, ["envs"]);
    assert.equal(container.inputs["envs"], "[secret]");
    const envs = container.revealedInputs["envs"] as string[];
    assert.deepEqual(envs, [
      "OPENCLAW_STATE_DIR=/state",
      "OPENCLAW_CONFIG_READONLY=1",
      "OPENCLAW_DISABLE_BONJOUR=1",
      "HOME=/home/node",
      `OPENCLAW_GATEWAY_TOKEN=${tokenOf("alice-token")}`,
    ]);
    const config = JSON.parse(String(byName("alice-config").inputs["stdin"])) as { gateway: { auth: unknown } };
    assert.deepEqual(config.gateway.auth, { mode: "token", token: { source: "env", provider: "default", id: "OPENCLAW_GATEWAY_TOKEN" } });
  });

  it("marks the generated token a secret output", () => {
    const token = byName("alice-token");
    assert.ok(token.options.additionalSecretOutputs.includes("result"));
    assert.deepEqual(token.inputs, { length: 48, special: false });
  });

  it("shows no token in any printed input of any resource", () => {
    const printed = JSON.stringify(plan.resources.map((r) => r.inputs));
    for (const name of ["alice-token", "dave-token", "local-shared-token"]) assert.ok(!printed.includes(tokenOf(name)), `${name} leaks`);
  });

  it("keeps state directories and config files when a tenant is removed", () => {
    for (const name of ["alice-state", "alice-config", "bob-workspace", "local-shared-state"]) {
      const resource = byName(name);
      assert.equal(resource.options.retainOnDelete, true, name);
      assert.equal(resource.inputs["delete"], undefined, `${name} has a delete command`);
    }
  });

  it("replaces a container for the fields the provider would only record, deleting the old one first", () => {
    const container = byName("alice-container");
    assert.deepEqual(container.options.replaceOnChanges, ["healthcheck", "tmpfs", "init"]);
    assert.equal(container.options.deleteBeforeReplace, true);
    assert.ok(container.options.provider?.includes("::local-docker::"), "container uses the host's docker provider");
    assert.ok(container.options.dependsOn.includes(byName("alice-config").urn), "container waits for its config file");
  });

  it("keeps the config file out of the container's inputs, so a config change does not restart it", () => {
    const container = JSON.stringify(byName("alice-container").inputs);
    assert.ok(!container.includes("agents"));
    assert.ok(!container.includes("claude"));
  });

  it("writes the config from stdin into the tenant's state directory", () => {
    const config = byName("alice-config");
    const create = String(config.inputs["create"]);
    assert.match(create, /as_root mv -fT "\$tmp" '\/var\/lib\/clawfleet\/users\/alice\/openclaw.json'/);
    // Made in clawfleet's own folder, not in the state directory the tenant's gateway writes in.
    assert.match(create, /tmp=\$\(as_root mktemp '\/var\/lib\/clawfleet\/\.clawfleet\/\.openclaw\.json\.XXXXXX'\)/);
    assert.ok(!create.includes("claude"), "content is not in the script");
    assert.match(String(config.inputs["stdin"]), /"model": "anthropic\/claude-sonnet-4-5"/);
  });

  it("publishes each gateway on the tailnet with Serve, never Funnel", () => {
    const serve = byName("alice-serve");
    const add = readInlineScript(String(serve.inputs["create"]));
    assert.deepEqual([add.name, ...add.args], ["serve", "add", "18101", "18101"]);
    assert.match(add.text, /serve --bg --yes --https="\$https_port" "http:\/\/127.0.0.1:\$local_port"/);
    const remove = readInlineScript(String(serve.inputs["delete"]));
    assert.deepEqual([remove.name, ...remove.args], ["serve", "remove", "18101", "18101", "tenant/alice", "clawfleet.gateway"]);
    assert.match(remove.text, /serve --https="\$https_port" off/);
    assert.ok(serve.options.replaceOnChanges.includes("*"), "any change replaces the entry (old port removed)");
    assert.equal(serve.options.deleteBeforeReplace, true);
    const all = JSON.stringify(plan.resources.map((r) => r.inputs));
    assert.ok(!all.includes("funnel"));
  });

  it("renders the shared gateway with both shared tenants' agents and bindings", () => {
    const config = JSON.parse(String(byName("local-shared-config").inputs["stdin"])) as {
      agents: { ownership: string; entries: Record<string, unknown> };
      bindings: { agentId: string }[];
    };
    assert.equal(config.agents.ownership, "explicit");
    assert.deepEqual(Object.keys(config.agents.entries), ["bob", "carol"]);
    assert.deepEqual(
      config.bindings.map((b) => b.agentId),
      ["bob", "carol"],
    );
  });

  it("exports per-tenant URLs and ports, with the token as a secret", async () => {
    const outputs = (plan.outputs as { tenants: Record<string, { port: number; loopbackUrl: string; tailnetUrl: string; token: pulumi.Output<string> }> })
      .tenants;
    assert.deepEqual(Object.keys(outputs).sort(), ["alice", "bob", "carol", "dave"]);
    assert.equal(outputs["alice"]?.port, 18101);
    assert.equal(outputs["alice"]?.loopbackUrl, "http://127.0.0.1:18101/");
    assert.equal(outputs["alice"]?.tailnetUrl, "https://devbox.example-tailnet.ts.net:18101/");
    assert.equal(outputs["bob"]?.port, 18789);
    for (const tenant of Object.values(outputs)) assert.equal(await pulumi.isSecret(tenant.token), true);
  });
});
