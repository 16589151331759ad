import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { runWithKubectl } from "../kubectl-stand-in";
import { dedicatedGatewaySpec } from "../../components/gateway-spec";
import { parseFleet } from "../../declaration/parse";
import type { DedicatedTenant, Host } from "../../declaration/schema";
import { readStackFile } from "../../declaration/stack-file";
import { renderKubernetesBackup, type KubernetesBackupArgs } from "../../runtimes/kubernetes/backup";

const work = mkdtempSync(join(tmpdir(), "clawfleet-k8s-backup-"));
after(() => rmSync(work, { recursive: true, force: true }));

const fleet = parseFleet(
  "backup.yaml",
  readStackFile(
    "backup.yaml",
    `config:
  clawfleet:image: clawfleet/openclaw-gateway:2026.9.6
  clawfleet:hosts:
    cluster:
      kubernetes: { kubeconfig: /etc/clawfleet/kubeconfig, namespace: clawfleet-prod, storageGb: 5 }
  clawfleet:tenants:
    alice: { tier: dedicated, host: cluster, port: 18101, upgradeBackups: 2 }
`,
  ),
);
const spec = dedicatedGatewaySpec(fleet.tenants[0] as DedicatedTenant, fleet.hosts[0] as Host, fleet.image);
const args: KubernetesBackupArgs = { target: { kubeconfig: "/etc/clawfleet/kubeconfig", namespace: "clawfleet-prod" }, spec, timeoutSeconds: 300 };

/** A kubectl answering as a cluster would: the image the StatefulSet runs, whether the gateway's pod runs, and what the backup pod did. */
interface Scenario {
  readonly running: string;
  readonly gatewayPod: boolean;
  readonly pod: string;
  readonly logs: string;
}

function runBackup(name: string, scenario: Scenario, manual = false) {
  return runWithKubectl(
    join(work, name),
    [
      `*"get statefulset/"*) printf '%s' ${JSON.stringify(scenario.running)} ;;`,
      `*"get pod/"*) ${scenario.gatewayPod ? "exit 0" : "echo 'not found' >&2; exit 1"} ;;`,
      `*"get pod "*) printf '%s' ${JSON.stringify(scenario.pod)} ;;`,
      `*" logs "*) printf '%s\\n' ${JSON.stringify(scenario.logs)} ;;`,
    ],
    renderKubernetesBackup({ ...args, manual }),
  );
}

const older = "clawfleet/openclaw-gateway:2026.9.5";

