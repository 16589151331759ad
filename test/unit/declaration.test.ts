import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { DeclarationError } from "../../declaration/errors";
import { parseFleet } from "../../declaration/parse";
import { secretPaths, wrapSecretPaths } from "../../declaration/pulumi-config";
import { type RawDeclaration } from "../../declaration/raw";
import { maxStackFileBytes, readStackFile, readStackFileText } from "../../declaration/stack-file";
import type { DedicatedTenant, SharedTenant } from "../../declaration/schema";
import { SecretValue } from "../../declaration/secret";
import { dockerChecks } from "../../runtimes/docker/checks";
import { runtimeChecks } from "../../runtimes/checks";

const file = "stacks/Pulumi.test.yaml";
const devFile = join(__dirname, "../../stacks/Pulumi.dev.yaml");
const idRule = "use 1-64 characters from a-z, 0-9, _ and -, starting with a letter, digit or _";

/** Declarations in these tests are edited as freely as a user edits the YAML. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Editable = Record<string, any>;

const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDUZzTanz2CG879Q/C5QdK2PZPff1WcVXzIN8hc23EtF";

/** A small valid declaration; each test breaks one thing in its own copy. */
function valid(): Editable {
  return {
    image: "ghcr.io/openclaw/openclaw:2026.9.6",
    hosts: {
      gw1: {
        ssh: { host: "gw1.example.ts.net", user: "deploy", privateKey: new SecretValue("key"), hostKey },
        stateRoot: "/data/clawfleet",
        ports: { from: 18100, to: 18999 },
        shared: { port: 18789 },
        tailscale: { serve: true },
        memoryMb: 16384,
      },
    },
    tenants: {
      alice: { tier: "dedicated", host: "gw1", model: "anthropic/claude-sonnet-4-5", port: 18101, memoryMb: 1536 },
      bob: { tier: "shared", host: "gw1", bindings: [{ channel: "telegram", peer: { kind: "direct", id: "123" } }] },
    },
  };
}

/** The exact lines parseFleet reports, or a failure when it accepts the declaration. */
function linesOf(raw: RawDeclaration): string[] {
  try {
    parseFleet(file, raw);
  } catch (error) {
    assert.ok(error instanceof DeclarationError, `expected a DeclarationError, got ${String(error)}`);
    return error.lines;
  }
  assert.fail("the declaration was accepted");
}

function readLinesOf(text: string): string[] {
  try {
    readStackFile(file, text);
  } catch (error) {
    assert.ok(error instanceof DeclarationError, `expected a DeclarationError, got ${String(error)}`);
    return error.lines;
  }
  assert.fail("the stack file was accepted");
}

describe("unknown keys", () => {
  test("at the top level", () => {
    const raw = valid();
    raw["tennants"] = {};
    assert.deepEqual(linesOf(raw), [
      `${file}: tennants: is not a clawfleet setting (clawfleet:tennants); known settings: clawfleet:image, clawfleet:hosts, clawfleet:tenants, clawfleet:backups, clawfleet:observability`,
    ]);
  });

  test("a key holding a line break stays on one line", () => {
    const raw = valid();
    raw["tenants\nimage"] = {};
    assert.deepEqual(linesOf(raw), [
      `${file}: ["tenants\\nimage"]: is not a clawfleet setting (clawfleet:tenants\\nimage); known settings: clawfleet:image, clawfleet:hosts, clawfleet:tenants, clawfleet:backups, clawfleet:observability`,
    ]);
  });

  test("in a host, its ssh, ports, shared and tailscale maps", () => {
    const raw = valid();
    const host = raw["hosts"].gw1;
    host.stateroot = host.stateRoot;
    delete host.stateRoot;
    host.ssh.usr = "deploy";
    host.ports.too = 18999;
    host.shared.prot = 1;
    host.tailscale.server = true;
    assert.deepEqual(linesOf(raw), [
      `${file}: hosts.gw1.ssh.usr: is not a field clawfleet knows; did you mean user?`,
      `${file}: hosts.gw1.ports.too: is not a field clawfleet knows; did you mean to?`,
      `${file}: hosts.gw1.shared.prot: is not a field clawfleet knows; did you mean port?`,
      `${file}: hosts.gw1.tailscale.server: is not a field clawfleet knows; did you mean serve?`,
      `${file}: hosts.gw1.stateroot: is not a field clawfleet knows; did you mean stateRoot?`,
      `${file}: hosts.gw1.stateRoot: is required: an absolute path such as /data/clawfleet (on a Docker host; declare kubernetes instead to run the host's gateways on a cluster)`,
    ]);
  });

  test("in a tenant, its channels and its bindings", () => {
    const raw = valid();
    raw["tenants"].alice.ram = 2048;
    raw["tenants"].alice.channels = { telegrm: { dmPolicy: "open" }, discord: { allowfrom: ["1"] } };
    raw["tenants"].bob.bindings[0].peer.ID = "1";
    assert.deepEqual(linesOf(raw), [
      `${file}: tenants.alice.channels.discord.allowfrom: is not a field clawfleet knows; did you mean allowFrom?`,
      `${file}: tenants.alice.channels.telegrm: is not a field clawfleet knows; did you mean telegram?`,
      `${file}: tenants.alice.ram: is not a field clawfleet knows; the fields here are tier, host, name, model, labels, stateLimitMb, budget, purge, port, memoryMb, upgradeBackups, cpus, pidsLimit, channels, modelKeys, modelProviders, egress, isolation, rotation, movedFrom, renamedFrom`,
      `${file}: tenants.bob.bindings[0].peer.ID: is not a field clawfleet knows; did you mean id?`,
    ]);
  });

  test("in a shared tenant, a setting of its host's shared gateway points there", () => {
    const raw = valid();
    raw["tenants"].bob.upgradeBackups = 5;
    raw["tenants"].bob.memoryMb = 4096;
    assert.deepEqual(linesOf(raw), [
      `${file}: tenants.bob.upgradeBackups: is a setting of the host's shared gateway, which serves all of its shared tenants; set it as hosts.gw1.shared.upgradeBackups`,
      `${file}: tenants.bob.memoryMb: is a setting of the host's shared gateway, which serves all of its shared tenants; set it as hosts.gw1.shared.memoryMb`,
    ]);
  });
});

