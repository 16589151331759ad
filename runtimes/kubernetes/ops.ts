/**
 * The day-2 side of the Kubernetes runtime: `kubectl` on the machine that runs the CLI, with the host's kubeconfig,
 * context and namespace. A gateway is the one pod of its StatefulSet, `<gateway>-0`; its secrets are read from its
 * Secret so that every verb can redact them. Its state is a volume, not a folder on a host: `backup` archives it onto
 * the gateway's backup volume from a throwaway pod (backup.ts), and `restore` puts an archive from there back with two
 * more (restore.ts), which `rollback` uses too; doctor compares its objects with the declaration (doctor.ts).
 */
import { backupClaimOf, secretNameOf } from "../../names";
import { shellQuote } from "../shell";
import type { CommandResult, GatewayState, GatewayStatus, LogsOptions, RuntimeOps } from "../ops";
import { kubectlFlags, type KubectlTarget } from "./kubectl";
import { renderKubernetesBackup } from "./backup";
import { renderKubernetesRestore } from "./restore";
import { kubernetesDoctorChecks, kubernetesDoctorProbe } from "./doctor";
import { gatewayContainer, gatewaySelectorLabel, podOf, secretKeys } from "./names";

export { podOf } from "./names";

interface ContainerState {
  readonly running?: { readonly startedAt?: string };
  readonly waiting?: { readonly reason?: string };
  readonly terminated?: { readonly reason?: string; readonly exitCode?: number; readonly startedAt?: string };
}

interface PodObject {
  readonly kind: "Pod";
  readonly metadata?: { readonly name?: string; readonly labels?: Record<string, string>; readonly deletionTimestamp?: string };
  readonly spec?: {
    readonly containers?: readonly {
      readonly name?: string;
      readonly image?: string;
      readonly env?: readonly { readonly name?: string; readonly value?: string; readonly valueFrom?: { readonly secretKeyRef?: { readonly key?: string } } }[];
    }[];
  };
  readonly status?: {
    readonly phase?: string;
    readonly containerStatuses?: readonly {
      readonly name?: string;
      readonly ready?: boolean;
      readonly started?: boolean;
      readonly restartCount?: number;
      readonly state?: ContainerState;
    }[];
  };
}

interface SecretObject {
  readonly kind: "Secret";
  readonly data?: Record<string, string>;
}

/** The objects of `kubectl get -o json`: one object, a List of them, or nothing at all (`--ignore-not-found`). */
function objectsOf(text: string): unknown[] {
  if (text.trim() === "") return [];
  const value = JSON.parse(text) as { kind?: unknown; items?: unknown };
  return value.kind === "List" && Array.isArray(value.items) ? value.items : [value];
}

const isPod = (value: unknown): value is PodObject => (value as { kind?: unknown } | null)?.kind === "Pod";
const isSecret = (value: unknown): value is SecretObject => (value as { kind?: unknown } | null)?.kind === "Secret";

/**
 * The gateway container's state in the words `status` shows: `running`, `exited`, `pending` (no container yet),
 * `terminating`, or the reason it waits (`waiting: CrashLoopBackOff`).
 */
function stateWord(pod: PodObject): string {
  if (pod.metadata?.deletionTimestamp !== undefined) return "terminating";
  const container = pod.status?.containerStatuses?.find((c) => c.name === gatewayContainer);
  const state = container?.state;
  if (state?.running !== undefined) return "running";
  if (state?.terminated !== undefined) return "exited";
  if (state?.waiting !== undefined) return `waiting: ${state.waiting.reason ?? "unknown"}`;
  return (pod.status?.phase ?? "unknown").toLowerCase();
}

/** healthy (ready), starting (its startup probe has not passed) or unhealthy, as Docker's health words; none when it does not run. */
function healthWord(pod: PodObject): string | undefined {
  const container = pod.status?.containerStatuses?.find((c) => c.name === gatewayContainer);
  if (container?.state?.running === undefined) return undefined;
  if (container.ready === true) return "healthy";
  return container.started === true ? "unhealthy" : "starting";
}

function decode(value: string | undefined): string | undefined {
  return value === undefined ? undefined : Buffer.from(value, "base64").toString("utf8");
}

