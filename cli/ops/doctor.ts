import { shellQuote } from "../../runtimes/shell";
import type { Fleet, Host } from "../../declaration/schema";
import type { Check, DeclaredGateway, HostStateOps } from "../../runtimes/ops";
import { opsOf } from "../runtime";
import { childName, childRole, stateRootOf } from "../../names";
import { unreachableError, type HostRunner } from "./host-shell";
import { readStateSizes, stateOverLimit, stateSizeProbe } from "./state-size";
import { backupDirOf, hostGateways, type HostGateway, type TenantTarget } from "./targets";

export type { Check };

export interface HostReport {
  readonly host: string;
  readonly checks: readonly Check[];
}

const mark = (name: string) => `@@clawfleet-${name}`;

/** Directories doctor checks on a host: the state root (0700) and each gateway's state directory (0700, its user's). */
export function stateDirsOf(host: Host, gateways: readonly HostGateway[]): { path: string; owner: number | undefined; gatewayOf: string }[] {
  return [
    { path: stateRootOf(host), owner: undefined, gatewayOf: "the state root" },
    ...gateways.map(({ spec, owner }) => ({ path: spec.stateDir, owner: spec.process.uid, gatewayOf: owner })),
  ];
}

/** Each gateway the program runs on a host (a shared gateway also when no tenant is bound to it yet), as the declaration has it. */
export function declaredGateways(gateways: readonly HostGateway[]): DeclaredGateway[] {
  return gateways.map(({ spec, owner, tenant }) => ({
    name: spec.name,
    owner,
    spec,
    egressAllow: spec.egress?.allow,
    egressResource: tenant === undefined ? childName(childName(spec.hostId, childRole.shared), childRole.egress) : childName(tenant, childRole.egress),
  }));
}

/** One script per host: the runtime and the image, Tailscale Serve's config, state directory owners and modes, memory. */
export function renderDoctorProbe(
  tools: HostStateOps,
  image: string,
  serve: boolean,
  dirs: readonly string[],
  gatewayDirs: readonly string[],
  backupDir: string,
  gateways: readonly DeclaredGateway[],
  limitedStateDirs: readonly string[],
): string {
  return [
    `echo ${mark("runtime")}`,
    ...tools.doctorProbe(image, gateways),
    `echo ${mark("serve")}`,
    ...(serve ? [`if command -v tailscale >/dev/null 2>&1; then tailscale serve status --json 2>&1 || echo "@@failed"; else echo "@@not-installed"; fi`] : []),
    `echo ${mark("dirs")}`,
    `for dir in ${dirs.map(shellQuote).join(" ")}; do`,
    `  if [ -d "$dir" ]; then echo "$(stat -c '%u %a' "$dir") $dir"; else echo "missing - $dir"; fi`,
    `done`,
    // The stack's config file in each gateway's state: a link there would make root write elsewhere.
    `echo ${mark("configs")}`,
    `for dir in ${gatewayDirs.map(shellQuote).join(" ")}; do`,
    `  if [ -L "$dir/openclaw.json" ]; then echo "link $dir/openclaw.json -> $(readlink "$dir/openclaw.json")"; fi`,
    `done`,
    // Backup folders 0700 and archives 0600, all root's: only what is not.
    `echo ${mark("backups")}`,
    `if [ -d ${shellQuote(backupDir)} ]; then find ${shellQuote(backupDir)} -maxdepth 3 \\( -type d ! -perm 700 -o -type f ! -perm 600 -o ! -user 0 \\) -printf '%y %U %m %p\\n' 2>/dev/null | head -n 50; fi`,
    // Only the state of tenants that declare stateLimitMb is measured: du reads every file.
    `echo ${mark("sizes")}`,
    ...stateSizeProbe(limitedStateDirs),
    `echo ${mark("memory")}`,
    `grep -E '^(MemTotal|MemAvailable):' /proc/meminfo`,
    `echo ${mark("end")}`,
  ].join("\n");
}

