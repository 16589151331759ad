import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { egressChainOf } from "../../runtimes/docker/egress";
import { dockerOps, dockerResourceType } from "../../runtimes/docker/ops";

// The Docker runtime's day-2 side: the commands the verbs run on a host and how their output is read.

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

  it("finds a running gateway that no longer has the isolation and limits it was deployed with, each with its fix", () => {
    const declared = [
      {
        name: "clawfleet-tenant-alice",
        owner: "tenant alice",
        memoryMb: 1536,
        pidsLimit: 512,
        uid: 1000,
        isolation: "runsc",
        egressAllow: undefined,
        egressResource: "alice-egress",
      },
      {
        name: "clawfleet-tenant-bob",
        owner: "tenant bob",
        memoryMb: 1536,
        pidsLimit: 512,
        uid: 1000,
        isolation: "runsc",
        egressAllow: undefined,
        egressResource: "bob-egress",
      },
      {
        name: "clawfleet-tenant-gone",
        owner: "tenant gone",
        memoryMb: 1536,
        pidsLimit: 512,
        uid: 1000,
        isolation: undefined,
        egressAllow: undefined,
        egressResource: "gone-egress",
      },
    ];
    const line = (name: string, fields: string[]) => `drift "/${name}"\t${fields.join("\t")}`;
    const asDeployed = [
      '["ALL"]',
      "null",
      "true",
      '["no-new-privileges:true"]',
      String(1536 * 1048576),
      "512",
      '"1000:1000"',
      "false",
      "clawfleet-tenant-alice",
      '{"clawfleet.managed":"true"}',
      '"runsc"',
    ];
    const byHand = ["null", '["NET_ADMIN"]', "false", "null", String(4096 * 1048576), "null", '""', "true", "host", '{"maintainer":"x"}', '"runc"'];
    const checks = dockerOps.doctorChecks(
      [
        "version 27.5.1",
        "image present",
        'runtimes {"io.containerd.runc.v2":{"path":"runc"},"runc":{"path":"runc"},"runsc":{"path":"/usr/bin/runsc"}}',
        line("clawfleet-tenant-alice", asDeployed),
        line("clawfleet-tenant-bob", byHand),
      ],
      "img:1",
      declared,
    );
    const recreate = "docker rm -f clawfleet-tenant-bob, then pulumi up --refresh, which creates it as declared";
    assert.deepEqual(checks[1], { ok: true, what: "OCI runtime runsc is registered with Docker (tenant alice, tenant bob)" });
    assert.deepEqual(checks.slice(3), [
      { ok: false, what: "clawfleet-tenant-bob (tenant bob) keeps Linux capabilities (ALL is not dropped)", fix: recreate },
      { ok: false, what: "clawfleet-tenant-bob (tenant bob) has capabilities added: NET_ADMIN", fix: recreate },
      { ok: false, what: "clawfleet-tenant-bob (tenant bob) runs privileged", fix: recreate },
      { ok: false, what: "clawfleet-tenant-bob (tenant bob) has a writable root file system", fix: recreate },
      { ok: false, what: "clawfleet-tenant-bob (tenant bob) can gain privileges (no-new-privileges is off)", fix: recreate },
      { ok: false, what: 'clawfleet-tenant-bob (tenant bob) runs as "", not 1000:1000', fix: recreate },
      { ok: false, what: "clawfleet-tenant-bob (tenant bob) shares the host's network", fix: recreate },
      { ok: false, what: "clawfleet-tenant-bob (tenant bob) was not made by clawfleet (its labels are gone: recreated by hand?)", fix: recreate },
      { ok: false, what: 'clawfleet-tenant-bob (tenant bob) runs under OCI runtime "runc", not runsc', fix: recreate },
      { ok: false, what: "clawfleet-tenant-bob (tenant bob) has a memory limit of 4096 MB, not 1536 MB", fix: "pulumi up --refresh, which sets it back" },
      { ok: false, what: "clawfleet-tenant-bob (tenant bob) has a process limit of none, not 512", fix: "docker update --pids-limit 512 clawfleet-tenant-bob" },
      {
        ok: true,
        what: "1 running gateway as deployed: capabilities dropped, read-only root, no new privileges, uid 1000, memory and process limits",
      },
    ]);
    assert.match(
      dockerOps.doctorProbe("img:1", declared).join("\n"),
      /docker inspect --type container --format 'drift .*' 'clawfleet-tenant-alice' 'clawfleet-tenant-bob'/,
    );
  });

  it("checks each gateway's egress rules as iptables prints them, and names what differs with the fix", () => {
    const gateway = (name: string, allow: string[]) => ({
      name: `clawfleet-tenant-${name}`,
      owner: `tenant ${name}`,
      memoryMb: 1536,
      pidsLimit: 512,
      uid: 1000,
      isolation: undefined,
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
    assert.deepEqual(dockerOps.doctorChecks(lines, "img:1", declared).slice(2), [
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
    const probe = dockerOps.doctorProbe("img:1", declared).join("\n");
    assert.ok(probe.includes(`iptables -S ${chainOf("alice")} 2>/dev/null | sed 's/^/egress-rule /'`), probe);
  });

  it("names a declared OCI runtime the daemon does not have, with the fix", () => {
    const declared = [
      {
        name: "g",
        owner: "tenant alice",
        memoryMb: 1536,
        pidsLimit: 512,
        uid: 1000,
        isolation: "kata",
        egressAllow: undefined,
        egressResource: "alice-egress",
      },
    ];
    assert.deepEqual(dockerOps.doctorChecks(["version 27.5.1", "image present", 'runtimes {"runc":{"path":"runc"}}'], "img:1", declared)[1], {
      ok: false,
      what: "OCI runtime kata, declared for tenant alice, is not registered with Docker (it has runc)",
      fix: 'install it and add it to /etc/docker/daemon.json "runtimes" (then reload dockerd), or change isolation',
    });
    assert.match(dockerOps.doctorProbe("img:1", declared).join("\n"), /docker info --format '\{\{json \.Runtimes\}\}/);
  });

  it("names a gateway with no isolation declared that runs under another runtime than the daemon's default (isolation removed)", () => {
    const declared = [
      {
        name: "clawfleet-tenant-alice",
        owner: "tenant alice",
        memoryMb: 1536,
        pidsLimit: 512,
        uid: 1000,
        isolation: undefined,
        egressAllow: undefined,
        egressResource: "alice-egress",
      },
    ];
    const running = (runtime: string) =>
      [
        'drift "/clawfleet-tenant-alice"',
        '["ALL"]',
        "null",
        "true",
        '["no-new-privileges:true"]',
        String(1536 * 1048576),
        "512",
        '"1000:1000"',
        "false",
        "clawfleet-tenant-alice",
        '{"clawfleet.managed":"true"}',
        JSON.stringify(runtime),
      ].join("\t");
    const info = ['runtimes {"runc":{"path":"runc"},"runsc":{"path":"/usr/bin/runsc"}}', "default-runtime runc"];
    const checks = (runtime: string, lines = info) =>
      dockerOps.doctorChecks(["version 27.5.1", "image present", ...lines, running(runtime)], "img:1", declared);
    assert.deepEqual(checks("runsc").slice(2), [
      {
        ok: false,
        what: 'clawfleet-tenant-alice (tenant alice) runs under OCI runtime "runsc", not the daemon\'s default runc (no isolation is declared)',
        fix: "docker rm -f clawfleet-tenant-alice, then pulumi up --refresh, which creates it as declared, or declare isolation: runsc",
      },
    ]);
    assert.equal(checks("runc").filter((c) => !c.ok).length, 0);
    assert.equal(checks("runsc", [info[0] ?? ""]).filter((c) => !c.ok).length, 0, "a daemon that does not say its default: nothing to compare with");
    assert.match(dockerOps.doctorProbe("img:1", declared).join("\n"), /\{\{"\\n"\}\}default-runtime \{\{\.DefaultRuntime\}\}/);
  });

  it("tells the doctor when Docker does not answer, and checks the image only when it does", () => {
    assert.deepEqual(dockerOps.doctorChecks(["version Cannot connect to the Docker daemon at unix:///var/run/docker.sock."], "img:1", []), [
      {
        ok: false,
        what: "Docker does not answer: Cannot connect to the Docker daemon at unix:///var/run/docker.sock.",
        fix: "start it (systemctl start docker), and let the SSH user use it (usermod -aG docker <user>)",
      },
    ]);
    assert.deepEqual(dockerOps.doctorChecks(["version 27.5.1", "image present"], "img:1", []), [
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
