import { DeclarationError } from "../../declaration/errors";
import { backup, parseSize, restore } from "./backup";
import { doctor, renderDoctor } from "./doctor";
import { runtimeOps } from "../runtime";
import { OpsError } from "./errors";
import { devicesApprove, devicesList, exec, logs, pairingApprove, pairingList, type Writers } from "./gateway-verbs";
import { processRunner, withProgress, type HostRunner } from "./host-shell";
import { collectStatus, renderStatusJson, renderStatusTable, unhealthyMessage } from "./status";
import { allTargets, findHost, findTarget, loadFleet } from "./targets";
import { runWatch } from "./watch";

type FlagKind = "boolean" | "value";

interface VerbSpec {
  /** Positional arguments after the verb, in order; `?` marks an optional one. */
  readonly args: readonly string[];
  readonly flags: Readonly<Record<string, FlagKind>>;
  readonly summary: string;
  /** Lines after the usage line in `--help`. */
  readonly help: readonly string[];
}

const file = "<stack file>";

/** Every day-2 verb: what it takes and what its `--help` says. */
export const verbs: Readonly<Record<string, VerbSpec>> = {
  status: {
    args: [file],
    flags: { "--json": "boolean", "--host": "value" },
    summary: "every declared tenant: state, health, ready, uptime, restarts, image, memory, last backup",
    help: [
      `Asks every host at once (one probe per host: ${runtimeOps.name}'s view of each gateway, its memory in use, each gateway's own /readyz asked inside it, the backup folders). A tenant is healthy when Docker's check passes, its gateway says it is ready and no channel is held.`,
      "A declared tenant without a container shows as missing; a host that does not answer as unreachable.",
      "Exits 1 when any tenant is not healthy, naming each one on stderr.",
      "  --json         one JSON object instead of the table",
      "  --host <id>    only the tenants of this host",
    ],
  },
  logs: {
    args: [file, "<tenant>"],
    flags: { "--follow": "boolean", "--since": "value", "--tail": "value" },
    summary: "the tenant's gateway logs, secrets redacted",
    help: [
      `The log ${runtimeOps.name} keeps of the tenant's gateway (a shared tenant: its host's shared gateway), read on its host.`,
      "The gateway token and every declared secret are read from the gateway's environment and replaced by [redacted NAME].",
      "  --follow, -f      keep printing new lines",
      "  --since <time>    only lines since then: 10m, 2h, 2026-11-24T08:00:00",
      "  --tail <n>        only the last n lines",
    ],
  },
  exec: {
    args: [file, "<tenant>"],
    flags: {},
    summary: "the gateway's own CLI (openclaw ...) inside the tenant's gateway",
    help: [
      "Runs `openclaw <args>` in the tenant's running gateway container; output is redacted like logs.",
      "For a shared tenant, --agent <tenant> is added when the command takes it (openclaw <args> --help says so).",
      "Example: clawfleet exec stacks/Pulumi.prod.yaml alice -- sessions --json",
    ],
  },
  "pairing list": {
    args: [file, "<tenant>", "<channel>"],
    flags: { "--json": "boolean" },
    summary: "pending DM pairing requests of a chat channel (telegram, discord, slack)",
    help: ["Someone who writes to the bot with dmPolicy: pairing gets a code; this lists the codes waiting for approval."],
  },
  "pairing approve": {
    args: [file, "<tenant>", "<channel>", "<code>"],
    flags: {},
    summary: "approve a DM pairing code: the sender may write to the bot",
    help: ["The approval is kept in the gateway's state (state/openclaw.sqlite) and survives every deploy."],
  },
  "devices list": {
    args: [file, "<tenant>"],
    flags: { "--json": "boolean" },
    summary: "pending and paired devices (browsers, apps) of the tenant's gateway",
    help: ['A new browser opening the Control UI sees "Disconnected (1008): pairing required" and shows up here as pending.'],
  },
  "devices approve": {
    args: [file, "<tenant>", "<request>?"],
    flags: {},
    summary: "approve a pending device request (the browser then connects)",
    help: ["Without <request>, prints the pending requests and asks for one: check the client and address first."],
  },
  backup: {
    args: [file, "<tenant>"],
    flags: { "--to": "value" },
    summary: "snapshot the tenant's gateway state on its host (openclaw backup create --verify)",
    help: [
      "The gateway keeps running. Prints the archive's path on the tenant's host (0600, in a 0700 folder).",
      "A shared tenant's archive holds its whole shared gateway.",
      "  --to <dir>    absolute folder on the host, new or root's with mode 0700 (default: <stateRoot>/backups/manual/<container>;",
      "                image changes keep theirs in <stateRoot>/backups/<container>, and rotate only those)",
    ],
  },
  restore: {
    args: [file, "<tenant>", "<archive>"],
    flags: { "--whole-gateway": "boolean", "--from-other-gateway": "value", "--max-size": "value" },
    summary: "put the tenant's gateway state back to an archive's time (the gateway restarts)",
    help: [
      "<archive> is a path on the tenant's host, as backup printed it. The current state is kept aside, the",
      "stack's openclaw.json stays, and the command waits until the gateway is healthy again.",
      "The archive must hold this gateway's state, unpack to less than --max-size and hold no link out of the",
      "state directory; a gateway that was stopped stays stopped, and a failure after the swap puts the old state back.",
      "  --whole-gateway             required for a shared tenant: the restore covers every tenant of that gateway",
      "  --from-other-gateway <from> put another gateway's state in on purpose (<from> as the refusal names it)",
      "  --max-size <n>G|<n>M        the most the archive may unpack to (default 10G)",
    ],
  },
  doctor: {
    args: [file],
    flags: { "--host": "value", "--json": "boolean" },
    summary: "per host: Docker, the image, Tailscale Serve, state directory owners and modes, memory",
    help: ["Every problem comes with its fix. Exits 1 when there is any problem.", "  --host <id>    only this host", "  --json         the checks as JSON"],
  },
  watch: {
    args: [file],
    flags: { "--webhook": "value", "--interval": "value", "--timeout": "value", "--once": "boolean", "--json": "boolean" },
    summary: "keep polling every host and alert once when a gateway, a channel or a host goes wrong, and once when it recovers",
    help: [
      "Asks each host what status asks, in a loop of its own, and reports a change: a gateway not healthy or not ready,",
      "a channel that cannot connect or that openclaw's restart-loop breaker holds, a host that does not answer.",
      "One alert when a problem starts (problems present at start included), nothing more while it lasts, one",
      "resolved message when it ends. Lines go to stdout; with a webhook each event is also POSTed to it as JSON.",
      "Runs until SIGINT or SIGTERM (exit 130 or 143, every ssh and docker process it started stopped).",
      "  --webhook <url>     POST each event here (or set CLAWFLEET_WEBHOOK_URL, which keeps it out of ps)",
      "  --interval <s>      seconds between two polls of a host (default 60)",
      "  --timeout <s>       a host that takes longer counts as not answering (default 60)",
      "  --once              poll every host once, report what is wrong, exit 0 (nothing) or 1",
      "  --json              each event as one JSON line (the webhook's payload)",
    ],
  },
};

