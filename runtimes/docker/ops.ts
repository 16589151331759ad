import { shellQuote } from "../shell";
import type { Check, CommandResult, GatewayStatus, LogsOptions, ResourceView, RuntimeOps } from "../ops";

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

/** One line per container: its name, state, restart count and image; never its environment, which holds secrets. */
const statusFormat = "inspect {{json .Name}}\t{{json .State}}\t{{.RestartCount}}\t{{json .Config.Image}}";

function readStatus(lines: readonly string[]): ReadonlyMap<string, GatewayStatus> {
  const found = new Map<string, { status: string; health: string | undefined; startedAt: string; restarts: number; image: string }>();
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
      const [name = '""', state = "{}", restarts = "0", image = '""'] = line.slice("inspect ".length).split("\t");
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

function doctorChecks(lines: readonly string[], image: string): Check[] {
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
  return [
    { ok: true, what: `Docker ${version} answers` },
    value("image") === "present"
      ? { ok: true, what: `image ${image} is present` }
      : {
          ok: false,
          what: `image ${image} is not on the host`,
          fix: `pull or load it: docker pull ${image} (or docker load, see scripts/build-gateway-image.sh); pulumi up does this too`,
        },
  ];
}

/** The last non-empty line of a host command, cut to fit one line of the plan. */
function commandTail(create: string): string {
  const tail =
    create
      .split("\n")
      .filter((line) => line.trim() !== "")
      .pop() ?? "";
  return tail.length > 90 ? `${tail.slice(0, 87)}...` : tail;
}

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
  if (type.startsWith("command:")) {
    const create = typeof inputs["create"] === "string" ? inputs["create"] : "";
    return [commandTail(create), ...(typeof inputs["stdin"] === "string" ? [`stdin ${inputs["stdin"].length} bytes`] : [])];
  }
  return undefined;
}

/** The day-2 side of the Docker runtime: `docker` on the gateway's host (over SSH for a remote one). */
export const dockerOps: RuntimeOps = {
  name: "Docker",
  scripts: { backup: "backup-gateway.sh", restore: "restore-gateway.sh" },
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
  doctorProbe: (image) => [
    `echo "version $(docker version --format '{{.Server.Version}}' 2>&1 | tail -n 1)"`,
    `if docker image inspect ${shellQuote(image)} >/dev/null 2>&1; then echo "image present"; else echo "image absent"; fi`,
  ],
  doctorChecks,
  hostFailure(result) {
    if (/Cannot connect to the Docker daemon|error during connect/.test(result.stderr)) {
      return "the Docker daemon does not answer; start it (systemctl start docker) and retry";
    }
    if (result.code === 127 && /docker/.test(result.stderr)) return "docker is not installed; install docker.io (Debian) or Docker Engine";
    return undefined;
  },
  describe,
};
