import { createHmac } from "node:crypto";
import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { backupClaimOf, childRole, egressBlockedRanges, secretNameOf, stateClaimOf, stopTimeoutSeconds } from "../../names";
import {
  configMapOf,
  configMountDir,
  containerConfinement,
  credentialsContainer,
  gatewayContainer,
  gatewaySelectorLabel,
  heapLimitMbOf,
  hostSelectorLabel,
  managedByLabel,
  secretKeys,
} from "./names";
import type { GatewaySpec } from "../../components/gateway-spec";
import type { GatewayRunArgs, RunningGateway } from "../../components/runtime";
import type { RuntimeChild } from "../../components/facts";
import type { Host } from "../../declaration/schema";
import { renderRolloutGate, type KubectlTarget } from "./kubectl";
import { renderKubernetesBackup } from "./backup";

/** What a prepared Kubernetes host gives each gateway it runs. */
export interface KubernetesHost {
  readonly hostId: string;
  readonly provider: k8s.Provider;
  /** The host's namespace; every object waits for it. */
  readonly namespace: k8s.core.v1.Namespace;
  readonly placement: NonNullable<Host["kubernetes"]>;
  readonly image: string;
  /** The image preflight: every StatefulSet waits for it, so a new image that fails its trial changes no gateway. */
  readonly preflight: pulumi.Resource | undefined;
}

/** Where the Secret's credentials file is mounted for the init container, which copies it to the gateway's own file. */
const credentialsSourceDir = "/run/clawfleet-source";

/** The volumes of a gateway pod, by name. */
const volume = { state: "state", config: "config", credentials: "credentials", credentialsSource: "credentials-source", tmp: "tmp", home: "home" } as const;

/** The CPU a gateway reserves, in millicores: a quarter of its cap, at least 50m. */
export function cpuRequestOf(cpuLimitMillis: number): number {
  return Math.min(cpuLimitMillis, Math.max(50, Math.ceil(cpuLimitMillis / 4)));
}

/** What a probe runs: the body-checking /healthz script, as Docker's health check runs it. */
function probeCommand(spec: GatewaySpec): string[] {
  return ["node", "-e", spec.health.probe];
}

/**
 * The init container's script: the gateway reads its credentials file only when it is a regular file of its own user
 * with mode 0600, and a Secret volume gives a link to a file of root's group; so the file is copied into the pod's
 * memory-backed volume at each start.
 */
function copyCredentialsScript(spec: GatewaySpec): string {
  const from = JSON.stringify(`${credentialsSourceDir}/${spec.process.secretsFile}`);
  const to = JSON.stringify(`${spec.process.secretsDir}/${spec.process.secretsFile}`);
  return `const fs=require("fs");fs.writeFileSync(${to},fs.readFileSync(${from}),{mode:0o600});fs.chmodSync(${to},0o600)`;
}

/**
 * A digest of the Secret's content, keyed by the gateway token: a pod template annotation, so that a new token or
 * credential restarts the pod. Keyed, it tells nothing about a credential to whoever reads the StatefulSet, so it is
 * shown in plain text, and the rest of the StatefulSet stays readable in a preview.
 */
function digestOf(token: pulumi.Input<string>, values: pulumi.Input<string>[]): pulumi.Output<string> {
  return pulumi.unsecret(
    pulumi.all([token, ...values]).apply(([key, ...all]) =>
      createHmac("sha256", key ?? "")
        .update(JSON.stringify(all))
        .digest("hex")
        .slice(0, 32),
    ),
  );
}

/** The NetworkPolicy's egress rules: everywhere but the blocked ranges, the allowed ranges in them, and DNS. */
function egressRules(allow: readonly string[]): k8s.types.input.networking.v1.NetworkPolicyEgressRule[] {
  return [
    { to: [{ ipBlock: { cidr: "0.0.0.0/0", except: egressBlockedRanges.map((range) => range.cidr) } }] },
    ...(allow.length === 0 ? [] : [{ to: allow.map((cidr) => ({ ipBlock: { cidr } })) }]),
    // The cluster's DNS answers from a private address.
    {
      ports: [
        { protocol: "UDP", port: 53 },
        { protocol: "TCP", port: 53 },
      ],
    },
  ];
}