const subverbs: Readonly<Record<string, readonly string[]>> = { pairing: ["list", "approve"], devices: ["list", "approve"] };

/** The verbs `clawfleet` hands to this module. */
export const opsVerbs: readonly string[] = ["status", "logs", "exec", "pairing", "devices", "backup", "restore", "doctor", "watch"];

function usageLine(name: string, spec: VerbSpec): string {
  const args = spec.args.map((a) => (a.endsWith("?") ? `[${a.slice(0, -1)}]` : a)).join(" ");
  const flags = Object.entries(spec.flags).map(([flag, kind]) => (kind === "value" ? `[${flag} <value>]` : `[${flag}]`));
  return `clawfleet ${name} ${args}${flags.length > 0 ? ` ${flags.join(" ")}` : ""}${name === "exec" ? " -- <openclaw args...>" : ""}`;
}

export function helpOf(name: string): string {
  const spec = verbs[name];
  if (spec === undefined) return "";
  return [`usage: ${usageLine(name, spec)}`, "", spec.summary, "", ...spec.help].join("\n");
}

/** The day-2 lines of `clawfleet --help`. */
export function opsUsage(): string {
  return Object.entries(verbs)
    .map(([name, spec]) => `  ${usageLine(name, spec)}\n      ${spec.summary}`)
    .join("\n");
}

interface Parsed {
  readonly name: string;
  readonly positionals: readonly string[];
  readonly flags: ReadonlyMap<string, string | true>;
  /** `exec`: the arguments for the gateway's CLI. */
  readonly passThrough: readonly string[];
  readonly help: boolean;
}

