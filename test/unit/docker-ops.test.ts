import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { dedicatedGatewaySpec, sharedGatewaySpec } from "../../components/gateway-spec";
import { parseFleet } from "../../declaration/parse";
import type { DedicatedTenant, SharedTenant } from "../../declaration/schema";
import { readStackFile } from "../../declaration/stack-file";
import { egressChainOf } from "../../runtimes/docker/egress";
import { dockerOps, dockerResourceType, driftOf, type InspectedContainer } from "../../runtimes/docker/ops";
import type { DeclaredGateway, HostStateOps } from "../../runtimes/ops";

/** The Docker runtime works on its hosts' state folders: backup, restore, rollback and doctor. */
const hostState: HostStateOps = dockerOps.hostState ?? assert.fail("the Docker runtime has no hostState");

// The Docker runtime's day-2 side: the commands the verbs run on a host and how their output is read.

/**
 * A gateway container as Docker 20.10.24 reports it (`docker inspect`, its environment left out: it holds the
 * token): created, not started, on this machine's daemon with the gateway image and a gateway's isolation and limits;
 * and the doctor probe's own inspect line run on the same daemon against it and a shared gateway's. Their Mounts are
 * what the same daemon printed for containers created with each gateway's two binds (state, and credentials read-only).
 */
const fixtures = join(__dirname, "..", "fixtures", "docker");
const [deployed = {}] = JSON.parse(readFileSync(join(fixtures, "gateway-inspect.json"), "utf8")) as InspectedContainer[];
const probeLines = () => readFileSync(join(fixtures, "doctor-drift-lines.txt"), "utf8").trim().split("\n");

/** The declaration that gateway was deployed from (ops.e2e.test.ts's stack, in the parts that matter here). */
const opsFleet = parseFleet(
  "ops.yaml",
  readStackFile(
    "ops.yaml",
    [
      "config:",
      `  clawfleet:image: ${deployed.Config?.Image ?? ""}`,
      "  clawfleet:hosts:",
      "    opshost: { stateRoot: /srv/ops, ports: { from: 18500, to: 18599 }, shared: { port: 18889, memoryMb: 1536 } }",
      "  clawfleet:tenants:",
      "    opsa: { tier: dedicated, host: opshost, port: 18501 }",
      "    opsc: { tier: shared, host: opshost }",
      "",
    ].join("\n"),
  ),
);
const opsHost = opsFleet.hosts[0];
const declaredOf = (spec: DeclaredGateway["spec"] | undefined, owner: string): DeclaredGateway => {
  assert.ok(spec !== undefined);
  return { name: spec.name, owner, spec, egressAllow: undefined, egressResource: `${owner}-egress` };
};
assert.ok(opsHost !== undefined);
const opsa = declaredOf(dedicatedGatewaySpec(opsFleet.tenants[0] as DedicatedTenant, opsHost, opsFleet.image), "tenant opsa");
const opsc = declaredOf(sharedGatewaySpec(opsHost, opsFleet.image, [opsFleet.tenants[1] as SharedTenant]), "the shared gateway");