describe("stack file syntax", () => {
  test("a duplicate key names the key, its line and column", () => {
    const text = ["config:", "  clawfleet:image: ghcr.io/openclaw/openclaw:2026.9.6", "  clawfleet:hosts:", "    gw1: {}", "    gw1: {}", ""].join("\n");
    assert.deepEqual(readLinesOf(text), [`${file}: hosts.gw1: line 5, column 5: key gw1 appears twice in one map; keep one of them`]);
  });

  test("a duplicate top-level config key", () => {
    const text = "config:\n  clawfleet:image: a:1\n  clawfleet:image: b:2\n";
    assert.deepEqual(readLinesOf(text), [`${file}: image: line 3, column 3: key clawfleet:image appears twice in one map; keep one of them`]);
  });

  test("a syntax error gives its line and column", () => {
    const text = "config:\n  clawfleet:hosts: { gw1: [1, 2 }\n";
    assert.deepEqual(readLinesOf(text), [
      `${file}: line 2, column 33: Flow sequence in block collection must be sufficiently indented and end with a ]`,
      `${file}: line 2, column 34: Flow map in block collection must be sufficiently indented and end with a }`,
    ]);
  });

  test("a file without config:", () => {
    assert.deepEqual(readLinesOf("encryptionsalt: v1:abc\n"), [
      `${file}: has no config: map; a stack file starts with config: and keys such as clawfleet:hosts`,
    ]);
    assert.deepEqual(readLinesOf(""), [`${file}: has no config: map; a stack file starts with config: and keys such as clawfleet:hosts`]);
  });

  test("nested aliases that expand without bound", () => {
    const lines = ["config:", "  a: &a0 [x, x]"];
    for (let i = 1; i <= 12; i += 1) lines.push(`  a${i}: &a${i} [*a${i - 1}, *a${i - 1}]`);
    assert.deepEqual(readLinesOf(lines.join("\n")), [`${file}: expands more than 1000 aliases (*name); write the values out instead of nesting aliases`]);
  });

  test("a __proto__ key stays a key and is reported", () => {
    const raw = readStackFile(file, 'config:\n  clawfleet:__proto__: { image: "x" }\n');
    assert.deepEqual(Object.keys(raw), ["__proto__"]);
    assert.equal(Object.getPrototypeOf(raw), Object.prototype);
  });
});

describe("ids", () => {
  const cases: [string, string][] = [
    ["Alice", `${file}: tenants.Alice: "Alice" is not a valid tenant id: ${idRule}`],
    ["../x", `${file}: tenants["../x"]: "../x" is not a valid tenant id: ${idRule}`],
    ["a;rm", `${file}: tenants["a;rm"]: "a;rm" is not a valid tenant id: ${idRule}`],
    [
      "\u0430lice",
      `${file}: tenants["\u0430lice"]: "\u0430lice" is not a valid tenant id (it contains "\u0430", U+0430, which only looks like a Latin letter or sign): ${idRule}`,
    ],
    ["a".repeat(65), `${file}: tenants.${"a".repeat(65)}: "${"a".repeat(65)}" is not a valid tenant id: ${idRule}`],
    ["-x", `${file}: tenants.-x: "-x" is not a valid tenant id: ${idRule}`],
  ];
  for (const [id, line] of cases) {
    test(`tenant id ${JSON.stringify(id)}`, () => {
      const raw = valid();
      raw["tenants"][id] = { tier: "dedicated", host: "gw1" };
      assert.deepEqual(linesOf(raw), [line]);
    });
  }

  test("64 characters is still an id", () => {
    const raw = valid();
    raw["tenants"]["a".repeat(64)] = { tier: "shared", host: "gw1" };
    assert.equal(parseFleet(file, raw).tenants.length, 3);
  });

  test("host names follow the same rule", () => {
    const raw = valid();
    raw["hosts"]["GW2"] = raw["hosts"].gw1;
    raw["hosts"]["gw 3"] = raw["hosts"].gw1;
    assert.deepEqual(linesOf(raw), [
      `${file}: hosts.GW2: "GW2" is not a valid host name: ${idRule}`,
      `${file}: hosts["gw 3"]: "gw 3" is not a valid host name: ${idRule}`,
    ]);
  });
});