function sections(text: string): Map<string, string[]> | undefined {
  const found = new Map<string, string[]>();
  let current = "";
  for (const line of text.split("\n")) {
    const match = /^@@clawfleet-([a-z]+)$/.exec(line);
    if (match !== null) {
      current = match[1] ?? "";
      found.set(current, []);
    } else {
      found.get(current)?.push(line);
    }
  }
  return found.has("end") ? found : undefined;
}

interface ServeConfig {
  TCP?: Record<string, { HTTPS?: boolean }>;
  Web?: Record<string, { Handlers?: Record<string, { Proxy?: string }> }>;
  AllowFunnel?: Record<string, boolean>;
}

/** The Serve entries a host should have: https port -> local target, with the gateway that owns it. */
export function expectedServe(host: Host, gateways: readonly HostGateway[]): Map<number, { target: string; owner: string }> {
  const expected = new Map<number, { target: string; owner: string }>();
  if (!host.tailscale.serve) return expected;
  for (const { spec, owner } of gateways) expected.set(spec.port, { target: `http://${spec.confinement.publishAddress}:${spec.port}`, owner });
  return expected;
}

/** Compares `tailscale serve status --json` with the declaration. */
export function checkServe(host: Host, expected: ReadonlyMap<number, { target: string; owner: string }>, lines: readonly string[]): Check[] {
  const text = lines.join("\n").trim();
  if (text === "@@not-installed") {
    return [
      {
        ok: false,
        what: `tailscale is not installed, but hosts.${host.id}.tailscale.serve is true`,
        fix: "install Tailscale on the host, or set serve: false",
      },
    ];
  }
  let config: ServeConfig;
  try {
    config = text === "" ? {} : (JSON.parse(text.replace(/@@failed$/, "")) as ServeConfig);
  } catch {
    return [
      { ok: false, what: `tailscale serve status --json failed: ${text.split("\n").pop() ?? ""}`, fix: "check tailscaled on the host: tailscale status" },
    ];
  }
  const actual = new Map<number, string | undefined>();
  for (const [key, web] of Object.entries(config.Web ?? {})) {
    const port = Number(key.split(":").pop());
    actual.set(port, web.Handlers?.["/"]?.Proxy);
  }
  for (const port of Object.keys(config.TCP ?? {})) if (!actual.has(Number(port))) actual.set(Number(port), undefined);
  const checks: Check[] = [];
  for (const [port, { target, owner }] of [...expected].sort((a, b) => a[0] - b[0])) {
    const has = actual.get(port);
    const add = `tailscale serve --bg --yes --https=${port} ${target} (or run pulumi up)`;
    if (!actual.has(port)) checks.push({ ok: false, what: `Serve has no entry for https port ${port} (${owner})`, fix: add });
    else if (has !== target) checks.push({ ok: false, what: `Serve sends https port ${port} (${owner}) to ${has ?? "no proxy"}, not ${target}`, fix: add });
  }
  for (const [port, target] of [...actual].sort((a, b) => a[0] - b[0])) {
    if (!expected.has(port)) {
      checks.push({
        ok: false,
        what: `Serve publishes https port ${port} (to ${target ?? "no proxy"}), which this stack does not declare`,
        fix: `if nothing else on the host owns it: tailscale serve --https=${port} off`,
      });
    }
  }
  for (const [key, on] of Object.entries(config.AllowFunnel ?? {})) {
    if (on)
      checks.push({
        ok: false,
        what: `Funnel is on for ${key}: it is published to the internet`,
        fix: `tailscale funnel --https=${key.split(":").pop() ?? ""} off`,
      });
  }
  if (checks.length === 0) checks.push({ ok: true, what: `Tailscale Serve matches the declaration (${expected.size} entries)` });
  return checks;
}

/** The doctor's part of a runtime with state folders on its hosts; doctor asks the others through RuntimeOps.volumeState. */
function toolsOf(host: Host): HostStateOps {
  const tools = opsOf(host).hostState;
  if (tools === undefined) throw new Error(`host ${host.id}: its runtime has no state folders for doctor to check`);
  return tools;
}

