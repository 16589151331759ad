import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { allocatePorts, derivePort, fnv1a, type HostPorts, type PortRequest } from "../../declaration/ports";

const tenantId = fc.stringMatching(/^[a-z0-9_][a-z0-9_-]{0,20}$/);

/** A host range of at least two ports, with a shared port inside it, outside it or absent. */
const hostPorts: fc.Arbitrary<HostPorts> = fc
  .tuple(fc.integer({ min: 1024, max: 65534 }), fc.integer({ min: 1, max: 2000 }), fc.option(fc.integer({ min: 0, max: 1 }), { nil: undefined }))
  .chain(([from, span, where]) => {
    const to = Math.min(65535, from + span);
    const shared = where === undefined ? fc.constant(undefined) : where === 0 ? fc.integer({ min: from, max: to }) : fc.integer({ min: 1024, max: 65535 });
    return shared.map((sharedPort) => ({ range: { from, to }, sharedPort }));
  });

function allocate(ids: readonly string[], host: HostPorts, pinned: ReadonlyMap<string, number> = new Map()) {
  const requests: PortRequest[] = ids.map((tenant) => ({ tenant, host: "gw1", pinned: pinned.get(tenant) }));
  return allocatePorts(requests, new Map([["gw1", host]]));
}

describe("fnv1a", () => {
  test("matches the published 32-bit FNV-1a test vectors", () => {
    assert.equal(fnv1a(""), 0x811c9dc5);
    assert.equal(fnv1a("a"), 0xe40c292c);
    assert.equal(fnv1a("foobar"), 0xbf9cf968);
  });

  test("hashes UTF-8 bytes and stays an unsigned 32-bit integer", () => {
    // "é" is the two bytes c3 a9.
    let expected = 0x811c9dc5;
    for (const byte of [0xc3, 0xa9]) expected = Number((BigInt((expected ^ byte) >>> 0) * 0x01000193n) % 2n ** 32n);
    assert.equal(fnv1a("é"), expected);
    fc.assert(fc.property(fc.string({ unit: "grapheme" }), (text) => Number.isInteger(fnv1a(text)) && fnv1a(text) >= 0 && fnv1a(text) < 2 ** 32));
  });
});

describe("derivePort", () => {
  test("is always inside the range and never the shared port", () => {
    fc.assert(
      fc.property(tenantId, hostPorts, (tenant, host) => {
        const port = derivePort(tenant, host);
        assert.ok(port >= host.range.from && port <= host.range.to, `${port} outside ${host.range.from}-${host.range.to}`);
        assert.notEqual(port, host.sharedPort);
      }),
      { numRuns: 2000 },
    );
  });

  test("steps past the shared port, wrapping at the end of the range", () => {
    const range = { from: 18100, to: 18149 };
    const natural = (tenant: string) => range.from + (fnv1a(tenant) % 50);
    assert.equal(derivePort("alice", { range, sharedPort: undefined }), natural("alice"));
    const inside = Array.from({ length: 200 }, (_, index) => `t${index}`).find((tenant) => natural(tenant) !== range.to) as string;
    assert.equal(derivePort(inside, { range, sharedPort: natural(inside) }), natural(inside) + 1);
    const atEnd = Array.from({ length: 2000 }, (_, index) => `t${index}`).find((tenant) => natural(tenant) === range.to) as string;
    assert.equal(derivePort(atEnd, { range, sharedPort: range.to }), range.from);
  });
});

