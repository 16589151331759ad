import { shellQuote } from "../shell";
import { dockerCpus, managedLabel, rollbackLabel } from "./names";
import { containerSettingsOf, noNewPrivileges } from "./container-settings";
import { renderRollback } from "./rollback";
import { operatorScriptFiles } from "./scripts";
import { checkEgress, egressProbe, type DeclaredEgress } from "./egress";
import type { Check, CommandResult, DeclaredGateway, GatewayStatus, LogsOptions, ResourceView, RuntimeOps } from "../ops";

/** Type tokens of the resources this runtime registers, as the providers' SDKs name them. */
export const dockerResourceType = {
  container: "docker:index/container:Container",
  network: "docker:index/network:Network",
  provider: "pulumi:providers:docker",
} as const;

/** Megabytes in a size as `docker stats` prints it: 712.3MiB, 1.5GiB, 980kB. */
export function parseDockerSize(text: string): number | undefined {
  const match = /^([\d.]+)\s*([KMGT]?i?B)$/i.exec(text.trim());
  if (match === null) return undefined;
  const value = Number(match[1]);
  const unit = (match[2] ?? "B").toLowerCase();
  const factor: Record<string, number> = {
    b: 1 / 1048576,
    kib: 1 / 1024,
    kb: 1000 / 1048576,
    mib: 1,
    mb: 1e6 / 1048576,
    gib: 1024,
    gb: 1e9 / 1048576,
    tib: 1048576,
    tb: 1e12 / 1048576,
  };
  const f = factor[unit];
  return f === undefined ? undefined : value * f;
}

interface InspectedState {
  Status?: string;
  StartedAt?: string;
  Health?: { Status?: string };
}

/** One line per container: its name, state, restart count, image and the image a rollback went back from; never its environment, which holds secrets. */
const statusFormat = `inspect {{json .Name}}\t{{json .State}}\t{{.RestartCount}}\t{{json .Config.Image}}\t{{json (index .Config.Labels "${rollbackLabel}")}}`;

function readStatus(lines: readonly string[]): ReadonlyMap<string, GatewayStatus> {
  const found = new Map<string, { status: string; health: string | undefined; startedAt: string; restarts: number; image: string; rolledBackFrom?: string }>();
  const memory = new Map<string, number>();
  // One line per container: a line that cannot be read costs that container its facts, not the host's others.
  const json = (text: string): unknown => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  };
  for (const line of lines) {
    if (line.startsWith("inspect ")) {
      const [name = '""', state = "{}", restarts = "0", image = '""', rolled = '""'] = line.slice("inspect ".length).split("\t");
      const gateway = json(name);
      if (typeof gateway !== "string") continue;
      const parsed = json(state) as InspectedState | undefined;
      const ran = json(image);
      found.set(gateway.replace(/^\//, ""), {
        status: typeof parsed === "object" && parsed !== null ? (parsed.Status ?? "unknown") : "unreadable",
        health: parsed?.Health?.Status,
        startedAt: parsed?.StartedAt ?? "",
        restarts: Number(restarts),
        image: typeof ran === "string" ? ran : "",
        ...(typeof json(rolled) === "string" && json(rolled) !== "" ? { rolledBackFrom: json(rolled) as string } : {}),
      });
    } else if (line.startsWith("stats ")) {
      const stats = json(line.slice("stats ".length)) as { Name?: unknown; MemUsage?: unknown } | undefined;
      if (typeof stats?.Name !== "string" || typeof stats.MemUsage !== "string") continue;
      const used = parseDockerSize(stats.MemUsage.split("/")[0] ?? "");
      if (used !== undefined) memory.set(stats.Name, used);
    }
  }
  return new Map([...found].map(([name, status]) => [name, { ...status, memoryMb: status.status === "running" ? memory.get(name) : undefined }]));
}

/**
 * The part of `docker inspect` that a gateway's isolation and limits are read from, one JSON line per
 * container in inspect's own shape; never its environment, which holds the gateway token.
 */
const driftFormat =
  'drift {"Name":{{json .Name}},"Config":{"Image":{{json .Config.Image}},"User":{{json .Config.User}},"Labels":{{json .Config.Labels}}},' +
  '"HostConfig":{{json .HostConfig}},"Mounts":{{json .Mounts}},"NetworkSettings":{"Networks":{{json .NetworkSettings.Networks}}}}';