/** The gateway's environment as `NAME=value`, its secret values taken from its Secret. */
function environmentOf(pod: PodObject, secret: SecretObject | undefined): string[] {
  const container = pod.spec?.containers?.find((c) => c.name === gatewayContainer);
  return (container?.env ?? []).flatMap((entry) => {
    if (entry.name === undefined) return [];
    if (entry.value !== undefined) return [`${entry.name}=${entry.value}`];
    const key = entry.valueFrom?.secretKeyRef?.key;
    const value = key === undefined ? undefined : decode(secret?.data?.[key]);
    return value === undefined ? [] : [`${entry.name}=${value}`];
  });
}

function readGateway(result: CommandResult): GatewayState | { readonly error: string } {
  if (result.code !== 0) return { error: `kubectl get failed: ${result.stderr.trim()}` };
  let objects: unknown[];
  try {
    objects = objectsOf(result.stdout);
  } catch {
    return { error: `kubectl get answered something clawfleet cannot read: ${JSON.stringify(result.stdout.trim().slice(0, 80))}` };
  }
  const pod = objects.find(isPod);
  const secret = objects.find(isSecret);
  const credentialsFile = decode(secret?.data?.[secretKeys.credentials]);
  if (pod === undefined) return { status: "missing", health: undefined, env: [], credentialsFile };
  return { status: stateWord(pod), health: healthWord(pod), env: environmentOf(pod, secret), credentialsFile };
}

function readStatus(lines: readonly string[]): ReadonlyMap<string, GatewayStatus> {
  let objects: unknown[];
  try {
    objects = objectsOf(lines.join("\n"));
  } catch {
    return new Map();
  }
  const found = new Map<string, GatewayStatus>();
  for (const pod of objects.filter(isPod)) {
    const gateway = pod.metadata?.labels?.[gatewaySelectorLabel] ?? pod.metadata?.name?.replace(/-0$/, "");
    if (gateway === undefined) continue;
    const container = pod.status?.containerStatuses?.find((c) => c.name === gatewayContainer);
    const state = container?.state;
    found.set(gateway, {
      status: stateWord(pod),
      health: healthWord(pod),
      startedAt: state?.running?.startedAt ?? state?.terminated?.startedAt ?? "",
      restarts: container?.restartCount ?? 0,
      // The image as the pod asks for it: the container runtime reports it normalised (docker.io/...).
      image: pod.spec?.containers?.find((c) => c.name === gatewayContainer)?.image ?? "",
      // No metrics API is assumed on the cluster (metrics-server is an add-on).
      memoryMb: undefined,
    });
  }
  return found;
}

/** kubectl's `--since` takes a duration; a time (as `docker logs --since` also takes) goes to `--since-time`. */
function sinceFlag(since: string): string {
  return /^\d+(?:s|m|h)$/.test(since) ? `--since=${since}` : `--since-time=${since}`;
}

/** The most a pre-upgrade archive may unpack to in a rollback: the limit of a restore without --max-size. */
const rollbackMaxBytes = 10 * 1024 ** 3;

/** Seconds `clawfleet backup` and each pod of `restore` wait: an archive of several GB takes minutes to write and check. */
const volumePodSeconds = 3600;

/**
 * The archive's path on `gateway`'s backup volume: as `clawfleet backup` printed it (`<namespace>/<gateway>-backups:<path>`)
 * or its path there alone. It stays inside the volume: relative, no `.` or `..` segment, only characters of the names
 * clawfleet and openclaw give archives.
 */
function archiveOnVolume(target: KubectlTarget, gateway: string, archive: string): { readonly path: string } | { readonly error: string } {
  const volume = `${target.namespace}/${backupClaimOf(gateway)}`;
  const colon = archive.indexOf(":");
  if (colon >= 0 && archive.slice(0, colon) !== volume)
    return {
      error: `names the backup volume ${archive.slice(0, colon)}, and this gateway's is ${volume}; give an archive on it, as clawfleet backup printed it`,
    };
  const path = colon >= 0 ? archive.slice(colon + 1) : archive;
  if (!/^[A-Za-z0-9][A-Za-z0-9._+/-]*$/.test(path) || path.split("/").some((part) => part === "" || part === "." || part === ".."))
    return {
      error: `is not an archive on the backup volume ${volume}; give it as clawfleet backup printed it (${volume}:manual/<archive>) or its path on the volume (manual/<archive>)`,
    };
  return { path };
}

