import assert from "node:assert/strict";
import { test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { DeclarationError } from "../../declaration/errors";
import { loadFleetForPulumi, loadFleetFromPulumiConfig } from "../../declaration/pulumi-config";
import { SecretValue } from "../../declaration/secret";
import { dockerChecks } from "../../runtimes/docker/checks";

// Config is process-wide runtime state, so these cases live in their own file (node --test runs one process per file).
pulumi.runtime.setMocks({ newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs }), call: (args) => args.inputs }, "clawfleet", "cfgtest");

const hosts = {
  gw1: {
    ssh: {
      host: "gw1.example.ts.net",
      user: "deploy",
      privateKey: "-----BEGIN OPENSSH PRIVATE KEY----- test",
      hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDUZzTanz2CG879Q/C5QdK2PZPff1WcVXzIN8hc23EtF",
    },
    stateRoot: "/data/clawfleet",
    ports: { from: 18100, to: 18999 },
  },
};
const config = {
  "clawfleet:image": "ghcr.io/openclaw/openclaw:2026.9.6",
  "clawfleet:hosts": JSON.stringify(hosts),
  "clawfleet:tenants": JSON.stringify({ alice: { tier: "dedicated", host: "gw1", modelKeys: { anthropic: "plain-key" } } }),
  "other:setting": "ignored",
};

test("a plain value at a secret path of a key not marked secret is an error naming the command", () => {
  pulumi.runtime.setAllConfig(config, []);
  assert.throws(loadFleetFromPulumiConfig, (error: unknown) => {
    assert.ok(error instanceof DeclarationError);
    assert.deepEqual(error.lines, [
      "stacks/Pulumi.cfgtest.yaml: hosts.gw1.ssh.privateKey: is a secret in plain text; remove it from the file and run: pulumi config set --secret --path 'clawfleet:hosts.gw1.ssh.privateKey' <value>",
      "stacks/Pulumi.cfgtest.yaml: tenants.alice.modelKeys.anthropic: is a secret in plain text; remove it from the file and run: pulumi config set --secret --path 'clawfleet:tenants.alice.modelKeys.anthropic' <value>",
    ]);
    return true;
  });
});

test("the same values under keys marked secret are accepted and stay wrapped", () => {
  pulumi.runtime.setAllConfig(config, ["clawfleet:hosts", "clawfleet:tenants"]);
  const fleet = loadFleetFromPulumiConfig();
  const key = fleet.hosts[0]?.ssh?.privateKey;
  assert.ok(key instanceof SecretValue);
  assert.equal(key.value, "-----BEGIN OPENSSH PRIVATE KEY----- test");
  const alice = fleet.tenants[0];
  assert.ok(alice?.tier === "dedicated");
  const apiKey = alice.modelKeys?.["anthropic"];
  assert.ok(apiKey instanceof SecretValue);
  assert.equal(apiKey.value, "plain-key");
  assert.equal(fleet.hosts[0]?.ssh?.host, "gw1.example.ts.net", "values outside the secret paths stay plain strings");
});

test("only the key marked secret is wrapped", () => {
  pulumi.runtime.setAllConfig(config, ["clawfleet:tenants"]);
  assert.throws(loadFleetFromPulumiConfig, (error: unknown) => {
    assert.ok(error instanceof DeclarationError);
    assert.deepEqual(error.lines, [
      "stacks/Pulumi.cfgtest.yaml: hosts.gw1.ssh.privateKey: is a secret in plain text; remove it from the file and run: pulumi config set --secret --path 'clawfleet:hosts.gw1.ssh.privateKey' <value>",
    ]);
    return true;
  });
});

test("the program's entry reports declaration problems as a RunError: the lines, without a stack trace", () => {
  pulumi.runtime.setAllConfig(config, []);
  assert.throws(
    () => loadFleetForPulumi(dockerChecks),
    (error: unknown) => {
      assert.ok(pulumi.RunError.isInstance(error as Error));
      assert.match((error as Error).message, /^stacks\/Pulumi\.cfgtest\.yaml: the declaration has 2 problems:\n/);
      return true;
    },
  );
});