describe("allocatePorts", () => {
  test("a tenant's port does not move when other tenants are added, removed, renamed or reordered", () => {
    fc.assert(
      fc.property(
        hostPorts,
        fc.uniqueArray(tenantId, { minLength: 1, maxLength: 12 }),
        fc.uniqueArray(tenantId, { maxLength: 12 }),
        fc.integer({ min: 0 }),
        (host, before, others, seed) => {
          // After: a random subset of the tenants before, some new ones, in a shuffled order.
          const kept = before.filter((_, index) => ((seed >> index) & 1) === 0 || index === 0);
          const after = fc.sample(fc.shuffledSubarray([...new Set([...kept, ...others])], { minLength: kept.length }), { numRuns: 1, seed })[0] ?? kept;
          const first = allocate(before, host);
          const second = allocate(after, host);
          for (const tenant of before) {
            const a = first.ports.get(tenant);
            const b = second.ports.get(tenant);
            if (a !== undefined && b !== undefined) assert.deepEqual(b, a, `${tenant} moved`);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  test("every request is either given a port or reported, never both", () => {
    fc.assert(
      fc.property(hostPorts, fc.uniqueArray(tenantId, { maxLength: 40 }), (host, ids) => {
        const { ports, problems } = allocate(ids, host);
        const reported = problems.map((problem) => problem.path);
        for (const tenant of ids) assert.equal(ports.has(tenant), !reported.includes(`tenants.${tenant}.port`), tenant);
        const used = [...ports.values()].map((p) => p.port);
        assert.equal(new Set(used).size, used.length, "no two tenants share a port");
      }),
      { numRuns: 500 },
    );
  });

  test("pinned ports are kept", () => {
    fc.assert(
      fc.property(
        hostPorts.chain((host) =>
          fc.tuple(
            fc.constant(host),
            fc
              .uniqueArray(fc.integer({ min: host.range.from, max: host.range.to }), { minLength: 1, maxLength: 10 })
              .map((ports) => ports.filter((port) => port !== host.sharedPort)),
          ),
        ),
        ([host, pins]) => {
          const pinned = new Map(pins.map((port, index) => [`t${index}`, port]));
          const { ports, problems } = allocate([...pinned.keys()], host, pinned);
          assert.deepEqual(problems, []);
          for (const [tenant, port] of pinned) assert.deepEqual(ports.get(tenant), { port, derived: false });
        },
      ),
      { numRuns: 500 },
    );
  });

  test("a collision names both tenants, and pinning one resolves it", () => {
    const host: HostPorts = { range: { from: 18100, to: 18109 }, sharedPort: 18789 };
    // Find two ids that derive the same port in a ten-port range.
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let index = 0; pair === undefined; index += 1) {
      const id = `t${index}`;
      const port = derivePort(id, host);
      const other = seen.get(port);
      if (other === undefined) seen.set(port, id);
      else pair = [other, id];
    }
    const [first, second] = pair;
    const port = derivePort(first, host);
    const clash = allocate([first, second], host);
    assert.deepEqual(clash.problems, [
      {
        path: `tenants.${second}.port`,
        message: `port ${port} on host gw1 is also tenants.${first}'s derived port; pin one of them to a free port with port: in 18100-18109`,
      },
    ]);
    assert.deepEqual([...clash.ports.keys()], [first]);

    const free = [18100, 18101, 18102].find((candidate) => candidate !== port) as number;
    const resolved = allocate([first, second], host, new Map([[second, free]]));
    assert.deepEqual(resolved.problems, []);
    assert.deepEqual(resolved.ports.get(first), { port, derived: true });
    assert.deepEqual(resolved.ports.get(second), { port: free, derived: false });

    const pinnedClash = allocate([first, second], host, new Map([[second, port]]));
    assert.deepEqual(pinnedClash.problems, [
      {
        path: `tenants.${second}.port`,
        message: `port ${port} on host gw1 is also tenants.${first}'s derived port; pin one of them to a free port with port: in 18100-18109`,
      },
    ]);
    const bothPinned = allocate(
      ["a", "b"],
      host,
      new Map([
        ["a", 18105],
        ["b", 18105],
      ]),
    );
    assert.deepEqual(bothPinned.problems, [
      { path: "tenants.b.port", message: "port 18105 on host gw1 is also tenants.a's pinned port; pin one of them to a free port with port: in 18100-18109" },
    ]);
  });

  test("pins outside the range or on the shared port are rejected", () => {
    const host: HostPorts = { range: { from: 18100, to: 18999 }, sharedPort: 18789 };
    const { ports, problems } = allocate(
      ["low", "high", "shared"],
      host,
      new Map([
        ["low", 18099],
        ["high", 19000],
        ["shared", 18789],
      ]),
    );
    assert.deepEqual(problems, [
      { path: "tenants.low.port", message: "18099 is outside host gw1's range 18100-18999; pick a port in the range or widen hosts.gw1.ports" },
      { path: "tenants.high.port", message: "19000 is outside host gw1's range 18100-18999; pick a port in the range or widen hosts.gw1.ports" },
      { path: "tenants.shared.port", message: "18789 is the shared gateway's port on host gw1 (hosts.gw1.shared.port); pick another port" },
    ]);
    assert.equal(ports.size, 0);
  });

  test("a range holding only the shared port has nothing to derive", () => {
    const host: HostPorts = { range: { from: 18100, to: 18100 }, sharedPort: 18100 };
    assert.deepEqual(allocate(["alice"], host).problems, [
      { path: "tenants.alice.port", message: "host gw1's range 18100-18100 holds only the shared gateway's port; widen hosts.gw1.ports or pin a port" },
    ]);
  });

  test("ports are per host: one port on two hosts is no collision", () => {
    const host: HostPorts = { range: { from: 18100, to: 18199 }, sharedPort: undefined };
    const { ports, problems } = allocatePorts(
      [
        { tenant: "a", host: "gw1", pinned: 18150 },
        { tenant: "b", host: "gw2", pinned: 18150 },
        { tenant: "c", host: "gw3", pinned: 18150 },
      ],
      new Map([
        ["gw1", host],
        ["gw2", host],
      ]),
    );
    assert.deepEqual(problems, []);
    assert.deepEqual([...ports.keys()], ["a", "b"], "a request on an unknown host is left to the host check");
  });
});