/**
 * Runs one gateway on a Kubernetes host: its Secret, ConfigMap and state volume, a StatefulSet of one pod (a stable
 * pod name `<name>-0`, which is its hostname, so a rescheduled pod reclaims the state lease a killed one left), a
 * Service on its port, and a NetworkPolicy when its egress is blocked.
 */
export function runKubernetesGateway(spec: GatewaySpec, args: GatewayRunArgs, host: KubernetesHost): RunningGateway {
  const { child } = args;
  const namespace = host.placement.namespace;
  const opts: pulumi.CustomResourceOptions = { parent: args.parent, provider: host.provider, dependsOn: [host.namespace] };
  const selector = { [gatewaySelectorLabel]: spec.name, [hostSelectorLabel]: spec.hostId };
  const labels = { [managedByLabel]: "clawfleet", ...selector };
  // The tenant's own labels may hold values Kubernetes labels refuse: they go on as annotations.
  const annotations = { ...spec.labels };
  const uid = spec.process.uid;

  // The state outlives the gateway and the tenant, like a Docker host's state directory: kept when removed.
  const claim = stateClaimOf(spec.name);
  const state = new k8s.core.v1.PersistentVolumeClaim(
    child(childRole.state, `keeps the state in volume ${namespace}/${claim} (${host.placement.storageGb} GiB)`),
    {
      metadata: { name: claim, namespace, labels },
      spec: {
        accessModes: ["ReadWriteOnce"],
        ...(host.placement.storageClass === undefined ? {} : { storageClassName: host.placement.storageClass }),
        resources: { requests: { storage: `${host.placement.storageGb}Gi` } },
      },
    },
    // Bound only once its pod is scheduled (WaitForFirstConsumer classes): the StatefulSet's own wait covers it.
    { ...opts, retainOnDelete: true },
  );

  // The archives taken before an image change, on a volume of their own: kept when the gateway goes, as a Docker
  // host's backup folder is, and never mounted into the gateway.
  const backups = new k8s.core.v1.PersistentVolumeClaim(
    child(childRole.backups, `keeps its backups from before image changes in volume ${namespace}/${backupClaimOf(spec.name)}`),
    {
      metadata: { name: backupClaimOf(spec.name), namespace, labels },
      spec: {
        accessModes: ["ReadWriteOnce"],
        ...(host.placement.storageClass === undefined ? {} : { storageClassName: host.placement.storageClass }),
        resources: { requests: { storage: `${host.placement.storageGb}Gi` } },
      },
    },
    { ...opts, retainOnDelete: true },
  );

  const config = new k8s.core.v1.ConfigMap(
    child(childRole.config, `holds ${spec.config.file}`),
    { metadata: { name: configMapOf(spec.name), namespace, labels }, data: { [spec.config.file]: spec.config.text } },
    opts,
  );

  const secretEnv = Object.entries(spec.secrets.env);
  const credentials = pulumi.secret(`${JSON.stringify(spec.secrets.file, null, 2)}\n`);
  const secret = new k8s.core.v1.Secret(
    child(childRole.secrets, "holds its token and credentials"),
    {
      metadata: { name: secretNameOf(spec.name), namespace, labels },
      type: "Opaque",
      stringData: {
        [secretKeys.token]: args.token,
        [secretKeys.credentials]: credentials,
        ...Object.fromEntries(secretEnv.map(([name, value]) => [secretKeys.env(name), pulumi.secret(value)])),
      },
    },
    opts,
  );
  const secretDigest = digestOf(args.token, [args.token, credentials, ...secretEnv.map(([name, value]) => `${name}=${value}`)]);

  const secretRef = (key: string) => ({ valueFrom: { secretKeyRef: { name: secretNameOf(spec.name), key } } });
  const env = [
    ...Object.entries(spec.env).map(([name, value]) => ({ name, value })),
    // The config comes from the ConfigMap's folder: an update there is picked up by hot reload.
    { name: "OPENCLAW_CONFIG_PATH", value: `${configMountDir}/${spec.config.file}` },
    { name: "NODE_OPTIONS", value: `--max-old-space-size=${heapLimitMbOf(spec.limits.memoryMb)}` },
    { name: spec.tokenEnv, ...secretRef(secretKeys.token) },
    ...secretEnv.map(([name]) => ({ name, ...secretRef(secretKeys.env(name)) })),
  ];
  const confinement = containerConfinement(uid, spec.confinement);
  // Memory is reserved in full (requested as it is limited): the scheduler never places more gateways on a node than
  // their limits fit. CPU is a cap, as Docker's --cpus is, with a quarter of it reserved: gateways idle most of the
  // time, and reserving the whole cap would leave a 2-CPU node room for two. In whole millicores, as the API server keeps them.
  const cpuLimit = Math.ceil(spec.limits.cpus * 1000);
  const resources = {
    limits: { memory: `${spec.limits.memoryMb}Mi`, cpu: `${cpuLimit}m` },
    requests: { memory: `${spec.limits.memoryMb}Mi`, cpu: `${cpuRequestOf(cpuLimit)}m` },
  };
  const startupFailures = Math.ceil(spec.health.startPeriodSeconds / 5);
  const target: KubectlTarget = { kubeconfig: host.placement.kubeconfig, context: host.placement.context, namespace };

  // Right before the StatefulSet takes a new image, in rollout order (the gateways before it are ready by then).
  const backup = new command.local.Command(
    child(childRole.backup, "backs up before an image change"),
    {
      create: renderKubernetesBackup({ target, spec, timeoutSeconds: spec.health.gateSeconds }),
      interpreter: ["/bin/sh", "-c"],
      addPreviousOutputInEnv: false,
      triggers: [spec.image],
    },
    { parent: args.parent, dependsOn: [backups, config, ...(host.preflight === undefined ? [] : [host.preflight]), ...args.after] },
  );

  const statefulSet = new k8s.apps.v1.StatefulSet(
    child(childRole.statefulset, "runs the gateway pod"),
    {
      metadata: { name: spec.name, namespace, labels, annotations },
      spec: {
        replicas: 1,
        serviceName: spec.name,
        // Parallel: a pod whose template is reverted is replaced at once, not left broken (OrderedReady waits on it).
        podManagementPolicy: "Parallel",
        selector: { matchLabels: selector },
        template: {
          metadata: { labels, annotations: { ...annotations, "clawfleet.dev/credentials-digest": secretDigest } },
          spec: {
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            // The pause process is PID 1 and reaps the gateway's orphans, as Docker's --init does.
            shareProcessNamespace: true,
            terminationGracePeriodSeconds: stopTimeoutSeconds,
            securityContext: {
              runAsUser: uid,
              runAsGroup: uid,
              fsGroup: uid,
              fsGroupChangePolicy: "OnRootMismatch",
              runAsNonRoot: true,
              seccompProfile: { type: "RuntimeDefault" },
            },
            initContainers: [
              {
                name: credentialsContainer,
                image: spec.image,
                imagePullPolicy: "IfNotPresent",
                command: ["node", "-e", copyCredentialsScript(spec)],
                securityContext: confinement,
                resources: { limits: { memory: "128Mi", cpu: "250m" }, requests: { memory: "128Mi", cpu: "250m" } },
                volumeMounts: [
                  { name: volume.credentialsSource, mountPath: credentialsSourceDir, readOnly: true },
                  { name: volume.credentials, mountPath: spec.process.secretsDir },
                ],
              },
            ],
            containers: [
              {
                name: gatewayContainer,
                image: spec.image,
                imagePullPolicy: "IfNotPresent",
                env,
                ports: [{ name: "http", containerPort: spec.process.port }],
                resources,
                securityContext: confinement,
                volumeMounts: [
                  { name: volume.state, mountPath: spec.process.stateDir },
                  { name: volume.config, mountPath: configMountDir, readOnly: true },
                  { name: volume.credentials, mountPath: spec.process.secretsDir, readOnly: true },
                  { name: volume.tmp, mountPath: "/tmp" },
                  { name: volume.home, mountPath: spec.process.home },
                ],
                startupProbe: { exec: { command: probeCommand(spec) }, periodSeconds: 5, timeoutSeconds: 5, failureThreshold: startupFailures },
                readinessProbe: { exec: { command: probeCommand(spec) }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
                livenessProbe: { exec: { command: probeCommand(spec) }, periodSeconds: 30, timeoutSeconds: 10, failureThreshold: 3 },
              },
            ],
            volumes: [
              { name: volume.state, persistentVolumeClaim: { claimName: claim } },
              { name: volume.config, configMap: { name: configMapOf(spec.name) } },
              {
                name: volume.credentialsSource,
                secret: { secretName: secretNameOf(spec.name), items: [{ key: secretKeys.credentials, path: spec.process.secretsFile }], defaultMode: 0o440 },
              },
              { name: volume.credentials, emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
              { name: volume.tmp, emptyDir: { sizeLimit: "1Gi" } },
              { name: volume.home, emptyDir: { sizeLimit: "256Mi" } },
            ],
          },
        },
      },
    },
    {
      ...opts,
      dependsOn: [host.namespace, state, config, secret, backup, ...(host.preflight === undefined ? [] : [host.preflight]), ...args.after],
      // The provider waits until the pod is ready; a gateway that is not healthy in time stops the deploy.
      customTimeouts: { create: `${spec.health.gateSeconds}s`, update: `${spec.health.gateSeconds}s` },
    },
  );

  const service = new k8s.core.v1.Service(
    child(childRole.service, `serves port ${spec.port}`),
    {
      metadata: { name: spec.name, namespace, labels },
      spec: { type: "ClusterIP", selector, ports: [{ name: "http", port: spec.port, targetPort: "http", protocol: "TCP" }] },
    },
    opts,
  );

  // On the tailnet through the Tailscale Kubernetes operator: each Ingress of its class becomes a device named after
  // its TLS host, serving HTTPS with a certificate of the tailnet (never the internet). The provider waits until the
  // operator has published it (the Ingress's load balancer status).
  if (spec.tailnetName !== undefined) {
    new k8s.networking.v1.Ingress(
      child(childRole.serve, `publishes https://${spec.tailnetName}/ on the tailnet`),
      {
        metadata: { name: spec.name, namespace, labels },
        spec: {
          ingressClassName: "tailscale",
          defaultBackend: { service: { name: spec.name, port: { number: spec.port } } },
          tls: [{ hosts: [spec.name] }],
        },
      },
      { ...opts, dependsOn: [service, statefulSet] },
    );
  }

  const children: Record<string, RuntimeChild> = {
    [childRole.state]: { kind: "named" },
    [childRole.backups]: { kind: "named" },
    [childRole.backup]: { kind: "follows" },
    [childRole.config]: { kind: "config", input: "data", key: spec.config.file },
    [childRole.secrets]: { kind: "named" },
    [childRole.statefulset]: { kind: "gateway", fields: {}, inPlace: ["metadata"] },
    [childRole.service]: { kind: "follows" },
    [childRole.serve]: { kind: "named" },
  };

  if (spec.egress !== undefined) {
    children[childRole.egress] = { kind: "named" };
    new k8s.networking.v1.NetworkPolicy(
      child(childRole.egress, `refuses private and link-local addresses${spec.egress.allow.length === 0 ? "" : ` but ${spec.egress.allow.join(", ")}`}`),
      {
        metadata: { name: spec.name, namespace, labels },
        spec: { podSelector: { matchLabels: selector }, policyTypes: ["Egress"], egress: egressRules(spec.egress.allow) },
      },
      opts,
    );
  }

  // The provider's await of a StatefulSet update can end before the controller has seen the change (on the real
  // cluster all three gateways of a lane were replaced within a second): the lane waits for kubectl's rollout status,
  // run again whenever the StatefulSet's generation moves.
  children[childRole.ready] = { kind: "follows" };
  const ready = new command.local.Command(
    child(childRole.ready, "waits until its pod runs the current template, ready"),
    {
      create: renderRolloutGate({
        target,
        gateway: spec.name,
        timeoutSeconds: spec.health.gateSeconds,
      }),
      interpreter: ["/bin/sh", "-c"],
      addPreviousOutputInEnv: false,
      triggers: [statefulSet.metadata.generation],
    },
    { parent: args.parent, dependsOn: [statefulSet] },
  );

  // The state is reached only through the running pod (a shared tenant's workspace is made there): it "exists" once
  // the StatefulSet is ready.
  return { stateDir: ready, ready, children };
}
