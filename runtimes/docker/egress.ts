/**
 * A gateway's egress policy as host firewall rules: a chain of its own, reached from Docker's `DOCKER-USER`
 * chain for packets that come in from the gateway's network bridge. Docker evaluates `DOCKER-USER` before its
 * own forwarding rules and never flushes it; an internal network would break the published loopback port.
 * Pure: the text of the scripts and of doctor's probe, nothing that loads Pulumi.
 */

import { createHash } from "node:crypto";
import { egressBlockedRanges } from "../../names";
import { asRoot, fail, script, shellQuote } from "../shell";

/** The Docker chain the jumps go in. */
export const dockerUserChain = "DOCKER-USER";

/** The chain of a gateway's rules, named after its network (iptables chain names are at most 28 characters). */
export function egressChainOf(network: string): string {
  return `CLAWFLEET-${createHash("sha256").update(network).digest("hex").slice(0, 16)}`;
}

/** The comment on a gateway's jump rule, so a reader of `iptables -S` sees whose it is (no spaces: the scripts split rules into words). */
export function egressCommentOf(network: string): string {
  return `clawfleet-egress:${network}`;
}

/**
 * Shell lines that print the IPv4 resolvers Docker's embedded DNS forwards to, one per line: those of
 * /etc/resolv.conf, or systemd-resolved's upstream list when that names only its stub (Docker reads the same).
 * Before Docker 26 the embedded DNS forwards from the gateway's own network namespace, so its queries pass
 * through the gateway's rules like any other packet.
 */
export const printResolvers = [
  `resolvers() {`,
  `  conf=/etc/resolv.conf`,
  `  if [ "$(awk '$1 == "nameserver" { print $2 }' /etc/resolv.conf 2>/dev/null)" = 127.0.0.53 ] && [ -f /run/systemd/resolve/resolv.conf ]; then conf=/run/systemd/resolve/resolv.conf; fi`,
  `  awk '$1 == "nameserver" { print $2 }' "$conf" 2>/dev/null | grep -E '^[0-9]{1,3}(\\.[0-9]{1,3}){3}$' | grep -v '^127\\.' || true`,
  `}`,
].join("\n");

/** The bridge interface of a Docker network, into $bridge (Docker names it br-<first 12 of the id> unless told otherwise). */
function findBridge(hostId: string, network: string): string[] {
  const name = shellQuote(network);
  return [
    `id=$(as_root docker network inspect --format '{{.Id}}' ${name} 2>/dev/null) || fail "host "${shellQuote(hostId)}": network "${name}" does not exist, so its egress rules cannot be set; run pulumi up again"`,
    `bridge=$(as_root docker network inspect --format '{{index .Options "com.docker.network.bridge.name"}}' ${name})`,
    `[ -n "$bridge" ] || bridge="br-$(printf '%s' "$id" | cut -c1-12)"`,
    `[ -e "/sys/class/net/$bridge" ] || fail "host "${shellQuote(hostId)}": network "${name}" has no bridge $bridge on the host, so its egress rules would not match; check docker network inspect "${name}`,
  ];
}

/** Removes every jump to `chain` from DOCKER-USER, or only those from another bridge than $bridge. */
function removeJumps(chain: string, keepCurrentBridge: boolean): string[] {
  return [
    `as_root iptables -S ${dockerUserChain} 2>/dev/null | grep -e ${shellQuote(` -j ${chain}$`)}${keepCurrentBridge ? ` | grep -v -e " -i $bridge "` : ""} | while read -r _ rule; do`,
    // iptables' own text of a rule this program wrote (it quotes the comment): no word holds a space or a quote.
    `  rule=$(printf '%s' "$rule" | tr -d '"')`,
    `  # shellcheck disable=SC2086`,
    `  as_root iptables -D $rule`,
    `done`,
  ];
}

export interface EgressArgs {
  readonly hostId: string;
  /** The gateway's Docker network (also its container name). */
  readonly network: string;
  /** Allowed ranges inside the blocked ones, as iptables prints them. */
  readonly allow: readonly string[];
}

