/**
 * The image preflight on a Kubernetes host: before any StatefulSet takes a new image, the image runs as a throwaway pod
 * on a copy of a gateway's state (the canary's, or the shared gateway's; with `rollout.preflight: all`, each one's in
 * turn) and must become ready within the health gate. The pod mounts the gateway's volume read-only on the same node
 * (a ReadWriteOnce volume is attached to one node), copies it into a volume of its own, frees openclaw's state owner
 * lease, takes the gateway's config from its ConfigMap without its channels, and runs on no network where the cluster
 * enforces NetworkPolicies. Nothing of the fleet is changed; a gateway that has no volume yet (a first deploy) is tried
 * on empty state.
 */
import { script, shellQuote, trialStateScript } from "../shell";
import type { GatewayCommon, GatewaySpec } from "../../components/gateway-spec";
import { stateClaimOf } from "../../names";
import { kubectlPrelude, type KubectlTarget } from "./kubectl";
import { besideGatewayPod, configMapOf, podOf, gatewayContainer, managedByLabel, containerConfinement } from "./names";

/** Label on every preflight pod, which the deny-all NetworkPolicy selects. */
export const preflightLabel = "clawfleet.dev/preflight";

/** The throwaway pod that tries the image on a copy of `gateway`'s state. */
export function preflightPodOf(gateway: string): string {
  return `${gateway}-preflight`;
}

/** The NetworkPolicy that keeps a host's preflight pods off every network. */
export function preflightPolicyOf(hostId: string): string {
  return `clawfleet-preflight-${hostId.toLowerCase().replace(/[^a-z0-9-]/g, "-")}`;
}

export interface PreflightArgs {
  readonly target: KubectlTarget;
  readonly hostId: string;
  readonly image: string;
  /** The gateways whose state the image is tried on, in order. */
  readonly gateways: readonly string[];
  /** What every gateway has: the trial runs with its process, environment, confinement and health check. */
  readonly gateway: GatewayCommon;
  /** The config used when the gateway has none yet (a first deploy). */
  readonly fallbackConfig: GatewaySpec["config"];
}

/** Placeholder for the trial's random gateway token, put in by the script so the manifest holds none. */
const tokenPlaceholder = "@@CLAWFLEET_TRIAL_TOKEN@@";

const mounts = { source: "/clawfleet/source", config: "/clawfleet/config" } as const;

/**
 * The trial pod's manifest: on a copy of `gateway`'s volume (`withState`), on the node of its running pod (`besidePod`:
 * a ReadWriteOnce volume in use is attached to that node), or on empty state.
 */
export function preflightPod(args: PreflightArgs, gateway: string, withState: boolean, besidePod = withState): object {
  const { process, confinement, health, env } = args.gateway;
  const uid = process.uid;
  const securityContext = containerConfinement(uid, confinement);
  const configFile = args.fallbackConfig.file;
  const fallback = JSON.stringify(JSON.parse(args.fallbackConfig.text));
  // The copy leaves out the cache, as on Docker; the live config (its ConfigMap) replaces the copy's, then the channels go.
  const copy = [
    "set -e",
    // Entry by entry: the volume's own root belongs to root, whose times the gateway's user may not set.
    ...(withState
      ? [`find ${mounts.source} -mindepth 1 -maxdepth 1 ! -name cache -exec cp -a {} "$1"/ \\;`, `cp ${mounts.config}/${configFile} "$1/${configFile}"`]
      : []),
    `rm -f "$1/.clawfleet-moved"`,
    `exec node --input-type=module -e "$2" "$1" ${configFile} "$3"`,
  ].join("\n");
  const stateMount = { name: "state", mountPath: process.stateDir };
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: preflightPodOf(gateway),
      namespace: args.target.namespace,
      labels: { [managedByLabel]: "clawfleet", [preflightLabel]: args.hostId },
    },
    spec: {
      restartPolicy: "Never",
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 5,
      securityContext: { runAsUser: uid, runAsGroup: uid, fsGroup: uid, runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
      // A ReadWriteOnce volume is attached to the node of the pod that uses it.
      ...(withState && besidePod ? besideGatewayPod(gateway) : {}),
      initContainers: [
        {
          name: "copy",
          image: args.image,
          imagePullPolicy: "IfNotPresent",
          command: ["sh", "-c", copy, "copy", process.stateDir, trialStateScript(), fallback],
          securityContext,
          volumeMounts: [
            stateMount,
            ...(withState
              ? [
                  { name: "source", mountPath: mounts.source, readOnly: true },
                  { name: "config", mountPath: mounts.config, readOnly: true },
                ]
              : []),
          ],
        },
      ],
      containers: [
        {
          name: gatewayContainer,
          image: args.image,
          imagePullPolicy: "IfNotPresent",
          env: [
            ...Object.entries(env).map(([name, value]) => ({ name, value })),
            { name: "OPENCLAW_CONFIG_PATH", value: `${process.stateDir}/${configFile}` },
            { name: args.gateway.tokenEnv, value: tokenPlaceholder },
          ],
          securityContext,
          resources: { limits: { memory: "1536Mi", cpu: "1000m" }, requests: { memory: "256Mi", cpu: "50m" } },
          volumeMounts: [stateMount, { name: "tmp", mountPath: "/tmp" }, { name: "home", mountPath: process.home }],
          readinessProbe: { exec: { command: ["node", "-e", health.probe] }, periodSeconds: 2, timeoutSeconds: 5, failureThreshold: 3 },
        },
      ],
      volumes: [
        { name: "state", emptyDir: {} },
        { name: "tmp", emptyDir: { sizeLimit: "1Gi" } },
        { name: "home", emptyDir: { sizeLimit: "256Mi" } },
        ...(withState
          ? [
              { name: "source", persistentVolumeClaim: { claimName: stateClaimOf(gateway), readOnly: true } },
              { name: "config", configMap: { name: configMapOf(gateway) } },
            ]
          : []),
      ],
    },
  };
}

