import type { Problem } from "./errors";
import type { Host } from "./schema";

/**
 * Rules about the machines behind host ids. Host preparation makes the state root
 * 0700 and a purge deletes directories under it, so a state root must not be a
 * system directory, and two host ids that reach one machine must not share state,
 * ports or the shared gateway's container.
 */

/** `/a//b/` -> `/a/b`: the form paths are compared in. */
export function normalizePath(path: string): string {
  const trimmed = path.replace(/\/+/g, "/").replace(/\/$/, "");
  return trimmed === "" ? "/" : trimmed;
}

/** Trees of the operating system, the container engine and Tailscale: no state root inside them. */
const systemTrees = [
  "/bin",
  "/boot",
  "/dev",
  "/etc",
  "/lib",
  "/lib32",
  "/lib64",
  "/libx32",
  "/proc",
  "/run",
  "/sbin",
  "/sys",
  "/usr",
  "/var/run",
  "/var/lock",
  "/var/lib/docker",
  "/var/lib/containerd",
  "/var/lib/tailscale",
];

/** Directories that hold other programs' data side by side: a state root goes below them, never on them. */
const sharedParents = ["/var/lib", "/var/log", "/var/cache", "/var/spool", "/var/mail", "/var/backups", "/var/opt", "/var/local", "/var/tmp"];

/** Directories any user may write into: a directory directly inside can be created first by someone else. */
const worldWritable = ["/tmp", "/var/tmp"];

/** Why `stateRoot` is a system directory, or undefined when it is not. */
export function systemDirectoryProblem(stateRoot: string): string | undefined {
  const path = normalizePath(stateRoot);
  const tree = systemTrees.find((root) => path === root || path.startsWith(`${root}/`));
  if (tree !== undefined) {
    return `is ${path === tree ? "" : "inside "}${tree}, a system directory that host preparation would chmod 0700; use a directory of its own such as /srv/clawfleet or /var/lib/clawfleet`;
  }
  const depth = path.split("/").length - 1;
  if (depth < 2 || sharedParents.includes(path)) {
    return `is ${path}, a directory other programs or users share; host preparation would chmod it 0700 and a purge deletes below it: use a directory of its own such as ${worldWritable.includes(path) ? "/srv" : path}/clawfleet`;
  }
  const open = worldWritable.find((root) => path.startsWith(`${root}/`) && depth === root.split("/").length);
  if (open !== undefined) {
    return `is directly inside ${open}, where any user can create ${path} first; use a directory below one of your own, such as ${path}/state`;
  }
  return undefined;
}

/** What makes two host ids one machine: no ssh (this machine), or the same ssh host and port. */
function machineOf(host: Host): { key: string; words: string } {
  if (host.ssh === undefined) return { key: "local", words: "neither has ssh, so both are this machine" };
  const name = host.ssh.host.toLowerCase().replace(/\.$/, "");
  return { key: `ssh:${name}:${host.ssh.port}`, words: `both reach ssh ${name} port ${host.ssh.port}` };
}

/** True when `inner` is `outer` or a directory below it. */
function within(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(outer === "/" ? "/" : `${outer}/`);
}

interface Claim {
  readonly host: Host;
  readonly from: number;
  readonly to: number;
  readonly field: "ports" | "shared.port";
}

/**
 * Problems between host ids that are one machine: equal or nested state roots, more
 * than one shared gateway, and ports
 * claimed twice. Each line names both hosts. Sorting keeps it O(n log n) in hosts.
 */
export function checkSharedMachines(hosts: readonly Host[]): Problem[] {
  const problems: Problem[] = [];
  const machines = new Map<string, Host[]>();
  // Kubernetes hosts share no machine: their gateways' names, volumes and Service ports are each their own.
  for (const host of hosts) {
    if (host.kubernetes !== undefined) continue;
    const { key } = machineOf(host);
    const group = machines.get(key);
    if (group === undefined) machines.set(key, [host]);
    else group.push(host);
  }
  for (const group of machines.values()) {
    if (group.length < 2) continue;
    const why = (a: Host, b: Host) => `hosts ${a.id} and ${b.id} are one machine (${machineOf(a).words})`;

    // Sorted with "/" appended, every directory comes right before the ones below it.
    const roots = group
      .flatMap((host) => (host.stateRoot === undefined ? [] : [{ host, path: normalizePath(host.stateRoot) }]))
      .sort((a, b) => compare(`${a.path}/`, `${b.path}/`));
    const open: { host: Host; path: string }[] = [];
    for (const root of roots) {
      while (open.length > 0 && !within(root.path, (open[open.length - 1] as { path: string }).path)) open.pop();
      const outer = open[open.length - 1];
      if (outer !== undefined) {
        const relation = outer.path === root.path ? "is the same directory as" : "is inside";
        problems.push({
          path: `hosts.${root.host.id}.stateRoot`,
          message: `${root.path} ${relation} hosts.${outer.host.id}.stateRoot (${outer.path}), and ${why(root.host, outer.host)}; a purge on one would delete the other's state: give each host a state root of its own, neither inside the other`,
        });
      }
      open.push(root);
    }

    const withShared = group.filter((host) => host.shared !== undefined);
    const first = withShared[0];
    for (const host of withShared.slice(1)) {
      problems.push({
        path: `hosts.${host.id}.shared`,
        message: `hosts.${(first as Host).id} declares a shared gateway too, and ${why(host, first as Host)}; one shared gateway serves all shared tenants of a machine: keep shared on one of them`,
      });
    }

    const claims: Claim[] = group.flatMap((host) => [
      { host, from: host.ports.from, to: host.ports.to, field: "ports" as const },
      // A second shared gateway is reported above; its port would only repeat that.
      ...(host.shared === undefined || host !== first ? [] : [{ host, from: host.shared.port, to: host.shared.port, field: "shared.port" as const }]),
    ]);
    claims.sort((a, b) => a.from - b.from || a.to - b.to);
    // The claim reaching furthest so far, and the furthest one of any other host.
    let reach: Claim | undefined;
    let other: Claim | undefined;
    const reported = new Set<string>();
    for (const claim of claims) {
      const rival = reach !== undefined && reach.host !== claim.host ? reach : other;
      if (rival !== undefined && claim.from <= rival.to) {
        const pair = [claim.host.id, rival.host.id].sort(compare).join("\n");
        if (!reported.has(pair)) {
          reported.add(pair);
          problems.push({
            path: `hosts.${claim.host.id}.${claim.field}`,
            message: `${describeClaim(claim)} overlaps hosts.${rival.host.id}.${rival.field} (${describeClaim(rival)}), and ${why(claim.host, rival.host)}; give hosts on one machine ports that do not overlap`,
          });
        }
      }
      if (reach === undefined || claim.to > reach.to) {
        if (reach !== undefined && reach.host !== claim.host) other = reach;
        reach = claim;
      } else if (claim.host !== reach.host && (other === undefined || claim.to > other.to)) {
        other = claim;
      }
    }
  }
  return problems;
}

function describeClaim(claim: Claim): string {
  return claim.from === claim.to ? `${claim.from}` : `${claim.from}-${claim.to}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
