import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { goDuration } from "../../runtimes/docker/gateway";
import { dockerCpus } from "../../runtimes/docker/names";
import { inPlaceContainerFields, recordedOnlyContainerFields } from "../../runtimes/docker/container-fields";
import { commandProvider, randomPasswordProvider } from "../e2e/standin/command-provider";
import {
  containerCreateBody,
  containerStateFromInspect,
  dockerContainerProvider,
  memorySwapBytes,
  goDurationOfNanos,
  nanoseconds,
  nanoToDecimalString,
  replaceFields,
  updateFields,
} from "../e2e/standin/docker-provider";

// The provider stand-ins' rules that need no daemon (test/e2e/standin/*-provider.ts); the e2e suite covers the rest.

const container = dockerContainerProvider({ env: {}, progress: () => undefined, stops: [] });

describe("docker provider stand-in", () => {
  it("D5: reads cpus back as kreuzwerker's nanoInt64ToDecimalString does", () => {
    const cases: [number, string][] = [
      [1e9, "1.0"],
      [2e9, "2.0"],
      [16e9, "16.0"],
      [0.5e9, "0.5"],
      [1.5e9, "1.5"],
      [0.25e9, "0.25"],
      [10e9, "10."],
      [100e9, "100."],
    ];
    for (const [nanos, text] of cases) assert.equal(nanoToDecimalString(nanos), text, String(nanos));
  });

  it("the program sends cpus in exactly the text the provider reads back, for every value with up to two decimals", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6400 }), (hundredths) => {
        const cpus = hundredths / 100;
        assert.equal(dockerCpus(cpus), nanoToDecimalString(Math.round(cpus * 1e9)));
      }),
    );
    assert.equal(dockerCpus(1), "1.0");
    assert.equal(dockerCpus(10), "10.");
  });

  it("D5: reads health-check durations back as Go prints them, and the program sends that form", () => {
    assert.deepEqual([10e9, 5e9, 60e9, 90e9, 0, 3600e9].map(goDurationOfNanos), ["10s", "5s", "1m0s", "1m30s", "0s", "1h0m0s"]);
    for (const seconds of [0, 5, 10, 60, 90, 3600]) assert.equal(goDuration(seconds), goDurationOfNanos(seconds * 1e9));
    assert.equal(nanoseconds("1m0s"), 60e9);
    assert.equal(nanoseconds("1h0m30s"), 3630e9);
    // Below a second and with fractions, as Go prints them (an image's HEALTHCHECK may carry any of these).
    assert.deepEqual([500e6, 1.5e9, 120.5e9, 1500, 7].map(goDurationOfNanos), ["500ms", "1.5s", "2m0.5s", "1.5µs", "7ns"]);
    assert.deepEqual(["500ms", "1.5s", "2m0.5s", "1.5µs", "7ns"].map(nanoseconds), [500e6, 1.5e9, 120.5e9, 1500, 7]);
  });

  it("D2, D5: sends memorySwap -1 as is and reads back the -1 a host without swap accounting stores", () => {
    assert.deepEqual([1536, -1, 0, undefined].map(memorySwapBytes), [1536 * 1024 * 1024, -1, undefined, undefined]);
    assert.equal((containerCreateBody({ memory: 1536, memorySwap: -1 })["HostConfig"] as Record<string, unknown>)["MemorySwap"], -1);
    const state = containerStateFromInspect({ ...inspect, HostConfig: { ...inspect.HostConfig, MemorySwap: -1 } }, { memorySwap: 1536 });
    assert.equal(state["memorySwap"], -1);
    assert.deepEqual(container.diff(state, { memorySwap: 1536 }), { changed: ["memorySwap"], replaces: [] }, "an update on every deploy");
    assert.deepEqual(container.diff(state, { memorySwap: -1 }), { changed: [], replaces: [] });
  });

  it("D5: reads back every log option the daemon stores (its defaults merged in) when log_opts was set, none otherwise", () => {
    const merged = { ...inspect, HostConfig: { ...inspect.HostConfig, LogConfig: { Type: "json-file", Config: { "max-size": "10m", compress: "true" } } } };
    const state = containerStateFromInspect(merged, { logOpts: { "max-size": "10m" } });
    assert.deepEqual(state["logOpts"], { "max-size": "10m", compress: "true" });
    assert.deepEqual(
      container.diff(state, { logOpts: { "max-size": "10m" } }),
      { changed: ["logOpts"], replaces: ["logOpts"] },
      "a replacement on every deploy",
    );
    assert.deepEqual(containerStateFromInspect(merged, { logOpts: {} })["logOpts"], {}, "an empty log_opts is not read back (d.GetOk)");
    assert.equal(containerStateFromInspect(merged, {})["logOpts"], undefined);
  });

  it("D5: reads back the start interval the image's HEALTHCHECK filled in", () => {
    const health = { ...inspect.Config.Healthcheck, StartInterval: 2e9 };
    const state = containerStateFromInspect({ ...inspect, Config: { ...inspect.Config, Healthcheck: health } }, {});
    assert.equal((state["healthcheck"] as Record<string, unknown>)["startInterval"], "2s");
  });

  const inspect = {
    Id: "c1",
    Name: "/gw",
    Image: "sha256:abc",
    State: { Running: true, Status: "running" },
    Config: {
      Image: "example/openclaw:1",
      Hostname: "gw",
      User: "1000:1000",
      StopSignal: "SIGTERM",
      StopTimeout: 30,
      Healthcheck: { Test: ["CMD", "true"], Interval: 10e9, Timeout: 5e9, StartPeriod: 60e9, Retries: 3 },
    },
    HostConfig: {
      ReadonlyRootfs: true,
      SecurityOpt: ["no-new-privileges:true"],
      RestartPolicy: { Name: "unless-stopped" },
      Init: true,
      CapAdd: null,
      CapDrop: ["ALL"],
      Mounts: [{ Type: "bind", Source: "/s", Target: "/state" }],
      Tmpfs: { "/tmp": "rw" },
      Memory: 1536 * 1024 * 1024,
      MemorySwap: 1536 * 1024 * 1024,
      NanoCpus: 1e9,
      LogConfig: { Type: "json-file", Config: { "max-size": "10m" } },
    },
    NetworkSettings: { Ports: { "18789/tcp": [{ HostIp: "127.0.0.1", HostPort: "18101" }] } },
  };

  it("D5: keeps envs, labels and networks as sent, and normalises what it reads", () => {
    const sent = {
      envs: ["A=1"],
      labels: [{ label: "x", value: "y" }],
      networksAdvanced: [{ name: "gw" }],
      cpus: "1",
      logOpts: { "max-size": "10m" },
      ports: [],
    };
    const state = containerStateFromInspect(inspect, sent);
    assert.deepEqual(state["envs"], ["A=1"]);
    assert.deepEqual(state["labels"], [{ label: "x", value: "y" }]);
    assert.deepEqual(state["networksAdvanced"], [{ name: "gw" }]);
    assert.equal(state["cpus"], "1.0");
    assert.equal(state["image"], "example/openclaw:1");
    assert.deepEqual(state["mounts"], [{ type: "bind", source: "/s", target: "/state", readOnly: false }]);
    assert.deepEqual(state["healthcheck"], { tests: ["CMD", "true"], interval: "10s", timeout: "5s", startPeriod: "1m0s", startInterval: "0s", retries: 3 });
    assert.deepEqual(state["ports"], [{ internal: 18789, external: 18101, ip: "127.0.0.1", protocol: "tcp" }]);
    assert.equal(state["mustRun"], undefined);
    const stopped = containerStateFromInspect(
      { ...inspect, State: { Running: false, Status: "exited" }, NetworkSettings: { ...inspect.NetworkSettings, Ports: {} } },
      sent,
    );
    assert.equal(stopped["mustRun"], false);
    assert.deepEqual(stopped["ports"], [], "a stopped container publishes no port, and must_run was true: the next plan replaces it");
  });

  it("D1, D4, D5: sends the OCI runtime on create, reads the daemon's back always, and a change of it replaces the container", () => {
    assert.equal((containerCreateBody({ image: "i", runtime: "runsc" })["HostConfig"] as { Runtime: string }).Runtime, "runsc");
    assert.equal((containerCreateBody({ image: "i" })["HostConfig"] as { Runtime: string }).Runtime, "", "unset: the daemon's default");
    const read = containerStateFromInspect({ ...inspect, HostConfig: { ...inspect.HostConfig, Runtime: "runc" } }, {});
    assert.equal(read["runtime"], "runc", "Computed: read back even when the program left it out");
    assert.deepEqual(container.diff(read, { memory: read["memory"] }), { changed: [], replaces: [] }, "left out, it is not compared");
    assert.deepEqual(container.diff(read, { runtime: "runsc" }), { changed: ["runtime"], replaces: ["runtime"] });
  });

  it("D1-D3, D8: replaces for a ForceNew field, updates for the rest, compares sets without order", () => {
    const olds = { cpus: "1.0", memory: 1536, envs: ["A=1", "B=2"], healthcheck: { interval: "10s" }, restart: "unless-stopped" };
    assert.deepEqual(container.diff(olds, { cpus: "1" }), { changed: ["cpus"], replaces: ["cpus"] });
    assert.deepEqual(container.diff(olds, { memory: 2048 }), { changed: ["memory"], replaces: [] });
    assert.deepEqual(container.diff(olds, { healthcheck: { interval: "20s" } }), { changed: ["healthcheck"], replaces: [] });
    assert.deepEqual(container.diff(olds, { envs: ["B=2", "A=1"] }), { changed: [], replaces: [] });
    assert.deepEqual(container.diff({ ...olds, mustRun: false }, { cpus: "1.0" }), { changed: ["mustRun"], replaces: [] });
  });

  it("D8: a set element read back with every field at its zero value is the element the program sent", () => {
    // As the real provider (the upstream provider through the bridge) writes them to state.
    const olds = {
      mounts: [{ bindOptions: null, readOnly: false, source: "/srv/a", target: "/state", tmpfsOptions: null, type: "bind", volumeOptions: null }],
      networksAdvanced: [{ aliases: [], driverOpts: [], gwPriority: 0, ipv4Address: "", ipv6Address: "", linkLocalIps: [], macAddress: "", name: "net-a" }],
    };
    const sent = { mounts: [{ __defaults: [], readOnly: false, source: "/srv/a", target: "/state", type: "bind" }], networksAdvanced: [{ name: "net-a" }] };
    assert.deepEqual(container.diff(olds, sent), { changed: [], replaces: [] });
    assert.deepEqual(container.diff(olds, { ...sent, mounts: [{ ...sent.mounts[0], readOnly: true }] }), { changed: ["mounts"], replaces: ["mounts"] });
    assert.deepEqual(container.diff(olds, { ...sent, networksAdvanced: [{ name: "net-a", aliases: ["gw"] }] }), {
      changed: ["networksAdvanced"],
      replaces: ["networksAdvanced"],
    });
  });
});

