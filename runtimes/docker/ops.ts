import { shellQuote } from "../shell";
import { managedLabel } from "../../names";
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

/** The fields of a running container that its isolation and limits are read from, one line each. */
const driftFormat =
  "drift {{json .Name}}\t{{json .HostConfig.CapDrop}}\t{{json .HostConfig.CapAdd}}\t{{.HostConfig.ReadonlyRootfs}}\t{{json .HostConfig.SecurityOpt}}\t{{.HostConfig.Memory}}\t{{json .HostConfig.PidsLimit}}\t{{json .Config.User}}\t{{.HostConfig.Privileged}}\t{{.HostConfig.NetworkMode}}\t{{json .Config.Labels}}\t{{json .HostConfig.Runtime}}";

/** How one running gateway differs from what it was deployed with; each entry is a problem and its fix. */
function driftOf(fields: readonly string[], declared: DeclaredGateway, defaultRuntime: string): { what: string; fix: string }[] {
  const json = (text: string | undefined): unknown => {
    try {
      return JSON.parse(text ?? "null") as unknown;
    } catch {
      return undefined;
    }
  };
  const [, capDrop, capAdd, readOnly, securityOpt, memory, pidsLimit, user, privileged, networkMode, labels, runtime] = fields;
  const recreate = `docker rm -f ${declared.name}, then pulumi up --refresh, which creates it as declared`;
  const problems: { what: string; fix: string }[] = [];
  const list = (text: string | undefined) => (Array.isArray(json(text)) ? (json(text) as unknown[]).map(String) : []);
  if (!list(capDrop).includes("ALL")) problems.push({ what: "keeps Linux capabilities (ALL is not dropped)", fix: recreate });
  if (list(capAdd).length > 0) problems.push({ what: `has capabilities added: ${list(capAdd).join(", ")}`, fix: recreate });
  if (privileged === "true") problems.push({ what: "runs privileged", fix: recreate });
  if (readOnly !== "true") problems.push({ what: "has a writable root file system", fix: recreate });
  if (!list(securityOpt).some((o) => o === "no-new-privileges:true" || o === "no-new-privileges")) {
    problems.push({ what: "can gain privileges (no-new-privileges is off)", fix: recreate });
  }
  if (json(user) !== `${declared.uid}:${declared.uid}`)
    problems.push({ what: `runs as ${JSON.stringify(json(user))}, not ${declared.uid}:${declared.uid}`, fix: recreate });
  if (networkMode === "host") problems.push({ what: "shares the host's network", fix: recreate });
  const labelMap = json(labels);
  if (typeof labelMap !== "object" || labelMap === null || (labelMap as Record<string, unknown>)[managedLabel] !== "true") {
    problems.push({ what: "was not made by clawfleet (its labels are gone: recreated by hand?)", fix: recreate });
  }
  if (declared.isolation !== undefined && json(runtime) !== declared.isolation) {
    problems.push({ what: `runs under OCI runtime ${JSON.stringify(json(runtime))}, not ${declared.isolation}`, fix: recreate });
  }
  // Left out, isolation sends no runtime, and the provider's runtime is Optional+Computed: a gateway whose isolation was
  // removed keeps the runtime it was created with, so it is compared with the daemon's default.
  if (declared.isolation === undefined && defaultRuntime !== "" && json(runtime) !== defaultRuntime) {
    problems.push({
      what: `runs under OCI runtime ${JSON.stringify(json(runtime))}, not the daemon's default ${defaultRuntime} (no isolation is declared)`,
      fix: `${recreate}, or declare isolation: ${String(json(runtime))}`,
    });
  }
  if (Number(memory) !== declared.memoryMb * 1048576) {
    problems.push({
      what: `has a memory limit of ${Math.round(Number(memory) / 1048576)} MB, not ${declared.memoryMb} MB`,
      fix: "pulumi up --refresh, which sets it back",
    });
  }
  if (json(pidsLimit) !== declared.pidsLimit) {
    problems.push({
      what: `has a process limit of ${String(json(pidsLimit) ?? "none")}, not ${declared.pidsLimit}`,
      fix: `docker update --pids-limit ${declared.pidsLimit} ${declared.name}`,
    });
  }
  return problems;
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
  const isolations = [...new Set(gateways.flatMap((g) => (g.isolation === undefined ? [] : [g.isolation])))].sort();
  const checks: Check[] = [
    { ok: true, what: `Docker ${version} answers` },
    ...isolations.map((runtime): Check => {
      const users = gateways.filter((g) => g.isolation === runtime).map((g) => g.owner);
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
  // Each running declared gateway against what it was deployed with; a missing one is status's business.
  const running = new Map(
    lines
      .filter((line) => line.startsWith("drift "))
      .map((line) => line.slice("drift ".length).split("\t"))
      .map((fields) => [(fields[0] ?? "").replace(/^"\/?|"$/g, ""), fields] as const),
  );
  let clean = 0;
  for (const declared of gateways) {
    const fields = running.get(declared.name);
    if (fields === undefined) continue;
    const problems = driftOf(fields, declared, value("default-runtime"));
    if (problems.length === 0) clean += 1;
    for (const { what, fix } of problems) checks.push({ ok: false, what: `${declared.name} (${declared.owner}) ${what}`, fix });
  }
  const { problems: egress, ok: egressOk } = checkEgress(lines, egressOf(gateways));
  for (const { gateway, what, fix } of egress) checks.push({ ok: false, what: `${gateway.name} (${gateway.owner}) ${what}`, fix });
  if (egressOk > 0)
    checks.push({ ok: true, what: `egress rules in place for ${egressOk} gateway${egressOk === 1 ? "" : "s"}: private, link-local and 100.64.0.0/10 refused` });
  if (clean > 0)
    checks.push({
      ok: true,
      what: `${clean} running gateway${clean === 1 ? "" : "s"} as deployed: capabilities dropped, read-only root, no new privileges, uid ${gateways[0]?.uid ?? ""}, memory and process limits`,
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
  hostFailure(result) {
    if (/Cannot connect to the Docker daemon|error during connect/.test(result.stderr)) {
      return "the Docker daemon does not answer; start it (systemctl start docker) and retry";
    }
    if (result.code === 127 && /docker/.test(result.stderr)) return "docker is not installed; install docker.io (Debian) or Docker Engine";
    return undefined;
  },
  describe,
};
