import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { healthStartPeriodSeconds } from "../../names";
import { goDuration, goDurationOfNanos, healthTimings, memorySwapOf, parseReadBack, renderReadBack, sentSettings } from "../../runtimes/docker/readback";

const timings = healthTimings({ startPeriodSeconds: healthStartPeriodSeconds });

/** `docker inspect` output as Docker 20.10 (API 1.41) prints it for the read-back container: no StartInterval. */
function inspected(overrides: { config?: Record<string, string>; memory?: number; memorySwap?: number; healthcheck?: Record<string, unknown> } = {}): string {
  return JSON.stringify({
    logConfig: { Type: "json-file", Config: overrides.config ?? { "max-file": "3", "max-size": "10m" } },
    memory: overrides.memory ?? 67108864,
    memorySwap: overrides.memorySwap ?? 67108864,
    healthcheck: overrides.healthcheck ?? { Test: ["CMD-SHELL", "true"], Interval: 10e9, Timeout: 5e9, StartPeriod: 120e9, Retries: 3 },
  });
}

describe("goDurationOfNanos", () => {
  it("prints durations as Go's time.Duration.String() does", () => {
    // Each right-hand side is what Go 1.26 prints for the left.
    const cases: [number, string][] = [
      [0, "0s"],
      [1, "1ns"],
      [1500, "1.5µs"],
      [500e6, "500ms"],
      [1_500_000, "1.5ms"],
      [1e9, "1s"],
      [1.5e9, "1.5s"],
      [10e9, "10s"],
      [60e9, "1m0s"],
      [90e9, "1m30s"],
      [120e9, "2m0s"],
      [120.5e9, "2m0.5s"],
      [3600e9, "1h0m0s"],
      [3723e9, "1h2m3s"],
      [1_000_000_001, "1.000000001s"],
    ];
    assert.deepEqual(
      cases.map(([nanos]) => goDurationOfNanos(nanos)),
      cases.map(([, text]) => text),
    );
    assert.equal(goDuration(120), "2m0s");
    assert.throws(() => goDurationOfNanos(-1), /not a duration in nanoseconds: -1/);
  });
});

describe("parseReadBack", () => {
  it("gives the gateway's own settings in the offline plan, where no command runs", () => {
    assert.deepEqual(parseReadBack(undefined, "gw1", timings), sentSettings(timings));
    assert.deepEqual(sentSettings(timings), {
      logOpts: { "max-size": "10m", "max-file": "3" },
      swapUnlimited: false,
      healthcheck: { interval: "10s", timeout: "5s", startPeriod: "2m0s", startInterval: "0s", retries: 3 },
    });
  });

  it("gives the gateway's own settings back from a daemon that merges nothing (Docker 20.10, no StartInterval)", () => {
    assert.deepEqual(parseReadBack(inspected(), "gw1", timings), sentSettings(timings));
  });

  it("takes the daemon's default log options as it stores them (the ForceNew logOpts would replace every gateway)", () => {
    const readBack = parseReadBack(
      inspected({ config: { "max-file": "3", "max-size": "10m", compress: "true", labels: "team", "cache-disabled": "true" } }),
      "gw1",
      timings,
    );
    assert.deepEqual(readBack.logOpts, { "max-file": "3", "max-size": "10m", compress: "true", labels: "team", "cache-disabled": "true" });
  });

  it("takes the start interval the image's HEALTHCHECK fills in (API 1.44 and later), in Go's form", () => {
    const readBack = parseReadBack(
      inspected({ healthcheck: { Test: ["CMD-SHELL", "true"], Interval: 10e9, Timeout: 5e9, StartPeriod: 120e9, StartInterval: 1.5e9, Retries: 3 } }),
      "gw1",
      timings,
    );
    assert.deepEqual(readBack.healthcheck, { interval: "10s", timeout: "5s", startPeriod: "2m0s", startInterval: "1.5s", retries: 3 });
  });

  it("sends memorySwap -1 where the host keeps no swap limit (no swap accounting), the memory limit elsewhere", () => {
    const noSwapAccounting = parseReadBack(inspected({ memorySwap: -1 }), "gw1", timings);
    assert.equal(noSwapAccounting.swapUnlimited, true);
    assert.equal(memorySwapOf(noSwapAccounting, 1536), -1);
    assert.equal(memorySwapOf(parseReadBack(inspected(), "gw1", timings), 1536), 1536);
  });

  it("refuses output that is not the read-back's, naming the host and what to do", () => {
    assert.throws(
      () => parseReadBack("permission denied\n", "gw1", timings),
      new Error(
        'host "gw1": the Docker settings read back from the host are not JSON; run the deploy again, and if it repeats, run the host\'s readback command by hand: permission denied',
      ),
    );
    assert.throws(
      () => parseReadBack('{"logConfig":{}}', "gw1", timings),
      /^Error: host "gw1": the Docker settings read back from the host lack the log config, the swap limit or the health check;/,
    );
    assert.throws(
      () => parseReadBack(inspected({ config: { "max-size": "20m", "max-file": "3" } }), "gw1", timings),
      /^Error: host "gw1": the Docker settings read back from the host store log option max-size="20m" instead of "10m";/,
    );
    assert.throws(
      () => parseReadBack(inspected({ memory: 0, memorySwap: -1 }), "gw1", timings),
      new Error('host "gw1": Docker on this host does not limit memory (its kernel has no memory cgroup); gateways need their memoryMb enforced'),
    );
  });
});