describe("command and random stand-ins", () => {
  const local = commandProvider({}, false, () => undefined);

  it("C1: only triggers replace; any other change is an update", () => {
    const olds = { create: "a", triggers: ["1"], stdout: "x" };
    assert.deepEqual(local.diff(olds, { create: "b", triggers: ["1"] }), { changed: ["create"], replaces: [] });
    assert.deepEqual(local.diff(olds, { create: "a", triggers: ["2"] }), { changed: ["triggers"], replaces: ["triggers"] });
    assert.deepEqual(local.diff(olds, { create: "a", triggers: ["1"] }), { changed: [], replaces: [] });
  });

  it("C3, C4: runs the script with stdin; a failure is an error naming the command and its output", async () => {
    const { outputs } = await local.create({ create: "cat; echo done", stdin: "hello " }, { urn: "default:command", inputs: {} }, "u");
    assert.equal(outputs["stdout"], "hello done");
    await assert.rejects(
      local.create({ create: "echo nope >&2; exit 3" }, { urn: "default:command", inputs: {} }, "u"),
      (error: unknown) => error instanceof Error && error.message === 'exit status 3: running "echo nope >&2; exit 3":\nnope\n',
    );
  });

  it("R1: a new password for any changed input, the same value the mock run used", async () => {
    const random = randomPasswordProvider("dev");
    assert.deepEqual(random.diff({ length: 48, keepers: { rotation: "1" } }, { length: 48, keepers: { rotation: "2" } }).replaces, ["keepers"]);
    // The real provider's state holds every argument, defaults included; the program sends what it sets.
    const realState = { length: 48, special: false, upper: true, lower: true, numeric: true, minSpecial: 0, overrideSpecial: null, keepers: null };
    assert.deepEqual(random.diff(realState, { length: 48, special: false }).changed, []);
    assert.deepEqual(random.diff(realState, { length: 48, special: false, keepers: { rotation: "1" } }).replaces, ["keepers"]);
    const { outputs } = await random.create({ length: 8 }, { urn: "default:random", inputs: {} }, "urn:pulumi:dev::p::t::alice-token");
    assert.equal(typeof outputs["result"], "string");
    assert.equal(String(outputs["result"]).length, 8);
  });
});

describe("the program's field lists agree with the provider model", () => {
  it("updates in place only what the provider updates, and replaces for what it would only record", () => {
    for (const field of inPlaceContainerFields) assert.ok(updateFields.has(field), field);
    for (const field of recordedOnlyContainerFields) assert.ok(!updateFields.has(field) && !replaceFields.has(field), field);
  });
});
