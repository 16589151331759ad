/**
 * What the CLI asks of a runtime, apart from deploying: the commands a day-2 verb runs on a
 * gateway's host and how to read what they print, and how `clawfleet plan` describes the
 * runtime's resources. Pure: nothing here loads Pulumi or a provider, so the day-2 verbs start fast.
 */
import type { GatewaySpec } from "../components/gateway-spec";

/** What a command printed and how it ended. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Set when the command was stopped for taking longer than its bound, in seconds. */
  readonly timedOutSeconds?: number;
}

/** A gateway as its runtime reports it. */
export interface GatewayState {
  /** The runtime's state word (running, exited, restarting, ...); `missing` when there is no such gateway. */
  readonly status: string;
  /** The runtime's health status, when the gateway has a health check. */
  readonly health: string | undefined;
  /** The gateway's environment (it holds the gateway token: keep it in memory only). */
  readonly env: readonly string[];
  /**
   * Its credentials file's text, when the runtime read it with the gateway's state (Kubernetes: from its Secret);
   * undefined: read it from the gateway or its host. Kept in memory only.
   */
  readonly credentialsFile?: string | undefined;
}

/** One gateway's line in a host's status probe. */
export interface GatewayStatus {
  readonly status: string;
  readonly health: string | undefined;
  /** ISO time of the current start. */
  readonly startedAt: string;
  readonly restarts: number;
  readonly image: string;
  /** The image that failed when a rollback put this container back on the previous one (`clawfleet rollback`, the health gate). */
  readonly rolledBackFrom?: string | undefined;
  /** Memory in use, in MB (running gateways only). */
  readonly memoryMb: number | undefined;
}

/** One check on one host: passed, or a problem with the command or change that fixes it. */
export interface Check {
  readonly ok: boolean;
  readonly what: string;
  readonly fix?: string;
}

export interface LogsOptions {
  readonly follow: boolean;
  readonly since: string | undefined;
  readonly tail: string | undefined;
}

/** A planned resource as `clawfleet plan` shows it. */
export interface ResourceView {
  readonly type: string;
  readonly inputs: Readonly<Record<string, unknown>>;
}

/** What the declaration says one gateway runs with, as doctor compares it with the running one. */
export interface DeclaredGateway {
  /** Its name on the host. */
  readonly name: string;
  /** Whose it is, in messages: `tenant alice`, `the shared gateway`. */
  readonly owner: string;
  /** The gateway as the program deploys it: its running copy is compared with this. */
  readonly spec: GatewaySpec;
  /** Its egress policy: the ranges allowed inside the blocked ones; undefined when it is not blocked. */
  readonly egressAllow: readonly string[] | undefined;
  /** The program's resource that sets its egress rules (`alice-egress`), named in the fix. */
  readonly egressResource: string;
}

/** The verbs' work on a host that holds its gateways' state in folders (RuntimeOps.hostState). */
export interface HostStateOps {
  /**
   * The repository's scripts (in scripts/) that back a gateway up with `openclaw backup create --verify` and
   * restore it, run on its host as `bash -s -- <gateway> <dir or archive>` with OPENCLAW_CLI set.
   */
  readonly scripts: { readonly backup: string; readonly restore: string };
  /**
   * A script, run on the gateway's host as root with `any` as its one argument, that puts the gateway back on the
   * image it ran before its last image change, on the pre-upgrade archive in `backupDir`. It prints one tab-separated
   * line: `done`, the image that failed, the image put back, the archive, where the replaced state is kept and the
   * gateway's health; or `none` and why nothing was done.
   */
  rollbackScript(spec: GatewaySpec, backupDir: string): string;
  /** Shell lines of the doctor probe that print what doctorChecks reads, for the declared `gateways`. */
  doctorProbe(image: string, gateways: readonly DeclaredGateway[]): string[];
  /**
   * The doctor's checks of the runtime on one host: it answers, it has the image, and each running
   * gateway still has the isolation and limits it was deployed with (drift by hand: a container
   * recreated under the same name, a `docker update`, an added capability).
   */
  doctorChecks(lines: readonly string[], image: string, gateways: readonly DeclaredGateway[]): Check[];
}