/** The Kubernetes runtime's day-2 commands for one host (`hostId`) and its placement. */
export function kubernetesOps(hostId: string, target: KubectlTarget): RuntimeOps {
  const kubectl = ["kubectl", ...kubectlFlags(target)];
  return {
    name: "Kubernetes",
    inspectCommand: (gateway) => [...kubectl, "get", `pod/${podOf(gateway)}`, `secret/${secretNameOf(gateway)}`, "--ignore-not-found", "--output=json"],
    readGateway,
    execCommand: (gateway, argv) => [...kubectl, "exec", podOf(gateway), `--container=${gatewayContainer}`, "--", ...argv],
    logsCommand: (gateway, options: LogsOptions) => [
      ...kubectl,
      "logs",
      podOf(gateway),
      `--container=${gatewayContainer}`,
      ...(options.follow ? ["--follow"] : []),
      ...(options.since === undefined ? [] : [sinceFlag(options.since)]),
      ...(options.tail === undefined ? [] : [`--tail=${options.tail === "all" ? "-1" : options.tail}`]),
    ],
    statusProbe: (gateways) =>
      gateways.length === 0
        ? []
        : [`${kubectl.map(shellQuote).join(" ")} get ${gateways.map((g) => shellQuote(`pod/${podOf(g)}`)).join(" ")} --ignore-not-found --output=json`],
    readStatus,
    volumeState: {
      backup: (spec) => renderKubernetesBackup({ target, spec, timeoutSeconds: volumePodSeconds, manual: true }),
      archiveOf: (spec, archive) => archiveOnVolume(target, spec.name, archive),
      restore: (spec, path, request) => renderKubernetesRestore({ target, spec, archive: path, ...request, timeoutSeconds: volumePodSeconds }),
      rollback: (spec, origin) =>
        renderKubernetesRestore({
          target,
          spec,
          archive: "",
          origin,
          fromOtherGateway: undefined,
          maxBytes: rollbackMaxBytes,
          timeoutSeconds: volumePodSeconds,
          rollback: true,
          gateSeconds: spec.health.gateSeconds,
        }),
      doctorProbe: (gateways) => kubernetesDoctorProbe(target, gateways),
      doctorChecks: (result, gateways) => kubernetesDoctorChecks(target, result, gateways),
    },
    hostFailure(result) {
      const said = result.stderr.trim().split("\n").filter(Boolean).pop() ?? "";
      // A probe's shell says so and goes on (its exit code is its last command's).
      if (/kubectl: (?:command )?not found/.test(result.stderr))
        return "kubectl is not installed on this machine; install kubectl (the cluster's minor version or one next to it)";
      if (/Unable to connect to the server|The connection to the server .* was refused|couldn't get current server API group list/.test(result.stderr)) {
        return `the Kubernetes API server does not answer (${said}); check the host's kubeconfig and context with: kubectl ${kubectlFlags(target).map(shellQuote).join(" ")} get pods`;
      }
      if (/context ".*" does not exist|no configuration has been provided|stat .*: no such file or directory/.test(result.stderr)) {
        return `kubectl cannot use the host's kubeconfig or context (${said}); fix hosts.${hostId}.kubernetes.kubeconfig or .context in the stack file, or the file itself`;
      }
      if (/You must be logged in to the server|\(Unauthorized\)/.test(result.stderr))
        return `the cluster does not accept the credentials of the host's kubeconfig (${said}); renew them, or fix hosts.${hostId}.kubernetes.kubeconfig`;
      if (/Error from server \(Forbidden\)/.test(result.stderr))
        return `the cluster refused (${said}); the user of the host's kubeconfig needs get, list and exec on pods and get on secrets in namespace ${target.namespace}`;
      return undefined;
    },
    // The program's Kubernetes objects are described by the components that make them.
    describe: () => undefined,
  };
}
