import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { kubernetesOps } from "../../runtimes/kubernetes/ops";

const ops = kubernetesOps("cluster", { kubeconfig: "/etc/clawfleet/kubeconfig", context: "prod", namespace: "clawfleet-prod" });
const kubectl = ["kubectl", "--kubeconfig=/etc/clawfleet/kubeconfig", "--context=prod", "--namespace=clawfleet-prod"];
const base64 = (text: string) => Buffer.from(text).toString("base64");

/** A gateway pod as `kubectl get -o json` prints it, its gateway container in `state`. */
function pod(gateway: string, state: object, extra: { ready?: boolean; started?: boolean; restartCount?: number; deleting?: boolean } = {}) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: `${gateway}-0`,
      namespace: "clawfleet-prod",
      labels: { "clawfleet.dev/gateway": gateway, "app.kubernetes.io/managed-by": "clawfleet" },
      ...(extra.deleting === true ? { deletionTimestamp: "2026-12-05T10:00:00Z" } : {}),
    },
    spec: {
      containers: [
        {
          name: "gateway",
          image: "clawfleet/openclaw-gateway:2026.9.6",
          env: [
            { name: "OPENCLAW_CONFIG_PATH", value: "/etc/openclaw/openclaw.json" },
            { name: "OPENCLAW_GATEWAY_TOKEN", valueFrom: { secretKeyRef: { name: `${gateway}-secrets`, key: "gateway-token" } } },
            { name: "LINEAR_API_KEY", valueFrom: { secretKeyRef: { name: `${gateway}-secrets`, key: "env.LINEAR_API_KEY" } } },
          ],
        },
      ],
    },
    status: {
      phase: "Running",
      containerStatuses: [
        {
          name: "gateway",
          // The container runtime reports the image normalised.
          image: "docker.io/clawfleet/openclaw-gateway:2026.9.6",
          ready: extra.ready ?? true,
          started: extra.started ?? true,
          restartCount: extra.restartCount ?? 0,
          state,
        },
      ],
    },
  };
}

const secret = {
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name: "clawfleet-tenant-alice-secrets" },
  data: {
    "gateway-token": base64("tok-0123456789abcdef"),
    "env.LINEAR_API_KEY": base64("lin_api_secret_value"),
    "credentials.json": base64('{"modelKeys":{"anthropic":"sk-ant-secret"}}'),
  },
};

const running = { running: { startedAt: "2026-12-05T09:00:00Z" } };

