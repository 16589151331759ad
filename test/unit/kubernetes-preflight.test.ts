import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { runWithKubectl } from "../kubectl-stand-in";
import { gatewayCommon, trialConfig } from "../../components/gateway-spec";
import { renderPreflight, type PreflightArgs } from "../../runtimes/kubernetes/preflight";

const work = mkdtempSync(join(tmpdir(), "clawfleet-k8s-preflight-"));
after(() => rmSync(work, { recursive: true, force: true }));

const args: PreflightArgs = {
  target: { kubeconfig: "/etc/clawfleet/kubeconfig", namespace: "clawfleet-prod" },
  hostId: "cluster",
  image: "clawfleet/openclaw-gateway:2026.9.6",
  gateways: ["clawfleet-tenant-alice"],
  gateway: gatewayCommon,
  fallbackConfig: trialConfig,
};

/**
 * A kubectl that answers as a cluster would in one scenario: the image the canary's StatefulSet runs, whether its
 * volume exists, and what the trial pod does. It records each call and keeps each manifest applied.
 */
interface Scenario {
  /** The image the canary's StatefulSet runs ("" when there is none). */
  readonly running: string;
  /** Whether its volume exists, and its pod (default: as the volume). */
  readonly volume: boolean;
  readonly gatewayPod?: boolean;
  /** What `kubectl get pod <trial>` prints: phase, ready, waiting reasons. */
  readonly pod: string;
}

function runPreflight(name: string, scenario: Scenario) {
  return runWithKubectl(
    join(work, name),
    [
      `*"get statefulset/"*) printf '%s' ${JSON.stringify(scenario.running)} ;;`,
      `*"get persistentvolumeclaim/"*) ${scenario.volume ? "exit 0" : "echo 'not found' >&2; exit 1"} ;;`,
      `*"get pod/"*) ${(scenario.gatewayPod ?? scenario.volume) ? "exit 0" : "echo 'not found' >&2; exit 1"} ;;`,
      `*"get pod "*) printf '%s' ${JSON.stringify(scenario.pod)} ;;`,
      '*" logs "*) echo "Error: the gateway crashed" ;;',
    ],
    renderPreflight(args),
  );
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a pod manifest as the script applies it
type Json = any;

describe("the image preflight on a Kubernetes host (runtimes/kubernetes/preflight.ts)", () => {
  it("tries the image as a throwaway pod on a copy of the canary's volume, on its node, on no network, and deletes it once ready", () => {
    const run = runPreflight("ready", { running: "clawfleet/openclaw-gateway:2026.9.5", volume: true, pod: "Running true" });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(
      run.stdout,
      [
        "host cluster: trying clawfleet/openclaw-gateway:2026.9.6 on a copy of clawfleet-tenant-alice's state (pod clawfleet-tenant-alice-preflight, at most 300 s)",
        "host cluster: clawfleet/openclaw-gateway:2026.9.6 is ready on a copy of clawfleet-tenant-alice's state",
        "",
      ].join("\n"),
    );
    const [policy, pod] = run.applied as [Json, Json];
    // The deny-all policy of the host's trial pods: no rule at all, both ways.
    assert.deepEqual(
      [policy.kind, policy.spec],
      ["NetworkPolicy", { podSelector: { matchLabels: { "clawfleet.dev/preflight": "cluster" } }, policyTypes: ["Ingress", "Egress"] }],
    );
    assert.equal(pod.metadata.labels["clawfleet.dev/preflight"], "cluster");
    assert.deepEqual(
      pod.spec.volumes.find((v: Json) => v.name === "source"),
      { name: "source", persistentVolumeClaim: { claimName: "clawfleet-tenant-alice-state", readOnly: true } },
    );
    assert.deepEqual(pod.spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector, {
      matchLabels: { "clawfleet.dev/gateway": "clawfleet-tenant-alice" },
    });
    assert.equal(pod.spec.restartPolicy, "Never");
    assert.equal(pod.spec.containers[0].image, "clawfleet/openclaw-gateway:2026.9.6");
    assert.equal(pod.spec.containers[0].securityContext.readOnlyRootFilesystem, true);
    // A random token of its own, put in by the script: neither the command's text nor the stack holds it.
    const token = pod.spec.containers[0].env.find((e: Json) => e.name === gatewayCommon.tokenEnv).value as string;
    assert.match(token, /^[0-9a-f]{48}$/);
    assert.doesNotMatch(renderPreflight(args), new RegExp(token));
    assert.ok(
      run.calls.includes(
        "--kubeconfig=/etc/clawfleet/kubeconfig --namespace=clawfleet-prod delete pod clawfleet-tenant-alice-preflight --ignore-not-found --wait=true --timeout=60s",
      ),
      run.calls.join("\n"),
    );
  });

  it("tries a volume no pod runs yet (made moments before, on a first deploy) wherever the scheduler puts the trial", () => {
    const run = runPreflight("no-pod", { running: "", volume: true, gatewayPod: false, pod: "Running true" });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /on a copy of clawfleet-tenant-alice's state \(no pod runs it\)/);
    const pod = run.applied[1] as Json;
    assert.equal(pod.spec.affinity, undefined);
    assert.ok(pod.spec.volumes.some((v: Json) => v.name === "source"));
  });

  it("tries a gateway without a volume yet (a first deploy) on empty state", () => {
    const run = runPreflight("first", { running: "", volume: false, pod: "Running true" });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /on empty state \(clawfleet-tenant-alice has no volume yet\)/);
    const pod = run.applied[1] as Json;
    assert.deepEqual(
      pod.spec.volumes.map((v: Json) => v.name),
      ["state", "tmp", "home"],
    );
    assert.equal(pod.spec.affinity, undefined);
  });

  it("fails, naming the host, the image and what the pod did, when the image does not start; no gateway is changed", () => {
    const run = runPreflight("broken", { running: "clawfleet/openclaw-gateway:2026.9.5", volume: true, pod: "Failed false" });
    assert.equal(run.status, 1);
    assert.equal(
      run.stderr.trim().split("\n").pop(),
      "clawfleet: host cluster: the new image clawfleet/openclaw-gateway:2026.9.6 did not start on a copy of clawfleet-tenant-alice's state (Failed false); no gateway was changed. Fix the image or go back to the previous one",
    );
    assert.match(run.stderr, /Error: the gateway crashed/);
    assert.ok(run.calls.every((call) => !/statefulset\/.* (apply|patch|set|delete)/.test(call)));
  });

  it("fails at once on an image the node cannot pull", () => {
    const run = runPreflight("pull", { running: "", volume: false, pod: "Pending  ErrImageNeverPull" });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /did not start on empty state \(clawfleet-tenant-alice has no volume yet\) \(Pending  ErrImageNeverPull\)/);
  });

  it("tries nothing when the canary already runs the image", () => {
    const run = runPreflight("same", { running: "clawfleet/openclaw-gateway:2026.9.6", volume: true, pod: "Running true" });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, "host cluster: the gateways run clawfleet/openclaw-gateway:2026.9.6 already; nothing to try\n");
    assert.deepEqual(run.applied, []);
  });

  it("passes shellcheck", () => {
    const file = join(work, "preflight.sh");
    writeFileSync(file, `#!/bin/sh\n${renderPreflight(args)}\n`);
    const result = spawnSync("shellcheck", ["--shell=sh", file], { encoding: "utf8" });
    assert.equal(result.status, 0, result.stdout);
  });
});