describe("tenants and hosts", () => {
  test("a tenant on a host that is not declared", () => {
    const raw = valid();
    raw["tenants"].alice.host = "gw2";
    assert.deepEqual(linesOf(raw), [`${file}: tenants.alice.host: names host "gw2", which is not declared; use one of: gw1`]);
  });

  test("a tenant on a host that is declared but invalid gets no second line", () => {
    const raw = valid();
    raw["hosts"].gw1.stateRoot = "data";
    assert.deepEqual(linesOf(raw), [
      `${file}: hosts.gw1.stateRoot: must be an absolute path such as /data/clawfleet, using only A-Z, a-z, 0-9, '.', '_', '-' and '/'`,
    ]);
  });

  test("a tenant on a host whose name is invalid gets no second line", () => {
    const raw = valid();
    raw["hosts"]["GW2"] = raw["hosts"].gw1;
    raw["tenants"].alice.host = "GW2";
    assert.deepEqual(linesOf(raw), [`${file}: hosts.GW2: "GW2" is not a valid host name: ${idRule}`]);
  });

  test("a tenant without host", () => {
    const raw = valid();
    delete raw["tenants"].alice.host;
    assert.deepEqual(linesOf(raw), [`${file}: tenants.alice.host: is required: the name of a host declared under hosts`]);
  });

  test("a tenant without tier, and with a wrong one", () => {
    const raw = valid();
    delete raw["tenants"].alice.tier;
    raw["tenants"].bob.tier = "Shared";
    assert.deepEqual(linesOf(raw), [
      `${file}: tenants.alice.tier: is required; set tier: dedicated (its own gateway container) or tier: shared (an agent in the host's shared gateway)`,
      `${file}: tenants.bob.tier: must be dedicated or shared, not string "Shared"`,
    ]);
  });

  test("a shared tenant on a host without a shared gateway", () => {
    const raw = valid();
    delete raw["hosts"].gw1.shared;
    assert.deepEqual(linesOf(raw), [
      `${file}: tenants.bob.host: host gw1 has no shared gateway; add hosts.gw1.shared: { port: <port> } or set tier: dedicated`,
    ]);
  });

  test("bindings on a dedicated tenant, with its other problems in the same pass", () => {
    const raw = valid();
    raw["tenants"].alice.bindings = [{ channel: "telegram" }];
    raw["tenants"].alice.cpus = 0;
    assert.deepEqual(linesOf(raw), [
      `${file}: tenants.alice.bindings: bindings route chats inside a shared gateway; a dedicated tenant gets all of its gateway's chats. Remove bindings or set tier: shared`,
      `${file}: tenants.alice.cpus: must be a number of CPU cores above 0, such as 1 or 1.5`,
    ]);
  });

  test("a bad peer kind", () => {
    const raw = valid();
    raw["tenants"].bob.bindings[0].peer.kind = "dm";
    assert.deepEqual(linesOf(raw), [`${file}: tenants.bob.bindings[0].peer.kind: must be direct, group or channel`]);
  });

  test("stateRoot relative, / and with ..", () => {
    for (const [stateRoot, message] of [
      ["data/clawfleet", "must be an absolute path such as /data/clawfleet, using only A-Z, a-z, 0-9, '.', '_', '-' and '/'"],
      ["/", "must not be / itself; use a directory such as /data/clawfleet"],
      ["//", "must not be / itself; use a directory such as /data/clawfleet"],
      ["/data/../etc", "must not contain . or .. segments; write the path out in full"],
    ]) {
      const raw = valid();
      raw["hosts"].gw1.stateRoot = stateRoot;
      assert.deepEqual(linesOf(raw), [`${file}: hosts.gw1.stateRoot: ${message}`], stateRoot);
    }
  });

  test("an image without tag, and no image", () => {
    const raw = valid();
    raw["image"] = "ghcr.io/openclaw/openclaw";
    assert.deepEqual(linesOf(raw), [`${file}: image: must pin a tag or digest (for example :2026.9.6); an untagged image moves under you`]);
    raw["image"] = "localhost:5000/openclaw";
    assert.deepEqual(linesOf(raw), [`${file}: image: must pin a tag or digest (for example :2026.9.6); an untagged image moves under you`]);
    delete raw["image"];
    assert.deepEqual(linesOf(raw), [`${file}: image: is required: the gateway image reference, such as ghcr.io/openclaw/openclaw:2026.9.6`]);
  });

  test("empty and missing hosts; no tenants is a fleet of hosts", () => {
    assert.deepEqual(linesOf({ image: "x:1", hosts: {}, tenants: {} }), [
      `${file}: hosts: is empty; declare at least one, such as gw1: { stateRoot: /data/clawfleet, ports: { from: 18100, to: 18999 } }`,
    ]);
    assert.deepEqual(linesOf({ image: "x:1" }), [
      `${file}: hosts: is required; declare at least one under clawfleet:hosts, such as gw1: { stateRoot: /data/clawfleet, ports: { from: 18100, to: 18999 } }`,
    ]);
    for (const tenants of [{}, null, undefined]) {
      const raw = valid();
      raw["tenants"] = tenants;
      const fleet = parseFleet(file, raw);
      assert.deepEqual([fleet.hosts.length, fleet.tenants.length], [1, 0]);
    }
    assert.deepEqual(linesOf({ image: "x:1", hosts: [], tenants: "alice" }), [
      `${file}: hosts: must be a map of host name to settings, not a list`,
      `${file}: tenants: must be a map of tenant id to settings, not string "alice"`,
    ]);
  });

  test("wrong types say what they got", () => {
    const raw = valid();
    raw["hosts"].gw1.tailscale.serve = "yes";
    raw["tenants"].alice.pidsLimit = 1.5;
    raw["tenants"].alice.memoryMb = "2G";
    raw["tenants"].alice.port = "18101";
    assert.deepEqual(linesOf(raw), [
      `${file}: hosts.gw1.tailscale.serve: must be a boolean, not string "yes"`,
      `${file}: tenants.alice.port: must be a port number (an integer from 1024 to 65535), not the string "18101"`,
      `${file}: tenants.alice.memoryMb: must be a number of megabytes, such as 1536`,
      `${file}: tenants.alice.pidsLimit: must be a whole number, not number 1.5`,
    ]);
  });

  test("a state limit is a whole number of MB, at least 1, on either tier", () => {
    const raw = valid();
    raw["tenants"].alice.stateLimitMb = 0;
    assert.deepEqual(linesOf(raw), [`${file}: tenants.alice.stateLimitMb: must be at least 1 MB`]);
    raw["tenants"].alice.stateLimitMb = "1G";
    assert.deepEqual(linesOf(raw), [`${file}: tenants.alice.stateLimitMb: must be a size in MB, such as 1024`]);
    raw["tenants"].alice.stateLimitMb = 2048;
    raw["tenants"].bob.stateLimitMb = 256;
    assert.deepEqual(
      parseFleet(file, raw).tenants.map((t) => [t.id, t.stateLimitMb]),
      [
        ["alice", 2048],
        ["bob", 256],
      ],
    );
  });

  test("a budget is enforced only on a dedicated tenant: stopping a shared gateway's channels would stop every tenant on it", () => {
    const raw = valid();
    raw["tenants"].alice.budget = { usdPerMonth: 25, enforce: true };
    raw["tenants"].bob.budget = { usdPerMonth: 5, enforce: true };
    assert.deepEqual(linesOf(raw), [
      `${file}: tenants.bob.budget.enforce: would stop the channels of host gw1's shared gateway, which every shared tenant there uses; remove enforce (watch still alerts at the budget), or make the tenant dedicated`,
    ]);
    raw["tenants"].bob.budget = { usdPerMonth: 5 };
    assert.deepEqual(
      parseFleet(file, raw).tenants.map((t) => [t.id, t.budget?.enforce]),
      [
        ["alice", true],
        ["bob", false],
      ],
    );
    raw["tenants"].alice.budget = { usdPerMonth: 25, enforce: "yes" };
    assert.deepEqual(linesOf(raw), [`${file}: tenants.alice.budget.enforce: must be true or false, not the string "yes"`]);
  });

  test("a Telegram channel may name its own Bot API server; only an http or https URL", () => {
    const raw = valid();
    raw["tenants"].alice.channels = { telegram: { apiRoot: "ftp://bots.example" } };
    assert.deepEqual(linesOf(raw), [
      `${file}: tenants.alice.channels.telegram.apiRoot: must be an http or https URL of a Bot API server, such as http://10.0.0.5:8081`,
    ]);
    raw["tenants"].alice.channels = { discord: { apiRoot: "http://10.0.0.5:8081" } };
    assert.match(linesOf(raw)[0] ?? "", /^stacks\/Pulumi\.test\.yaml: tenants\.alice\.channels\.discord\.apiRoot: is not a field clawfleet knows/);
    raw["tenants"].alice.channels = { telegram: { apiRoot: "http://10.0.0.5:8081" } };
    assert.equal((parseFleet(file, raw).tenants.find((t) => t.id === "alice") as DedicatedTenant).channels?.telegram?.apiRoot, "http://10.0.0.5:8081");
  });

  test("a budget is a positive number of US dollars a month, on either tier, and names the fix", () => {
    const raw = valid();
    raw["tenants"].alice.budget = { usdPerMonth: 0 };
    assert.deepEqual(linesOf(raw), [
      `${file}: tenants.alice.budget.usdPerMonth: must be more than 0 US dollars a month, such as 25; remove budget for no budget`,
    ]);
    raw["tenants"].alice.budget = { usdPerMonth: "25$" };
    assert.deepEqual(linesOf(raw), [`${file}: tenants.alice.budget.usdPerMonth: must be a number of US dollars, such as 25, not the string "25$"`]);
    raw["tenants"].alice.budget = {};
    assert.deepEqual(linesOf(raw), [`${file}: tenants.alice.budget.usdPerMonth: is required: a number of US dollars, such as 25`]);
    raw["tenants"].alice.budget = { usd: 25 };
    assert.deepEqual(linesOf(raw), [
      `${file}: tenants.alice.budget.usdPerMonth: is required: a number of US dollars, such as 25`,
      `${file}: tenants.alice.budget.usd: is not a field clawfleet knows; the fields here are usdPerMonth, enforce`,
    ]);
    raw["tenants"].alice.budget = { usdPerMonth: 25 };
    raw["tenants"].bob.budget = { usdPerMonth: 2.5 };
    assert.deepEqual(
      parseFleet(file, raw).tenants.map((t) => [t.id, t.budget?.usdPerMonth]),
      [
        ["alice", 25],
        ["bob", 2.5],
      ],
    );
  });

  test("a host's memory budget below what its gateways may use", () => {
    const raw = valid();
    raw["hosts"].gw1.memoryMb = 3000;
    assert.deepEqual(linesOf(raw), [
      `${file}: hosts.gw1.memoryMb: 3000 MB is less than the 3584 MB the gateways on this host may use (1 dedicated + shared); raise memoryMb, lower tenants' memoryMb or move tenants to another host`,
    ]);
  });
});

