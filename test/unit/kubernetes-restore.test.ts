import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { runWithKubectl } from "../kubectl-stand-in";
import { dedicatedGatewaySpec } from "../../components/gateway-spec";
import { parseFleet } from "../../declaration/parse";
import type { DedicatedTenant, Host } from "../../declaration/schema";
import { readStackFile } from "../../declaration/stack-file";
import { backupMountDir } from "../../runtimes/kubernetes/backup";
import { renderKubernetesRestore, restorePod, type KubernetesRestoreArgs } from "../../runtimes/kubernetes/restore";

const work = mkdtempSync(join(tmpdir(), "clawfleet-k8s-restore-"));
after(() => rmSync(work, { recursive: true, force: true }));

const fleet = parseFleet(
  "restore.yaml",
  readStackFile(
    "restore.yaml",
    `config:
  clawfleet:image: clawfleet/openclaw-gateway:2026.9.6
  clawfleet:hosts:
    cluster:
      kubernetes: { kubeconfig: /etc/clawfleet/kubeconfig, namespace: clawfleet-prod, storageGb: 5 }
  clawfleet:tenants:
    alice: { tier: dedicated, host: cluster, port: 18101 }
`,
  ),
);
const spec = dedicatedGatewaySpec(fleet.tenants[0] as DedicatedTenant, fleet.hosts[0] as Host, fleet.image);
const args: KubernetesRestoreArgs = {
  target: { kubeconfig: "/etc/clawfleet/kubeconfig", namespace: "clawfleet-prod" },
  spec,
  archive: "manual/20261205T200000Z-a.tar.gz",
  origin: "tenant:alice",
  fromOtherGateway: undefined,
  maxBytes: 10 * 1024 ** 3,
  timeoutSeconds: 300,
};
const running = "clawfleet/openclaw-gateway:2026.9.5";

/** A kubectl answering as a cluster would: the StatefulSet's replicas, and how each of the restore's pods ended and what it said last. */
interface Scenario {
  readonly replicas: number;
  readonly check: { readonly phase: string; readonly last: string };
  readonly swap: { readonly phase: string; readonly last: string };
}

function runRestore(name: string, scenario: Scenario, mode: Partial<KubernetesRestoreArgs> = {}) {
  const run = runWithKubectl(
    join(work, name),
    [
      `*"get statefulset/"*replicas*) printf '%s' ${scenario.replicas} ;;`,
      `*"get statefulset/"*) printf '%s' ${JSON.stringify(running)} ;;`,
      `*"get pod/"*) ${scenario.replicas > 0 ? "exit 0" : "echo 'not found' >&2; exit 1"} ;;`,
      `*"get pod clawfleet-tenant-alice-restore-check "*) printf '%s' ${JSON.stringify(scenario.check.phase)} ;;`,
      `*"get pod clawfleet-tenant-alice-restore "*) printf '%s' ${JSON.stringify(scenario.swap.phase)} ;;`,
      `*" logs clawfleet-tenant-alice-restore-check"*) printf '%s\\n' ${JSON.stringify(scenario.check.last)} ;;`,
      `*" logs clawfleet-tenant-alice-restore"*) printf '%s\\n' ${JSON.stringify(scenario.swap.last)} ;;`,
    ],
    renderKubernetesRestore({ ...args, ...mode }),
  );
  const calls = run.calls.map((c) => c.replace("--kubeconfig=/etc/clawfleet/kubeconfig --namespace=clawfleet-prod ", ""));
  return { ...run, calls, scales: calls.filter((c) => c.startsWith("scale ")) };
}

const checked = { phase: "Succeeded", last: "checked manual/20261205T200000Z-a.tar.gz: 4096 bytes, the state of tenant:alice" };
const swapped = { phase: "Succeeded", last: "aside before-restore-20261205T210000Z" };

