import { writeFile } from "node:fs/promises";
import { collectFacts } from "../components/facts";
import { command, type Command } from "./command-line";
import { backup, parseSize, restore } from "./ops/backup";
import { doctor, renderDoctor } from "./ops/doctor";
import { offsiteBackup, offsiteList, offsiteRestore } from "./ops/offsite";
import { OpsError } from "./ops/errors";
import { devicesApprove, devicesList, exec, logs, pairingApprove, pairingList } from "./ops/gateway-verbs";
import { withProgress } from "./ops/host-shell";
import { collectStatus, renderStatusJson, renderStatusTable, unhealthyMessage } from "./ops/status";
import { allTargets, findHost, findTarget, loadFleet } from "./ops/targets";
import { noPrometheusError, prometheusTargets, renderFileSd, targetsNotes } from "./ops/prometheus-targets";
import { rollback } from "./ops/rollback";
import { collectUsage, renderUsageJson, renderUsageTable, usageErrors, usageRange } from "./ops/usage";
import { runWatch } from "./ops/watch";

const file = "<stack file>";

// Loaded when they run: the program and the Pulumi SDK behind them take seconds to load, which no day-2 verb needs.
const planning = () => ({ ...(require("./plan") as typeof import("./plan")), ...(require("./plan-output") as typeof import("./plan-output")) });
const diffing = () => require("./diff/run") as typeof import("./diff/run");
const json = (help: string) => ({ type: "boolean", help }) as const;

/** The tenant a day-2 verb names, with the fleet it was found in. */
async function tenantOf(positionals: readonly string[]) {
  const [stackFile = "", tenantId = ""] = positionals;
  const fleet = await loadFleet(stackFile);
  return { stackFile, fleet, target: findTarget(fleet, stackFile, tenantId) };
}

/**
 * Every command of the CLI, in the order `clawfleet --help` lists them: dispatch, parsing
 * (node:util parseArgs), usage lines and each `--help` come from here.
 */