/** What doctor reads of `docker inspect` (field names as Docker 20.10 prints them). */
export interface InspectedContainer {
  readonly Name?: string;
  readonly Config?: { readonly Image?: string; readonly User?: string; readonly Labels?: Readonly<Record<string, string>> | null };
  readonly HostConfig?: {
    readonly CapDrop?: readonly string[] | null;
    readonly CapAdd?: readonly string[] | null;
    readonly ReadonlyRootfs?: boolean;
    readonly SecurityOpt?: readonly string[] | null;
    readonly Privileged?: boolean;
    readonly Memory?: number;
    readonly NanoCpus?: number;
    readonly PidsLimit?: number | null;
    readonly PortBindings?: Readonly<Record<string, readonly { readonly HostIp?: string; readonly HostPort?: string }[] | null>> | null;
    readonly NetworkMode?: string;
    readonly Runtime?: string;
  };
  readonly Mounts?: readonly { readonly Type?: string; readonly Source?: string; readonly Destination?: string; readonly RW?: boolean }[] | null;
  readonly NetworkSettings?: { readonly Networks?: Readonly<Record<string, unknown>> | null };
}

/** One way a running gateway differs from its declaration: the field, both values, and the fix. */
export interface Drift {
  readonly field: string;
  readonly running: string;
  readonly declared: string;
  readonly fix: string;
}

const mb = 1048576;
const list = (values: readonly string[] | null | undefined) => (values ?? []).join(", ") || "none";
const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((v) => b.includes(v));

/** How one gateway's container differs from its declaration; each entry is a problem and its fix. */
export function driftOf(container: InspectedContainer, declared: DeclaredGateway, defaultRuntime: string): Drift[] {
  const want = containerSettingsOf(declared.spec);
  const name = declared.spec.name;
  const recreate = `docker rm -f ${name}, then pulumi up --refresh, which creates it as declared`;
  const host = container.HostConfig ?? {};
  const drifts: Drift[] = [];
  const add = (field: string, running: string, wanted: string, fix = recreate) => drifts.push({ field, running, declared: wanted, fix });

  const image = container.Config?.Image ?? "";
  if (image !== want.image) add("image", image, want.image);
  const user = container.Config?.User ?? "";
  if (user !== want.user) add("user", user === "" ? "the image's default" : user, want.user);
  if ((host.ReadonlyRootfs ?? false) !== want.readOnly)
    add("root file system", host.ReadonlyRootfs === true ? "read-only" : "writable", want.readOnly ? "read-only" : "writable");
  const dropped = host.CapDrop ?? [];
  if (!want.capDrop.every((cap) => dropped.includes(cap))) add("capabilities dropped", list(dropped), list(want.capDrop));
  if (!sameSet(host.CapAdd ?? [], want.capAdd)) add("capabilities added", list(host.CapAdd), list(want.capAdd));
  if (host.Privileged === true) add("privileged", "yes", "no");
  const options = host.SecurityOpt ?? [];
  const noNewPrivilegesOn = options.some((o) => o === noNewPrivileges || o === "no-new-privileges");
  if (noNewPrivilegesOn !== want.securityOpts.includes(noNewPrivileges))
    add("no-new-privileges", noNewPrivilegesOn ? "on" : "off", noNewPrivilegesOn ? "off" : "on");
  if (container.Config?.Labels?.[managedLabel] !== "true") add("clawfleet labels", "none (recreated by hand?)", `${managedLabel}=true`);
  const runtime = host.Runtime ?? "";
  if (want.runtime !== undefined && runtime !== want.runtime) add("runtime", runtime, want.runtime);
  // Left out, isolation sends no runtime, and the provider's runtime is Optional+Computed: a gateway whose isolation was
  // removed keeps the runtime it was created with, so it is compared with the daemon's default.
  if (want.runtime === undefined && defaultRuntime !== "" && runtime !== defaultRuntime) {
    add("runtime", runtime, `the daemon's default ${defaultRuntime} (no isolation is declared)`, `${recreate}, or declare isolation: ${runtime}`);
  }

  const memory = host.Memory ?? 0;
  if (memory !== want.memoryMb * mb) {
    add(
      "memory",
      memory === 0 ? "unlimited" : `${Math.round(memory / mb)} MB`,
      `${want.memoryMb} MB`,
      `docker update --memory ${want.memoryMb}m --memory-swap ${want.memoryMb}m ${name}`,
    );
  }
  const nanoCpus = host.NanoCpus ?? 0;
  if (nanoCpus !== Math.round(Number(want.cpus) * 1e9)) {
    add("cpus", nanoCpus === 0 ? "unlimited" : dockerCpus(nanoCpus / 1e9), want.cpus, `docker update --cpus ${want.cpus} ${name}`);
  }
  const pids = host.PidsLimit ?? 0;
  if (pids !== want.pidsLimit)
    add("pids limit", pids <= 0 ? "unlimited" : String(pids), String(want.pidsLimit), `docker update --pids-limit ${want.pidsLimit} ${name}`);

  const published = Object.entries(host.PortBindings ?? {}).flatMap(([inside, bindings]) =>
    (bindings ?? []).map((b) => `${b.HostIp === undefined || b.HostIp === "" ? "0.0.0.0" : b.HostIp}:${b.HostPort ?? "?"}->${inside}`),
  );
  const wantPublished = `${want.port.ip}:${want.port.external}->${want.port.internal}/${want.port.protocol}`;
  if (published.length !== 1 || published[0] !== wantPublished) add("published port", list(published), wantPublished);

  // What the gateway sees of the host: its state (writable) and its credentials' folder (read-only), nothing more.
  const mounted = (container.Mounts ?? []).map((m) => `${m.Source ?? "?"} on ${m.Destination ?? "?"} (${m.RW === true ? "rw" : "ro"})`).sort();
  const wantMounted = want.mounts.map((m) => `${m.source} on ${m.target} (${m.readOnly ? "ro" : "rw"})`).sort();
  if (!sameSet(mounted, wantMounted)) add("mounts", list(mounted), list(wantMounted));

  const networks = host.NetworkMode === "host" ? ["host"] : Object.keys(container.NetworkSettings?.Networks ?? {}).sort();
  if (!sameSet(networks, [want.network])) {
    const others = networks.filter((n) => n !== want.network);
    const onlyExtra = networks.includes(want.network) && host.NetworkMode !== "host";
    add("networks", list(networks), want.network, onlyExtra ? others.map((n) => `docker network disconnect ${n} ${name}`).join(" && ") : recreate);
  }
  return drifts;
}
/** The declared gateways whose egress is blocked. */
function egressOf(gateways: readonly DeclaredGateway[]): DeclaredEgress[] {
  return gateways.flatMap((g) => (g.egressAllow === undefined ? [] : [{ name: g.name, owner: g.owner, allow: g.egressAllow, resource: g.egressResource }]));
}

