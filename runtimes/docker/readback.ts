/**
 * What a host's Docker daemon stores for a gateway container, asked once per host. The daemon
 * merges values of its own into a new container, and the Docker provider reads them back
 * (kreuzwerker v4.5.0 resourceDockerContainerRead): a program that sends anything else sees a
 * change on every deploy. Three such merges:
 * - the image's HEALTHCHECK fills every health-check field the container leaves at zero (moby
 *   daemon/commit.go merge; StartInterval from API 1.44 on);
 * - the daemon's default log-opts join the container's own when its log driver is the daemon's
 *   default (moby daemon/logs.go mergeAndVerifyLogConfig, 20.10 and current), and the `cache-*`
 *   options whatever the driver; `logOpts` forces a new container;
 * - a kernel without swap accounting stores MemorySwap -1 (moby daemon/daemon_unix.go
 *   verifyPlatformContainerResources).
 * So the host's preparation creates (never starts) a container from the gateway image with the
 * gateway's log, memory and health-check settings, reads back what the daemon stored, removes
 * it, and the gateways send exactly that.
 */

import { asRoot, fail, script, shellQuote } from "../shell";
import type { GatewayHealth } from "../../components/gateway-spec";

/** Log driver of every gateway container. */
export const gatewayLogDriver = "json-file";

/** Log options every gateway sends (rotation); the daemon may add its defaults. */
export const gatewayLogOpts: Readonly<Record<string, string>> = { "max-size": "10m", "max-file": "3" };

/** The gateway's health-check timings in seconds, as the program sends them (0: left to the image, as Docker does). */
export interface HealthTimings {
  readonly intervalSeconds: number;
  readonly timeoutSeconds: number;
  readonly startPeriodSeconds: number;
  readonly startIntervalSeconds: number;
  readonly retries: number;
}

/** The gateway's health-check timings: its probe every 10 s, 5 s each, unhealthy after 3 failures; no start interval. */
export function healthTimings(health: Pick<GatewayHealth, "startPeriodSeconds">): HealthTimings {
  return { intervalSeconds: 10, timeoutSeconds: 5, startPeriodSeconds: health.startPeriodSeconds, startIntervalSeconds: 0, retries: 3 };
}

/** Label of the short-lived container the read-back creates, so a leftover is recognisable. */
export const readBackLabel = "clawfleet.readback";

/** Memory of the read-back container: any limit shows whether the daemon keeps a swap limit. */
const probeMemoryMb = 64;

export interface ReadBackArgs {
  readonly hostId: string;
  readonly image: string;
  readonly health: HealthTimings;
}

/**
 * Creates a container from the image with the gateway's log driver and options, a memory and
 * swap limit and the gateway's health-check timings (never started), prints what the daemon
 * stored as one JSON line, and removes it, also when the inspect fails. Changes nothing on the
 * host, so running it again is harmless.
 */
export function renderReadBack({ hostId, image, health }: ReadBackArgs): string {
  const host = shellQuote(hostId);
  const img = shellQuote(image);
  const logOpts = Object.entries(gatewayLogOpts).map(([key, value]) => `--log-opt ${shellQuote(`${key}=${value}`)}`);
  // Zero is left out, as the provider leaves it out (the Go client omits a zero duration).
  const durations: [string, number][] = [
    ["--health-interval", health.intervalSeconds],
    ["--health-timeout", health.timeoutSeconds],
    ["--health-start-period", health.startPeriodSeconds],
  ];
  if (health.startIntervalSeconds !== 0) throw new Error("the read-back sends no health-check start interval: docker create before 25.0 has no flag for it");
  const create = [
    "docker create",
    `--label ${readBackLabel}=true`,
    `--log-driver ${gatewayLogDriver}`,
    ...logOpts,
    `--memory ${probeMemoryMb}m --memory-swap ${probeMemoryMb}m`,
    "--health-cmd true",
    ...durations.filter(([, seconds]) => seconds !== 0).map(([flag, seconds]) => `${flag} ${seconds}s`),
    ...(health.retries === 0 ? [] : [`--health-retries ${health.retries}`]),
    img,
  ].join(" ");
  const format = `{"logConfig":{{json .HostConfig.LogConfig}},"memory":{{json .HostConfig.Memory}},"memorySwap":{{json .HostConfig.MemorySwap}},"healthcheck":{{json .Config.Healthcheck}}}`;
  return script(
    asRoot,
    fail,
    `id=$(as_root ${create}) || fail "host "${host}": Docker cannot create a container from "${img}" to read back its settings"`,
    `trap 'as_root docker rm -f "$id" >/dev/null 2>&1 || true' EXIT`,
    `as_root docker inspect --format ${shellQuote(format)} "$id"`,
  );
}

/** What the daemon stores for the gateway settings, in the provider's read-back form. */
export interface ReadBack {
  /** Every log option of the container: the gateway's own and the daemon's defaults. */
  readonly logOpts: Readonly<Record<string, string>>;
  /** The daemon keeps no swap limit (no swap accounting): it stores -1 whatever is sent. */
  readonly swapUnlimited: boolean;
  /** Health-check timings as Go prints durations, and retries. */
  readonly healthcheck: {
    readonly interval: string;
    readonly timeout: string;
    readonly startPeriod: string;
    readonly startInterval: string;
    readonly retries: number;
  };
}