/** A complete off-host target, its credentials from secure config. */
function validOffsite(): Editable {
  return {
    s3: { endpoint: "https://s3.example.com", bucket: "fleet-backups", accessKeyId: new SecretValue("id"), secretAccessKey: new SecretValue("key") },
    ageRecipient: `age1${"q".repeat(58)}`,
  };
}

describe("secrets", () => {
  /** Sets `value` at a secretPaths pattern with each `*` replaced by a name. */
  function place(raw: Editable, pattern: string, value: unknown): string {
    const names: Record<string, string> = { hosts: "gw1", tenants: "alice", modelKeys: "anthropic", channels: "telegram" };
    const segments: string[] = [];
    let target = raw;
    const parts = pattern.split(".");
    parts.forEach((part, index) => {
      const key = part === "*" ? (names[parts[index - 1] as string] as string) : part;
      segments.push(key);
      if (index === parts.length - 1) target[key] = value;
      // An off-host target needs its other fields: only the secret under test is wrong.
      else target = target[key] ??= key === "offsite" ? validOffsite() : {};
    });
    return segments.join(".");
  }

  for (const pattern of secretPaths) {
    test(`plain text at ${pattern}`, () => {
      const raw = valid();
      const path = place(raw, pattern, "hunter2");
      assert.deepEqual(linesOf(raw), [
        `${file}: ${path}: is a secret in plain text; remove it from the file and run: pulumi config set --secret --path 'clawfleet:${path}' <value>`,
      ]);
    });

    test(`a credential at ${pattern} gives one line, not two`, () => {
      const raw = valid();
      const path = place(raw, pattern, "sk-ant-api03-abcdefghijklmnopqrstuvwxyz");
      assert.deepEqual(linesOf(raw), [
        `${file}: ${path}: is a secret in plain text; remove it from the file and run: pulumi config set --secret --path 'clawfleet:${path}' <value>`,
      ]);
    });

    test(`a number at ${pattern}`, () => {
      const raw = valid();
      const path = place(raw, pattern, 1234);
      assert.deepEqual(linesOf(raw), [`${file}: ${path}: must be a secret set with: pulumi config set --secret --path 'clawfleet:${path}' <value>`]);
    });
  }

  test("a credential-looking string in any other field", () => {
    const raw = valid();
    raw["tenants"].alice.labels = { owner: "sk-ant-api03-abcdefghijklmnopqrstuvwxyz" };
    raw["tenants"].bob.bindings[0].comment = "token ghp_abcdefghijklmnopqrstuvwxyz0123";
    assert.deepEqual(linesOf(raw), [
      `${file}: tenants.alice.labels.owner: looks like a credential in plain text; remove it from the file and keep it in secure config (pulumi config set --secret --path 'clawfleet:tenants.alice.labels.owner' <value>)`,
      `${file}: tenants.bob.bindings[0].comment: looks like a credential in plain text; remove it from the file and keep it in secure config (pulumi config set --secret --path 'clawfleet:tenants.bob.bindings[0].comment' <value>)`,
    ]);
  });

  test("a secure: value in the file becomes a placeholder", () => {
    const raw = readStackFile(file, "config:\n  clawfleet:hosts:\n    gw1:\n      ssh: { host: gw1, privateKey: { secure: v1:abcdefghijklmnop } }\n");
    const key = raw["hosts"] as { gw1: { ssh: { privateKey: unknown } } };
    assert.ok(key.gw1.ssh.privateKey instanceof SecretValue);
    assert.equal(key.gw1.ssh.privateKey.value, "[secure:v1:abcdefghi]");
    assert.equal(JSON.stringify(key), '{"gw1":{"ssh":{"host":"gw1","privateKey":"[secret]"}}}');
  });

  test("wrapSecretPaths wraps the strings at the secret paths and nothing else", () => {
    const raw = {
      image: "x:1",
      hosts: {
        gw1: {
          ssh: { host: "gw1", privateKey: "k1" },
          shared: { port: 18789, modelKeys: { anthropic: "k2", openai: "k3" }, channels: { telegram: { token: "k4", allowFrom: ["u"] } } },
        },
        gw2: { stateRoot: "/s" },
      },
      tenants: { alice: { host: "gw1", modelKeys: { anthropic: "k5" }, channels: { slack: { token: "k6", dmPolicy: "open" } }, labels: { token: "l" } } },
    };
    const wrapped = wrapSecretPaths(raw) as typeof raw;
    const secrets: string[] = [];
    const plain: string[] = [];
    const walk = (value: unknown, path: string): void => {
      if (value instanceof SecretValue) secrets.push(`${path}=${value.value}`);
      else if (typeof value === "string") plain.push(path);
      else if (typeof value === "object" && value !== null) for (const [key, item] of Object.entries(value)) walk(item, path === "" ? key : `${path}.${key}`);
    };
    walk(wrapped, "");
    assert.deepEqual(secrets, [
      "hosts.gw1.ssh.privateKey=k1",
      "hosts.gw1.shared.modelKeys.anthropic=k2",
      "hosts.gw1.shared.modelKeys.openai=k3",
      "hosts.gw1.shared.channels.telegram.token=k4",
      "tenants.alice.modelKeys.anthropic=k5",
      "tenants.alice.channels.slack.token=k6",
    ]);
    assert.deepEqual(plain, [
      "image",
      "hosts.gw1.ssh.host",
      "hosts.gw1.shared.channels.telegram.allowFrom.0",
      "hosts.gw2.stateRoot",
      "tenants.alice.host",
      "tenants.alice.channels.slack.dmPolicy",
      "tenants.alice.labels.token",
    ]);
    assert.equal(raw.hosts.gw1.ssh.privateKey, "k1", "the input is not changed");
  });
});