function doctorChecks(lines: readonly string[], image: string, gateways: readonly DeclaredGateway[]): Check[] {
  const value = (key: string) =>
    lines
      .filter((line) => line.startsWith(`${key} `))
      .map((line) => line.slice(key.length + 1))
      .join("\n")
      .trim();
  const version = value("version");
  if (!/^\d+\.\d+/.test(version)) {
    return [
      {
        ok: false,
        what: `Docker does not answer: ${version}`,
        fix: "start it (systemctl start docker), and let the SSH user use it (usermod -aG docker <user>)",
      },
    ];
  }
  const known = Object.keys(
    (() => {
      try {
        return JSON.parse(value("runtimes") || "{}") as Record<string, unknown>;
      } catch {
        return {};
      }
    })(),
  );
  const isolations = [...new Set(gateways.flatMap((g) => (g.spec.isolation === undefined ? [] : [g.spec.isolation])))].sort();
  const checks: Check[] = [
    { ok: true, what: `Docker ${version} answers` },
    ...isolations.map((runtime): Check => {
      const users = gateways.filter((g) => g.spec.isolation === runtime).map((g) => g.owner);
      return known.includes(runtime)
        ? { ok: true, what: `OCI runtime ${runtime} is registered with Docker (${users.join(", ")})` }
        : {
            ok: false,
            what: `OCI runtime ${runtime}, declared for ${users.join(", ")}, is not registered with Docker (it has ${known.join(", ") || "none"})`,
            fix: `install it and add it to /etc/docker/daemon.json "runtimes" (then reload dockerd), or change isolation`,
          };
    }),
    value("image") === "present"
      ? { ok: true, what: `image ${image} is present` }
      : {
          ok: false,
          what: `image ${image} is not on the host`,
          fix: `pull or load it: docker pull ${image} (or docker load, see scripts/build-gateway-image.sh); pulumi up does this too`,
        },
  ];
  // Each declared gateway on the host against its declaration; a missing one is status's business.
  const inspected = new Map<string, InspectedContainer>();
  for (const line of lines.filter((l) => l.startsWith("drift "))) {
    try {
      const container = JSON.parse(line.slice("drift ".length)) as InspectedContainer;
      if (typeof container.Name === "string") inspected.set(container.Name.replace(/^\//, ""), container);
    } catch {
      // A line that cannot be read is left out; the gateway is then not compared.
    }
  }
  let clean = 0;
  for (const declared of gateways) {
    const container = inspected.get(declared.name);
    if (container === undefined) continue;
    const drifts = driftOf(container, declared, value("default-runtime"));
    if (drifts.length === 0) clean += 1;
    for (const d of drifts)
      checks.push({ ok: false, what: `${declared.name} (${declared.owner}) ${d.field}: running ${d.running}, declared ${d.declared}`, fix: d.fix });
  }
  const { problems: egress, ok: egressOk } = checkEgress(lines, egressOf(gateways));
  for (const { gateway, what, fix } of egress) checks.push({ ok: false, what: `${gateway.name} (${gateway.owner}) ${what}`, fix });
  if (egressOk > 0)
    checks.push({ ok: true, what: `egress rules in place for ${egressOk} gateway${egressOk === 1 ? "" : "s"}: private, link-local and 100.64.0.0/10 refused` });
  if (clean > 0)
    checks.push({
      ok: true,
      what: `${clean} gateway${clean === 1 ? "" : "s"} as declared: image, user, read-only root, capabilities, no-new-privileges, memory, cpus, pids, loopback port, mounts, own network`,
    });
  return checks;
}

/** The last non-empty line of a host command, cut to fit one line of the plan. */
function describe({ type, inputs }: ResourceView): string[] | undefined {
  if (type === dockerResourceType.container) {
    const port = (inputs["ports"] as { external?: number; ip?: string }[] | undefined)?.[0];
    return [
      `image ${String(inputs["image"])}`,
      ...(port === undefined ? [] : [`on ${port.ip ?? "0.0.0.0"}:${port.external ?? "?"}`]),
      `${String(inputs["memory"])} MB`,
    ];
  }
  if (type === dockerResourceType.provider) return [String(inputs["host"])];
  if (type === dockerResourceType.network) return [String(inputs["name"])];
  // What a command does is stated by the component that made it (plan reads its facts); its script says nothing to a reader.
  if (type.startsWith("command:")) return typeof inputs["stdin"] === "string" ? [`stdin ${inputs["stdin"].length} bytes`] : [];
  return undefined;
}

/** The day-2 side of the Docker runtime: `docker` on the gateway's host (over SSH for a remote one). */
export const dockerOps: RuntimeOps = {
  name: "Docker",
  hostState: {
    scripts: operatorScriptFiles,
    rollbackScript: (spec, backupDir) => renderRollback({ spec, backupDir }),
    doctorProbe: (image, gateways) => [
      `echo "version $(docker version --format '{{.Server.Version}}' 2>&1 | tail -n 1)"`,
      `if docker image inspect ${shellQuote(image)} >/dev/null 2>&1; then echo "image present"; else echo "image absent"; fi`,
      `echo "runtimes $(docker info --format '{{json .Runtimes}}{{"\\n"}}default-runtime {{.DefaultRuntime}}' 2>/dev/null)"`,
      ...(gateways.length === 0
        ? []
        : [`docker inspect --type container --format ${shellQuote(driftFormat)} ${gateways.map((g) => shellQuote(g.name)).join(" ")} 2>/dev/null || true`]),
      ...egressProbe(egressOf(gateways)),
    ],
    doctorChecks,
  },
  inspectCommand: (gateway) => ["docker", "inspect", "--type", "container", "--format", "{{json .State}}\t{{json .Config.Env}}", gateway],
  readGateway(result: CommandResult) {
    if (result.code !== 0) {
      if (/No such (object|container)/i.test(result.stderr)) return { status: "missing", health: undefined, env: [] };
      return { error: `docker inspect failed: ${result.stderr.trim()}` };
    }
    const [stateText = "{}", envText = "[]"] = result.stdout.trim().split("\t");
    try {
      const state = JSON.parse(stateText) as InspectedState;
      const env = JSON.parse(envText) as unknown;
      if (typeof state !== "object" || state === null || !Array.isArray(env)) throw new Error("not a state and an environment");
      return { status: state.Status ?? "unknown", health: state.Health?.Status, env: env.filter((e): e is string => typeof e === "string") };
    } catch {
      return { error: `docker inspect answered something clawfleet cannot read: ${JSON.stringify(result.stdout.trim().slice(0, 80))}` };
    }
  },
  execCommand: (gateway, argv) => ["docker", "exec", gateway, ...argv],
  logsCommand: (gateway, options: LogsOptions) => [
    "docker",
    "logs",
    ...(options.follow ? ["--follow"] : []),
    ...(options.since === undefined ? [] : ["--since", options.since]),
    ...(options.tail === undefined ? [] : ["--tail", options.tail]),
    gateway,
  ],
  statusProbe: (gateways) => [
    `docker inspect --type container --format ${shellQuote(statusFormat)} ${gateways.map(shellQuote).join(" ")} 2>/dev/null || true`,
    `running=""`,
    `for name in $(docker ps --format '{{.Names}}'); do`,
    `  case ${shellQuote(` ${gateways.join(" ")} `)} in *" $name "*) running="$running $name" ;; esac`,
    `done`,
    `if [ -n "$running" ]; then docker stats --no-stream --format 'stats {{json .}}' $running 2>/dev/null || true; fi`,
  ],
  readStatus,
  hostFailure(result) {
    if (/Cannot connect to the Docker daemon|error during connect/.test(result.stderr)) {
      return "the Docker daemon does not answer; start it (systemctl start docker) and retry";
    }
    if (result.code === 127 && /docker/.test(result.stderr)) return "docker is not installed; install docker.io (Debian) or Docker Engine";
    return undefined;
  },
  describe,
};