/** Checks one host's probe output against the declaration. */
export function checkHost(host: Host, targets: readonly TenantTarget[], fleet: Fleet, output: string): Check[] {
  const found = sections(output);
  if (found === undefined)
    return [{ ok: false, what: "the doctor probe did not finish", fix: `run it by hand on the host to see why: ${output.trim().split("\n").pop() ?? ""}` }];
  const checks: Check[] = [];
  const gateways = hostGateways(fleet, host);
  checks.push(...toolsOf(host).doctorChecks(found.get("runtime") ?? [], fleet.image, declaredGateways(gateways)));
  if (host.tailscale.serve) checks.push(...checkServe(host, expectedServe(host, gateways), found.get("serve") ?? []));

  const wanted = new Map(stateDirsOf(host, gateways).map((d) => [d.path, d]));
  let dirsOk = 0;
  for (const line of found.get("dirs") ?? []) {
    const match = /^(\S+) (\S+) (.+)$/.exec(line);
    if (match === null) continue;
    const [, owner, mode, path = ""] = match;
    const dir = wanted.get(path);
    if (dir === undefined) continue;
    if (owner === "missing") {
      checks.push({ ok: false, what: `${path} (${dir.gatewayOf}) does not exist`, fix: "run pulumi up, which creates it" });
      continue;
    }
    const problems: string[] = [];
    if (mode !== "700") problems.push(`mode ${mode}, not 700`);
    if (dir.owner !== undefined && Number(owner) !== dir.owner) problems.push(`owner uid ${owner}, not ${dir.owner}`);
    if (problems.length === 0) {
      dirsOk += 1;
      continue;
    }
    const fixes = [
      ...(dir.owner !== undefined && Number(owner) !== dir.owner ? [`chown ${dir.owner}:${dir.owner} ${path}`] : []),
      ...(mode !== "700" ? [`chmod 0700 ${path}`] : []),
    ];
    checks.push({ ok: false, what: `${path} (${dir.gatewayOf}) has ${problems.join(" and ")}`, fix: fixes.join(" && ") });
  }
  const uids = [...new Set(gateways.map(({ spec }) => spec.process.uid))].join(", ");
  if (dirsOk > 0) checks.push({ ok: true, what: `${dirsOk} state directories are 0700${dirsOk > 1 ? `, gateway directories owned by uid ${uids}` : ""}` });

  for (const line of found.get("configs") ?? []) {
    const match = /^link (\S+) -> (.*)$/.exec(line);
    if (match === null) continue;
    checks.push({
      ok: false,
      what: `${match[1] ?? ""} is a link to ${match[2] ?? ""}, not the stack's config file; a deploy or restore would write through it`,
      fix: `rm ${match[1] ?? ""} and run pulumi up, which writes the file again`,
    });
  }
  for (const line of found.get("backups") ?? []) {
    const match = /^([df]) (\d+) (\d+) (.+)$/.exec(line);
    if (match === null) continue;
    const [, kind, owner, mode, path = ""] = match;
    const want = kind === "d" ? "700" : "600";
    const problems = [...(mode !== want ? [`mode ${mode}, not ${want}`] : []), ...(owner !== "0" ? [`owner uid ${owner}, not root`] : [])];
    if (problems.length === 0) continue;
    checks.push({
      ok: false,
      what: `backup ${kind === "d" ? "folder" : "archive"} ${path} has ${problems.join(" and ")}: archives hold the gateways' credentials`,
      fix: [...(owner !== "0" ? [`chown root:root ${path}`] : []), ...(mode !== want ? [`chmod 0${want} ${path}`] : [])].join(" && "),
    });
  }

  const sizes = readStateSizes(found.get("sizes") ?? []);
  let withinLimit = 0;
  for (const target of targets.filter((t) => t.stateLimitMb !== undefined)) {
    const kib = sizes.get(target.stateDir);
    const over = stateOverLimit(target, kib === undefined ? undefined : kib / 1024);
    if (over !== undefined) checks.push({ ok: false, ...over });
    else if (kib !== undefined) withinLimit += 1;
  }
  if (withinLimit > 0) checks.push({ ok: true, what: `state of ${withinLimit} tenant${withinLimit === 1 ? "" : "s"} within stateLimitMb` });

  const memory = new Map(
    (found.get("memory") ?? []).map((line) => {
      const match = /^(\w+):\s+(\d+) kB/.exec(line);
      return [match?.[1] ?? "", Math.round(Number(match?.[2] ?? 0) / 1024)] as const;
    }),
  );
  const total = memory.get("MemTotal");
  const available = memory.get("MemAvailable");
  const limits = gateways.reduce((sum, { spec }) => sum + spec.limits.memoryMb, 0);
  if (total !== undefined && total > 0) {
    if (host.memoryMb !== undefined && host.memoryMb > total) {
      checks.push({
        ok: false,
        what: `hosts.${host.id}.memoryMb (${host.memoryMb} MB) is more than the host has (${total} MB)`,
        fix: `set hosts.${host.id}.memoryMb to at most ${total} (less what the system needs)`,
      });
    }
    if (limits > total) {
      checks.push({
        ok: false,
        what: `the gateways' memory limits add up to ${limits} MB, more than the host's ${total} MB`,
        fix: "lower tenants' memoryMb, move tenants to another host, or add memory",
      });
    } else {
      checks.push({
        ok: true,
        what: `memory: limits ${limits} MB of ${total} MB${host.memoryMb === undefined ? "" : ` (budget ${host.memoryMb} MB)`}, ${available ?? "?"} MB available now`,
      });
    }
  }
  return checks;
}