test("a cpus value Docker would read back as another number is refused by the Docker runtime's check, naming what it would become", () => {
  const raw = valid();
  raw["tenants"].alice.cpus = 0.05;
  assert.equal((parseFleet(file, raw).tenants.find((t) => t.id === "alice") as DedicatedTenant).cpus, 0.05, "the declaration itself names no runtime");
  assert.throws(
    () => parseFleet(file, raw, dockerChecks),
    (error: unknown) =>
      error instanceof DeclarationError &&
      error.lines[0] === `${file}: tenants.alice.cpus: cannot be given to Docker exactly (it reads back as 0.1); use a value such as 0.5, 1 or 1.25`,
  );
  raw["tenants"].alice.cpus = 1.25;
  assert.equal((parseFleet(file, raw, dockerChecks).tenants.find((t) => t.id === "alice") as DedicatedTenant).cpus, 1.25);
});

test("five different problems give five lines, in one error", () => {
  const raw = valid();
  raw["image"] = "openclaw";
  raw["hosts"].gw1.stateRoot = "/";
  raw["tenants"].alice.host = "gw9";
  raw["tenants"].bob.bindings[0].peer.kind = "dm";
  raw["tenants"]["Carol"] = { tier: "dedicated", host: "gw1" };
  try {
    parseFleet(file, raw);
    assert.fail("the declaration was accepted");
  } catch (error) {
    assert.ok(error instanceof DeclarationError);
    assert.deepEqual(error.lines, [
      `${file}: image: must pin a tag or digest (for example :2026.9.6); an untagged image moves under you`,
      `${file}: hosts.gw1.stateRoot: must not be / itself; use a directory such as /data/clawfleet`,
      `${file}: tenants.Carol: "Carol" is not a valid tenant id: ${idRule}`,
      `${file}: tenants.alice.host: names host "gw9", which is not declared; use one of: gw1`,
      `${file}: tenants.bob.bindings[0].peer.kind: must be direct, group or channel`,
    ]);
    assert.equal(error.message.split("\n")[0], `${file}: the declaration has 5 problems:`);
    assert.deepEqual(error.message.split("\n").slice(1), error.lines);
  }
});

describe("valid declarations", () => {
  test("the dev stack parses", () => {
    const fleet = parseFleet(devFile, readStackFile(devFile, readFileSync(devFile, "utf8")));
    assert.equal(fleet.image, "ghcr.io/openclaw/openclaw:2026.9.6");
    assert.deepEqual(
      fleet.hosts.map((host) => host.id),
      ["local"],
    );
    assert.deepEqual(
      fleet.tenants.map((tenant) => `${tenant.id}:${tenant.tier}`),
      ["alice:dedicated", "dave:dedicated", "bob:shared", "carol:shared"],
    );
  });

  test("defaults are applied", () => {
    const raw = valid();
    delete raw["tenants"].alice.memoryMb;
    delete raw["hosts"].gw1.tailscale;
    raw["hosts"].gw1.ssh = { host: "gw1.example.ts.net", hostKey };
    const fleet = parseFleet(file, raw);
    const alice = fleet.tenants.find((tenant) => tenant.id === "alice") as DedicatedTenant;
    assert.equal(alice.memoryMb, 1536);
    assert.equal(alice.cpus, 1);
    assert.equal(alice.pidsLimit, 512);
    const host = fleet.hosts[0];
    assert.deepEqual(host?.tailscale, { serve: false });
    assert.equal(host?.ssh?.user, "root");
    assert.equal(host?.ssh?.port, 22);
    assert.equal(host?.shared?.memoryMb, 2048);
    const bob = fleet.tenants.find((tenant) => tenant.id === "bob") as SharedTenant;
    assert.deepEqual(bob.bindings, [{ channel: "telegram", peer: { kind: "direct", id: "123" } }]);
  });

  test("a pinned port is kept and a derived one is marked so", () => {
    const raw = valid();
    raw["tenants"].dave = { tier: "dedicated", host: "gw1" };
    const fleet = parseFleet(file, raw);
    const alice = fleet.tenants.find((tenant) => tenant.id === "alice") as DedicatedTenant;
    const dave = fleet.tenants.find((tenant) => tenant.id === "dave") as DedicatedTenant;
    assert.deepEqual([alice.port, alice.portDerived], [18101, false]);
    assert.equal(dave.portDerived, true);
    assert.ok(dave.port >= 18100 && dave.port <= 18999 && dave.port !== 18789);
  });

  test("secrets stay SecretValue through the boundary", () => {
    const fleet = parseFleet(file, valid());
    const key = fleet.hosts[0]?.ssh?.privateKey;
    assert.ok(key instanceof SecretValue);
    assert.equal(key.value, "key");
  });
});

