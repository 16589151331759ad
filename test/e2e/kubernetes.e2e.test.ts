import assert from "node:assert/strict";
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { generateKeyPairSync } from "node:crypto";
import { runClawfleet } from "./cli-process";
import { connectDevice, pairingStoreCommand } from "./device-client";
import { EngineDeployer, kubernetesPlugin } from "./engine/deployer";
import { startFakeTelegram, type FakeTelegram } from "./fake-telegram";
import { gatewayImage } from "./gateway-image";
import { fetchText, poll } from "./wait";

/*
 * End to end on a real single-node Kubernetes cluster built here (scripts/k8s-test-cluster.sh: etcd, the API
 * server, controller manager, scheduler, containerd with runc and a kubelet, the gateway image imported into
 * containerd), deployed through the real Pulumi engine with the real Kubernetes provider plugin
 * (scripts/install-k8s-tools.sh; random is real, command is the stand-in served as a plugin). After every `up`:
 * `pulumi preview --expect-no-changes` and `pulumi refresh --expect-no-changes`. The fleet starts on openclaw
 * 2026.9.5; the day-2 verbs run as users run them (bin/clawfleet.js, kubectl on PATH); a browser device connects
 * from the node to a pod's address and bob's Telegram channel runs against a Bot API of this file's own on the node's
 * address, so both approvals start as users' do; a broken image is refused by the preflight; then the fleet moves to
 * 2026.9.6, canary first.
 */

const repo = resolve(__dirname, "..", "..");
const work = mkdtempSync(join(tmpdir(), "clawfleet-kube-e2e-"));
const log = (line: string) => process.stderr.write(`kube-e2e: ${line}\n`);
const namespace = `clawfleet-e2e-${process.pid}`;
const cluster = join(repo, "scripts", "k8s-test-cluster.sh");

let clusterEnv: NodeJS.ProcessEnv = {};
let deployer: EngineDeployer;
/** The image the fleet starts on (openclaw 2026.9.5), the one it moves to (2026.9.6), and one that cannot start. */
let older = "";
let image = "";
const broken = "clawfleet-e2e/broken-gateway:1";
const forwards: ChildProcess[] = [];
/** A Telegram Bot API of this file's own on the cluster's node address, bob's channel's `apiRoot`. */
let telegram: FakeTelegram | undefined;
/** bob's channels: Telegram with DM pairing, its bot token a real Pulumi secret. */
let bobChannels = "";

/** Where the test cluster keeps a gateway's backup volume on this machine (its hostPath PV). */
function backupDirOf(gateway: string): string {
  const volume = kubectl(["get", "persistentvolumeclaim", `${gateway}-backups`, "--output=jsonpath={.spec.volumeName}"]).trim();
  return kubectl(["get", "persistentvolume", volume, "--output=jsonpath={.spec.hostPath.path}"]).trim();
}

/** The files at the top of a gateway's backup volume (the archives of image changes), but hidden ones. */
function backupFiles(gateway: string): string[] {
  return readdirSync(backupDirOf(gateway), { withFileTypes: true })
    .filter((f) => f.isFile() && !f.name.startsWith("."))
    .map((f) => f.name)
    .sort();
}