describe("clawfleet restore on a Kubernetes host (runtimes/kubernetes/restore.ts)", () => {
  it("checks the archive beside the running gateway, stops it, swaps the state in and starts it again", () => {
    const run = runRestore("ok", { replicas: 1, check: checked, swap: swapped });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(
      run.stderr,
      [
        `gateway clawfleet-tenant-alice: checking clawfleet-prod/clawfleet-tenant-alice-backups:manual/20261205T200000Z-a.tar.gz with ${running}'s openclaw (pod clawfleet-tenant-alice-restore-check, at most 300 s); the gateway keeps running`,
        "gateway clawfleet-tenant-alice: stopping it (its StatefulSet scaled to 0)",
        "gateway clawfleet-tenant-alice: started again on the restored state; the previous state is kept at clawfleet-prod/clawfleet-tenant-alice-backups:before-restore-20261205T210000Z",
        "",
      ].join("\n"),
    );
    assert.deepEqual(run.scales, ["scale statefulset/clawfleet-tenant-alice --replicas=0", "scale statefulset/clawfleet-tenant-alice --replicas=1"]);
    // The swap only once the gateway's pod is gone.
    const waited = run.calls.indexOf("wait --for=delete pod/clawfleet-tenant-alice-0 --timeout=300s");
    assert.ok(waited > run.calls.indexOf("scale statefulset/clawfleet-tenant-alice --replicas=0"));
    assert.ok(waited < run.calls.lastIndexOf("apply -f -"));
    const [check, swap] = run.applied;
    assert.deepEqual(
      [check.metadata.name, check.spec.containers[0].image, swap.metadata.name, swap.spec.containers[0].image],
      ["clawfleet-tenant-alice-restore-check", running, "clawfleet-tenant-alice-restore", running],
    );
    // The check reads the state only, on the gateway's node; the swap writes it, with the gateway gone.
    assert.deepEqual(check.spec.volumes[0], { name: "state", persistentVolumeClaim: { claimName: "clawfleet-tenant-alice-state", readOnly: true } });
    assert.deepEqual(check.spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector, {
      matchLabels: { "clawfleet.dev/gateway": "clawfleet-tenant-alice" },
    });
    assert.deepEqual(swap.spec.volumes[0], { name: "state", persistentVolumeClaim: { claimName: "clawfleet-tenant-alice-state", readOnly: false } });
    assert.equal(swap.spec.affinity, undefined);
    for (const pod of [check, swap]) {
      assert.equal(pod.metadata.labels["clawfleet.dev/preflight"], "cluster");
      assert.equal(pod.spec.automountServiceAccountToken, false);
      assert.deepEqual(pod.spec.containers[0].securityContext.capabilities, { drop: ["ALL"] });
      assert.equal(pod.spec.containers[0].securityContext.runAsUser, 1000);
    }
  });

  it("changes nothing when the check refuses the archive, naming why", () => {
    const refused = "refused: the archive holds a link that leads out of the state directory (x -> /etc/passwd); refused, nothing was changed";
    const run = runRestore("refused", { replicas: 1, check: { phase: "Failed", last: refused }, swap: swapped });
    assert.equal(run.status, 1);
    assert.equal(
      run.stderr.trim().split("\n").pop(),
      "clawfleet: gateway clawfleet-tenant-alice: the archive holds a link that leads out of the state directory (x -> /etc/passwd); refused, nothing was changed",
    );
    assert.deepEqual(run.scales, []);
    assert.equal(run.applied.length, 1);
  });

  it("starts the gateway again when the swap fails, with the previous state back", () => {
    const run = runRestore("swap-failed", {
      replicas: 1,
      check: checked,
      swap: { phase: "Failed", last: "failed: the restored state could not be copied in; the previous state is back" },
    });
    assert.equal(run.status, 1);
    assert.equal(
      run.stderr.trim().split("\n").pop(),
      "clawfleet: gateway clawfleet-tenant-alice: the restored state could not be copied in; the previous state is back",
    );
    assert.deepEqual(run.scales, ["scale statefulset/clawfleet-tenant-alice --replicas=0", "scale statefulset/clawfleet-tenant-alice --replicas=1"]);
  });

  it("leaves a stopped gateway stopped", () => {
    const run = runRestore("stopped", { replicas: 0, check: checked, swap: swapped });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(run.scales, []);
    assert.equal(run.applied[0].spec.affinity, undefined);
    assert.equal(
      run.stderr.trim().split("\n").pop(),
      "gateway clawfleet-tenant-alice: left stopped on the restored state (its StatefulSet has 0 replicas); the previous state is kept at clawfleet-prod/clawfleet-tenant-alice-backups:before-restore-20261205T210000Z",
    );
  });

  it("for clawfleet rollback: swaps the newest pre-upgrade archive in, then sets the StatefulSet to the image recorded beside it", () => {
    const run = runRestore(
      "rollback",
      { replicas: 1, check: { phase: "Succeeded", last: "rollback 20261205T200000Z-a.tar.gz clawfleet/openclaw-gateway:2026.9.4" }, swap: swapped },
      { rollback: true, gateSeconds: 120 },
    );
    assert.equal(run.status, 0, run.stderr);
    assert.equal(
      run.stdout,
      `done\t${running}\tclawfleet/openclaw-gateway:2026.9.4\tclawfleet-prod/clawfleet-tenant-alice-backups:20261205T200000Z-a.tar.gz\tclawfleet-prod/clawfleet-tenant-alice-backups:before-restore-20261205T210000Z\thealthy\n`,
    );
    // The image is set while the gateway is stopped, then it starts on it and is waited for.
    const order = [
      "scale statefulset/clawfleet-tenant-alice --replicas=0",
      "set image statefulset/clawfleet-tenant-alice gateway=clawfleet/openclaw-gateway:2026.9.4 credentials=clawfleet/openclaw-gateway:2026.9.4",
      "scale statefulset/clawfleet-tenant-alice --replicas=1",
      "rollout status statefulset/clawfleet-tenant-alice --watch --timeout=120s",
    ];
    assert.deepEqual(
      run.calls.filter((c) => order.includes(c)),
      order,
    );
    const env = run.applied[0].spec.containers[0].env;
    assert.deepEqual(
      env.filter((e: { name: string }) => ["ARCHIVE", "ROLLBACK", "RUNNING_IMAGE"].includes(e.name)),
      [
        { name: "ARCHIVE", value: "" },
        { name: "ROLLBACK", value: "1" },
        { name: "RUNNING_IMAGE", value: running },
      ],
    );
  });

  it("for clawfleet rollback: does nothing when the check finds nothing to go back to", () => {
    const run = runRestore(
      "rollback-none",
      { replicas: 1, check: { phase: "Succeeded", last: `none it runs ${running}, the image before its last image change` }, swap: swapped },
      { rollback: true },
    );
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, `none\tit runs ${running}, the image before its last image change\n`);
    assert.deepEqual(run.scales, []);
    assert.equal(run.applied.length, 1);
  });

  it("passes shellcheck", () => {
    const file = join(work, "restore.sh");
    for (const rollback of [false, true]) {
      writeFileSync(file, `#!/bin/sh\n${renderKubernetesRestore({ ...args, rollback })}\n`);
      const result = spawnSync("shellcheck", ["--shell=sh", file], { encoding: "utf8" });
      assert.equal(result.status, 0, result.stdout);
    }
  });
});

