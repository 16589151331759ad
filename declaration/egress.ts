import { egressBlockedRanges } from "../names";

/** An IPv4 range as a network address and a prefix length. */
export interface Ipv4Range {
  readonly base: number;
  readonly prefix: number;
}

function octets(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255)) return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** `10.1.2.0/24` or a bare `10.1.2.3` (a /32); undefined for anything else. */
export function parseIpv4Range(text: string): Ipv4Range | undefined {
  const match = /^([0-9.]+)(?:\/(\d{1,2}))?$/.exec(text);
  if (match === null) return undefined;
  const base = octets(match[1] ?? "");
  const prefix = match[2] === undefined ? 32 : Number(match[2]);
  if (base === undefined || prefix > 32) return undefined;
  return { base, prefix };
}

export function formatIpv4Range({ base, prefix }: Ipv4Range): string {
  return `${[24, 16, 8, 0].map((shift) => (base >>> shift) & 255).join(".")}/${prefix}`;
}

/** True when every address of `inner` is inside `outer`. */
export function rangeWithin(inner: Ipv4Range, outer: Ipv4Range): boolean {
  return inner.prefix >= outer.prefix && (inner.base & maskOf(outer.prefix)) >>> 0 === outer.base;
}

/** Why `text` cannot be an allowed egress range, or undefined when it can. */
export function egressAllowProblem(text: string): string | undefined {
  const range = parseIpv4Range(text);
  if (range === undefined) {
    if (/[a-zA-Z]/.test(text)) {
      return "is a name, not an address range; iptables resolves a name once, when the rule is inserted, so the rule would go stale when the address changes: write the address or range instead, such as 10.20.0.0/16 or 10.20.0.5";
    }
    return "must be an IPv4 address or range, such as 10.20.0.5 or 10.20.0.0/16";
  }
  const network = (range.base & maskOf(range.prefix)) >>> 0;
  if (network !== range.base) return `has bits set past /${range.prefix}; write the range as ${formatIpv4Range({ base: network, prefix: range.prefix })}`;
  if (!egressBlockedRanges.some((blocked) => rangeWithin(range, parseIpv4Range(blocked.cidr) as Ipv4Range))) {
    return `is outside the ranges a gateway is kept from (${egressBlockedRanges.map((b) => b.cidr).join(", ")}); other addresses are always reachable, so remove it`;
  }
  return undefined;
}

/** The allowed range in the form iptables prints it: `10.20.0.5` becomes `10.20.0.5/32`. */
export function normalizeEgressAllow(text: string): string {
  const range = parseIpv4Range(text);
  return range === undefined ? text : formatIpv4Range(range);
}
