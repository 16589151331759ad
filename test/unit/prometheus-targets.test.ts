import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { prometheusTargets, renderFileSd, targetsNotes } from "../../cli/ops/prometheus-targets";
import { renderDedicatedConfig } from "../../components/render/config";
import { parseFleet } from "../../declaration/parse";
import { readStackFile } from "../../declaration/stack-file";
import type { DedicatedTenant, Fleet } from "../../declaration/schema";
import { DeclarationError } from "../../declaration/errors";

const stack = (observability: string, edgeObservability = "") => `config:
  clawfleet:image: ghcr.io/openclaw/openclaw:2026.9.6
${observability}  clawfleet:hosts:
    gw1:
      stateRoot: /var/lib/clawfleet
      ports: { from: 18100, to: 18199 }
      shared: { port: 18789 }
      tailscale: { serve: true, dnsName: gw1.example-tailnet.ts.net }
    edge:
      ssh: { host: 10.0.0.7, hostKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk0cDq2TQ7rXwU3oLEJgV8yF2cD9Tq5e4mA1hZbY6Xo }
      stateRoot: /srv/claw
      ports: { from: 18200, to: 18299 }
${edgeObservability}  clawfleet:tenants:
    alice: { tier: dedicated, host: gw1, port: 18101 }
    zed: { tier: dedicated, host: edge, port: 18201 }
    bob: { tier: shared, host: gw1, bindings: [{ channel: telegram, peer: { kind: direct, id: "1" } }] }
    carol: { tier: shared, host: gw1, bindings: [{ channel: telegram, peer: { kind: direct, id: "2" } }] }
`;

function fleetOf(yaml: string): Fleet {
  return parseFleet("Pulumi.prod.yaml", readStackFile("Pulumi.prod.yaml", yaml));
}

describe("clawfleet targets", () => {
  it("lists a Kubernetes host's gateways at their Service in the cluster, or at their own tailnet name on 443 when served", () => {
    const kube = (tailscale: string) => `config:
  clawfleet:image: ghcr.io/openclaw/openclaw:2026.9.6
  clawfleet:observability: { prometheus: true }
  clawfleet:hosts:
    cluster:
      kubernetes: { namespace: clawfleet-prod }
${tailscale}  clawfleet:tenants:
    alice: { tier: dedicated, host: cluster, port: 18101 }
`;
    const targetsOf = (yaml: string) => prometheusTargets(fleetOf(yaml), "prod").map((e) => [e.targets[0], e.labels["__scheme__"]]);
    assert.deepEqual(targetsOf(kube("")), [["clawfleet-tenant-alice.clawfleet-prod.svc:18101", "http"]]);
    assert.deepEqual(targetsOf(kube("      tailscale: { serve: true, tailnet: example.ts.net }\n")), [["clawfleet-tenant-alice.example.ts.net:443", "https"]]);
  });

  it("lists one target per gateway of each host that declares prometheus: the tailnet name over HTTPS, or 127.0.0.1 and the published port", () => {
    const fleet = fleetOf(stack("  clawfleet:observability: { prometheus: true }\n"));
    assert.equal(
      renderFileSd(prometheusTargets(fleet, "prod")),
      `[
  {
    "targets": [
      "127.0.0.1:18201"
    ],
    "labels": {
      "__scheme__": "http",
      "__metrics_path__": "/api/diagnostics/prometheus",
      "tenant": "zed",
      "host": "edge",
      "tier": "dedicated",
      "stack": "prod",
      "gateway": "clawfleet-tenant-zed"
    }
  },
  {
    "targets": [
      "gw1.example-tailnet.ts.net:18789"
    ],
    "labels": {
      "__scheme__": "https",
      "__metrics_path__": "/api/diagnostics/prometheus",
      "tenant": "bob,carol",
      "host": "gw1",
      "tier": "shared",
      "stack": "prod",
      "gateway": "clawfleet-shared-gw1"
    }
  },
  {
    "targets": [
      "gw1.example-tailnet.ts.net:18101"
    ],
    "labels": {
      "__scheme__": "https",
      "__metrics_path__": "/api/diagnostics/prometheus",
      "tenant": "alice",
      "host": "gw1",
      "tier": "dedicated",
      "stack": "prod",
      "gateway": "clawfleet-tenant-alice"
    }
  }
]
`,
    );
  });

  it("says on stderr how each gateway authenticates without holding a token, and which hosts publish on 127.0.0.1 only", () => {
    const fleet = fleetOf(stack("  clawfleet:observability: { prometheus: true }\n"));
    assert.deepEqual(targetsNotes(fleet, prometheusTargets(fleet, "prod")), [
      "3 gateways listed; the list holds no token.",
      'Each gateway has its own token: scrape each with a job of its own that keeps `gateway="<gateway>"` and sets',
      "  authorization: { credentials_file: /etc/prometheus/clawfleet/<gateway>.token }   (a file only Prometheus can read, 0600)",
      "The tokens are in `pulumi stack output tenants --show-secrets`, which prints every token in clear: run it where no one",
      "watches and write each into its file without echoing it.",
      "Host edge publishes gateways on 127.0.0.1 only: scrape them from a Prometheus on that host, or set tailscale.serve.",
      "The gateways answer /api/diagnostics/prometheus only once the diagnostics-prometheus plugin (from ClawHub) is in the image; clawfleet does not install it.",
    ]);
  });

  it("lists nothing when no host declares prometheus", () => {
    assert.deepEqual(prometheusTargets(fleetOf(stack("")), "prod"), []);
  });
});

describe("observability.prometheus", () => {
  it("leaves the gateway's config without the plugin, which the gateway refuses to start with while it does not hold it", () => {
    const fleet = fleetOf(stack("  clawfleet:observability: { prometheus: true }\n"));
    const alice = fleet.tenants.find((t) => t.id === "alice") as DedicatedTenant;
    const config = renderDedicatedConfig(alice) as unknown as Record<string, unknown>;
    assert.deepEqual([config["plugins"], config["diagnostics"]], [undefined, undefined]);
  });

  it("names the field when it is not a boolean", () => {
    assert.throws(
      () => fleetOf(stack("  clawfleet:observability: { prometheus: yes please }\n")),
      (error: unknown) =>
        error instanceof DeclarationError &&
        error.message ===
          'Pulumi.prod.yaml: the declaration has 1 problem:\nPulumi.prod.yaml: observability.prometheus: must be a boolean, not string "yes please"',
    );
  });

  it("takes a host's own observability over the stack's", () => {
    const fleet = fleetOf(stack("  clawfleet:observability: { prometheus: true }\n", "      observability: { prometheus: false }\n"));
    const entries = prometheusTargets(fleet, "prod");
    assert.deepEqual(
      entries.map((e) => [e.targets[0], e.labels["tenant"], e.labels["tier"]]),
      [
        ["gw1.example-tailnet.ts.net:18789", "bob,carol", "shared"],
        ["gw1.example-tailnet.ts.net:18101", "alice", "dedicated"],
      ],
    );
  });
});