/**
 * The pods' own scripts, run here with a stand-in for openclaw's `backup restore` (it unpacks the archive as openclaw
 * does, under `<top>/payload/posix<path>`): the checks and the swap on real files, links and archives.
 */
describe("the restore pods' scripts on real files", () => {
  let n = 0;
  /** A backup volume, a state folder holding `marker`, and the state an archive holds. */
  function volumes() {
    const root = join(work, `files-${n++}`);
    const state = join(root, "state");
    const backups = join(root, "backups");
    mkdirSync(join(state, "workspace"), { recursive: true });
    mkdirSync(join(backups, "manual"), { recursive: true });
    writeFileSync(join(state, "workspace", "marker"), "before");
    const openclaw = join(root, "openclaw.sh");
    writeFileSync(openclaw, 'shift 2; archive=$1; target=$3; mkdir -p "$target" && tar -xzf "$archive" -C "$target"\n');
    return { root, state, backups, openclaw };
  }

  /**
   * An archive of state `files` (path -> text, or `-> target` for a link) and a config naming `agent`, laid out as
   * openclaw archives a Kubernetes gateway (the ConfigMap's link, and its file in the ConfigMap's timestamped folder)
   * or a Docker one (the config in the state folder).
   */
  function archive(v: ReturnType<typeof volumes>, files: Record<string, string>, agent = "alice", from: "kubernetes" | "docker" = "kubernetes"): string {
    const tree = join(v.root, "tree");
    rmSync(tree, { recursive: true, force: true });
    const payload = join(tree, "top", "payload", "posix", v.state);
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(payload, path, ".."), { recursive: true });
      if (text.startsWith("-> ")) symlinkSync(text.slice(3), join(payload, path));
      else writeFileSync(join(payload, path), text);
    }
    const config = JSON.stringify({ agents: { entries: { [agent]: { workspace: `${v.state}/workspace` } } } });
    if (from === "docker") {
      writeFileSync(join(payload, "openclaw.json"), config);
    } else {
      const mounted = join(tree, "top", "payload", "posix", "etc", "openclaw");
      mkdirSync(join(mounted, "..2026_12_05_20_00_00.1"), { recursive: true });
      writeFileSync(join(mounted, "..2026_12_05_20_00_00.1", "openclaw.json"), config);
      symlinkSync("..data/openclaw.json", join(mounted, "openclaw.json"));
    }
    const tar = spawnSync("tar", ["-czf", join(v.backups, "manual", "a.tar.gz"), "-C", tree, "top"], { encoding: "utf8" });
    assert.equal(tar.status, 0, tar.stderr);
    return "manual/a.tar.gz";
  }

  function runPod(v: ReturnType<typeof volumes>, kind: "check" | "swap", path: string, extra: Partial<KubernetesRestoreArgs> = {}, image = running) {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a pod manifest
    const pod = restorePod({ ...args, archive: path, ...extra }, kind, false) as any;
    const container = pod.spec.containers[0];
    const env: Record<string, string> = Object.fromEntries(container.env.map((e: { name: string; value: string }) => [e.name, e.value]));
    const text = (container.command[2] as string).replaceAll(backupMountDir, v.backups);
    return spawnSync("sh", ["-c", text, kind, "sh", v.openclaw], {
      encoding: "utf8",
      env: { ...process.env, ...env, STATE: v.state, CONFIG: "/etc/openclaw/openclaw.json", RUNNING_IMAGE: image },
    });
  }

  it("puts the archive's state in, links kept as links, the previous state aside, the staging folder gone", () => {
    const v = volumes();
    const path = archive(v, { "workspace/marker": "after", "workspace/link": "-> marker" }, "alice", "docker");
    const check = runPod(v, "check", path);
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /^checked manual\/a\.tar\.gz: \d+ bytes, the state of tenant:alice\n$/);
    // Nothing changed yet.
    assert.equal(readFileSync(join(v.state, "workspace", "marker"), "utf8"), "before");
    const swap = runPod(v, "swap", path);
    assert.equal(swap.status, 0, swap.stdout + swap.stderr);
    const aside = /^aside (before-restore-\d{8}T\d{6}Z)$/.exec(swap.stdout.trim())?.[1];
    assert.ok(aside, swap.stdout);
    assert.equal(readFileSync(join(v.state, "workspace", "marker"), "utf8"), "after");
    assert.equal(readlinkSync(join(v.state, "workspace", "link")), "marker");
    // A Docker host's openclaw.json in the archive's state is left out: the ConfigMap is the config.
    assert.equal(existsSync(join(v.state, "openclaw.json")), false);
    assert.equal(readFileSync(join(v.backups, aside, "workspace", "marker"), "utf8"), "before");
    assert.equal(existsSync(join(v.backups, ".restore")), false);
    assert.equal(lstatSync(join(v.backups, "manual", "a.tar.gz")).isFile(), true);
  });

  it("refuses an archive with a link out of the state folder, or one from another gateway, changing nothing", () => {
    const v = volumes();
    for (const [files, expected] of [
      [
        { "workspace/x": "-> /etc/passwd" },
        "refused: the archive holds a link that leads out of the state directory (workspace/x -> /etc/passwd); refused, nothing was changed",
      ],
      [
        { "workspace/y": "-> ../../../../../../etc" },
        "refused: the archive holds a link that leads out of the state directory (workspace/y -> ../../../../../../etc); refused, nothing was changed",
      ],
    ] as const) {
      const check = runPod(v, "check", archive(v, files));
      assert.deepEqual([check.status, check.stdout.trim().split("\n").pop()], [3, expected]);
    }
    // A Kubernetes gateway's own archive passes, the ConfigMap's link beside its state left alone.
    const mine = runPod(v, "check", archive(v, { "workspace/marker": "mine" }));
    assert.equal(mine.status, 0, mine.stdout + mine.stderr);
    // Each archive is written to the same path: this one replaces the one above.
    const bobs = archive(v, { "workspace/marker": "bob" }, "bob");
    const other = runPod(v, "check", bobs);
    assert.deepEqual(
      [other.status, other.stdout.trim()],
      [
        3,
        "refused: manual/a.tar.gz holds the state of tenant bob's gateway, not of tenant alice's gateway; nothing was changed. To put that state into clawfleet-tenant-alice on purpose, add --from-other-gateway bob",
      ],
    );
    assert.equal(runPod(v, "check", bobs, { fromOtherGateway: "bob" }).status, 0);
    const big = runPod(v, "check", bobs, { maxBytes: 1 });
    assert.match(
      big.stdout.trim(),
      /^refused: manual\/a\.tar\.gz unpacks to \d+ bytes, more than the limit of 1 bytes \(clawfleet restore --max-size\); nothing was changed$/,
    );
    const missing = runPod(v, "check", "manual/none.tar.gz");
    assert.equal(
      missing.stdout.trim(),
      "refused: manual/none.tar.gz is not a file on the backup volume clawfleet-prod/clawfleet-tenant-alice-backups; give its path there, as clawfleet backup printed it",
    );
    assert.equal(readFileSync(join(v.state, "workspace", "marker"), "utf8"), "before");
    assert.equal(existsSync(join(v.backups, ".restore")), false, "nothing unpacked is left on the backup volume");
  });

  it("for a rollback, takes the newest archive taken before an image change that names its image, or says there is nothing to do", () => {
    const v = volumes();
    archive(v, { "workspace/marker": "older" });
    renameSync(join(v.backups, "manual", "a.tar.gz"), join(v.backups, "20261201T000000Z-a.tar.gz"));
    writeFileSync(join(v.backups, "20261201T000000Z-a.tar.gz.image"), "clawfleet/openclaw-gateway:2026.9.3\n");
    archive(v, { "workspace/marker": "newest" });
    renameSync(join(v.backups, "manual", "a.tar.gz"), join(v.backups, "20261202T000000Z-b.tar.gz"));
    writeFileSync(join(v.backups, "20261202T000000Z-b.tar.gz.image"), "clawfleet/openclaw-gateway:2026.9.4\n");
    // Newer, but with no image beside it: not one a rollback can use.
    archive(v, { "workspace/marker": "no image" });
    renameSync(join(v.backups, "manual", "a.tar.gz"), join(v.backups, "20261203T000000Z-c.tar.gz"));
    const check = runPod(v, "check", "", { rollback: true });
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.equal(check.stdout.trim().split("\n").pop(), "rollback 20261202T000000Z-b.tar.gz clawfleet/openclaw-gateway:2026.9.4");
    assert.equal(runPod(v, "swap", "").status, 0);
    assert.equal(readFileSync(join(v.state, "workspace", "marker"), "utf8"), "newest");
    const again = runPod(v, "check", "", { rollback: true }, "clawfleet/openclaw-gateway:2026.9.4");
    assert.deepEqual([again.status, again.stdout.trim()], [0, "none it runs clawfleet/openclaw-gateway:2026.9.4, the image before its last image change"]);
  });
});