describe("host ids on one machine", () => {
  /** Two hosts without ssh, as the e2e suite declares them to simulate a move. */
  function twoLocal(): Editable {
    const raw = valid();
    raw["hosts"] = {
      local: { stateRoot: "/tmp/clawfleet-e2e-abc123/state", ports: { from: 18100, to: 18199 }, shared: { port: 18789 } },
      local2: { stateRoot: "/tmp/clawfleet-e2e-abc123/state2", ports: { from: 18200, to: 18299 } },
    };
    raw["tenants"] = { alice: { tier: "dedicated", host: "local2" }, bob: { tier: "shared", host: "local" } };
    return raw;
  }

  test("separate state roots, ports and one shared gateway are valid", () => {
    assert.deepEqual(
      parseFleet(file, twoLocal()).hosts.map((host) => host.id),
      ["local", "local2"],
    );
  });

  test("nested state roots, overlapping ports and a second shared gateway name both hosts", () => {
    const raw = twoLocal();
    raw["hosts"].local2.stateRoot = "/tmp/clawfleet-e2e-abc123/state/inner/";
    raw["hosts"].local2.ports = { from: 18000, to: 18100 };
    raw["hosts"].local2.shared = { port: 18790 };
    const same = "hosts local2 and local are one machine (neither has ssh, so both are this machine)";
    assert.deepEqual(linesOf(raw), [
      `${file}: hosts.local2.stateRoot: /tmp/clawfleet-e2e-abc123/state/inner is inside hosts.local.stateRoot (/tmp/clawfleet-e2e-abc123/state), and ${same}; a purge on one would delete the other's state: give each host a state root of its own, neither inside the other`,
      `${file}: hosts.local2.shared: hosts.local declares a shared gateway too, and ${same}; one shared gateway serves all shared tenants of a machine: keep shared on one of them`,
      `${file}: hosts.local.ports: 18100-18199 overlaps hosts.local2.ports (18000-18100), and hosts local and local2 are one machine (neither has ssh, so both are this machine); give hosts on one machine ports that do not overlap`,
    ]);
  });

  test("the same ssh host and port is one machine; another port or host is not", () => {
    const raw = valid();
    raw["hosts"].gw2 = { ssh: { host: "GW1.example.ts.net", hostKey }, stateRoot: "/data/clawfleet", ports: { from: 18100, to: 18199 } };
    assert.deepEqual(
      linesOf(raw).map((line) => line.split(": ").slice(0, 2).join(": ")),
      [`${file}: hosts.gw2.stateRoot`, `${file}: hosts.gw1.ports`],
    );
    raw["hosts"].gw2.ssh.port = 2222;
    assert.equal(parseFleet(file, raw).hosts.length, 2);
  });
});

describe("state roots", () => {
  for (const ok of ["/tmp/clawfleet-e2e-abc123/state", "/var/lib/clawfleet", "/srv/clawfleet", "/data/clawfleet/", "/home/deploy/clawfleet"]) {
    test(`${ok} is a state root`, () => {
      const raw = valid();
      raw["hosts"].gw1.stateRoot = ok;
      assert.equal(parseFleet(file, raw).hosts[0]?.stateRoot, ok);
    });
  }
  for (const [refused, why] of [
    ["/etc", "is /etc, a system directory"],
    ["/usr/local/clawfleet", "is inside /usr, a system directory"],
    ["/var/run/clawfleet", "is inside /var/run, a system directory"],
    ["/tmp", "is /tmp, a directory other programs or users share"],
    ["/var/lib/", "is /var/lib, a directory other programs or users share"],
    ["/home", "is /home, a directory other programs or users share"],
    ["/tmp/clawfleet", "is directly inside /tmp, where any user can create /tmp/clawfleet first"],
  ]) {
    test(`${refused} is refused`, () => {
      const raw = valid();
      raw["hosts"].gw1.stateRoot = refused;
      const lines = linesOf(raw);
      assert.equal(lines.length, 1);
      assert.ok(lines[0]?.startsWith(`${file}: hosts.gw1.stateRoot: ${why}`), lines[0]);
    });
  }
});