function kubectl(args: readonly string[], input?: string): string {
  return execFileSync("kubectl", ["--namespace", namespace, ...args], { env: clusterEnv, encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
}

function kubectlAsync(args: readonly string[]): Promise<string> {
  return new Promise((done, fail) =>
    execFile("kubectl", ["--namespace", namespace, ...args], { env: clusterEnv, encoding: "utf8" }, (error, stdout, stderr) =>
      error === null ? done(stdout) : fail(new Error(`kubectl ${args.join(" ")}: ${stderr || error.message}`)),
    ),
  );
}

interface PodView {
  readonly uid: string;
  readonly ready: boolean;
  readonly restarts: number;
  readonly startedAt: string | undefined;
  /** Seconds from the pod's creation to its Ready condition (a cold start, with scheduling); undefined until ready. */
  readonly secondsToReady: number | undefined;
}

function podOf(gateway: string): PodView | undefined {
  try {
    const pod = JSON.parse(kubectl(["get", "pod", `${gateway}-0`, "-o", "json"])) as {
      metadata: { uid: string; creationTimestamp: string; deletionTimestamp?: string };
      status: {
        conditions?: { type: string; status: string; lastTransitionTime: string }[];
        containerStatuses?: { restartCount: number; state: { running?: { startedAt: string } } }[];
      };
    };
    if (pod.metadata.deletionTimestamp !== undefined) return undefined;
    const container = pod.status.containerStatuses?.[0];
    const ready = pod.status.conditions?.find((c) => c.type === "Ready" && c.status === "True");
    return {
      uid: pod.metadata.uid,
      ready: ready !== undefined,
      restarts: container?.restartCount ?? 0,
      startedAt: container?.state.running?.startedAt,
      secondsToReady: ready === undefined ? undefined : (Date.parse(ready.lastTransitionTime) - Date.parse(pod.metadata.creationTimestamp)) / 1000,
    };
  } catch {
    return undefined;
  }
}

/** `kubectl port-forward` of a gateway's Service to the same port here, as an operator reaches it. */
async function forward(gateway: string, port: number): Promise<void> {
  const child = spawn("kubectl", ["--namespace", namespace, "port-forward", `service/${gateway}`, `${port}:${port}`], { env: clusterEnv, stdio: "ignore" });
  forwards.push(child);
  await poll(`port-forward of ${gateway} on ${port}`, 60, async () =>
    (await fetchText(`http://127.0.0.1:${port}/healthz`, 5000)).includes('"status":"live"') ? true : undefined,
  );
}

/** Calls one function of a gateway's own pairing store inside its pod. */
async function pairingStore(gateway: string, fn: string, args: unknown): Promise<unknown> {
  const output = await kubectlAsync(["exec", `${gateway}-0`, "-c", "gateway", "--", ...pairingStoreCommand(fn, args)]);
  return JSON.parse(output.trim().split("\n").pop() ?? "null");
}

async function tokenOf(tenant: string): Promise<string> {
  const out = JSON.parse((await deployer.pulumi(["stack", "output", "tenants", "--show-secrets", "--json"])).stdout) as Record<string, { token: string }>;
  return out[tenant]?.token ?? "";
}

const declaration = (aliceModel: string, declared = older, bob = `port: 18102, memoryMb: 1024, channels: ${bobChannels}`) => `config:
  clawfleet:image: ${declared}
  clawfleet:hosts:
    cluster:
      kubernetes: { kubeconfig: ${clusterEnv["KUBECONFIG"] ?? ""}, namespace: ${namespace}, storageClass: clawfleet-local, storageGb: 1 }
      shared: { port: 18789, memoryMb: 1024 }
      rollout: { lanes: 1 }
  clawfleet:tenants:
    alice: { tier: dedicated, host: cluster, port: 18101, memoryMb: 1024, model: ${aliceModel} }
    bob: { tier: dedicated, host: cluster, ${bob} }
    carol: { tier: shared, host: cluster }
`;

/** Runs `clawfleet <args>` as users do (bin/clawfleet.js), with the cluster's kubeconfig and kubectl. */
const clawfleet = (...args: string[]) => runClawfleet(repo, args, { env: clusterEnv });

/** Each gateway's pod uid and the image its StatefulSet runs. */
function fleetPods(names = ["clawfleet-tenant-alice", "clawfleet-tenant-bob", "clawfleet-shared-cluster"]): Record<string, string> {
  return Object.fromEntries(
    names.map((name) => [
      name,
      `${podOf(name)?.uid ?? "none"} ${kubectl(["get", "statefulset", name, "--output=jsonpath={.spec.template.spec.containers[0].image}"])}`,
    ]),
  );
}

before(async () => {
  older = gatewayImage(repo, log, { args: ["--openclaw", "2026.9.5"] });
  image = gatewayImage(repo, log);
  // Exits at once, as a release with a broken entry point would; imported into the cluster like every clawfleet-e2e/ image.
  execFileSync("docker", ["build", "-q", "-t", broken, "-"], {
    input: `FROM ${image}\nENTRYPOINT ["node", "-e", "console.error('broken on purpose'); process.exit(3)"]\nCMD []\n`,
    env: { ...process.env, DOCKER_BUILDKIT: "0" },
    stdio: ["pipe", "ignore", "inherit"],
  });
  log("starting the test cluster (scripts/k8s-test-cluster.sh up)");
  const exports = execFileSync("bash", [cluster, "up", "--print-env", "--image", image], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  // The environment those lines give a shell, as `eval "$(... up --print-env)"` would.
  const shell = `${exports}\nexec ${JSON.stringify(process.execPath)} -e 'process.stdout.write(JSON.stringify(process.env))'`;
  clusterEnv = JSON.parse(execFileSync("bash", ["-c", shell], { encoding: "utf8" })) as NodeJS.ProcessEnv;
  assert.ok(clusterEnv["KUBECONFIG"], "k8s-test-cluster.sh up printed no KUBECONFIG");
  deployer = await EngineDeployer.real({ repo, work, stack: "kube", env: clusterEnv, progress: log, kubernetesPlugin: await kubernetesPlugin(repo) });
  // The pods reach the node on its bridge address (10.251.0.1, scripts/k8s-test-cluster.sh).
  telegram = await startFakeTelegram("10.251.0.1");
  bobChannels = `{ telegram: { dmPolicy: pairing, apiRoot: "${telegram.apiRoot}", token: { secure: ${await deployer.encrypt("1234567:kube-e2e-offline-bot-token")} } } }`;
});

after(async () => {
  for (const child of forwards) child.kill();
  await telegram?.close();
  try {
    await deployer?.destroy();
  } finally {
    // The namespace and the volumes are kept on delete, as the state is: the test removes them itself.
    execFileSync("kubectl", ["delete", "namespace", namespace, "--ignore-not-found", "--wait=true", "--timeout=180s"], { env: clusterEnv, stdio: "inherit" });
    execFileSync("bash", [cluster, "down"], { stdio: "inherit" });
    rmSync(work, { recursive: true, force: true });
  }
});

describe("a Kubernetes host, deployed by the real engine and provider onto a real cluster", { concurrency: false }, () => {
  const gateways = [
    { name: "clawfleet-tenant-alice", tenant: "alice", port: 18101 },
    { name: "clawfleet-tenant-bob", tenant: "bob", port: 18102 },
    { name: "clawfleet-shared-cluster", tenant: "carol", port: 18789 },
  ];
  let coldStartSeconds = 0;

  it("deploys two dedicated gateways and the shared one, each ready, with nothing left to change", async () => {
    deployer.configure(declaration("anthropic/claude-sonnet-4-5"));
    const started = Date.now();
    const steps = await deployer.deploy();
    coldStartSeconds = (Date.now() - started) / 1000;
    log(`first up: ${coldStartSeconds.toFixed(1)} s`);
    assert.deepEqual(
      steps
        .filter((s) => s.type === "kubernetes:apps/v1:StatefulSet")
        .map((s) => `${s.name} ${s.op}`)
        .sort(),
      ["alice-statefulset create", "bob-statefulset create", "cluster-shared-statefulset create"],
    );
    // A first deploy tries the image too, on empty state: the canary has no volume yet.
    assert.ok(
      steps.some((s) => s.name === "cluster-preflight" && s.op === "create"),
      "the image preflight ran",
    );
    for (const { name } of gateways) assert.equal(podOf(name)?.ready, true, name);
    // The shared tenant's workspace, made inside the shared gateway as its own user.
    assert.equal(kubectl(["exec", "clawfleet-shared-cluster-0", "-c", "gateway", "--", "stat", "-c", "%u %a", "/state/workspaces/carol"]).trim(), "1000 700");
  });

  it("runs each pod as uid 1000 with a read-only root, and its credentials as a 0600 file of its own", () => {
    const [id, root] = kubectl(["exec", "clawfleet-tenant-alice-0", "-c", "gateway", "--", "sh", "-c", "id -u; touch /probe 2>&1 || true"]).trim().split("\n");
    assert.equal(id, "1000");
    assert.match(root ?? "", /Read-only file system/);
    assert.equal(
      kubectl(["exec", "clawfleet-tenant-alice-0", "-c", "gateway", "--", "stat", "-c", "%u %a %F", "/run/clawfleet/secrets.json"]).trim(),
      "1000 600 regular file",
    );
  });

  it("refuses a request without the tenant's token (401) and serves it with the token (200), through port-forward", async () => {
    for (const { name, tenant, port } of gateways) {
      await forward(name, port);
      const body = JSON.stringify({ tool: "sessions_list", action: "json", args: {} });
      const headers = { "content-type": "application/json" };
      const anonymous = await fetch(`http://127.0.0.1:${port}/tools/invoke`, { method: "POST", headers, body });
      assert.equal(anonymous.status, 401, name);
      const authorized = await fetch(`http://127.0.0.1:${port}/tools/invoke`, {
        method: "POST",
        headers: { ...headers, authorization: `Bearer ${await tokenOf(tenant)}` },
        body,
      });
      assert.equal(authorized.status, 200, `${name}: ${await authorized.text()}`);
    }
  });

  it("applies a config change by hot reload: only the ConfigMap changes, and the pod is the same, not restarted", async () => {
    const before = podOf("clawfleet-tenant-alice");
    deployer.configure(declaration("anthropic/claude-haiku-4-5"));
    const steps = await deployer.deploy();
    assert.deepEqual(
      steps.filter((s) => s.op !== "same").map((s) => [s.name, s.op]),
      [["alice-config", "update"]],
    );
    const deployed = Date.now();
    const reloaded = await poll("alice's hot reload of the new model", 240, async () => {
      const logs = await kubectlAsync(["logs", "clawfleet-tenant-alice-0", "-c", "gateway"]);
      return /config hot reload applied \(.*agents\.defaults\.model/.test(logs) ? true : undefined;
    });
    assert.equal(reloaded, true);
    log(`alice hot-reloaded the new config ${((Date.now() - deployed) / 1000).toFixed(1)} s after the deploy (kubelet's sync of the ConfigMap's folder)`);
    const now = podOf("clawfleet-tenant-alice");
    assert.equal(now?.uid, before?.uid);
    assert.equal(now?.restarts, 0);
  });

  it("brings a killed pod back on the same volume with the same name, reclaiming its state lease at once", async () => {
    const before = podOf("clawfleet-tenant-bob");
    assert.ok(before?.ready);
    kubectl(["exec", "clawfleet-tenant-bob-0", "-c", "gateway", "--", "sh", "-c", "echo kept > /state/marker"]);
    const killed = Date.now();
    // No grace: the gateway cannot give its lease back, as after a crash of its node.
    kubectl(["delete", "pod", "clawfleet-tenant-bob-0", "--grace-period=0", "--force", "--wait=false"]);
    const back = await poll("bob's new pod ready", 300, async () => {
      const pod = podOf("clawfleet-tenant-bob");
      return pod !== undefined && pod.uid !== before.uid && pod.ready ? pod : undefined;
    });
    const seconds = (Date.now() - killed) / 1000;
    const cold = before.secondsToReady ?? 0;
    const again = back.secondsToReady ?? Infinity;
    log(`bob ready again ${seconds.toFixed(1)} s after its pod was killed; the new pod took ${again} s to ready, its first ${cold} s`);
    assert.equal(back.restarts, 0, "the new pod started once: its gateway took the lease the killed one left");
    assert.equal(kubectl(["exec", "clawfleet-tenant-bob-0", "-c", "gateway", "--", "cat", "/state/marker"]).trim(), "kept");
    // A gateway that had to wait out the lease (a new hostname) would not be ready for up to 5 minutes.
    assert.ok(again <= cold + 10, `the new pod was ready ${again} s after it was made, its first cold start took ${cold} s`);
  });

  it("answers status, logs, exec and devices through the day-2 verbs, with kubectl on the pods", async () => {
    const stackFile = deployer.stackFile;
    const status = await clawfleet("status", stackFile, "--json");
    assert.equal(status.code, 0, status.stderr);
    const rows = (
      JSON.parse(status.stdout) as { tenants: { tenant: string; state: string; health: string; ready: boolean; image: string; healthy: boolean }[] }
    ).tenants;
    assert.deepEqual(
      rows.map((r) => [r.tenant, r.state, r.health, r.ready, r.image, r.healthy]),
      ["alice", "bob", "carol"].map((tenant) => [tenant, "running", "healthy", true, older, true]),
    );
    const logs = await clawfleet("logs", stackFile, "alice");
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /config hot reload applied/);
    assert.ok(!logs.stdout.includes(await tokenOf("alice")));
    const version = await clawfleet("exec", stackFile, "alice", "--", "--version");
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /2026\.9\.5/);

    const devices = await clawfleet("devices", "list", stackFile, "alice", "--json");
    assert.equal(devices.code, 0, devices.stderr);
    assert.deepEqual((JSON.parse(devices.stdout) as { pending: unknown[] }).pending, []);

    // A backup by hand: alice's own tool, from a throwaway pod, onto her backup volume's manual folder.
    kubectl(["exec", "clawfleet-tenant-alice-0", "-c", "gateway", "--", "sh", "-c", "echo before-manual-backup > /state/manual-marker"]);
    const backedUp = await clawfleet("backup", stackFile, "alice");
    assert.equal(backedUp.code, 0, backedUp.stderr);
    const where = new RegExp(`^${namespace}/clawfleet-tenant-alice-backups:(manual/\\d{8}T\\d{6}Z-.*openclaw-backup\\.tar\\.gz)$`).exec(backedUp.stdout.trim());
    assert.ok(where?.[1] !== undefined, backedUp.stdout);
    const archive = join(backupDirOf("clawfleet-tenant-alice"), where[1]);
    assert.equal(statSync(archive).mode & 0o777, 0o600);
    assert.match(execFileSync("tar", ["-tzf", archive], { encoding: "utf8" }), /\/manual-marker$/m);
    await poll("the backup's pod gone", 120, async () =>
      (await kubectlAsync(["get", "pod", "clawfleet-tenant-alice-backup-manual", "--ignore-not-found", "--output=name"])).trim() === "" ? true : undefined,
    );

    // The restore: an archive crafted with a link out of the state folder is refused with nothing changed; the real
    // one puts the state back, the state it replaced kept on the backup volume.
    kubectl([
      "exec",
      "clawfleet-tenant-alice-0",
      "-c",
      "gateway",
      "--",
      "sh",
      "-c",
      "echo after-backup > /state/manual-marker && echo later > /state/later-file",
    ]);
    const crafted = mkdtempSync(join(tmpdir(), "clawfleet-crafted-"));
    execFileSync("tar", ["-xzf", archive, "-C", crafted]);
    const top = readdirSync(crafted)[0] ?? "";
    symlinkSync("/etc/passwd", join(crafted, top, "payload", "posix", "state", "evil"));
    const craftedArchive = join(backupDirOf("clawfleet-tenant-alice"), "manual", "crafted.tar.gz");
    execFileSync("tar", ["-czf", craftedArchive, "-C", crafted, top]);
    chmodSync(craftedArchive, 0o644);
    rmSync(crafted, { recursive: true, force: true });
    const refused = await clawfleet("restore", stackFile, "alice", "manual/crafted.tar.gz");
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(
      refused.stderr.trim().split("\n").pop() ?? "",
      /^clawfleet: restore of tenant alice failed on host cluster: gateway clawfleet-tenant-alice: .*nothing was changed/,
    );
    assert.equal(kubectl(["exec", "clawfleet-tenant-alice-0", "-c", "gateway", "--", "cat", "/state/manual-marker"]).trim(), "after-backup");

    const restored = await clawfleet("restore", stackFile, "alice", `${namespace}/clawfleet-tenant-alice-backups:${where[1]}`);
    assert.equal(restored.code, 0, restored.stderr);
    const aside = new RegExp(
      `^restored tenant alice from ${namespace}/clawfleet-tenant-alice-backups:${where[1].replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}; the gateway is healthy; the previous state is kept at ${namespace}/clawfleet-tenant-alice-backups:(before-restore-\\d{8}T\\d{6}Z) on host cluster$`,
    ).exec(restored.stdout.trim());
    assert.ok(aside?.[1] !== undefined, restored.stdout);
    log(`alice restored from ${where[1]}: ${restored.stderr.trim().split("\n").join(" | ")}`);
    assert.equal(kubectl(["exec", "clawfleet-tenant-alice-0", "-c", "gateway", "--", "cat", "/state/manual-marker"]).trim(), "before-manual-backup");
    assert.equal(
      kubectl(["exec", "clawfleet-tenant-alice-0", "-c", "gateway", "--", "sh", "-c", "test -e /state/later-file && echo there || echo gone"]).trim(),
      "gone",
    );
    assert.equal(readFileSync(join(backupDirOf("clawfleet-tenant-alice"), aside[1], "later-file"), "utf8"), "later\n");
    assert.equal(existsSync(join(backupDirOf("clawfleet-tenant-alice"), ".restore")), false);
    await poll("the restore's pods gone", 120, async () =>
      (await kubectlAsync(["get", "pods", "--selector=clawfleet.dev/preflight", "--output=name"])).trim() === "" ? true : undefined,
    );

    // doctor: every gateway's StatefulSet, pod and volumes as declared, after the restore scaled alice down and up.
    const doctor = await clawfleet("doctor", stackFile);
    assert.equal(doctor.code, 0, doctor.stdout + doctor.stderr);
    assert.match(
      doctor.stdout,
      /^ {2}ok {2}3 gateways ready as declared: the image, uid 1000, read-only root, no capability, no service-account token, state and backup volumes bound$/m,
    );
    assert.match(doctor.stdout, /^ {2}ok {2}process limit: not applied per pod \(pidsLimit 512, 1024 declared\)/m);
  });

  it("approves a new browser that got 'pairing required' from outside the pod, and a Telegram sender's pairing code, through the verbs", async () => {
    const stackFile = deployer.stackFile;
    // From the node, not through port-forward: port-forward reaches the gateway from its own loopback, which it trusts.
    const address = kubectl(["get", "pod", "clawfleet-tenant-alice-0", "--output=jsonpath={.status.podIP}"]).trim();
    const url = `ws://${address}:18789`;
    const key = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const first = connectDevice(older, "host", url, await tokenOf("alice"), key);
    assert.equal(first.ok, false, JSON.stringify(first));
    assert.equal(first.code, "PAIRING_REQUIRED");
    assert.ok(first.requestId);
    const listed = await clawfleet("devices", "list", stackFile, "alice", "--json");
    assert.equal(listed.code, 0, listed.stderr);
    const pending = (JSON.parse(listed.stdout) as { pending: { requestId: string; deviceId: string; clientId: string }[] }).pending;
    assert.deepEqual(
      pending.map((p) => [p.requestId, p.deviceId, p.clientId]),
      [[first.requestId, first.deviceId, "openclaw-control-ui"]],
    );
    const approved = await clawfleet("devices", "approve", stackFile, "alice", first.requestId);
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(
      approved.stdout,
      new RegExp(
        `^approved device ${first.deviceId.slice(0, 12)}… \\(openclaw-control-ui from 10\\.251\\.0\\.1, operator: operator\\.read\\) on tenant alice's gateway`,
      ),
    );
    const again = connectDevice(older, "host", url, await tokenOf("alice"), key);
    assert.deepEqual(again, { deviceId: first.deviceId, ok: true }, "the gateway admits the approved device");
    const paired = await clawfleet("devices", "list", stackFile, "alice", "--json");
    assert.deepEqual(
      (JSON.parse(paired.stdout) as { paired: { deviceId: string }[] }).paired.map((d) => d.deviceId),
      [first.deviceId],
    );

    // bob's Telegram channel runs against this file's Bot API; a sender's request is stored as its handler stores it.
    assert.ok(
      telegram?.calls.some((c) => c.method === "getMe" && c.token === "1234567:kube-e2e-offline-bot-token"),
      "bob's gateway asked the Bot API for its bot with the declared token",
    );
    const request = (await pairingStore("clawfleet-tenant-bob", "upsertChannelPairingRequest", [
      { channel: "telegram", id: "4242101", meta: { username: "kubeuser" } },
    ])) as { code: string; created: boolean };
    assert.equal(request.created, true);
    const codes = await clawfleet("pairing", "list", stackFile, "bob", "telegram");
    assert.equal(codes.code, 0, codes.stderr);
    assert.match(codes.stdout, new RegExp(`^${request.code} +4242101 +default +username=kubeuser `, "m"));
    const admitted = await clawfleet("pairing", "approve", stackFile, "bob", "telegram", request.code);
    assert.equal(admitted.code, 0, admitted.stderr);
    assert.equal(admitted.stdout.trim(), "approved telegram sender 4242101 on tenant bob's gateway (clawfleet-tenant-bob); they can write to the bot now");
    const allowed = (await pairingStore("clawfleet-tenant-bob", "readChannelAllowFromStore", ["telegram"])) as string[];
    assert.ok(allowed.includes("4242101"), `the gateway's own allowlist lookup: ${JSON.stringify(allowed)}`);
  });

  it("refuses a broken image in its preflight on a copy of the canary's state, with no pod or StatefulSet changed", async () => {
    const before = fleetPods();
    deployer.configure(declaration("anthropic/claude-haiku-4-5", broken));
    await assert.rejects(
      deployer.deploy(),
      (error: unknown) =>
        error instanceof Error &&
        /host cluster: the new image clawfleet-e2e\/broken-gateway:1 did not start on a copy of clawfleet-tenant-alice's state \(Failed false\); no gateway was changed/.test(
          error.message,
        ),
    );
    assert.deepEqual(fleetPods(), before);
    await poll("the trial pod gone", 120, async () =>
      (await kubectlAsync(["get", "pods", "--selector=clawfleet.dev/preflight", "--output=name"])).trim() === "" ? true : undefined,
    );
    // Back on the running image: nothing to do, and the next preview is empty (deploy checks it).
    deployer.configure(declaration("anthropic/claude-haiku-4-5"));
    const steps = await deployer.deploy();
    assert.deepEqual(
      steps.filter((s) => s.op !== "same").map((s) => [s.name, s.op]),
      [],
    );
  });

  it("moves the fleet to 2026.9.6 through the preflight, canary first, each gateway backed up right before, each pod on its own volume", async () => {
    kubectl(["exec", "clawfleet-tenant-alice-0", "-c", "gateway", "--", "sh", "-c", "echo upgraded-from-9.5 > /state/marker"]);
    deployer.configure(declaration("anthropic/claude-haiku-4-5", image));
    const started = Date.now();
    const steps = await deployer.deploy();
    log(`upgrade up: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.deepEqual(
      steps
        .filter((s) => s.op !== "same")
        .map((s) => `${s.name} ${s.op}`)
        .sort(),
      [
        "alice-backup replace",
        "alice-ready replace",
        "alice-statefulset update",
        "bob-backup replace",
        "bob-ready replace",
        "bob-statefulset update",
        "cluster-preflight replace",
        "cluster-shared-backup replace",
        "cluster-shared-ready replace",
        "cluster-shared-statefulset update",
      ],
    );
    // Each gateway's state, archived by 2026.9.5's own tool onto its backup volume, with the image it ran beside it.
    for (const { name } of gateways) {
      const files = backupFiles(name);
      assert.equal(files.length, 2, `${name}: ${files.join(" ")}`);
      const archive = files.find((f) => f.endsWith(".tar.gz")) ?? "";
      assert.match(archive, /^\d{8}T\d{6}Z-.*openclaw-backup\.tar\.gz$/, name);
      assert.equal(readFileSync(join(backupDirOf(name), `${archive}.image`), "utf8"), `${older}\n`, name);
      assert.equal(statSync(join(backupDirOf(name), archive)).mode & 0o777, 0o600, name);
    }
    const listed = execFileSync(
      "tar",
      ["-tzf", join(backupDirOf("clawfleet-tenant-alice"), backupFiles("clawfleet-tenant-alice").find((f) => f.endsWith(".tar.gz")) ?? "")],
      {
        encoding: "utf8",
      },
    );
    assert.match(listed, /\/marker$/m, "alice's archive holds the file written before the upgrade");
    await poll("the backup pods gone", 120, async () =>
      (await kubectlAsync(["get", "pods", "--output=name"])).split("\n").some((l) => l.endsWith("-backup")) ? undefined : true,
    );
    for (const [name, view] of Object.entries(fleetPods())) assert.match(view, new RegExp(` ${image.replace(/[.]/g, "\\.")}$`), name);
    // Canary first, one lane: bob's new pod was made only once alice's was ready.
    const readyAt = (gateway: string) =>
      Date.parse(kubectl(["get", "pod", `${gateway}-0`, '--output=jsonpath={.status.conditions[?(@.type=="Ready")].lastTransitionTime}']));
    const createdAt = (gateway: string) => Date.parse(kubectl(["get", "pod", `${gateway}-0`, "--output=jsonpath={.metadata.creationTimestamp}"]));
    assert.ok(createdAt("clawfleet-tenant-bob") >= readyAt("clawfleet-tenant-alice"), "bob waited for the canary");
    assert.equal(kubectl(["exec", "clawfleet-tenant-alice-0", "-c", "gateway", "--", "cat", "/state/marker"]).trim(), "upgraded-from-9.5");
    const status = await clawfleet("status", deployer.stackFile);
    assert.equal(status.code, 0, `${status.stdout}\n${status.stderr}`);
  });

  it("rolls the dedicated tenants back to 2026.9.5 on their pre-upgrade state, once; a deploy with --refresh takes them forward again", async () => {
    const stackFile = deployer.stackFile;
    kubectl(["exec", "clawfleet-tenant-alice-0", "-c", "gateway", "--", "sh", "-c", "echo after-upgrade > /state/marker"]);
    const started = Date.now();
    const rolled = await clawfleet("rollback", stackFile);
    log(`rollback of alice and bob: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(rolled.code, 0, `${rolled.stdout}\n${rolled.stderr}`);
    const lines = rolled.stdout.trim().split("\n");
    for (const [i, tenant] of ["alice", "bob"].entries()) {
      const pattern = new RegExp(
        `^tenant ${tenant}: put back on ${older.replace(/[.]/g, "\\.")} from ${namespace}/clawfleet-tenant-${tenant}-backups:\\d{8}T\\d{6}Z-\\S+\\.tar\\.gz \\(it ran ${image.replace(/[.]/g, "\\.")}\\); it is healthy; the state it had is kept at ${namespace}/clawfleet-tenant-${tenant}-backups:before-restore-\\d{8}T\\d{6}Z on host cluster$`,
      );
      assert.match(lines[i] ?? "", pattern);
    }
    assert.equal(kubectl(["exec", "clawfleet-tenant-alice-0", "-c", "gateway", "--", "cat", "/state/marker"]).trim(), "upgraded-from-9.5");
    const pods = fleetPods();
    for (const name of ["clawfleet-tenant-alice", "clawfleet-tenant-bob"])
      assert.match(pods[name] ?? "", new RegExp(` ${older.replace(/[.]/g, "\\.")}$`), name);
    assert.match(pods["clawfleet-shared-cluster"] ?? "", new RegExp(` ${image.replace(/[.]/g, "\\.")}$`));
    const again = await clawfleet("rollback", stackFile);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(again.stdout.trim().split("\n"), [
      `tenant alice: nothing to do: it runs ${older}, the image before its last image change`,
      `tenant bob: nothing to do: it runs ${older}, the image before its last image change`,
    ]);
    // The declaration still names 2026.9.6: a deploy that reads the cluster back puts it on again.
    const steps = await deployer.deploy({ refresh: true });
    log(
      `forward again: ${steps
        .filter((s) => s.op !== "same")
        .map((s) => `${s.name} ${s.op}`)
        .join(", ")}`,
    );
    for (const [name, view] of Object.entries(fleetPods())) assert.match(view, new RegExp(` ${image.replace(/[.]/g, "\\.")}$`), name);
  });

  it("purges a dedicated tenant on purpose: its StatefulSet, pod and volume go, the others stay", async () => {
    const others = ["clawfleet-tenant-alice", "clawfleet-shared-cluster"];
    const before = fleetPods(others);
    const volume = kubectl(["get", "persistentvolumeclaim", "clawfleet-tenant-bob-state", "--output=jsonpath={.spec.volumeName}"]).trim();
    deployer.configure(declaration("anthropic/claude-haiku-4-5", image, "purge: { confirm: bob }"));
    const steps = await deployer.deploy();
    assert.deepEqual(
      steps
        .filter((s) => s.op !== "same" && s.type.startsWith("kubernetes:"))
        .map((s) => `${s.name} ${s.op}`)
        .sort(),
      // The volume is kept by the engine (retainOnDelete); the purge's kubectl deletes it.
      [
        "bob-backups retain",
        "bob-config delete",
        "bob-egress delete",
        "bob-secrets delete",
        "bob-service delete",
        "bob-state retain",
        "bob-statefulset delete",
      ],
    );
    // Its backups stay, as a Docker host's backup folder does.
    const left = kubectl(["get", "statefulset,pod,persistentvolumeclaim", "--output=name"])
      .split("\n")
      .filter((l) => l.includes("bob"));
    assert.deepEqual(left, ["persistentvolumeclaim/clawfleet-tenant-bob-backups"]);
    assert.deepEqual(fleetPods(others), before);
    log(`bob's volume ${volume} released by the purge`);
  });
});