describe("renderReadBack", () => {
  // The script runs in a real /bin/sh; `docker` is a fake on PATH that logs its arguments and answers as a daemon would.
  const work = mkdtempSync(join(tmpdir(), "clawfleet-readback-"));
  after(() => rmSync(work, { recursive: true, force: true }));
  const bin = join(work, "bin");
  const calls = join(work, "calls.txt");
  mkdirSync(bin);
  writeFileSync(
    join(bin, "docker"),
    [
      "#!/bin/sh",
      `printf '%s\\n' "$*" >>${calls}`,
      'case "$1" in',
      '  create) [ -z "${FAIL_CREATE:-}" ] || { echo "Error: No such image" >&2; exit 1; }; echo 4f1d ;;',
      `  inspect) [ -z "\${FAIL_INSPECT:-}" ] || exit 1; echo '${inspected()}' ;;`,
      "  rm) ;;",
      "esac",
      "",
    ].join("\n"),
  );
  chmodSync(join(bin, "docker"), 0o755);
  const run = (env: Record<string, string> = {}) => {
    writeFileSync(calls, "");
    const script = renderReadBack({ hostId: "gw1", image: "ghcr.io/openclaw/openclaw:2026.9.6", health: timings });
    const result = spawnSync("/bin/sh", ["-c", script], { env: { ...process.env, ...env, PATH: `${bin}:${process.env["PATH"] ?? ""}` }, encoding: "utf8" });
    return { ...result, calls: readFileSync(calls, "utf8").trim().split("\n") };
  };

  it("creates a container with the gateway's log, memory and health-check settings, prints what Docker stored, and removes it", () => {
    const { status, stdout, calls: made } = run();
    assert.equal(status, 0);
    assert.deepEqual(made, [
      "create --label clawfleet.readback=true --log-driver json-file --log-opt max-size=10m --log-opt max-file=3 --memory 64m --memory-swap 64m --health-cmd true --health-interval 10s --health-timeout 5s --health-start-period 120s --health-retries 3 ghcr.io/openclaw/openclaw:2026.9.6",
      'inspect --format {"logConfig":{{json .HostConfig.LogConfig}},"memory":{{json .HostConfig.Memory}},"memorySwap":{{json .HostConfig.MemorySwap}},"healthcheck":{{json .Config.Healthcheck}}} 4f1d',
      "rm -f 4f1d",
    ]);
    assert.deepEqual(parseReadBack(stdout, "gw1", timings), sentSettings(timings));
  });

  it("removes the container also when the inspect fails, and fails", () => {
    const { status, calls: made } = run({ FAIL_INSPECT: "1" });
    assert.equal(status, 1);
    assert.equal(made.at(-1), "rm -f 4f1d");
  });

  it("fails with the host and the image named when Docker cannot create the container", () => {
    const { status, stderr, calls: made } = run({ FAIL_CREATE: "1" });
    assert.equal(status, 1);
    assert.equal(
      stderr,
      "Error: No such image\nclawfleet: host gw1: Docker cannot create a container from ghcr.io/openclaw/openclaw:2026.9.6 to read back its settings\n",
    );
    assert.equal(made.length, 1);
  });
});