/** Parses a verb's arguments; a usage problem is an OpsError with exit code 2. */
export function parseVerb(verb: string, argv: readonly string[]): Parsed {
  let rest = [...argv];
  let name = verb;
  const subs = subverbs[verb];
  if (subs !== undefined) {
    const sub = rest[0];
    if (sub === undefined || sub === "--help" || sub === "-h") {
      return { name: verb, positionals: [], flags: new Map(), passThrough: [], help: true };
    }
    if (!subs.includes(sub))
      throw new OpsError(`clawfleet ${verb}: unknown command ${JSON.stringify(sub)}; use one of: ${subs.map((s) => `${verb} ${s}`).join(", ")}`, 2);
    name = `${verb} ${sub}`;
    rest = rest.slice(1);
  }
  const spec = verbs[name];
  if (spec === undefined) throw new OpsError(`unknown command ${verb}`, 2);
  const dashes = rest.indexOf("--");
  const own = dashes === -1 ? rest : rest.slice(0, dashes);
  let passThrough = dashes === -1 ? [] : rest.slice(dashes + 1);
  if (name !== "exec" && passThrough.length > 0) {
    throw new OpsError(
      `clawfleet ${name}: unexpected ${passThrough.map((a) => JSON.stringify(a)).join(" ")} after --; only exec passes arguments on to the gateway`,
      2,
    );
  }
  const positionals: string[] = [];
  const flags = new Map<string, string | true>();
  let help = false;
  for (let i = 0; i < own.length; i += 1) {
    const arg = own[i] ?? "";
    if (arg === "--help" || arg === "-h") {
      help = true;
      continue;
    }
    if (name === "exec" && positionals.length >= 2) {
      // Without `--`, everything after the tenant belongs to the gateway's CLI.
      passThrough = [...own.slice(i), ...passThrough];
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const [flag = arg, inline] =
      arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const canonical = flag === "-f" && name === "logs" ? "--follow" : flag;
    const kind = spec.flags[canonical];
    if (kind === undefined) throw new OpsError(`clawfleet ${name}: unknown option ${flag}; see clawfleet ${name} --help`, 2);
    if (kind === "boolean") {
      if (inline !== undefined) throw new OpsError(`clawfleet ${name}: ${flag} takes no value`, 2);
      flags.set(canonical, true);
      continue;
    }
    const value = inline ?? own[i + 1];
    if (value === undefined || (inline === undefined && value.startsWith("--")))
      throw new OpsError(`clawfleet ${name}: ${flag} needs a value; see clawfleet ${name} --help`, 2);
    if (inline === undefined) i += 1;
    flags.set(canonical, value);
  }
  if (!help) {
    const required = spec.args.filter((a) => !a.endsWith("?")).length;
    if (positionals.length < required || positionals.length > spec.args.length) {
      const missing = spec.args[positionals.length];
      throw new OpsError(
        positionals.length < required
          ? `clawfleet ${name}: missing ${missing ?? "argument"}; usage: ${usageLine(name, spec)}`
          : `clawfleet ${name}: unexpected argument ${JSON.stringify(positionals[spec.args.length])}; usage: ${usageLine(name, spec)}`,
        2,
      );
    }
    if (name === "exec" && passThrough.length === 0) throw new OpsError(`clawfleet exec: nothing to run; usage: ${usageLine(name, spec)}`, 2);
  }
  return { name, positionals, flags, passThrough, help };
}

const value = (parsed: Parsed, flag: string): string | undefined => {
  const v = parsed.flags.get(flag);
  return typeof v === "string" ? v : undefined;
};

/** Runs one day-2 verb; returns the exit code. Output goes through the given writers, whole lines at a time. */
export async function runOps(
  verb: string,
  argv: readonly string[],
  out: (text: string) => void,
  err: (text: string) => void,
  runner: HostRunner = processRunner,
): Promise<number> {
  const io: Writers = { out, err };
  try {
    const parsed = parseVerb(verb, argv);
    if (parsed.help) {
      out(subverbs[parsed.name] !== undefined ? subverbs[parsed.name]!.map((s) => helpOf(`${parsed.name} ${s}`)).join("\n\n") : helpOf(parsed.name));
      return 0;
    }
    const [stackFile = "", tenantId = ""] = parsed.positionals;
    const fleet = await loadFleet(stackFile);
    const positional = (index: number) => parsed.positionals[index] ?? "";
    switch (parsed.name) {
      case "status": {
        const hostId = value(parsed, "--host");
        const hosts = hostId === undefined ? fleet.hosts : [findHost(fleet, stackFile, hostId)];
        const targets = allTargets(fleet).filter((t) => hosts.includes(t.host));
        const status = await withProgress(
          err,
          `waiting for ${hosts.length} host${hosts.length === 1 ? "" : "s"} to answer`,
          collectStatus(runner, targets, hosts, stackFile, fleet.image),
        );
        for (const { error } of status.unreachable) err(`clawfleet: ${error}`);
        out(parsed.flags.has("--json") ? renderStatusJson(status) : renderStatusTable(status));
        if (!status.healthy && status.tenants.some((t) => !t.healthy)) err(`clawfleet: ${unhealthyMessage(status)}`);
        return status.healthy ? 0 : 1;
      }
      case "logs": {
        const since = value(parsed, "--since");
        const tail = value(parsed, "--tail");
        if (since !== undefined && !/^[0-9A-Za-z:.+-]{1,40}$/.test(since))
          throw new OpsError(`clawfleet logs: --since ${JSON.stringify(since)} is not a time; use 10m, 2h or 2026-11-24T08:00:00`, 2);
        if (tail !== undefined && !/^(\d{1,9}|all)$/.test(tail))
          throw new OpsError(`clawfleet logs: --tail ${JSON.stringify(tail)} is not a number of lines`, 2);
        return await logs(runner, findTarget(fleet, stackFile, tenantId), stackFile, { follow: parsed.flags.has("--follow"), since, tail }, io);
      }
      case "exec":
        return await exec(runner, findTarget(fleet, stackFile, tenantId), stackFile, parsed.passThrough, io);
      case "pairing list":
        return await pairingList(runner, findTarget(fleet, stackFile, tenantId), stackFile, positional(2), parsed.flags.has("--json"), io);
      case "pairing approve":
        return await pairingApprove(runner, findTarget(fleet, stackFile, tenantId), stackFile, positional(2), positional(3), io);
      case "devices list":
        return await devicesList(runner, findTarget(fleet, stackFile, tenantId), stackFile, parsed.flags.has("--json"), io);
      case "devices approve":
        return await devicesApprove(runner, findTarget(fleet, stackFile, tenantId), stackFile, parsed.positionals[2], io);
      case "backup":
        return await backup(runner, findTarget(fleet, stackFile, tenantId), stackFile, value(parsed, "--to"), io);
      case "restore": {
        const target = findTarget(fleet, stackFile, tenantId);
        const peers = allTargets(fleet)
          .filter((t) => t.tier === "shared" && t.host.id === target.host.id)
          .map((t) => t.id);
        const maxSize = value(parsed, "--max-size") ?? "10G";
        const maxBytes = parseSize(maxSize);
        if (maxBytes === undefined)
          throw new OpsError(`clawfleet restore: --max-size ${JSON.stringify(maxSize)} is not a size; use a whole number of GiB or MiB such as 20G or 512M`, 2);
        const options = { wholeGateway: parsed.flags.has("--whole-gateway"), fromOtherGateway: value(parsed, "--from-other-gateway"), maxBytes };
        return await restore(runner, target, stackFile, positional(2), options, peers, io);
      }
      case "doctor": {
        const hostId = value(parsed, "--host");
        const hosts = hostId === undefined ? fleet.hosts : [findHost(fleet, stackFile, hostId)];
        const reports = await withProgress(err, "waiting for the hosts to answer", doctor(runner, fleet, hosts, allTargets(fleet)));
        out(parsed.flags.has("--json") ? JSON.stringify({ hosts: reports }, null, 2) : renderDoctor(reports));
        return reports.every((r) => r.checks.every((c) => c.ok)) ? 0 : 1;
      }
      case "watch":
        return await runWatch(runner, fleet, stackFile, parsed.flags, process.env, io);
      default:
        throw new OpsError(`unknown command ${parsed.name}`, 2);
    }
  } catch (error) {
    if (error instanceof OpsError) {
      err(error.message.startsWith("clawfleet") ? error.message : `clawfleet: ${error.message}`);
      return error.exitCode;
    }
    if (error instanceof DeclarationError) {
      err(error.message);
      return 1;
    }
    throw error;
  }
}
