import type { Problem } from "./errors";

/**
 * Host ports for dedicated gateways.
 *
 * A pinned port (`port:`) is used as is. An unpinned tenant's port is derived from
 * its own id and its host's range only: FNV-1a of the id, modulo the range size,
 * offset by `from`, stepping once past the host's shared-gateway port. So adding,
 * removing, renaming or reordering other tenants never moves it. When two tenants
 * land on one port, that is an error naming both; pinning one resolves it.
 */

export interface PortRange {
  readonly from: number;
  readonly to: number;
}

export interface PortRequest {
  readonly tenant: string;
  readonly host: string;
  readonly pinned: number | undefined;
}

export interface HostPorts {
  readonly range: PortRange;
  readonly sharedPort: number | undefined;
}

/** 32-bit FNV-1a over the UTF-8 bytes of `text`. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, "utf8")) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** The port an unpinned tenant gets on a host: a function of the id and the host's ports only. */
export function derivePort(tenant: string, host: HostPorts): number {
  const { from, to } = host.range;
  const size = to - from + 1;
  const port = from + (fnv1a(tenant) % size);
  if (port !== host.sharedPort || size === 1) return port;
  return port === to ? from : port + 1;
}

export interface Allocation {
  readonly ports: ReadonlyMap<string, { port: number; derived: boolean }>;
  readonly problems: readonly Problem[];
}

/** Assigns every request a port and reports every range or collision problem. */
export function allocatePorts(requests: readonly PortRequest[], hosts: ReadonlyMap<string, HostPorts>): Allocation {
  const ports = new Map<string, { port: number; derived: boolean }>();
  const problems: Problem[] = [];
  const owners = new Map<string, PortRequest>();

  for (const request of requests) {
    const host = hosts.get(request.host);
    if (host === undefined) continue;
    const path = `tenants.${request.tenant}.port`;
    const { from, to } = host.range;
    if (request.pinned !== undefined) {
      if (request.pinned < from || request.pinned > to) {
        problems.push({
          path,
          message: `${request.pinned} is outside host ${request.host}'s range ${from}-${to}; pick a port in the range or widen hosts.${request.host}.ports`,
        });
        continue;
      }
      if (request.pinned === host.sharedPort) {
        problems.push({
          path,
          message: `${request.pinned} is the shared gateway's port on host ${request.host} (hosts.${request.host}.shared.port); pick another port`,
        });
        continue;
      }
    }
    const port = request.pinned ?? derivePort(request.tenant, host);
    if (port === host.sharedPort) {
      // Only possible when the range is the single shared port: there is nothing to derive.
      problems.push({
        path,
        message: `host ${request.host}'s range ${from}-${to} holds only the shared gateway's port; widen hosts.${request.host}.ports or pin a port`,
      });
      continue;
    }
    const key = `${request.host}:${port}`;
    const owner = owners.get(key);
    if (owner !== undefined) {
      problems.push({
        path,
        message: `port ${port} on host ${request.host} is also tenants.${owner.tenant}'s ${describe(owner)}; pin one of them to a free port with port: in ${from}-${to}`,
      });
      continue;
    }
    owners.set(key, request);
    ports.set(request.tenant, { port, derived: request.pinned === undefined });
  }
  return { ports, problems };
}

function describe(request: PortRequest): string {
  return request.pinned === undefined ? "derived port" : "pinned port";
}
