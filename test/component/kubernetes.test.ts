import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { diffPlans, type PlanForDiff } from "../../cli/diff/compare";
import { renderDiffText } from "../../cli/diff/render";
import { mockRandomValue, runUnderMocks, type PlannedResource } from "../../cli/mock-run";
import { renderPlanJson, renderPlanTree } from "../../cli/plan-output";
import { collectFacts, type ComponentFacts } from "../../components/facts";

// A Kubernetes host under the mock runtime: what `pulumi up` would ask the cluster for, checked object by object.
const modelKey = "sk-ant-api03-KUBEMODELKEY00000000000000000";
const sharedKey = "sk-ant-api03-KUBESHAREDKEY0000000000000000";
const hosts = {
  cluster: {
    kubernetes: { kubeconfig: "/etc/clawfleet/kubeconfig", context: "prod", namespace: "clawfleet-prod", storageClass: "fast", storageGb: 5 },
    shared: { port: 18789, model: "anthropic/claude-sonnet-4-5", modelKeys: { anthropic: sharedKey } },
    egress: { allow: ["10.20.0.5"] },
    rollout: { lanes: 1 },
  },
};
const tenants = {
  alice: { tier: "dedicated", host: "cluster", memoryMb: 1024, cpus: 0.5, modelKeys: { anthropic: modelKey }, labels: { team: "Research Lab" } },
  bob: { tier: "dedicated", host: "cluster", port: 18200, egress: { blockPrivate: false } },
  carol: { tier: "dedicated", host: "cluster" },
  dave: { tier: "shared", host: "cluster" },
};

const programPath = require.resolve("../../index");

interface Run {
  resources: PlannedResource[];
  facts: ComponentFacts[];
  outputs: Record<string, unknown>;
}

async function plan(tenantsDecl: Record<string, unknown>, hostsDecl: Record<string, unknown> = hosts): Promise<Run> {
  const { result, facts } = await collectFacts(() =>
    runUnderMocks({
      project: "clawfleet",
      stack: "kube",
      config: {
        "clawfleet:image": "ghcr.io/openclaw/openclaw:2026.9.6",
        "clawfleet:hosts": JSON.stringify(hostsDecl),
        "clawfleet:tenants": JSON.stringify(tenantsDecl),
      },
      secretKeys: ["clawfleet:hosts", "clawfleet:tenants"],
      // Evaluated afresh for each run: the program registers its resources when it loads.
      program: () => {
        delete require.cache[programPath];
        return require(programPath) as unknown;
      },
    }),
  );
  return { resources: result.resources, facts, outputs: result.outputs as Record<string, unknown> };
}

let run: Run;
const byName = (name: string) => {
  const resource = run.resources.find((r) => r.name === name);
  assert.ok(resource !== undefined, `no resource ${name}`);
  return resource;
};
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the StatefulSet's inputs as the provider gets them
type Json = any;

before(async () => {
  run = await plan(tenants);
});