/** Runs the doctor probe on every host at once. */
export async function doctor(runner: HostRunner, fleet: Fleet, hosts: readonly Host[], targets: readonly TenantTarget[]): Promise<HostReport[]> {
  return Promise.all(
    hosts.map(async (host) => {
      const mine = targets.filter((t) => t.host.id === host.id);
      const gateways = hostGateways(fleet, host);
      const volumeState = opsOf(host).volumeState;
      if (volumeState !== undefined) {
        const declared = declaredGateways(gateways);
        const result = await runner.run(host, ["sh", "-c", volumeState.doctorProbe(declared)]);
        const unreachable = unreachableError(host, result);
        if (unreachable !== undefined) return unreachableReport(host, unreachable);
        return { host: host.id, checks: volumeState.doctorChecks(result, declared) };
      }
      const dirs = stateDirsOf(host, gateways).map((d) => d.path);
      const gatewayDirs = [...new Set(mine.map((t) => t.gatewayStateDir))];
      const limited = [...new Set(mine.filter((t) => t.stateLimitMb !== undefined).map((t) => t.stateDir))];
      const probe = renderDoctorProbe(
        toolsOf(host),
        fleet.image,
        host.tailscale.serve,
        dirs,
        gatewayDirs,
        backupDirOf(host),
        declaredGateways(gateways),
        limited,
      );
      const result = await runner.run(host, ["sh", "-c", probe], { root: true });
      const unreachable = result.stdout.includes(mark("end")) ? undefined : unreachableError(host, result);
      if (unreachable !== undefined) return unreachableReport(host, unreachable);
      return { host: host.id, checks: checkHost(host, mine, fleet, result.stdout) };
    }),
  );
}

/** A host that did not answer: its one problem, and the fix its message gives. */
function unreachableReport(host: Host, unreachable: Error): HostReport {
  const [what = unreachable.message, ...fix] = unreachable.message.split("; ");
  return { host: host.id, checks: [{ ok: false, what, fix: fix.join("; ") }] };
}

/** The human report: per host, a mark per check and the fix under each problem. */
export function renderDoctor(reports: readonly HostReport[]): string {
  const lines: string[] = [];
  for (const report of reports) {
    const problems = report.checks.filter((c) => !c.ok).length;
    lines.push(`host ${report.host}: ${problems === 0 ? "ok" : `${problems} problem${problems === 1 ? "" : "s"}`}`);
    for (const check of report.checks) {
      lines.push(`  ${check.ok ? "ok " : "FIX"} ${check.what}`);
      if (check.fix !== undefined) lines.push(`      fix: ${check.fix}`);
    }
  }
  return lines.join("\n");
}
