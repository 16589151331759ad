/** Stack files for the benchmark: `dedicated` tenants spread over hosts of 100, plus a few shared tenants per host. */

export const tenantsPerHost = 100;
export const sharedPerHost = 3;
/** A well-formed SSH host key; the plan never connects. */
const benchHostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDUZzTanz2CG879Q/C5QdK2PZPff1WcVXzIN8hc23EtF";

export interface FleetShape {
  readonly dedicated: number;
}

export function hostIds(shape: FleetShape): string[] {
  return Array.from({ length: Math.max(1, Math.ceil(shape.dedicated / tenantsPerHost)) }, (_, i) => `gw${String(i).padStart(3, "0")}`);
}

export function dedicatedId(index: number): string {
  return `u${String(index).padStart(5, "0")}`;
}

export function sharedId(host: string, index: number): string {
  return `${host}-team${index}`;
}

/** One dedicated tenant's YAML lines, its port pinned (unique on its host); `model` lets a variant change it. */
export function dedicatedLines(index: number, host: string, model = "anthropic/claude-sonnet-4-5", port = 20000 + (index % tenantsPerHost)): string[] {
  return [
    `    ${dedicatedId(index)}:`,
    "      tier: dedicated",
    `      host: ${host}`,
    `      model: ${model}`,
    `      port: ${port}`,
    `      labels: { team: t${index % 7} }`,
    `      channels: { telegram: { dmPolicy: allowlist, allowFrom: ["${100000 + index}"] } }`,
  ];
}

export function sharedLines(host: string, index: number, model = "anthropic/claude-haiku-4-5"): string[] {
  return [
    `    ${sharedId(host, index)}:`,
    "      tier: shared",
    `      host: ${host}`,
    `      model: ${model}`,
    `      bindings: [{ channel: telegram, peer: { kind: group, id: "-100${index}${host.slice(2)}" } }]`,
  ];
}

export interface Variant {
  /** One more dedicated tenant, on the first host. */
  readonly addDedicated?: boolean;
  /** Dedicated tenant left out (index). */
  readonly removeDedicated?: number;
  /** Dedicated tenant whose model changes (index). */
  readonly changeDedicatedModel?: number;
  /** One more shared tenant, on the first host. */
  readonly addShared?: boolean;
  /** Shared tenant (on the first host, index) whose model changes. */
  readonly changeSharedModel?: number;
}

/** The id of the tenant a variant adds. */
export function addedDedicatedId(shape: FleetShape): string {
  return dedicatedId(shape.dedicated);
}

/** The stack YAML for a fleet shape, optionally with one tenant added, removed or changed. */
export function stackYaml(shape: FleetShape, variant: Variant = {}): string {
  const hosts = hostIds(shape);
  const lines = ["config:", "  clawfleet:image: ghcr.io/openclaw/openclaw:2026.9.6", "  clawfleet:hosts:"];
  for (const host of hosts) {
    // One machine per host id, reached over SSH (host ids on one machine must not share state or ports).
    lines.push(
      `    ${host}:`,
      `      ssh: { host: ${host}.example-tailnet.ts.net, user: deploy, hostKey: "${benchHostKey}" }`,
      `      stateRoot: /srv/clawfleet`,
      "      ports: { from: 20000, to: 29999 }",
      "      shared: { port: 18789, model: anthropic/claude-sonnet-4-5 }",
      `      tailscale: { serve: true, dnsName: ${host}.example-tailnet.ts.net }`,
    );
  }
  lines.push("  clawfleet:tenants:");
  for (let index = 0; index < shape.dedicated; index += 1) {
    if (index === variant.removeDedicated) continue;
    const host = hosts[Math.floor(index / tenantsPerHost) % hosts.length] as string;
    lines.push(...dedicatedLines(index, host, index === variant.changeDedicatedModel ? "anthropic/claude-opus-4-1" : undefined));
  }
  // Outside the ports every host's first 100 tenants pin.
  if (variant.addDedicated === true) lines.push(...dedicatedLines(shape.dedicated, hosts[0] as string, undefined, 20000 + tenantsPerHost));
  for (const host of hosts) {
    const first = host === hosts[0];
    for (let index = 0; index < sharedPerHost + (variant.addShared === true && first ? 1 : 0); index += 1) {
      lines.push(...sharedLines(host, index, first && index === variant.changeSharedModel ? "anthropic/claude-opus-4-1" : undefined));
    }
  }
  return `${lines.join("\n")}\n`;
}