describe("the Kubernetes runtime's day-2 commands", () => {
  it("reads a gateway's pod and Secret in one kubectl get, and runs exec and logs in its pod's gateway container", () => {
    assert.deepEqual(ops.inspectCommand("clawfleet-tenant-alice"), [
      ...kubectl,
      "get",
      "pod/clawfleet-tenant-alice-0",
      "secret/clawfleet-tenant-alice-secrets",
      "--ignore-not-found",
      "--output=json",
    ]);
    assert.deepEqual(ops.execCommand("clawfleet-shared-gw1", ["node", "cli.mjs", "status"]), [
      ...kubectl,
      "exec",
      "clawfleet-shared-gw1-0",
      "--container=gateway",
      "--",
      "node",
      "cli.mjs",
      "status",
    ]);
    assert.deepEqual(ops.logsCommand("clawfleet-tenant-alice", { follow: true, since: "10m", tail: "50" }), [
      ...kubectl,
      "logs",
      "clawfleet-tenant-alice-0",
      "--container=gateway",
      "--follow",
      "--since=10m",
      "--tail=50",
    ]);
    // kubectl takes a time after --since-time, and every line as -1.
    assert.deepEqual(ops.logsCommand("clawfleet-tenant-alice", { follow: false, since: "2026-11-24T08:00:00Z", tail: "all" }).slice(-2), [
      "--since-time=2026-11-24T08:00:00Z",
      "--tail=-1",
    ]);
    assert.deepEqual(ops.hostState, undefined);
  });

  it("reads the gateway's state and health from its pod, its secret environment and credentials file from its Secret", () => {
    const list = { apiVersion: "v1", kind: "List", items: [pod("clawfleet-tenant-alice", running), secret] };
    assert.deepEqual(ops.readGateway({ code: 0, stdout: JSON.stringify(list), stderr: "" }), {
      status: "running",
      health: "healthy",
      env: ["OPENCLAW_CONFIG_PATH=/etc/openclaw/openclaw.json", "OPENCLAW_GATEWAY_TOKEN=tok-0123456789abcdef", "LINEAR_API_KEY=lin_api_secret_value"],
      credentialsFile: '{"modelKeys":{"anthropic":"sk-ant-secret"}}',
    });
  });

  it("tells a starting, a failing, a crash-looping, a terminating and a missing gateway apart", () => {
    const read = (...objects: object[]) => {
      const state = ops.readGateway({ code: 0, stdout: objects.length === 0 ? "" : JSON.stringify({ kind: "List", items: objects }), stderr: "" });
      return "error" in state ? state : [state.status, state.health];
    };
    assert.deepEqual(read(pod("g", running, { ready: false, started: false })), ["running", "starting"]);
    assert.deepEqual(read(pod("g", running, { ready: false, started: true })), ["running", "unhealthy"]);
    assert.deepEqual(read(pod("g", { waiting: { reason: "CrashLoopBackOff" } }, { ready: false })), ["waiting: CrashLoopBackOff", undefined]);
    assert.deepEqual(read(pod("g", { terminated: { reason: "Error", exitCode: 1 } }, { ready: false })), ["exited", undefined]);
    assert.deepEqual(read(pod("g", running, { deleting: true })), ["terminating", "healthy"]);
    // --ignore-not-found prints nothing when neither the pod nor its Secret is there.
    assert.deepEqual(read(), ["missing", undefined]);
    assert.deepEqual(ops.readGateway({ code: 0, stdout: "Warning: x\n", stderr: "" }), {
      error: 'kubectl get answered something clawfleet cannot read: "Warning: x"',
    });
    assert.deepEqual(ops.readGateway({ code: 1, stdout: "", stderr: 'Error from server (Forbidden): pods "g-0" is forbidden\n' }), {
      error: `kubectl get failed: Error from server (Forbidden): pods "g-0" is forbidden`,
    });
  });

  it("asks for every gateway's pod in one kubectl get and reads each one's line of status, the image as declared", () => {
    assert.deepEqual(ops.statusProbe(["clawfleet-tenant-alice", "clawfleet-shared-gw1"]), [
      "'kubectl' '--kubeconfig=/etc/clawfleet/kubeconfig' '--context=prod' '--namespace=clawfleet-prod' get 'pod/clawfleet-tenant-alice-0' 'pod/clawfleet-shared-gw1-0' --ignore-not-found --output=json",
    ]);
    assert.deepEqual(ops.statusProbe([]), []);
    const printed = JSON.stringify(
      {
        kind: "List",
        items: [pod("clawfleet-tenant-alice", running, { restartCount: 2 }), pod("clawfleet-shared-gw1", { waiting: { reason: "ImagePullBackOff" } })],
      },
      null,
      4,
    );
    const status = ops.readStatus(printed.split("\n"));
    assert.deepEqual(Object.fromEntries(status), {
      "clawfleet-tenant-alice": {
        status: "running",
        health: "healthy",
        startedAt: "2026-12-05T09:00:00Z",
        restarts: 2,
        image: "clawfleet/openclaw-gateway:2026.9.6",
        memoryMb: undefined,
      },
      "clawfleet-shared-gw1": {
        status: "waiting: ImagePullBackOff",
        health: undefined,
        startedAt: "",
        restarts: 0,
        image: "clawfleet/openclaw-gateway:2026.9.6",
        memoryMb: undefined,
      },
    });
    // One pod found: kubectl prints the object, not a List.
    assert.deepEqual([...ops.readStatus([JSON.stringify(pod("clawfleet-tenant-alice", running))]).keys()], ["clawfleet-tenant-alice"]);
  });

  it("names the cluster's own failures with their fix", () => {
    const failure = (stderr: string, code = 1) => ops.hostFailure({ code, stdout: "", stderr });
    assert.equal(
      failure("The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?\n"),
      "the Kubernetes API server does not answer (The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?); check the host's kubeconfig and context with: kubectl '--kubeconfig=/etc/clawfleet/kubeconfig' '--context=prod' '--namespace=clawfleet-prod' get pods",
    );
    assert.equal(
      failure('error: context "prod" does not exist\n'),
      `kubectl cannot use the host's kubeconfig or context (error: context "prod" does not exist); fix hosts.cluster.kubernetes.kubeconfig or .context in the stack file, or the file itself`,
    );
    assert.equal(
      failure('Error from server (Forbidden): pods "x-0" is forbidden: User "ci" cannot get resource "pods"\n'),
      `the cluster refused (Error from server (Forbidden): pods "x-0" is forbidden: User "ci" cannot get resource "pods"); the user of the host's kubeconfig needs get, list and exec on pods and get on secrets in namespace clawfleet-prod`,
    );
    assert.equal(
      failure("sh: 1: kubectl: not found\n", 0),
      "kubectl is not installed on this machine; install kubectl (the cluster's minor version or one next to it)",
    );
    assert.equal(
      failure("error: You must be logged in to the server (Unauthorized)\n"),
      "the cluster does not accept the credentials of the host's kubeconfig (error: You must be logged in to the server (Unauthorized)); renew them, or fix hosts.cluster.kubernetes.kubeconfig",
    );
    assert.equal(failure("error: unable to upgrade connection: container not found\n"), undefined);
  });
});