describe("a Kubernetes host", () => {
  it("reaches its cluster through the declared kubeconfig and context, and keeps its namespace when removed", () => {
    const provider = byName("cluster-kubernetes");
    assert.equal(provider.type, "pulumi:providers:kubernetes");
    assert.equal(provider.inputs["kubeconfig"], "/etc/clawfleet/kubeconfig");
    assert.equal(provider.inputs["context"], "prod");
    // A new config or credential updates its ConfigMap or Secret in place: the provider would replace them otherwise
    // (a provider gets its settings as strings).
    assert.equal(provider.inputs["enableConfigMapMutable"], "true");
    assert.equal(provider.inputs["enableSecretMutable"], "true");
    const namespace = byName("cluster-namespace");
    assert.equal((namespace.inputs["metadata"] as Json).name, "clawfleet-prod");
    assert.equal(namespace.options.retainOnDelete, true);
    assert.equal(run.resources.filter((r) => r.type.startsWith("docker:")).length, 0);
  });

  it("gives each gateway a volume kept on delete, a ConfigMap, a Secret, a StatefulSet and a Service, all in its namespace", () => {
    for (const [gateway, prefix] of [
      ["clawfleet-tenant-alice", "alice"],
      ["clawfleet-shared-cluster", "cluster-shared"],
    ] as const) {
      const claim = byName(`${prefix}-state`);
      assert.equal(claim.type, "kubernetes:core/v1:PersistentVolumeClaim");
      assert.deepEqual(claim.inputs["metadata"], {
        name: `${gateway}-state`,
        namespace: "clawfleet-prod",
        labels: { "app.kubernetes.io/managed-by": "clawfleet", "clawfleet.dev/gateway": gateway, "clawfleet.dev/host": "cluster" },
      });
      assert.deepEqual(claim.inputs["spec"], { accessModes: ["ReadWriteOnce"], storageClassName: "fast", resources: { requests: { storage: "5Gi" } } });
      assert.equal(claim.options.retainOnDelete, true);
      assert.equal((byName(`${prefix}-config`).inputs["metadata"] as Json).name, `${gateway}-config`);
      assert.equal((byName(`${prefix}-secrets`).inputs["metadata"] as Json).name, `${gateway}-secrets`);
      assert.equal((byName(`${prefix}-statefulset`).inputs["metadata"] as Json).name, gateway);
      const service = byName(`${prefix}-service`);
      assert.equal((service.inputs["metadata"] as Json).namespace, "clawfleet-prod");
    }
    assert.deepEqual((byName("alice-service").inputs["spec"] as Json).ports, [{ name: "http", port: 18879, targetPort: "http", protocol: "TCP" }]);
    assert.equal((byName("bob-service").inputs["spec"] as Json).ports[0].port, 18200);
  });

  it("runs each gateway as one hardened pod with a stable name, its limits (its memory reserved, a quarter of its CPU) and the config folder it hot-reloads", () => {
    const set = byName("alice-statefulset").inputs as Json;
    assert.equal(set.spec.replicas, 1);
    assert.equal(set.spec.serviceName, "clawfleet-tenant-alice");
    assert.equal(set.spec.podManagementPolicy, "Parallel");
    assert.deepEqual(set.spec.selector, { matchLabels: { "clawfleet.dev/gateway": "clawfleet-tenant-alice", "clawfleet.dev/host": "cluster" } });
    const pod = set.spec.template.spec;
    assert.equal(pod.automountServiceAccountToken, false);
    assert.equal(pod.enableServiceLinks, false);
    assert.equal(pod.shareProcessNamespace, true);
    assert.deepEqual(pod.securityContext, {
      runAsUser: 1000,
      runAsGroup: 1000,
      fsGroup: 1000,
      fsGroupChangePolicy: "OnRootMismatch",
      runAsNonRoot: true,
      seccompProfile: { type: "RuntimeDefault" },
    });
    const [gateway] = pod.containers;
    assert.deepEqual(gateway.securityContext, {
      runAsUser: 1000,
      runAsGroup: 1000,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ["ALL"] },
    });
    assert.deepEqual(gateway.resources, { limits: { memory: "1024Mi", cpu: "500m" }, requests: { memory: "1024Mi", cpu: "125m" } });
    const env = Object.fromEntries((gateway.env as Json[]).map((e) => [e.name, e.value ?? e.valueFrom]));
    assert.equal(env["NODE_OPTIONS"], "--max-old-space-size=768");
    assert.equal(env["OPENCLAW_CONFIG_PATH"], "/etc/openclaw/openclaw.json");
    assert.equal(env["OPENCLAW_STATE_DIR"], "/state");
    assert.equal(env["OPENCLAW_CONFIG_READONLY"], "1");
    assert.deepEqual(env["OPENCLAW_GATEWAY_TOKEN"], { secretKeyRef: { name: "clawfleet-tenant-alice-secrets", key: "gateway-token" } });
    // The whole folder, never a subPath (which a ConfigMap update never reaches).
    assert.deepEqual(
      (gateway.volumeMounts as Json[]).find((m) => m.name === "config"),
      { name: "config", mountPath: "/etc/openclaw", readOnly: true },
    );
    assert.ok((gateway.volumeMounts as Json[]).every((m) => m.subPath === undefined));
    assert.deepEqual(gateway.startupProbe.exec.command.slice(0, 2), ["node", "-e"]);
    assert.match(gateway.startupProbe.exec.command[2], /"status":"live"/);
    assert.equal(gateway.startupProbe.failureThreshold, 24);
    assert.deepEqual(
      pod.volumes.find((v: Json) => v.name === "state"),
      { name: "state", persistentVolumeClaim: { claimName: "clawfleet-tenant-alice-state" } },
    );
    // The tenant's labels, which Kubernetes label values would refuse, are annotations.
    assert.equal(set.metadata.annotations.team, "Research Lab");
  });

  it("renders the config into the ConfigMap as openclaw.json, the gateway's own port inside the pod", () => {
    const data = byName("alice-config").inputs["data"] as Record<string, string>;
    const config = JSON.parse(data["openclaw.json"] ?? "") as Json;
    assert.equal(config.gateway.port, 18789);
    assert.deepEqual(config.gateway.auth.token, { source: "env", provider: "default", id: "OPENCLAW_GATEWAY_TOKEN" });
    assert.deepEqual(config.models.providers.anthropic.apiKey, { source: "file", provider: "clawfleet", id: "/modelKeys/anthropic" });
  });

  it("keeps every credential in the gateway's Secret only: no StatefulSet, ConfigMap, plan or diff holds one", () => {
    const tokens = ["alice-token", "cluster-shared-token"].map((name) => mockRandomValue("kube", name, { length: 48, special: false }));
    const secrets = [modelKey, sharedKey, ...tokens];
    const secret = byName("alice-secrets");
    assert.deepEqual(secret.secretInputs, ["stringData"]);
    const data = secret.revealedInputs["stringData"] as Record<string, string>;
    assert.equal(data["gateway-token"], tokens[0]);
    assert.equal(data["credentials.json"], `${JSON.stringify({ modelKeys: { anthropic: modelKey }, channels: {} }, null, 2)}\n`);
    for (const resource of run.resources.filter((r) => !r.name.endsWith("-secrets"))) {
      assert.deepEqual(resource.secretInputs, [], resource.name);
      const text = JSON.stringify(resource.revealedInputs);
      for (const value of secrets) assert.ok(!text.includes(value), `${resource.name} holds a credential`);
    }
    const printed = renderPlanJson({ stack: "kube", resources: run.resources, outputs: run.outputs }, run.facts);
    const diff = renderDiffText(diffPlans("kube", { resources: [], facts: [] }, JSON.parse(printed) as PlanForDiff));
    for (const text of [printed, renderPlanTree({ stack: "kube", resources: run.resources, outputs: run.outputs }, run.facts), diff]) {
      for (const value of secrets) assert.ok(!text.includes(value));
    }
  });

  it("restarts a pod for a new credential, through a digest of its Secret keyed by its token", async () => {
    const annotationOf = (r: Run) => (r.resources.find((x) => x.name === "alice-statefulset")?.inputs as Json).spec.template.metadata.annotations;
    const before = annotationOf(run)["clawfleet.dev/credentials-digest"];
    assert.match(before, /^[0-9a-f]{32}$/);
    const rotated = await plan({ ...tenants, alice: { ...tenants.alice, modelKeys: { anthropic: `${modelKey}X` } } });
    assert.notEqual(annotationOf(rotated)["clawfleet.dev/credentials-digest"], before);
    assert.equal(
      (rotated.resources.find((x) => x.name === "bob-statefulset")?.inputs as Json).spec.template.metadata.annotations["clawfleet.dev/credentials-digest"],
      (byName("bob-statefulset").inputs as Json).spec.template.metadata.annotations["clawfleet.dev/credentials-digest"],
    );
  });

  it("copies the credentials file into the pod's memory as a regular file of the gateway's user, mode 0600, before the gateway starts", () => {
    const pod = (byName("alice-statefulset").inputs as Json).spec.template.spec;
    const [init] = pod.initContainers;
    assert.deepEqual(init.command.slice(0, 2), ["node", "-e"]);
    assert.equal(
      init.command[2],
      'const fs=require("fs");fs.writeFileSync("/run/clawfleet/secrets.json",fs.readFileSync("/run/clawfleet-source/secrets.json"),{mode:0o600});fs.chmodSync("/run/clawfleet/secrets.json",0o600)',
    );
    assert.deepEqual(
      pod.volumes.find((v: Json) => v.name === "credentials"),
      { name: "credentials", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
    );
    assert.deepEqual(pod.volumes.find((v: Json) => v.name === "credentials-source").secret.items, [{ key: "credentials.json", path: "secrets.json" }]);
  });

  it("keeps a blocked gateway from private and link-local addresses but the allowed ones and DNS; an open one has no policy", () => {
    const policy = byName("alice-egress");
    assert.equal(policy.type, "kubernetes:networking.k8s.io/v1:NetworkPolicy");
    assert.deepEqual((policy.inputs["spec"] as Json).egress, [
      { to: [{ ipBlock: { cidr: "0.0.0.0/0", except: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"] } }] },
      { to: [{ ipBlock: { cidr: "10.20.0.5/32" } }] },
      {
        ports: [
          { protocol: "UDP", port: 53 },
          { protocol: "TCP", port: 53 },
        ],
      },
    ]);
    assert.equal(
      run.resources.some((r) => r.name === "bob-egress"),
      false,
    );
  });

  it("rolls out canary first, one lane: each StatefulSet waits for the rollout of the one before it, the shared gateway for the canary's", () => {
    const urnOf = (name: string) => byName(name).urn;
    assert.ok(byName("bob-statefulset").options.dependsOn.includes(urnOf("alice-ready")));
    assert.ok(byName("carol-statefulset").options.dependsOn.includes(urnOf("bob-ready")));
    assert.ok(byName("cluster-shared-statefulset").options.dependsOn.includes(urnOf("alice-ready")));
    // The gate is kubectl's rollout status, run again whenever the StatefulSet's generation moves.
    const gate = byName("alice-ready");
    assert.equal(gate.type, "command:local:Command");
    assert.ok(gate.options.dependsOn.includes(urnOf("alice-statefulset")));
    assert.equal(
      String(gate.inputs["create"]).split("\n").at(-2),
      `k rollout status 'statefulset/clawfleet-tenant-alice' --watch --timeout=300s >/dev/null || fail 'gateway clawfleet-tenant-alice did not run its new template ready within 300s; see kubectl --namespace=clawfleet-prod describe pod clawfleet-tenant-alice-0, and its logs'`,
    );
  });

  it("backs each gateway up right before its StatefulSet takes a new image, in rollout order, onto a volume of its own kept on delete", () => {
    const urnOf = (name: string) => byName(name).urn;
    for (const [gateway, prefix] of [
      ["clawfleet-tenant-alice", "alice"],
      ["clawfleet-shared-cluster", "cluster-shared"],
    ] as const) {
      const claim = byName(`${prefix}-backups`);
      assert.equal(claim.type, "kubernetes:core/v1:PersistentVolumeClaim");
      assert.equal((claim.inputs["metadata"] as Json).name, `${gateway}-backups`);
      assert.deepEqual(claim.inputs["spec"], { accessModes: ["ReadWriteOnce"], storageClassName: "fast", resources: { requests: { storage: "5Gi" } } });
      assert.equal(claim.options.retainOnDelete, true);
      const backup = byName(`${prefix}-backup`);
      assert.equal(backup.type, "command:local:Command");
      // Replaced, and so run, for a new image; its script does nothing when the StatefulSet already runs it.
      assert.deepEqual(backup.inputs["triggers"], ["ghcr.io/openclaw/openclaw:2026.9.6"]);
      assert.ok(backup.options.dependsOn.includes(urnOf(`${prefix}-backups`)));
      assert.ok(backup.options.dependsOn.includes(urnOf("cluster-preflight")));
      assert.ok(byName(`${prefix}-statefulset`).options.dependsOn.includes(backup.urn), `${gateway}'s StatefulSet waits for its backup`);
      // Never mounted into the gateway itself.
      const template = (byName(`${prefix}-statefulset`).inputs["spec"] as Json).template.spec;
      assert.ok(!JSON.stringify(template.volumes).includes(`${gateway}-backups`));
    }
    // In rollout order: bob's backup waits until the canary runs the new image, ready.
    assert.ok(byName("bob-backup").options.dependsOn.includes(urnOf("alice-ready")));
  });

  it("tries a new image on a copy of the canary's state before any StatefulSet takes it, and only for a new image", () => {
    const preflight = byName("cluster-preflight");
    assert.equal(preflight.type, "command:local:Command");
    // Replaced (and so run) for a new image only; a new canary rewrites the script, which an update does not run.
    assert.deepEqual(preflight.inputs["triggers"], ["ghcr.io/openclaw/openclaw:2026.9.6"]);
    assert.equal(preflight.inputs["update"], "true");
    for (const gateway of ["alice", "bob", "carol", "cluster-shared"]) {
      assert.ok(byName(`${gateway}-statefulset`).options.dependsOn.includes(preflight.urn), `${gateway} waits for the preflight`);
    }
    const script = String(preflight.inputs["create"]);
    assert.match(script, /^trial 'clawfleet-tenant-alice' 'clawfleet-tenant-alice-preflight' 'clawfleet-tenant-alice-state' /m);
    assert.equal(script.match(/^trial /gm)?.length, 1, "one trial: the canary's state");
    const facts = run.facts.find((f) => f.kind === "host");
    assert.equal(facts?.summaries?.["cluster-preflight"], "tries a new image on a copy of clawfleet-tenant-alice's state");
  });

  it("publishes each gateway on the tailnet as a device of its own through the Tailscale operator's Ingress", async () => {
    const served = await plan({ alice: tenants.alice }, { cluster: { ...hosts.cluster, tailscale: { serve: true, tailnet: "example.ts.net" } } });
    const ingress = served.resources.find((r) => r.name === "alice-serve");
    const service = served.resources.find((r) => r.name === "alice-service");
    const port = (service?.inputs["spec"] as Json).ports[0].port as number;
    assert.equal(ingress?.type, "kubernetes:networking.k8s.io/v1:Ingress");
    assert.deepEqual(ingress?.inputs["spec"], {
      ingressClassName: "tailscale",
      defaultBackend: { service: { name: "clawfleet-tenant-alice", port: { number: port } } },
      // The operator names the device after the TLS host: https://clawfleet-tenant-alice.example.ts.net/.
      tls: [{ hosts: ["clawfleet-tenant-alice"] }],
    });
    assert.ok(ingress?.options.dependsOn.includes(service?.urn ?? "none"));
    assert.equal((served.outputs["tenants"] as Json).alice.tailnetUrl, "https://clawfleet-tenant-alice.example.ts.net/");
    assert.equal(served.resources.find((r) => r.name === "cluster-shared-serve")?.inputs["spec"] !== undefined, true, "the shared gateway is published too");
    // Without serve, no Ingress.
    assert.equal(
      run.resources.some((r) => r.type === "kubernetes:networking.k8s.io/v1:Ingress"),
      false,
    );
  });

  it("makes a shared tenant's workspace inside the running shared gateway with kubectl, and keeps it", () => {
    const workspace = byName("dave-workspace");
    assert.equal(workspace.type, "command:local:Command");
    // Made inside the running shared gateway: after its StatefulSet is ready, not after its volume only.
    assert.ok(workspace.options.dependsOn.includes(byName("cluster-shared-ready").urn));
    assert.equal(workspace.options.retainOnDelete, true);
    assert.equal(
      workspace.inputs["create"],
      [
        "set -eu",
        `fail() { printf 'clawfleet: %s\\n' "$*" >&2; exit 1; }`,
        `command -v kubectl >/dev/null 2>&1 || fail "kubectl is not on PATH of the machine that runs Pulumi; install kubectl (the cluster's minor version or one next to it)"`,
        `k() { kubectl --kubeconfig='/etc/clawfleet/kubeconfig' --context='prod' --namespace='clawfleet-prod' "$@"; }`,
        `k rollout status 'statefulset/clawfleet-shared-cluster' --timeout=300s >/dev/null || fail 'the shared gateway clawfleet-shared-cluster did not become ready in 300s; see kubectl -n clawfleet-prod describe pod clawfleet-shared-cluster-0'`,
        `k exec 'clawfleet-shared-cluster-0' -c gateway -- mkdir -p '/state/workspaces/dave'`,
        `k exec 'clawfleet-shared-cluster-0' -c gateway -- chmod 0700 '/state/workspaces/dave'`,
      ].join("\n"),
    );
  });

  it("shows a config change as the config paths that changed, and a memory change as a restart of the pod", async () => {
    const after = await plan({ ...tenants, alice: { ...tenants.alice, model: "anthropic/claude-haiku-4-5", memoryMb: 2048 } });
    const asPlan = (r: Run) => JSON.parse(renderPlanJson({ stack: "kube", resources: r.resources, outputs: r.outputs }, r.facts)) as PlanForDiff;
    const text = renderDiffText(diffPlans("kube", asPlan(run), asPlan(after)));
    assert.ok(
      text.includes(
        "Replaced (gateway restarts):\n  alice (dedicated on cluster): config agents.defaults.model, config agents.entries.alice.model, statefulset spec.template.spec.containers\n",
      ),
      text,
    );
  });
});