/** What a restore asks for, whatever runs the gateway. */
export interface RestoreRequest {
  /** The gateway the archive must come from: `tenant:<id>` or `shared`. */
  readonly origin: string;
  /** The other gateway an archive comes from, as the refusal named it, when its state goes in on purpose. */
  readonly fromOtherGateway: string | undefined;
  /** The most bytes the archive may unpack to. */
  readonly maxBytes: number;
}

/** The verbs' work on a runtime whose gateways keep their state in volumes, run from this machine (RuntimeOps.volumeState). */
export interface VolumeStateOps {
  /**
   * The script `clawfleet backup` runs: it archives the gateway's state with its own tool onto the gateway's backup
   * volume, reports its progress on stderr and prints where the archive is as its last line.
   */
  backup(spec: GatewaySpec): string;
  /**
   * The archive's path on the gateway's backup volume, from what `clawfleet backup` printed or the path on the volume;
   * or why it names none.
   */
  archiveOf(spec: GatewaySpec, archive: string): { readonly path: string } | { readonly error: string };
  /**
   * The script `clawfleet restore` runs: it checks the archive, then puts its state in with the gateway stopped and
   * starts it again if it ran. Progress on stderr, ending with `the previous state is kept at <where>` (and
   * `left stopped on the restored state` for a gateway that was stopped); a refusal or failure as its last line.
   */
  restore(spec: GatewaySpec, path: string, request: RestoreRequest): string;
  /**
   * The script `clawfleet rollback` runs for a gateway: back to the image it ran before its last image change, on the
   * archive taken right before it. It prints one tab-separated line: `done`, the image that failed, the image put back,
   * the archive, where the replaced state is kept and the gateway's health; or `none` and why nothing was done. The
   * archive must come from `origin` (`tenant:<id>`).
   */
  rollback(spec: GatewaySpec, origin: string): string;
  /** The command `clawfleet doctor` runs on this machine for a host's declared `gateways`; doctorChecks reads its result. */
  doctorProbe(gateways: readonly DeclaredGateway[]): string;
  /** The doctor's checks of the host: each gateway as declared, ready, its volumes bound; what the runtime cannot limit. */
  doctorChecks(result: CommandResult, gateways: readonly DeclaredGateway[]): Check[];
}

export interface RuntimeOps {
  /** The runtime's name in messages: `Docker`. */
  readonly name: string;
  /**
   * What a runtime whose gateways keep their state in folders on their host can do there as root: back up, restore,
   * roll back, and the doctor's checks. Undefined when its state is elsewhere (a Kubernetes volume): volumeState does
   * those verbs there, and the off-host copies refuse its hosts.
   */
  readonly hostState?: HostStateOps | undefined;
  /** For a runtime whose gateways keep their state in volumes: how backup, restore, rollback and doctor reach them. */
  readonly volumeState?: VolumeStateOps | undefined;
  /** The command that reports one gateway's state, health and environment; readGateway reads its result. */
  inspectCommand(gateway: string): string[];
  /** The gateway's state, or the reason the runtime could not tell (the host's own failures are read before). */
  readGateway(result: CommandResult): GatewayState | { readonly error: string };
  /** Runs `argv` inside the running gateway. */
  execCommand(gateway: string, argv: readonly string[]): string[];
  /** Prints the gateway's log; works on a stopped gateway too. */
  logsCommand(gateway: string, options: LogsOptions): string[];
  /** Shell lines of the status probe that print what readStatus reads, for the declared `gateways`. */
  statusProbe(gateways: readonly string[]): string[];
  /** The probe's lines, by gateway name; a gateway that is not there has none. */
  readStatus(lines: readonly string[]): ReadonlyMap<string, GatewayStatus>;
  /** A failure of the runtime itself (its daemon down, not installed), as a message with its fix; undefined otherwise. */
  hostFailure(result: CommandResult): string | undefined;
  /** Notes that `clawfleet plan` prints after one of the runtime's resources; undefined for types it does not own. */
  describe(resource: ResourceView): string[] | undefined;
}