export const commands: readonly Command[] = [
  command({
    name: "plan",
    group: "offline",
    args: [file],
    summary: "resources the stack would register (offline)",
    help: [
      "Runs the program for the stack file under a mock runtime: no Pulumi engine, no host, no credentials. Secure values",
      "print as [secret]. The default output is a tree of components and their resources.",
    ],
    options: {
      json: json("every resource as JSON (urn, type, name, parent, inputs, options)"),
      facts: json("the JSON with what each component states about itself (kind, host, state directory, child roles), as diff reads it"),
    },
    async run({ positionals: [stackFile = ""], options }, { out }) {
      const { planStackFile, renderPlanJson, renderPlanTree } = planning();
      // The tree describes each resource by what its component states it does.
      const { result: plan, facts } = await collectFacts(() => planStackFile(stackFile));
      out(options.facts ? renderPlanJson(plan, facts) : options.json ? renderPlanJson(plan) : renderPlanTree(plan, facts));
      return 0;
    },
  }),
  command({
    name: "diff",
    group: "offline",
    args: ["<base file>", "<head file>"],
    summary: "per-tenant review summary of a change",
    help: [
      "Plans both files (each in a process of its own) and names, tenant by tenant and host by host, what is added, changed",
      "in place, replaced (the gateway restarts) or removed, with a warning for each change that pauses chats or touches state.",
    ],
    options: { markdown: json("a pull-request comment instead of text (docs/sample-pr-comment.md)") },
    async run({ positionals: [base = "", head = ""], options }, { out }) {
      out(await diffing().diffStackFiles(base, head, options.markdown ? "markdown" : "text"));
      return 0;
    },
  }),
  command({
    name: "status",
    group: "day-2",
    args: [file],
    summary: "every declared tenant: state, health, ready, uptime, restarts, image, memory, last backup",
    help: [
      `Asks every host at once (one probe per host: its runtime's view of each gateway (Docker, or Kubernetes through kubectl), its memory in use, each gateway's own /readyz asked inside it, the backup folders). A tenant is healthy when its runtime's health check passes, its gateway says it is ready and no channel is held.`,
      "A declared tenant without a container shows as missing; a host that does not answer as unreachable.",
      "Exits 1 when any tenant is not healthy, naming each one on stderr.",
    ],
    options: { json: json("one JSON object instead of the table"), host: { type: "string", value: "<id>", help: "only the tenants of this host" } },
    async run({ positionals: [stackFile = ""], options }, { out, err, runner }) {
      const fleet = await loadFleet(stackFile);
      const hosts = options.host === undefined ? fleet.hosts : [findHost(fleet, stackFile, options.host)];
      const targets = allTargets(fleet).filter((t) => hosts.includes(t.host));
      const status = await withProgress(
        err,
        `waiting for ${hosts.length} host${hosts.length === 1 ? "" : "s"} to answer`,
        collectStatus(runner, targets, hosts, stackFile, fleet.image),
      );
      for (const { error } of status.unreachable) err(`clawfleet: ${error}`);
      out(options.json ? renderStatusJson(status) : renderStatusTable(status));
      if (!status.healthy && status.tenants.some((t) => !t.healthy)) err(`clawfleet: ${unhealthyMessage(status)}`);
      return status.healthy ? 0 : 1;
    },
  }),
  command({
    name: "logs",
    group: "day-2",
    args: [file, "<tenant>"],
    summary: "the tenant's gateway logs, secrets redacted",
    help: [
      `The log its runtime keeps of the tenant's gateway (a shared tenant: its host's shared gateway), read on its host (through kubectl for a Kubernetes host).`,
      "The gateway token and every declared secret are read from the gateway's environment and replaced by [redacted NAME].",
    ],
    options: {
      follow: { type: "boolean", short: "f", help: "keep printing new lines" },
      since: { type: "string", value: "<time>", help: "only lines since then: 10m, 2h, 2026-11-24T08:00:00" },
      tail: { type: "string", value: "<n>", help: "only the last n lines" },
    },
    async run({ positionals, options: { follow, since, tail } }, { out, err, runner }) {
      if (since !== undefined && !/^[0-9A-Za-z:.+-]{1,40}$/.test(since))
        throw new OpsError(`clawfleet logs: --since ${JSON.stringify(since)} is not a time; use 10m, 2h or 2026-11-24T08:00:00`, 2);
      if (tail !== undefined && !/^(\d{1,9}|all)$/.test(tail)) throw new OpsError(`clawfleet logs: --tail ${JSON.stringify(tail)} is not a number of lines`, 2);
      const { stackFile, target } = await tenantOf(positionals);
      return await logs(runner, target, stackFile, { follow, since, tail }, { out, err });
    },
  }),
  command({
    name: "exec",
    group: "day-2",
    args: [file, "<tenant>"],
    passThrough: "<openclaw args...>",
    summary: "the gateway's own CLI (openclaw ...) inside the tenant's gateway",
    help: [
      "Runs `openclaw <args>` in the tenant's running gateway container; output is redacted like logs.",
      "For a shared tenant, --agent <tenant> is added when the command takes it (openclaw <args> --help says so).",
      "Example: clawfleet exec stacks/Pulumi.prod.yaml alice -- sessions --json",
    ],
    options: {},
    async run({ positionals, passThrough }, { out, err, runner }) {
      const { stackFile, target } = await tenantOf(positionals);
      return await exec(runner, target, stackFile, passThrough, { out, err });
    },
  }),
  command({
    name: "pairing list",
    group: "day-2",
    args: [file, "<tenant>", "<channel>"],
    summary: "pending DM pairing requests of a chat channel (telegram, discord, slack)",
    help: ["Someone who writes to the bot with dmPolicy: pairing gets a code; this lists the codes waiting for approval."],
    options: { json: json("the requests as JSON") },
    async run({ positionals, options }, { out, err, runner }) {
      const { stackFile, target } = await tenantOf(positionals);
      return await pairingList(runner, target, stackFile, positionals[2] ?? "", options.json, { out, err });
    },
  }),
  command({
    name: "pairing approve",
    group: "day-2",
    args: [file, "<tenant>", "<channel>", "<code>"],
    summary: "approve a DM pairing code: the sender may write to the bot",
    help: ["The approval is kept in the gateway's state (state/openclaw.sqlite) and survives every deploy."],
    options: {},
    async run({ positionals }, { out, err, runner }) {
      const { stackFile, target } = await tenantOf(positionals);
      return await pairingApprove(runner, target, stackFile, positionals[2] ?? "", positionals[3] ?? "", { out, err });
    },
  }),
  command({
    name: "devices list",
    group: "day-2",
    args: [file, "<tenant>"],
    summary: "pending and paired devices (browsers, apps) of the tenant's gateway",
    help: ['A new browser opening the Control UI sees "Disconnected (1008): pairing required" and shows up here as pending.'],
    options: { json: json("the devices as JSON") },
    async run({ positionals, options }, { out, err, runner }) {
      const { stackFile, target } = await tenantOf(positionals);
      return await devicesList(runner, target, stackFile, options.json, { out, err });
    },
  }),
  command({
    name: "devices approve",
    group: "day-2",
    args: [file, "<tenant>", "<request>?"],
    summary: "approve a pending device request (the browser then connects)",
    help: ["Without <request>, prints the pending requests and asks for one: check the client and address first."],
    options: {},
    async run({ positionals }, { out, err, runner }) {
      const { stackFile, target } = await tenantOf(positionals);
      return await devicesApprove(runner, target, stackFile, positionals[2], { out, err });
    },
  }),
  command({
    name: "backup",
    group: "day-2",
    args: [file, "<tenant>?"],
    summary: "snapshot the tenant's gateway state on its host (openclaw backup create --verify); --offsite also copies it off the host, encrypted",
    help: [
      "The gateway keeps running. Prints the archive's path on the tenant's host (0600, in a 0700 folder).",
      "A shared tenant's archive holds its whole shared gateway.",
      "With --offsite (declared in backups.offsite), each archive is encrypted on its host with age to the declared",
      "recipient and uploaded to the S3 bucket; copies beyond keep are deleted. Without <tenant>: every gateway of the stack.",
      "The S3 credentials are read with pulumi config get (as pulumi up reads them) and reach the hosts on stdin only.",
    ],
    options: {
      to: {
        type: "string",
        value: "<dir>",
        help: [
          "absolute folder on the host, new or root's with mode 0700 (default: <stateRoot>/backups/manual/<container>;",
          "image changes keep theirs in <stateRoot>/backups/<container>, and rotate only those)",
        ],
      },
      offsite: { type: "boolean", help: "also encrypt the archive on its host and upload it to the declared bucket" },
      list: { type: "boolean", help: "list the off-host copies per gateway (count, newest, its age) and back up nothing" },
      json: json("with --list: the copies as JSON"),
    },
    async run({ positionals, options }, { out, err, runner }) {
      const [stackFile = "", tenantId] = positionals;
      if (options.offsite || options.list) {
        if (options.to !== undefined)
          throw new OpsError("clawfleet backup: --to cannot go with --offsite or --list; off-host copies start in the default folder", 2);
        if (options.offsite && options.list) throw new OpsError("clawfleet backup: give --offsite (make copies) or --list (show them), not both", 2);
        const fleet = await loadFleet(stackFile);
        const targets = tenantId === undefined ? allTargets(fleet) : [findTarget(fleet, stackFile, tenantId)];
        if (options.list) return await offsiteList(runner, fleet, targets, stackFile, process.env, new Date(), options.json, { out, err });
        return await offsiteBackup(runner, fleet, targets, stackFile, process.env, { out, err });
      }
      if (tenantId === undefined) throw new OpsError("clawfleet backup: name a tenant, or add --offsite to back up every gateway of the stack off its host", 2);
      const { target } = await tenantOf(positionals);
      return await backup(runner, target, stackFile, options.to, { out, err });
    },
  }),
  command({
    name: "restore",
    group: "day-2",
    args: [file, "<tenant>", "<archive>?"],
    summary: "put the tenant's gateway state back to an archive's time (the gateway restarts)",
    help: [
      "<archive> is a path on the tenant's host, as backup printed it (on a Kubernetes host: on the gateway's backup",
      "volume, <namespace>/<gateway>-backups:<path>). The current state is kept aside, the stack's config stays,",
      "and the command waits until the gateway is healthy again.",
      "The archive must hold this gateway's state, unpack to less than --max-size and hold no link out of the",
      "state directory; a gateway that was stopped stays stopped, and a failure after the swap puts the old state back.",
      "With --from-offsite, the copy is downloaded and decrypted on the tenant's host (the identity file is read here and",
      "reaches the host on stdin only, never its disk), then restored with the same checks; the decrypted archive is deleted.",
    ],
    options: {
      "whole-gateway": { type: "boolean", help: "required for a shared tenant: the restore covers every tenant of that gateway" },
      "from-other-gateway": { type: "string", value: "<from>", help: "put another gateway's state in on purpose (<from> as the refusal names it)" },
      "max-size": { type: "string", value: "<n>G|<n>M", help: "the most the archive may unpack to (default 10G)" },
      "from-offsite": { type: "string", value: "<key>|latest", help: "restore an off-host copy (a key as backup --list prints it, or the newest)" },
      identity: { type: "string", value: "<file>", help: "with --from-offsite: the age identity file (on this machine) that decrypts the copies" },
    },
    async run({ positionals, options }, { out, err, runner }) {
      const { stackFile, fleet, target } = await tenantOf(positionals);
      const peers = allTargets(fleet)
        .filter((t) => t.tier === "shared" && t.host.id === target.host.id)
        .map((t) => t.id);
      const maxSize = options["max-size"] ?? "10G";
      const maxBytes = parseSize(maxSize);
      if (maxBytes === undefined)
        throw new OpsError(`clawfleet restore: --max-size ${JSON.stringify(maxSize)} is not a size; use a whole number of GiB or MiB such as 20G or 512M`, 2);
      const chosen = { wholeGateway: options["whole-gateway"], fromOtherGateway: options["from-other-gateway"], maxBytes };
      const fromOffsite = options["from-offsite"];
      if (fromOffsite !== undefined) {
        if (positionals[2] !== undefined) throw new OpsError("clawfleet restore: give an <archive> on the host or --from-offsite, not both", 2);
        const identity = options.identity;
        if (identity === undefined)
          throw new OpsError("clawfleet restore: --from-offsite needs --identity <file>, the age identity that decrypts the copies", 2);
        return await offsiteRestore(runner, fleet, target, stackFile, fromOffsite, identity, chosen, peers, process.env, { out, err });
      }
      if (options.identity !== undefined) throw new OpsError("clawfleet restore: --identity goes with --from-offsite", 2);
      if (positionals[2] === undefined)
        throw new OpsError("clawfleet restore: give the <archive> on the tenant's host, as backup printed it, or --from-offsite latest", 2);
      return await restore(runner, target, stackFile, positionals[2], chosen, peers, { out, err });
    },
  }),
  command({
    name: "rollback",
    group: "day-2",
    args: [file],
    summary: "put each dedicated gateway back on the image it ran before its last image change, on the backup taken right before it",
    help: [
      "For every dedicated tenant of the host(s) whose gateway runs another image than the one recorded beside its newest",
      "pre-upgrade archive: that archive goes back into its state directory (the replaced state is kept at",
      "<state>.before-rollback-<time>, the stack's openclaw.json stays), and a container of the previous image with the",
      "gateway's settings, environment and labels starts on it. One tenant after the other, each waited for until healthy;",
      "a gateway that already runs that image is left alone, so running it again does nothing. Declare that image (or one",
      "that works) before the next pulumi up: its deploy replaces the rolled-back container on the restored state.",
      "Exits 1 when any rollback failed or a host did not answer.",
    ],
    options: { host: { type: "string", value: "<id>", help: "only the tenants of this host" } },
    async run({ positionals: [stackFile = ""], options }, { out, err, runner }) {
      const fleet = await loadFleet(stackFile);
      const hosts = options.host === undefined ? fleet.hosts : [findHost(fleet, stackFile, options.host)];
      return await rollback(runner, allTargets(fleet), hosts, stackFile, { out, err });
    },
  }),
  command({
    name: "doctor",
    group: "day-2",
    args: [file],
    summary: "per host: Docker, the image, Tailscale Serve, state directory owners and modes, memory (Kubernetes: each gateway's objects)",
    help: ["Every problem comes with its fix. Exits 1 when there is any problem."],
    options: { host: { type: "string", value: "<id>", help: "only this host" }, json: json("the checks as JSON") },
    async run({ positionals: [stackFile = ""], options }, { out, err, runner }) {
      const fleet = await loadFleet(stackFile);
      const hosts = options.host === undefined ? fleet.hosts : [findHost(fleet, stackFile, options.host)];
      const reports = await withProgress(err, "waiting for the hosts to answer", doctor(runner, fleet, hosts, allTargets(fleet)));
      out(options.json ? JSON.stringify({ hosts: reports }, null, 2) : renderDoctor(reports));
      return reports.every((r) => r.checks.every((c) => c.ok)) ? 0 : 1;
    },
  }),
  command({
    name: "usage",
    group: "day-2",
    args: [file],
    summary: "tokens and estimated cost per tenant and per host, from each gateway's own usage.cost",
    help: [
      "Asks each gateway inside its container (openclaw gateway call usage.cost): a dedicated tenant's whole gateway, a shared",
      "tenant's agent in its host's shared gateway. Cost is openclaw's estimate from the prices of the models' config.",
      "Hosts are asked a few at a time, each call bounded; a host or gateway that does not answer is named on stderr with",
      "why, the others still print, and the exit code is 1.",
    ],
    options: {
      since: { type: "string", value: "<YYYY-MM-DD>", help: "from this day (UTC) to today (default: this calendar month, UTC)" },
      days: { type: "string", value: "<n>", help: "the last n days, today included" },
      host: { type: "string", value: "<id>", help: "only the tenants of this host" },
      json: json("one JSON object instead of the table"),
    },
    async run({ positionals: [stackFile = ""], options }, { out, err, runner }) {
      const range = usageRange(options, new Date());
      const fleet = await loadFleet(stackFile);
      const hosts = options.host === undefined ? fleet.hosts : [findHost(fleet, stackFile, options.host)];
      const targets = allTargets(fleet).filter((t) => hosts.includes(t.host));
      const usage = await withProgress(
        err,
        `waiting for ${hosts.length} host${hosts.length === 1 ? "" : "s"} to answer`,
        collectUsage(runner, targets, hosts, { stack: stackFile, range, hostsAtOnce: 8, timeoutSeconds: 120 }),
      );
      const problems = usageErrors(usage);
      for (const line of problems) err(`clawfleet: ${line}`);
      out(options.json ? renderUsageJson(usage) : renderUsageTable(usage));
      return problems.length === 0 ? 0 : 1;
    },
  }),
  command({
    name: "targets",
    group: "day-2",
    args: [file],
    summary: "a Prometheus file_sd list of the gateways whose host declares observability.prometheus",
    help: [
      "One target per gateway, labelled tenant, host, tier, stack and gateway, with the metrics path and scheme. Offline:",
      "reads only the stack file. The list holds no token; stderr says how each gateway's scrape authenticates.",
    ],
    options: { out: { type: "string", value: "<file>", help: "write the list to this file (default: standard output)" } },
    async run({ positionals: [stackFile = ""], options }, { out, err }) {
      const fleet = await loadFleet(stackFile);
      const entries = prometheusTargets(fleet, planning().stackNameOf(stackFile));
      if (entries.length === 0) throw noPrometheusError(stackFile);
      const text = renderFileSd(entries);
      if (options.out === undefined) out(text.trimEnd());
      else await writeFile(options.out, text);
      for (const line of targetsNotes(fleet, entries)) err(line);
      return 0;
    },
  }),
  command({
    name: "watch",
    group: "day-2",
    args: [file],
    summary: "keep polling every host and alert once when a gateway, a channel or a host goes wrong, and once when it recovers",
    help: [
      "Asks each host what status asks, in a loop of its own, and reports a change: a gateway not healthy or not ready,",
      "a channel that cannot connect or that openclaw's restart-loop breaker holds, a host that does not answer.",
      "One alert when a problem starts (problems present at start included), nothing more while it lasts, one",
      "resolved message when it ends. Lines go to stdout; with a webhook each event is also POSTed to it as JSON.",
      "Runs until SIGINT or SIGTERM (exit 130 or 143, every ssh and docker process it started stopped).",
    ],
    options: {
      webhook: { type: "string", value: "<url>", help: "POST each event here (or set CLAWFLEET_WEBHOOK_URL, which keeps it out of ps)" },
      interval: { type: "string", value: "<s>", help: "seconds between two polls of a host (default 60)" },
      timeout: { type: "string", value: "<s>", help: "a host that takes longer counts as not answering (default 60)" },
      "backup-max-age": { type: "string", value: "<h>", help: "also alert a gateway whose newest backup on its host is older than this many hours" },
      once: { type: "boolean", help: "poll every host once, report what is wrong, exit 0 (nothing) or 1" },
      json: json("each event as one JSON line (the webhook's payload)"),
    },
    async run({ positionals: [stackFile = ""], options }, { out, err, runner }) {
      return await runWatch(runner, await loadFleet(stackFile), stackFile, options, process.env, { out, err });
    },
  }),
];