/**
 * Sets a gateway's egress rules: the chain is filled in one iptables-restore transaction (a re-run replaces its
 * rules, never adds to them), then one jump from DOCKER-USER for the network's bridge is made sure of. Packets
 * of connections the gateway did not open, packets that stay on its own network, the host's DNS resolvers on
 * port 53 and the allowed ranges pass;
 * new connections to the blocked ranges are refused (icmp admin-prohibited, so a client fails at once).
 */
export function renderEgressApply({ hostId, network, allow }: EgressArgs): string {
  const chain = egressChainOf(network);
  const host = shellQuote(hostId);
  const rules = [
    `-A ${chain} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
    ...allow.map((range) => `-A ${chain} -d ${range} -j RETURN`),
    ...egressBlockedRanges.map(({ cidr }) => `-A ${chain} -d ${cidr} -j REJECT --reject-with icmp-admin-prohibited`),
  ];
  return script(
    asRoot,
    fail,
    printResolvers,
    `set -f`,
    `as_root iptables -S ${dockerUserChain} >/dev/null 2>&1 || fail "host "${host}": the firewall has no ${dockerUserChain} chain (Docker makes it when it manages iptables, its default); start Docker with iptables on, or set hosts.${hostId}.egress.blockPrivate: false"`,
    ...findBridge(hostId, network),
    `{`,
    `  echo '*filter'`,
    `  echo ${shellQuote(`:${chain} - [0:0]`)}`,
    `  echo ${shellQuote(rules[0] ?? "")}`,
    // Traffic that stays on the gateway's own network (a client container joined to it) is not egress; with
    // br_netfilter on, Docker sends bridged packets through FORWARD too, so without this the gateway's own
    // network address (in 172.16.0.0/12) would be refused to its neighbours.
    `  echo "-A ${chain} -o $bridge -j RETURN"`,
    `  for ns in $(resolvers); do`,
    `    echo "-A ${chain} -d $ns/32 -p udp --dport 53 -j RETURN"`,
    `    echo "-A ${chain} -d $ns/32 -p tcp --dport 53 -j RETURN"`,
    `  done`,
    ...rules.slice(1).map((rule) => `  echo ${shellQuote(rule)}`),
    `  echo COMMIT`,
    `} | as_root iptables-restore --noflush || fail "host "${host}": iptables-restore refused the egress rules of ${shellQuote(network)}"`,
    `jump="${dockerUserChain} -i $bridge -m comment --comment ${egressCommentOf(network)} -j ${chain}"`,
    `# shellcheck disable=SC2086`,
    `as_root iptables -C $jump 2>/dev/null || as_root iptables -I $jump`,
    ...removeJumps(chain, true),
    `# ${network}: private, link-local and 100.64.0.0/10 refused; allowed: ${allow.length === 0 ? "none" : allow.join(", ")}`,
  );
}

/** Removes a gateway's egress rules: its jumps and its chain. Nothing left is fine. */
export function renderEgressRemove({ network }: { readonly network: string }): string {
  const chain = egressChainOf(network);
  return script(
    asRoot,
    `set -f`,
    ...removeJumps(chain, false),
    `as_root iptables -F ${chain} 2>/dev/null || true`,
    `as_root iptables -X ${chain} 2>/dev/null || true`,
  );
}

/** What doctor needs of one gateway's egress policy. */
export interface DeclaredEgress {
  readonly name: string;
  readonly owner: string;
  readonly allow: readonly string[];
  readonly resource: string;
}

/** Shell lines of doctor's probe (run as root): the resolvers, each network's bridge, DOCKER-USER and each gateway's chain. */
export function egressProbe(gateways: readonly DeclaredEgress[]): string[] {
  if (gateways.length === 0) return [];
  return [
    printResolvers,
    `echo "egress-resolvers $(resolvers | tr '\\n' ' ')"`,
    ...gateways.map(
      ({ name }) =>
        `echo "egress-network ${name} $(docker network inspect --format '{{.Id}} {{index .Options "com.docker.network.bridge.name"}}' ${shellQuote(name)} 2>/dev/null || echo missing)"`,
    ),
    `iptables -S ${dockerUserChain} 2>&1 | sed 's/^/egress-rule /'`,
    ...gateways.map(({ name }) => `iptables -S ${egressChainOf(name)} 2>/dev/null | sed 's/^/egress-rule /'`),
  ];
}