/**
 * Go's time.Duration.String() of a whole number of nanoseconds: "0s", "500ms", "1.5s",
 * "1m30s", "1h0m0s" (the provider writes health-check durations back this way).
 */
export function goDurationOfNanos(nanos: number): string {
  if (!Number.isSafeInteger(nanos) || nanos < 0) throw new Error(`not a duration in nanoseconds: ${nanos}`);
  if (nanos === 0) return "0s";
  const fraction = (value: number, digits: number): string => {
    const whole = Math.floor(value / 10 ** digits);
    const rest = String(value % 10 ** digits)
      .padStart(digits, "0")
      .replace(/0+$/, "");
    return rest === "" ? String(whole) : `${whole}.${rest}`;
  };
  if (nanos < 1e3) return `${nanos}ns`;
  if (nanos < 1e6) return `${fraction(nanos, 3)}µs`;
  if (nanos < 1e9) return `${fraction(nanos, 6)}ms`;
  const hours = Math.floor(nanos / 3600e9);
  const minutes = Math.floor((nanos % 3600e9) / 60e9);
  const seconds = `${fraction(nanos % 60e9, 9)}s`;
  if (hours > 0) return `${hours}h${minutes}m${seconds}`;
  if (minutes > 0) return `${minutes}m${seconds}`;
  return seconds;
}

/** A duration in whole seconds as Go prints it. */
export function goDuration(seconds: number): string {
  return goDurationOfNanos(seconds * 1e9);
}

/** What the host would store if it merged nothing: the gateway's own settings (the offline plan has no host to ask). */
export function sentSettings(health: HealthTimings): ReadBack {
  return {
    logOpts: { ...gatewayLogOpts },
    swapUnlimited: false,
    healthcheck: {
      interval: goDuration(health.intervalSeconds),
      timeout: goDuration(health.timeoutSeconds),
      startPeriod: goDuration(health.startPeriodSeconds),
      startInterval: goDuration(health.startIntervalSeconds),
      retries: health.retries,
    },
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function nanosOf(value: unknown): number {
  // Docker leaves a zero duration out (omitempty): an absent StartInterval is 0, as on API < 1.44.
  if (value === undefined) return 0;
  if (typeof value !== "number") throw new Error(`a duration is ${JSON.stringify(value)}`);
  return value;
}

/**
 * Reads the read-back's output. Undefined (the offline plan, where no command runs) gives the
 * gateway's own settings; anything that is not the read-back's JSON is an error naming the host.
 */
export function parseReadBack(stdout: string | undefined, hostId: string, health: HealthTimings): ReadBack {
  if (stdout === undefined) return sentSettings(health);
  const problem = (what: string) =>
    new Error(
      `host "${hostId}": the Docker settings read back from the host ${what}; run the deploy again, and if it repeats, run the host's readback command by hand: ${stdout.trim().slice(0, 300)}`,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw problem("are not JSON");
  }
  if (!isRecord(parsed) || !isRecord(parsed["logConfig"]) || !isRecord(parsed["healthcheck"]) || typeof parsed["memorySwap"] !== "number") {
    throw problem("lack the log config, the swap limit or the health check");
  }
  const stored = parsed["logConfig"]["Config"];
  const logOpts: Record<string, string> = {};
  for (const [key, value] of Object.entries(isRecord(stored) ? stored : {})) logOpts[key] = String(value);
  for (const [key, value] of Object.entries(gatewayLogOpts)) {
    if (logOpts[key] !== value) throw problem(`store log option ${key}=${JSON.stringify(logOpts[key])} instead of ${JSON.stringify(value)}`);
  }
  if (parsed["memory"] === 0) {
    throw new Error(`host "${hostId}": Docker on this host does not limit memory (its kernel has no memory cgroup); gateways need their memoryMb enforced`);
  }
  const hc = parsed["healthcheck"];
  const retries = hc["Retries"] ?? 0;
  if (typeof retries !== "number") throw problem("hold health-check retries that are not a number");
  let healthcheck: ReadBack["healthcheck"];
  try {
    healthcheck = {
      interval: goDurationOfNanos(nanosOf(hc["Interval"])),
      timeout: goDurationOfNanos(nanosOf(hc["Timeout"])),
      startPeriod: goDurationOfNanos(nanosOf(hc["StartPeriod"])),
      startInterval: goDurationOfNanos(nanosOf(hc["StartInterval"])),
      retries,
    };
  } catch (error) {
    throw problem(`hold a health-check duration that is not one (${(error as Error).message})`);
  }
  return { logOpts, swapUnlimited: parsed["memorySwap"] === -1, healthcheck };
}

/** The container's memory swap limit in MB, in the form the daemon stores it on this host. */
export function memorySwapOf(readBack: ReadBack, memoryMb: number): number {
  return readBack.swapUnlimited ? -1 : memoryMb;
}