/** The deny-all NetworkPolicy of the host's preflight pods: no ingress, no egress (on a cluster that enforces them). */
function preflightPolicy(args: PreflightArgs): object {
  const selector = { [preflightLabel]: args.hostId };
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: preflightPolicyOf(args.hostId), namespace: args.target.namespace, labels: { [managedByLabel]: "clawfleet" } },
    spec: { podSelector: { matchLabels: selector }, policyTypes: ["Ingress", "Egress"] },
  };
}

/**
 * The preflight script, run by a command on the machine that runs Pulumi whenever the image changes. It does nothing
 * when the first gateway already runs the image (a renamed canary, say, rewrites the script but tries nothing).
 */
export function renderPreflight(args: PreflightArgs): string {
  const { image, hostId, gateway } = args;
  const gate = gateway.health.gateSeconds;
  const [first = ""] = args.gateways;
  const trials = args.gateways.map((name) =>
    [
      "trial",
      shellQuote(name),
      shellQuote(preflightPodOf(name)),
      shellQuote(stateClaimOf(name)),
      shellQuote(podOf(name)),
      shellQuote(JSON.stringify(preflightPod(args, name, true))),
      shellQuote(JSON.stringify(preflightPod(args, name, true, false))),
      shellQuote(JSON.stringify(preflightPod(args, name, false))),
    ].join(" "),
  );
  return script(
    ...kubectlPrelude(args.target),
    `image=${shellQuote(image)}`,
    `running=$(k get ${shellQuote(`statefulset/${first}`)} --ignore-not-found --output=jsonpath='{.spec.template.spec.containers[?(@.name=="${gatewayContainer}")].image}')`,
    `if [ "$running" = "$image" ]; then echo "host ${hostId}: the gateways run $image already; nothing to try"; exit 0; fi`,
    `pod=`,
    `cleanup() { [ -z "$pod" ] || k delete pod "$pod" --ignore-not-found --wait=false >/dev/null 2>&1 || true; }`,
    `trap cleanup EXIT`,
    `printf '%s' ${shellQuote(JSON.stringify(preflightPolicy(args)))} | k apply -f - >/dev/null || fail "host ${hostId}: cannot create the preflight's NetworkPolicy; no gateway was changed"`,
    // One trial (<gateway> <trial pod> <volume claim> <gateway pod> <manifest beside its pod> <manifest on its volume>
    // <manifest on empty state>): the trial on a copy of the gateway's volume, on its pod's node when it runs (a volume
    // made moments ago for a first deploy, with no pod yet, is used where the scheduler puts the trial), or on empty
    // state when it has none yet; ready in time or not.
    `trial() {`,
    `  pod=$2`,
    `  k delete pod "$pod" --ignore-not-found --wait=true --timeout=60s >/dev/null`,
    `  if k get "pod/$4" >/dev/null 2>&1; then manifest=$5; from="a copy of $1's state"`,
    `  elif k get "persistentvolumeclaim/$3" >/dev/null 2>&1; then manifest=$6; from="a copy of $1's state (no pod runs it)"`,
    `  else manifest=$7; from="empty state ($1 has no volume yet)"; fi`,
    `  token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \\n')`,
    `  printf '%s' "$manifest" | sed "s/${tokenPlaceholder}/$token/" | k apply -f - >/dev/null || fail "host ${hostId}: cannot create the preflight pod $pod; no gateway was changed"`,
    `  echo "host ${hostId}: trying $image on $from (pod $pod, at most ${gate} s)"`,
    `  deadline=$(($(date +%s) + ${gate}))`,
    `  while :; do`,
    `    seen=$(k get pod "$pod" --output=jsonpath='{.status.phase} {.status.containerStatuses[0].ready} {.status.initContainerStatuses[0].state.waiting.reason}{.status.containerStatuses[0].state.waiting.reason}' 2>/dev/null | sed 's/ *$//' || true)`,
    `    case $seen in`,
    // Deleted before the gateways change: the volume it held read-only is free for them on any node.
    `      "Running true"*) echo "host ${hostId}: $image is ready on $from"; k delete pod "$pod" --ignore-not-found --wait=true --timeout=60s >/dev/null 2>&1 || true; pod=; return 0 ;;`,
    `      Failed* | Succeeded* | *ErrImagePull* | *ImagePullBackOff* | *ErrImageNeverPull* | *InvalidImageName* | *CreateContainerConfigError* | *CrashLoopBackOff*)`,
    `        k logs "$pod" --all-containers --tail=5 >&2 2>&1 || true`,
    `        fail "host ${hostId}: the new image $image did not start on $from ($seen); no gateway was changed. Fix the image or go back to the previous one" ;;`,
    `    esac`,
    `    [ "$(date +%s)" -lt "$deadline" ] || { k describe pod "$pod" 2>&1 | tail -n 5 >&2; fail "host ${hostId}: the new image $image was not ready after ${gate} s on $from ($seen); no gateway was changed"; }`,
    `    sleep 2`,
    `  done`,
    `}`,
    // The manifests are data in single quotes: the $ in their scripts is for the pod's shell, not this one.
    ...trials.flatMap((trial) => ["# shellcheck disable=SC2016", trial]),
  );
}