describe("the backup before an image change on a Kubernetes host (runtimes/kubernetes/backup.ts)", () => {
  it("backs the state up with the running image's own tool, on the gateway's node, onto the gateway's backup volume", () => {
    const run = runBackup("ok", { running: older, gatewayPod: true, pod: "Succeeded", logs: "archive 20261205T200000Z-alice.tar.gz" });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(
      run.stdout,
      [
        `gateway clawfleet-tenant-alice: backing up its state with ${older}'s openclaw before it takes clawfleet/openclaw-gateway:2026.9.6 (pod clawfleet-tenant-alice-backup, at most 300 s)`,
        "gateway clawfleet-tenant-alice: state backed up to clawfleet-prod/clawfleet-tenant-alice-backups: 20261205T200000Z-alice.tar.gz",
        "",
      ].join("\n"),
    );
    const [pod] = run.applied;
    const container = pod.spec.containers[0];
    // The image it runs now, whose tool reads the state as it is; and the same image recorded for the way back.
    assert.equal(container.image, older);
    assert.deepEqual(
      container.env.filter((e: { name: string }) => ["RUNNING_IMAGE", "KEEP", "OPENCLAW_CONFIG_PATH"].includes(e.name)),
      [
        { name: "OPENCLAW_CONFIG_PATH", value: "/etc/openclaw/openclaw.json" },
        { name: "RUNNING_IMAGE", value: older },
        { name: "KEEP", value: "2" },
      ],
    );
    assert.deepEqual(container.command.slice(3), ["backup", ...spec.process.cli]);
    assert.deepEqual(
      pod.spec.volumes.filter((v: { persistentVolumeClaim?: unknown }) => v.persistentVolumeClaim !== undefined),
      [
        { name: "state", persistentVolumeClaim: { claimName: "clawfleet-tenant-alice-state" } },
        { name: "backups", persistentVolumeClaim: { claimName: "clawfleet-tenant-alice-backups" } },
      ],
    );
    assert.deepEqual(pod.spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector, {
      matchLabels: { "clawfleet.dev/gateway": "clawfleet-tenant-alice" },
    });
    // The preflight's deny-all NetworkPolicy selects it; it runs as the gateway's user, with nothing added.
    assert.equal(pod.metadata.labels["clawfleet.dev/preflight"], "cluster");
    assert.equal(container.securityContext.runAsUser, 1000);
    assert.deepEqual(container.securityContext.capabilities, { drop: ["ALL"] });
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    // The pod is deleted when the script ends.
    assert.equal(
      run.calls.at(-1),
      "--kubeconfig=/etc/clawfleet/kubeconfig --namespace=clawfleet-prod delete pod clawfleet-tenant-alice-backup --ignore-not-found --wait=false",
    );
  });

  it("runs beside no pod when the gateway's pod is gone: its volumes are used where the scheduler puts the backup", () => {
    const run = runBackup("no-pod", { running: older, gatewayPod: false, pod: "Succeeded", logs: "archive x.tar.gz" });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.applied[0].spec.affinity, undefined);
  });

  it("backs up nothing on a first deploy, or when the StatefulSet already runs the image", () => {
    for (const running of ["", "clawfleet/openclaw-gateway:2026.9.6"]) {
      const run = runBackup(`none-${running.length}`, { running, gatewayPod: true, pod: "Succeeded", logs: "" });
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout, "");
      assert.deepEqual(run.applied, []);
    }
  });

  it("stops the deploy, naming the gateway and what the pod did, when the backup fails", () => {
    const run = runBackup("failed", { running: older, gatewayPod: true, pod: "Failed", logs: "openclaw: the state folder is not readable" });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /openclaw: the state folder is not readable/);
    assert.equal(
      run.stderr.trim().split("\n").pop(),
      "clawfleet: gateway clawfleet-tenant-alice: the backup before the image change failed (Failed; its pod's last lines above); no gateway was changed",
    );
  });

  it("refuses an image reference it would have to quote", () => {
    const run = runBackup("odd", { running: "evil#image;rm", gatewayPod: true, pod: "Succeeded", logs: "" });
    assert.equal(run.status, 1);
    assert.equal(
      run.stderr.trim(),
      'clawfleet: gateway clawfleet-tenant-alice: the backup before the image change cannot run: the StatefulSet names an image clawfleet does not write, "evil#image;rm"; no gateway was changed',
    );
    assert.deepEqual(run.applied, []);
  });

  it("for clawfleet backup: whatever image runs, into the volume's manual folder where nothing rotates, printing where the archive is", () => {
    const running = "clawfleet/openclaw-gateway:2026.9.6";
    const run = runBackup("manual", { running, gatewayPod: true, pod: "Succeeded", logs: "archive manual/20261205T200000Z-a.tar.gz" }, true);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, "clawfleet-prod/clawfleet-tenant-alice-backups:manual/20261205T200000Z-a.tar.gz\n");
    assert.equal(
      run.stderr,
      `gateway clawfleet-tenant-alice: backing up its state with ${running}'s openclaw into clawfleet-prod/clawfleet-tenant-alice-backups, folder manual (pod clawfleet-tenant-alice-backup-manual, at most 300 s); the gateway keeps running\n`,
    );
    const [pod] = run.applied;
    assert.equal(pod.metadata.name, "clawfleet-tenant-alice-backup-manual");
    assert.equal(pod.spec.containers[0].image, running);
    assert.deepEqual(
      pod.spec.containers[0].env.filter((e: { name: string }) => ["FOLDER", "KEEP"].includes(e.name)),
      [
        { name: "FOLDER", value: "manual" },
        { name: "KEEP", value: "0" },
      ],
    );
  });

  it("for clawfleet backup: names the gateway with no StatefulSet, and the fix", () => {
    const run = runBackup("manual-none", { running: "", gatewayPod: false, pod: "", logs: "" }, true);
    assert.equal(run.status, 1);
    assert.equal(run.stderr, "clawfleet: gateway clawfleet-tenant-alice has no StatefulSet in namespace clawfleet-prod; deploy it with pulumi up first\n");
    assert.deepEqual(run.applied, []);
  });

  it("passes shellcheck", () => {
    const file = join(work, "backup.sh");
    for (const manual of [false, true]) {
      writeFileSync(file, `#!/bin/sh\n${renderKubernetesBackup({ ...args, manual })}\n`);
      const result = spawnSync("shellcheck", ["--shell=sh", file], { encoding: "utf8" });
      assert.equal(result.status, 0, result.stdout);
    }
  });
});