describe("the Docker runtime's day-2 commands", () => {
  it("reads a gateway's state, health and environment, a missing one, and a failure with Docker's own words", () => {
    assert.deepEqual(dockerOps.inspectCommand("clawfleet-tenant-alice"), [
      "docker",
      "inspect",
      "--type",
      "container",
      "--format",
      "{{json .State}}\t{{json .Config.Env}}",
      "clawfleet-tenant-alice",
    ]);
    assert.deepEqual(dockerOps.readGateway({ code: 0, stdout: '{"Status":"restarting","Health":{"Status":"starting"}}\t["A=1"]\n', stderr: "" }), {
      status: "restarting",
      health: "starting",
      env: ["A=1"],
    });
    assert.deepEqual(dockerOps.readGateway({ code: 1, stdout: "", stderr: "Error: No such container: clawfleet-tenant-alice\n" }), {
      status: "missing",
      health: undefined,
      env: [],
    });
    assert.deepEqual(dockerOps.readGateway({ code: 1, stdout: "", stderr: "permission denied while trying to connect\n" }), {
      error: "docker inspect failed: permission denied while trying to connect",
    });
    assert.deepEqual(dockerOps.readGateway({ code: 0, stdout: "Warning: something\n", stderr: "" }), {
      error: 'docker inspect answered something clawfleet cannot read: "Warning: something"',
    });
  });

  it("reads every other container of the host when one container's line cannot be read", () => {
    const status = dockerOps.readStatus([
      'inspect "/clawfleet-tenant-alice"\t{"Status":"running",\t0\t"img:1"',
      'inspect "/clawfleet-tenant-bob"\t{"Status":"running","StartedAt":"2026-11-24T01:00:00Z","Health":{"Status":"healthy"}}\t0\t"img:2"',
      "stats {oops",
    ]);
    assert.deepEqual(Object.fromEntries(status), {
      "clawfleet-tenant-alice": { status: "unreadable", health: undefined, startedAt: "", restarts: 0, image: "img:1", memoryMb: undefined },
      "clawfleet-tenant-bob": { status: "running", health: "healthy", startedAt: "2026-11-24T01:00:00Z", restarts: 0, image: "img:2", memoryMb: undefined },
    });
  });

  it("runs the gateway's CLI with docker exec and reads logs with the options given", () => {
    assert.deepEqual(dockerOps.execCommand("clawfleet-shared-gw1", ["node", "cli.mjs", "status"]), [
      "docker",
      "exec",
      "clawfleet-shared-gw1",
      "node",
      "cli.mjs",
      "status",
    ]);
    assert.deepEqual(dockerOps.logsCommand("clawfleet-tenant-alice", { follow: true, since: "10m", tail: "50" }), [
      "docker",
      "logs",
      "--follow",
      "--since",
      "10m",
      "--tail",
      "50",
      "clawfleet-tenant-alice",
    ]);
    assert.deepEqual(dockerOps.logsCommand("clawfleet-tenant-alice", { follow: false, since: undefined, tail: undefined }), [
      "docker",
      "logs",
      "clawfleet-tenant-alice",
    ]);
  });

  it("reports memory only for a running gateway, and nothing for one Docker does not know", () => {
    const status = dockerOps.readStatus([
      'inspect "/clawfleet-tenant-alice"\t{"Status":"exited","StartedAt":"2026-11-24T00:00:00Z"}\t3\t"img:1"',
      `stats ${JSON.stringify({ Name: "clawfleet-tenant-alice", MemUsage: "10MiB / 1GiB" })}`,
      'inspect "/clawfleet-tenant-bob"\t{"Status":"running","StartedAt":"2026-11-24T01:00:00Z","Health":{"Status":"healthy"}}\t0\t"img:2"',
      `stats ${JSON.stringify({ Name: "clawfleet-tenant-bob", MemUsage: "1.5GiB / 2GiB" })}`,
    ]);
    assert.deepEqual(Object.fromEntries(status), {
      "clawfleet-tenant-alice": { status: "exited", health: undefined, startedAt: "2026-11-24T00:00:00Z", restarts: 3, image: "img:1", memoryMb: undefined },
      "clawfleet-tenant-bob": { status: "running", health: "healthy", startedAt: "2026-11-24T01:00:00Z", restarts: 0, image: "img:2", memoryMb: 1536 },
    });
    assert.equal(status.get("clawfleet-tenant-carol"), undefined);
  });

  it("never asks for a container's environment in the status probe (it holds the gateway token)", () => {
    const probe = dockerOps.statusProbe(["clawfleet-tenant-alice"]).join("\n");
    assert.match(probe, /docker inspect --type container --format '[^']*' 'clawfleet-tenant-alice'/);
    assert.doesNotMatch(probe, /Env/);
  });

  it("reads a gateway deployed as declared, as Docker 20.10's docker inspect and the probe's own template print it: no drift", () => {
    assert.deepEqual(driftOf(deployed, opsa, "runc"), []);
    // The probe's template run on the same Docker against the same gateway and the shared one (tenant opsc's).
    const lines = probeLines();
    assert.equal(lines.length, 2);
    const fromTemplate = JSON.parse((lines[0] ?? "").slice("drift ".length)) as InspectedContainer;
    // The fields doctor reads are the same in both (the template leaves out fields this client's API version does not know).
    const read = (c: InspectedContainer) =>
      Object.fromEntries(
        (
          [
            "CapDrop",
            "CapAdd",
            "ReadonlyRootfs",
            "SecurityOpt",
            "Privileged",
            "Memory",
            "NanoCpus",
            "PidsLimit",
            "PortBindings",
            "NetworkMode",
            "Runtime",
          ] as const
        ).map((key) => [key, c.HostConfig?.[key]]),
      );
    assert.deepEqual(read(fromTemplate), read(deployed));
    assert.deepEqual(driftOf(fromTemplate, opsa, "runc"), []);
    assert.deepEqual(fromTemplate.Config, { Image: deployed.Config?.Image, User: deployed.Config?.User, Labels: deployed.Config?.Labels });
    assert.deepEqual(Object.keys(fromTemplate.NetworkSettings?.Networks ?? {}), Object.keys(deployed.NetworkSettings?.Networks ?? {}));
    assert.deepEqual(hostState.doctorChecks(["version 20.10.24", "image present", ...lines], deployed.Config?.Image ?? "", [opsa, opsc]).slice(2), [
      {
        ok: true,
        what: "2 gateways as declared: image, user, read-only root, capabilities, no-new-privileges, memory, cpus, pids, loopback port, mounts, own network",
      },
    ]);
    const probe = hostState.doctorProbe("img:1", [opsa, opsc]).join("\n");
    assert.match(
      probe,
      /^docker inspect --type container --format 'drift \{"Name":\{\{json \.Name\}\},[^']*' 'clawfleet-tenant-opsa' 'clawfleet-shared-opshost' 2>\/dev\/null \|\| true$/m,
    );
    assert.doesNotMatch(probe, /Env/);
  });

  it("names each field a gateway changed by hand runs with, against its declaration, with the docker update or the replacement that fixes it", () => {
    const byHand = (hostConfig: Record<string, unknown>, config: Record<string, unknown> = {}, networks?: Record<string, unknown>): InspectedContainer => ({
      ...deployed,
      Config: { ...deployed.Config, ...config },
      HostConfig: { ...deployed.HostConfig, ...hostConfig },
      NetworkSettings: { ...deployed.NetworkSettings, ...(networks === undefined ? {} : { Networks: networks }) },
    });
    const own = deployed.NetworkSettings?.Networks ?? {};
    const containers = [
      // docker update --memory 2g --memory-swap 2g --cpus 2 --pids-limit 4096, as inspect then shows it
      byHand({ Memory: 2147483648, MemorySwap: 2147483648, NanoCpus: 2000000000, PidsLimit: 4096 }),
      // recreated by hand: another image, root, writable, a capability, privileged, no no-new-privileges, no labels
      byHand(
        { CapAdd: ["NET_ADMIN"], CapDrop: null, ReadonlyRootfs: false, Privileged: true, SecurityOpt: null, PidsLimit: null },
        { Image: "clawfleet/openclaw-gateway:other", User: "", Labels: { maintainer: "x" } },
      ),
      // published on every address, on the default bridge too
      byHand({ PortBindings: { "18789/tcp": [{ HostIp: "", HostPort: "18501" }] } }, {}, { ...own, bridge: {} }),
      // on the host's network
      byHand({ NetworkMode: "host", PortBindings: {} }, {}, { host: {} }),
    ];
    const name = "clawfleet-tenant-opsa";
    const recreate = `docker rm -f ${name}, then pulumi up --refresh, which creates it as declared`;
    const image = deployed.Config?.Image ?? "";
    assert.deepEqual(
      containers.map((c) => driftOf(c, opsa, "runc").map((d) => `${d.field}: running ${d.running}, declared ${d.declared} | ${d.fix}`)),
      [
        [
          `memory: running 2048 MB, declared 1536 MB | docker update --memory 1536m --memory-swap 1536m ${name}`,
          `cpus: running 2.0, declared 1.0 | docker update --cpus 1.0 ${name}`,
          `pids limit: running 4096, declared 512 | docker update --pids-limit 512 ${name}`,
        ],
        [
          `image: running clawfleet/openclaw-gateway:other, declared ${image} | ${recreate}`,
          `user: running the image's default, declared 1000:1000 | ${recreate}`,
          `root file system: running writable, declared read-only | ${recreate}`,
          `capabilities dropped: running none, declared ALL | ${recreate}`,
          `capabilities added: running NET_ADMIN, declared none | ${recreate}`,
          `privileged: running yes, declared no | ${recreate}`,
          `no-new-privileges: running off, declared on | ${recreate}`,
          `clawfleet labels: running none (recreated by hand?), declared clawfleet.managed=true | ${recreate}`,
          `pids limit: running unlimited, declared 512 | docker update --pids-limit 512 ${name}`,
        ],
        [
          `published port: running 0.0.0.0:18501->18789/tcp, declared 127.0.0.1:18501->18789/tcp | ${recreate}`,
          `networks: running bridge, ${name}, declared ${name} | docker network disconnect bridge ${name}`,
        ],
        [`published port: running none, declared 127.0.0.1:18501->18789/tcp | ${recreate}`, `networks: running host, declared ${name} | ${recreate}`],
      ],
    );
    // In doctor: one problem per field, naming the gateway and its tenant; a declared gateway without a container is status's.
    const checks = hostState.doctorChecks(["version 20.10.24", "image present", `drift ${JSON.stringify(containers[0])}`], image, [
      opsa,
      { ...opsa, name: "clawfleet-tenant-gone", owner: "tenant gone" },
    ]);
    assert.deepEqual(checks.slice(2), [
      { ok: false, what: `${name} (tenant opsa) memory: running 2048 MB, declared 1536 MB`, fix: `docker update --memory 1536m --memory-swap 1536m ${name}` },
      { ok: false, what: `${name} (tenant opsa) cpus: running 2.0, declared 1.0`, fix: `docker update --cpus 1.0 ${name}` },
      { ok: false, what: `${name} (tenant opsa) pids limit: running 4096, declared 512`, fix: `docker update --pids-limit 512 ${name}` },
    ]);
  });

  it("names a gateway that sees more of the host, or its credentials writable, than it was deployed with", () => {
    const [state, secrets] = deployed.Mounts ?? [];
    assert.ok(state !== undefined && secrets !== undefined);
    const name = "clawfleet-tenant-opsa";
    const recreate = `docker rm -f ${name}, then pulumi up --refresh, which creates it as declared`;
    const declared = "/srv/ops/secrets/clawfleet-tenant-opsa on /run/clawfleet (ro), /srv/ops/users/opsa on /state (rw)";
    const drift = (mounts: NonNullable<InspectedContainer["Mounts"]>) =>
      driftOf({ ...deployed, Mounts: mounts }, opsa, "runc").map((d) => `${d.field}: running ${d.running}, declared ${d.declared} | ${d.fix}`);
    assert.deepEqual(drift([state, secrets, { Type: "bind", Source: "/", Destination: "/host", RW: true }]), [
      `mounts: running / on /host (rw), ${declared}, declared ${declared} | ${recreate}`,
    ]);
    assert.deepEqual(drift([state, { ...secrets, RW: true }]), [
      `mounts: running /srv/ops/secrets/clawfleet-tenant-opsa on /run/clawfleet (rw), /srv/ops/users/opsa on /state (rw), declared ${declared} | ${recreate}`,
    ]);
    assert.deepEqual(drift([{ ...state, Source: "/srv/other/users/opsa" }, secrets]), [
      `mounts: running /srv/ops/secrets/clawfleet-tenant-opsa on /run/clawfleet (ro), /srv/other/users/opsa on /state (rw), declared ${declared} | ${recreate}`,
    ]);
  });

  it("checks each gateway's egress rules as iptables prints them, and names what differs with the fix", () => {
    const gateway = (name: string, allow: string[]) => ({
      name: `clawfleet-tenant-${name}`,
      owner: `tenant ${name}`,
      spec: opsa.spec,
      egressAllow: allow,
      egressResource: `${name}-egress`,
    });
    const declared = [gateway("alice", ["10.20.0.5/32"]), gateway("bob", []), gateway("carol", []), gateway("gone", [])];
    const chainOf = (name: string) => egressChainOf(`clawfleet-tenant-${name}`);
    const chain = (name: string, extra: string[]) => [
      `egress-rule -N ${chainOf(name)}`,
      `egress-rule -A ${chainOf(name)} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
      `egress-rule -A ${chainOf(name)} -o br-${name} -j RETURN`,
      `egress-rule -A ${chainOf(name)} -d 10.255.255.53/32 -p udp -m udp --dport 53 -j RETURN`,
      `egress-rule -A ${chainOf(name)} -d 10.255.255.53/32 -p tcp -m tcp --dport 53 -j RETURN`,
      ...extra,
      ...["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"].map(
        (cidr) => `egress-rule -A ${chainOf(name)} -d ${cidr} -j REJECT --reject-with icmp-admin-prohibited`,
      ),
    ];
    const jump = (name: string, bridge: string) =>
      `egress-rule -A DOCKER-USER -i ${bridge} -m comment --comment "clawfleet-egress:clawfleet-tenant-${name}" -j ${chainOf(name)}`;
    const lines = [
      "version 20.10.24",
      "image present",
      "egress-resolvers 10.255.255.53 ",
      "egress-network clawfleet-tenant-alice 7a0f1bc70f9c4d5e <no value>",
      "egress-network clawfleet-tenant-bob 1111111111112222 ",
      "egress-network clawfleet-tenant-carol 3333333333334444 ",
      "egress-network clawfleet-tenant-gone missing",
      "egress-rule -N DOCKER-USER",
      jump("alice", "br-7a0f1bc70f9c"),
      jump("carol", "br-333333333333"),
      "egress-rule -A DOCKER-USER -j RETURN",
      ...chain("alice", [`egress-rule -A ${chainOf("alice")} -d 10.20.0.5/32 -j RETURN`]),
      ...chain("carol", [`egress-rule -A ${chainOf("carol")} -d 192.168.1.0/24 -j RETURN`]).filter((l) => !l.includes("100.64.0.0/10")),
    ];
    const fix = (name: string) => `re-apply them: pulumi up --target-replace <urn of ${name}-egress> (pulumi stack --show-urns lists it)`;
    assert.deepEqual(hostState.doctorChecks(lines, "img:1", declared).slice(2), [
      {
        ok: false,
        what: `clawfleet-tenant-bob (tenant bob) has no egress rules in place (chain ${chainOf("bob")} is missing): it can reach private and link-local addresses; after a reboot the firewall starts empty`,
        fix: fix("bob"),
      },
      {
        ok: false,
        what: "clawfleet-tenant-carol (tenant carol) egress rules differ from the declaration: 100.64.0.0/10 is not blocked; 192.168.1.0/24 is let through but not declared",
        fix: fix("carol"),
      },
      { ok: true, what: "egress rules in place for 1 gateway: private, link-local and 100.64.0.0/10 refused" },
    ]);
    const probe = hostState.doctorProbe("img:1", declared).join("\n");
    assert.ok(probe.includes(`iptables -S ${chainOf("alice")} 2>/dev/null | sed 's/^/egress-rule /'`), probe);
  });

  it("names a declared OCI runtime the daemon does not have, and a gateway that runs under another one, with the fix", () => {
    const kata = { ...opsa, spec: { ...opsa.spec, isolation: "kata" } };
    const lines = ["version 20.10.24", "image present", 'runtimes {"runc":{"path":"runc"}}', "default-runtime runc", `drift ${JSON.stringify(deployed)}`];
    const checks = hostState.doctorChecks(lines, deployed.Config?.Image ?? "", [kata]);
    assert.deepEqual(checks.slice(1), [
      {
        ok: false,
        what: "OCI runtime kata, declared for tenant opsa, is not registered with Docker (it has runc)",
        fix: 'install it and add it to /etc/docker/daemon.json "runtimes" (then reload dockerd), or change isolation',
      },
      { ok: true, what: `image ${deployed.Config?.Image ?? ""} is present` },
      {
        ok: false,
        what: "clawfleet-tenant-opsa (tenant opsa) runtime: running runc, declared kata",
        fix: "docker rm -f clawfleet-tenant-opsa, then pulumi up --refresh, which creates it as declared",
      },
    ]);
    assert.match(hostState.doctorProbe("img:1", [kata]).join("\n"), /docker info --format '\{\{json \.Runtimes\}\}/);
  });

  it("names a gateway with no isolation declared that runs under another runtime than the daemon's default (isolation removed)", () => {
    const underRunsc = { ...deployed, HostConfig: { ...deployed.HostConfig, Runtime: "runsc" } };
    assert.deepEqual(driftOf(underRunsc, opsa, "runc"), [
      {
        field: "runtime",
        running: "runsc",
        declared: "the daemon's default runc (no isolation is declared)",
        fix: "docker rm -f clawfleet-tenant-opsa, then pulumi up --refresh, which creates it as declared, or declare isolation: runsc",
      },
    ]);
    assert.deepEqual(driftOf(deployed, opsa, "runc"), []);
    assert.deepEqual(driftOf(underRunsc, opsa, ""), [], "a daemon that does not say its default: nothing to compare with");
    assert.match(hostState.doctorProbe("img:1", [opsa]).join("\n"), /\{\{"\\n"\}\}default-runtime \{\{\.DefaultRuntime\}\}/);
  });

  it("tells the doctor when Docker does not answer, and checks the image only when it does", () => {
    assert.deepEqual(hostState.doctorChecks(["version Cannot connect to the Docker daemon at unix:///var/run/docker.sock."], "img:1", []), [
      {
        ok: false,
        what: "Docker does not answer: Cannot connect to the Docker daemon at unix:///var/run/docker.sock.",
        fix: "start it (systemctl start docker), and let the SSH user use it (usermod -aG docker <user>)",
      },
    ]);
    assert.deepEqual(hostState.doctorChecks(["version 27.5.1", "image present"], "img:1", []), [
      { ok: true, what: "Docker 27.5.1 answers" },
      { ok: true, what: "image img:1 is present" },
    ]);
  });

  it("names a host whose Docker is down or missing, and leaves other failures to the caller", () => {
    assert.equal(
      dockerOps.hostFailure({
        code: 1,
        stdout: "",
        stderr: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
      }),
      "the Docker daemon does not answer; start it (systemctl start docker) and retry",
    );
    assert.equal(
      dockerOps.hostFailure({ code: 127, stdout: "", stderr: "sh: 1: docker: not found" }),
      "docker is not installed; install docker.io (Debian) or Docker Engine",
    );
    assert.equal(dockerOps.hostFailure({ code: 1, stdout: "", stderr: "Error: No such object: x" }), undefined);
  });

  it("describes its own resources in the plan and no others", () => {
    assert.deepEqual(
      dockerOps.describe({ type: dockerResourceType.container, inputs: { image: "img:1", ports: [{ ip: "127.0.0.1", external: 18101 }], memory: 1536 } }),
      ["image img:1", "on 127.0.0.1:18101", "1536 MB"],
    );
    assert.deepEqual(dockerOps.describe({ type: dockerResourceType.provider, inputs: { host: "ssh://deploy@gw2:22" } }), ["ssh://deploy@gw2:22"]);
    // A command's script is not read: what it does comes from the component's facts.
    assert.deepEqual(dockerOps.describe({ type: "command:remote:Command", inputs: { create: "set -eu\nrun a\nrun b\n", stdin: "12345" } }), ["stdin 5 bytes"]);
    assert.equal(dockerOps.describe({ type: "random:index/randomPassword:RandomPassword", inputs: {} }), undefined);
  });
});