describe("stack files that are not one readable YAML document", () => {
  test("keys that are one id after parsing", () => {
    const text = "config:\n  clawfleet:tenants:\n    1: {}\n    '1': {}\n    ~: {}\n";
    assert.deepEqual(readLinesOf(text), [
      `${file}: tenants.1: line 4, column 5: key '1' is the same key as 1 on line 3 (both are read as 1); keep one of them`,
      `${file}: tenants.null: line 5, column 5: key ~ is read as null; quote it ("~") or write null`,
    ]);
  });

  test("a number YAML would change, and one that keeps its digits", () => {
    assert.deepEqual(readLinesOf("config:\n  clawfleet:image: 0o17\n"), [
      `${file}: image: line 2, column 20: 0o17 is read as the number 15; write 15, or quote it ("0o17") to keep it as text`,
    ]);
    assert.deepEqual(readStackFile(file, "config:\n  clawfleet:x: [9007199254740991, -12, 1.25]\n")["x"], [9007199254740991, -12, 1.25]);
  });

  test("a __proto__ key is an own key and never the prototype", () => {
    const raw = readStackFile(file, "config:\n  clawfleet:tenants: { __proto__: { tier: shared } }\n");
    const tenants = raw["tenants"] as object;
    assert.deepEqual(Object.keys(tenants), ["__proto__"]);
    assert.equal(Object.getPrototypeOf(tenants), Object.prototype);
  });

  test("a missing file, a directory and a file over the size limit", () => {
    const dir = mkdtempSync(join(tmpdir(), "clawfleet-read-"));
    try {
      const big = join(dir, "Pulumi.big.yaml");
      writeFileSync(big, "");
      truncateSync(big, maxStackFileBytes + 1);
      const lineOf = (path: string) => {
        try {
          readStackFileText(path);
        } catch (error) {
          assert.ok(error instanceof DeclarationError);
          return error.lines;
        }
        return assert.fail("read");
      };
      assert.deepEqual(lineOf(join(dir, "none.yaml")), [
        `${join(dir, "none.yaml")}: does not exist; give the path of a stack file, such as stacks/Pulumi.dev.yaml`,
      ]);
      assert.deepEqual(lineOf(dir), [`${dir}: is a directory; give the path of a stack file, such as stacks/Pulumi.dev.yaml`]);
      assert.deepEqual(lineOf(big), [`${big}: is 16.0 MB; a stack file may be at most 16 MB (about 60,000 tenants): split the fleet into stacks`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("values in the wrong place", () => {
  test("no error line repeats a credential, whichever field or key holds it", () => {
    const key = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz";
    const raw = valid();
    raw["tenants"].alice.tier = key;
    raw["tenants"].bob.host = key;
    raw["tenants"][key] = { tier: "dedicated", host: "gw1" };
    raw["hosts"].gw1.stateRoot = key;
    const lines = linesOf(raw);
    assert.ok(lines.length >= 3);
    for (const line of lines) assert.ok(!line.includes("abcdefghijklmnop"), line);
  });

  test("a clawfleet.* label is refused; other labels pass", () => {
    const raw = valid();
    raw["tenants"].alice.labels = { "clawfleet.tenant": "bob", team: "a" };
    assert.deepEqual(linesOf(raw), [
      `${file}: tenants.alice.labels["clawfleet.tenant"]: is a label clawfleet sets itself (clawfleet.*: managed, tenant, tier, host); rename the label`,
    ]);
  });

  test("two shared tenants claiming one chat name both; one tenant repeating its own binding is fine", () => {
    const raw = valid();
    raw["tenants"].bob.bindings.push({ channel: "telegram", peer: { kind: "direct", id: 123 } });
    raw["tenants"].carol = { tier: "shared", host: "gw1", bindings: [{ channel: "telegram", peer: { kind: "direct", id: "123" } }] };
    assert.deepEqual(linesOf(raw), [
      `${file}: tenants.carol.bindings[0]: claims the same chat (telegram direct 123) as tenants.bob.bindings[0] in host gw1's shared gateway; a chat goes to one agent: remove one of the two bindings`,
    ]);
  });
});

describe("rollout", () => {
  test("a host rolls out in 2 lanes after the first dedicated tenant by id unless it declares otherwise", () => {
    const fleet = parseFleet(file, valid());
    assert.deepEqual(fleet.hosts[0]?.rollout, { lanes: 2 });
    const raw = valid();
    raw["hosts"].gw1.rollout = { canary: "alice", lanes: 1 };
    assert.deepEqual(parseFleet(file, raw).hosts[0]?.rollout, { canary: "alice", lanes: 1 });
  });

  test("a canary that is being purged is refused, naming the host's dedicated tenants", () => {
    const raw = valid();
    raw["tenants"].carol = { tier: "dedicated", host: "gw1", purge: { confirm: "carol" } };
    raw["hosts"].gw1.rollout = { canary: "carol" };
    assert.deepEqual(linesOf(raw), [
      `${file}: hosts.gw1.rollout.canary: names tenant "carol", which is being purged; name a dedicated tenant of host gw1 (alice), or remove canary`,
    ]);
  });

  test("a canary whose own declaration has problems is reported there only", () => {
    const raw = valid();
    raw["tenants"].alice.memoryMb = 10;
    raw["hosts"].gw1.rollout = { canary: "alice" };
    assert.deepEqual(linesOf(raw), [`${file}: tenants.alice.memoryMb: must be at least 512 (the gateway needs about 700 MB of memory)`]);
  });
});

describe("egress", () => {
  test("every gateway is kept from private and link-local ranges unless the host or the tenant says otherwise", () => {
    const fleet = parseFleet(file, valid());
    assert.deepEqual(fleet.hosts[0]?.egress, { blockPrivate: true, allow: [] });
    const raw = valid();
    raw["hosts"].gw1.egress = { allow: ["10.20.0.5", "192.168.7.0/24"] };
    raw["tenants"].alice.egress = { allow: ["169.254.169.254/32"] };
    raw["tenants"].dave = { tier: "dedicated", host: "gw1", egress: { blockPrivate: false } };
    const parsed = parseFleet(file, raw);
    assert.deepEqual(parsed.hosts[0]?.egress, { blockPrivate: true, allow: ["10.20.0.5/32", "192.168.7.0/24"] });
    assert.deepEqual((parsed.tenants.find((t) => t.id === "alice") as DedicatedTenant).egress, { allow: ["169.254.169.254/32"] });
  });

  test("a name, a public range, stray host bits and a non-address each get their fix", () => {
    const raw = valid();
    raw["hosts"].gw1.egress = { allow: ["proxy.internal", "8.8.8.0/24", "10.20.0.5/16", "10.300.0.1", 10] };
    assert.deepEqual(linesOf(raw), [
      `${file}: hosts.gw1.egress.allow[0]: is a name, not an address range; iptables resolves a name once, when the rule is inserted, so the rule would go stale when the address changes: write the address or range instead, such as 10.20.0.0/16 or 10.20.0.5`,
      `${file}: hosts.gw1.egress.allow[1]: is outside the ranges a gateway is kept from (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 169.254.0.0/16, 100.64.0.0/10); other addresses are always reachable, so remove it`,
      `${file}: hosts.gw1.egress.allow[2]: has bits set past /16; write the range as 10.20.0.0/16`,
      `${file}: hosts.gw1.egress.allow[3]: must be an IPv4 address or range, such as 10.20.0.5 or 10.20.0.0/16`,
      `${file}: hosts.gw1.egress.allow[4]: must be an IPv4 address or range, such as 10.20.0.0/16`,
    ]);
  });

  test("a range wider than the blocked one it starts in is refused", () => {
    const raw = valid();
    raw["tenants"].alice.egress = { allow: ["0.0.0.0/0", "172.0.0.0/8"] };
    const outside =
      "is outside the ranges a gateway is kept from (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 169.254.0.0/16, 100.64.0.0/10); other addresses are always reachable, so remove it";
    assert.deepEqual(linesOf(raw), [`${file}: tenants.alice.egress.allow[0]: ${outside}`, `${file}: tenants.alice.egress.allow[1]: ${outside}`]);
  });

  test("allow on a tenant whose egress is open, and egress on a shared tenant, name where the setting belongs", () => {
    const raw = valid();
    raw["hosts"].gw1.egress = { blockPrivate: false };
    raw["tenants"].alice.egress = { allow: ["10.20.0.5"] };
    raw["tenants"].bob.egress = { allow: ["10.20.0.5"] };
    assert.deepEqual(linesOf(raw), [
      `${file}: tenants.alice.egress.allow: has no effect: this gateway's egress is not blocked (egress.blockPrivate is false on host gw1); remove allow, or set tenants.alice.egress.blockPrivate: true`,
      `${file}: tenants.bob.egress: is a gateway's setting, and a shared tenant runs in its host's shared gateway, which follows hosts.gw1.egress; set it there, or set tier: dedicated`,
    ]);
  });
});

describe("isolation", () => {
  test("an OCI runtime name per host, and per dedicated tenant over it", () => {
    const raw = valid();
    raw["hosts"].gw1.isolation = "runsc";
    raw["tenants"].alice.isolation = "kata-qemu";
    const fleet = parseFleet(file, raw);
    assert.equal(fleet.hosts[0]?.isolation, "runsc");
    assert.equal((fleet.tenants.find((t) => t.id === "alice") as DedicatedTenant).isolation, "kata-qemu");
  });

  test("a value that is no runtime name says how to list the daemon's", () => {
    const raw = valid();
    raw["tenants"].alice.isolation = "gvisor --privileged";
    assert.deepEqual(linesOf(raw), [
      `${file}: tenants.alice.isolation: must be the name of an OCI runtime the host's Docker daemon knows, such as runsc (docker info --format '{{json .Runtimes}}' lists them)`,
    ]);
  });
});

describe("kubernetes hosts", () => {
  const kubeHost = () => ({ kubernetes: { namespace: "clawfleet", storageClass: "fast" }, shared: { port: 18789 } });
  const parseWithChecks = (raw: RawDeclaration) => parseFleet(file, raw, runtimeChecks);
  const checkedLinesOf = (raw: RawDeclaration): string[] => {
    try {
      parseWithChecks(raw);
    } catch (error) {
      assert.ok(error instanceof DeclarationError);
      return error.lines;
    }
    assert.fail("the declaration was accepted");
  };

  test("need no stateRoot, ssh or ports: each gateway's Service takes its port from 18100-18999, and its volume 10 GiB", () => {
    const raw = valid();
    raw["hosts"] = { cluster: kubeHost() };
    raw["tenants"] = { alice: { tier: "dedicated", host: "cluster" }, bob: { tier: "shared", host: "cluster" } };
    const fleet = parseWithChecks(raw);
    const [host] = fleet.hosts;
    assert.deepEqual(host?.ports, { from: 18100, to: 18999 });
    assert.equal(host?.stateRoot, undefined);
    assert.deepEqual(host?.kubernetes, { namespace: "clawfleet", storageClass: "fast", storageGb: 10 });
    assert.equal((fleet.tenants[0] as DedicatedTenant).port, 18879);
  });

  test("refuse what only a Docker host has, naming the field and what to use instead", () => {
    const raw = valid();
    raw["hosts"] = {
      cluster: {
        ...kubeHost(),
        ssh: valid()["hosts"].gw1.ssh,
        stateRoot: "/data/clawfleet",
        isolation: "runsc",
        tailscale: { serve: true, dnsName: "cluster.example.ts.net" },
      },
    };
    raw["tenants"] = { alice: { tier: "dedicated", host: "cluster", isolation: "runsc" } };
    assert.deepEqual(checkedLinesOf(raw), [
      `${file}: hosts.cluster.ssh: is for Docker hosts and this host declares kubernetes: remove ssh; the cluster is reached through kubernetes.kubeconfig and kubernetes.context`,
      `${file}: hosts.cluster.stateRoot: is for Docker hosts and this host declares kubernetes: remove stateRoot; each gateway keeps its state in a volume of its own (kubernetes.storageClass, kubernetes.storageGb)`,
      `${file}: hosts.cluster.isolation: is for Docker hosts and this host declares kubernetes: remove isolation; pick the pods' runtime with a RuntimeClass of the cluster instead; clawfleet does not set one yet`,
      `${file}: hosts.cluster.tailscale.dnsName: is for Docker hosts and this host declares kubernetes: remove tailscale.dnsName; each gateway gets a MagicDNS name of its own, <gateway>.<tailnet>: set tailscale.tailnet instead`,
      `${file}: hosts.cluster.tailscale.tailnet: is required when a Kubernetes host serves on the tailnet: the Tailscale operator makes each gateway's Ingress a device, <gateway>.<tailnet>; set the tailnet's MagicDNS domain, such as example.ts.net`,
      `${file}: tenants.alice.isolation: is for Docker hosts, and host cluster declares kubernetes: remove it; clawfleet does not set a RuntimeClass yet`,
    ]);
  });

  test("refuse a tailnet domain on a Docker host, which serves its gateways under its own name", () => {
    const raw = valid();
    raw["hosts"].gw1.tailscale = { serve: true, tailnet: "example.ts.net" };
    assert.deepEqual(checkedLinesOf(raw), [
      `${file}: hosts.gw1.tailscale.tailnet: is for Kubernetes hosts, whose gateways each get a MagicDNS name of their own; a Docker host serves them under its own name: remove tailnet (and set dnsName when ssh.host is not a .ts.net name)`,
    ]);
  });

  test("refuse an id that cannot name a Kubernetes object, with one that can", () => {
    const raw = valid();
    raw["hosts"] = { cluster: kubeHost(), gw1: valid()["hosts"].gw1 };
    const long = "a".repeat(36);
    raw["tenants"] = {
      team_a: { tier: "dedicated", host: "cluster" },
      [long]: { tier: "dedicated", host: "cluster" },
      // The same id on a Docker host is fine.
      team_b: { tier: "dedicated", host: "gw1", port: 18102 },
    };
    assert.deepEqual(checkedLinesOf(raw), [
      `${file}: tenants.team_a: cannot name a Kubernetes object: its gateway would be named clawfleet-tenant-team_a, and Kubernetes names take only a-z, 0-9 and -, ending with a letter or digit; give the tenant an id such as team-a (renamedFrom keeps its state)`,
      `${file}: tenants.${long}: is too long for Kubernetes: its gateway would be named clawfleet-tenant-${long} (53 characters, at most 52); give the tenant an id such as ${"a".repeat(35)} (renamedFrom keeps its state)`,
    ]);
  });

  test("refuse a move or rename into or out of a Kubernetes volume, which would start the gateway with no state", () => {
    const raw = valid();
    raw["hosts"] = { cluster: kubeHost(), gw1: valid()["hosts"].gw1 };
    raw["tenants"] = {
      alice: { tier: "dedicated", host: "cluster", movedFrom: "gw1" },
      bob: { tier: "dedicated", host: "cluster", renamedFrom: "robert" },
      carol: { tier: "dedicated", host: "gw1", port: 18102, movedFrom: "cluster" },
    };
    assert.deepEqual(checkedLinesOf(raw), [
      `${file}: tenants.alice.movedFrom: cannot be carried out on host cluster, which declares kubernetes: clawfleet does not copy state into a Kubernetes volume yet, and the gateway would start with none; remove movedFrom and copy the state with clawfleet backup and kubectl cp`,
      `${file}: tenants.bob.renamedFrom: cannot be carried out on host cluster, which declares kubernetes: clawfleet does not copy state into a Kubernetes volume yet, and the gateway would start with none; remove renamedFrom and copy the state with clawfleet backup and kubectl cp`,
      `${file}: tenants.carol.movedFrom: names host cluster, which declares kubernetes: clawfleet does not copy state out of a Kubernetes volume yet; remove movedFrom and copy the state with kubectl cp and clawfleet restore`,
    ]);
  });

  test("refuse a host id that cannot be the label value its pods carry", () => {
    const raw = valid();
    raw["hosts"] = { cluster_: { kubernetes: { namespace: "clawfleet" } } };
    raw["tenants"] = {};
    assert.deepEqual(checkedLinesOf(raw), [
      `${file}: hosts.cluster_: cannot be a Kubernetes label value, which each of its pods carries: at most 63 characters, starting and ending with a letter or digit; rename the host`,
    ]);
  });

  test("give a Docker host's CPU rule to Docker hosts only", () => {
    const raw = valid();
    raw["hosts"] = { cluster: kubeHost() };
    raw["tenants"] = { alice: { tier: "dedicated", host: "cluster", cpus: 0.3333 } };
    assert.equal((parseWithChecks(raw).tenants[0] as DedicatedTenant).cpus, 0.3333);
  });
});