/** One problem doctor found with a gateway's egress rules, and its fix. */
export interface EgressProblem {
  readonly gateway: DeclaredEgress;
  readonly what: string;
  readonly fix: string;
}

/**
 * Compares the rules in place with the declaration: a jump from the network's bridge to the gateway's chain, a
 * REJECT for every blocked range, a RETURN for every allowed range and for the host's resolvers on port 53, and no
 * other RETURN. A gateway whose network does not exist is left to status.
 */
export function checkEgress(lines: readonly string[], gateways: readonly DeclaredEgress[]): { problems: EgressProblem[]; ok: number } {
  const field = (prefix: string) => lines.filter((l) => l.startsWith(`${prefix} `)).map((l) => l.slice(prefix.length + 1).replaceAll('"', ""));
  const resolvers = (field("egress-resolvers")[0] ?? "").split(" ").filter((r) => r !== "");
  const rules = field("egress-rule");
  const networks = new Map(
    field("egress-network").map((line) => {
      const [name = "", id = "", ...option] = line.split(" ");
      // Go's template prints a missing option as "<no value>" when other fields share the line.
      const bridge = option.join(" ").trim();
      return [name, { id, bridge: bridge === "<no value>" ? "" : bridge }] as const;
    }),
  );
  const problems: EgressProblem[] = [];
  let ok = 0;
  for (const gateway of gateways) {
    const network = networks.get(gateway.name);
    if (network === undefined || network.id === "missing" || network.id === "") continue;
    const bridge = network.bridge !== "" ? network.bridge : `br-${network.id.slice(0, 12)}`;
    const chain = egressChainOf(gateway.name);
    const fix = `re-apply them: pulumi up --target-replace <urn of ${gateway.resource}> (pulumi stack --show-urns lists it)`;
    const mine = rules.filter((r) => r.startsWith(`-A ${chain} `));
    const jumped = rules.some((r) => r.startsWith(`-A ${dockerUserChain} `) && r.includes(` -i ${bridge} `) && r.endsWith(` -j ${chain}`));
    if (!rules.includes(`-N ${chain}`) || !jumped) {
      problems.push({
        gateway,
        what: `has no egress rules in place (${!rules.includes(`-N ${chain}`) ? `chain ${chain} is missing` : `no jump from ${bridge} in ${dockerUserChain}`}): it can reach private and link-local addresses; after a reboot the firewall starts empty`,
        fix,
      });
      continue;
    }
    const wrong: string[] = [];
    for (const { cidr } of egressBlockedRanges) {
      if (!mine.some((r) => r.includes(` -d ${cidr} `) && r.includes("-j REJECT"))) wrong.push(`${cidr} is not blocked`);
    }
    const returns = mine.filter((r) => r.endsWith("-j RETURN") && / -d \S+/.test(r));
    for (const range of gateway.allow) if (!returns.some((r) => r.includes(` -d ${range} `))) wrong.push(`allowed ${range} is not let through`);
    for (const ns of resolvers) {
      if (!returns.some((r) => r.includes(` -d ${ns}/32 `) && r.includes("--dport 53"))) wrong.push(`resolver ${ns} is not let through on port 53 (DNS fails)`);
    }
    for (const r of returns) {
      const dest = / -d (\S+)/.exec(r)?.[1] ?? "";
      if (r.includes("--dport 53") && resolvers.some((ns) => `${ns}/32` === dest)) continue;
      if (!gateway.allow.includes(dest)) wrong.push(`${dest} is let through but not declared`);
    }
    if (wrong.length > 0) problems.push({ gateway, what: `egress rules differ from the declaration: ${[...new Set(wrong)].join("; ")}`, fix });
    else ok += 1;
  }
  return { problems, ok };
}
