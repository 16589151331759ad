import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { renderEnsureStateDir, renderMoveState, renderPrepareHost, renderWriteFile } from "../../runtimes/docker/commands";
import { egressChainOf, renderEgressApply, renderEgressRemove } from "../../runtimes/docker/egress";
import { inlineScript, readInlineScript, shellQuote } from "../../runtimes/shell";

// These scripts run in a real /bin/sh here, with a fake `docker` first on PATH that logs its calls: a test never
// reaches the machine's real Docker daemon, where it could stop a real gateway of the same name. The e2e suite runs
// them against real Docker.
const work = mkdtempSync(join(tmpdir(), "clawfleet-commands-"));
after(() => rmSync(work, { recursive: true, force: true }));
const fakeBin = join(work, "bin");
const dockerCalls = join(work, "docker-calls");
mkdirSync(fakeBin);
writeFileSync(join(fakeBin, "docker"), `#!/bin/sh\nprintf '%s\\n' "$*" >>'${dockerCalls}'\n`);
chmodSync(join(fakeBin, "docker"), 0o755);

function sh(script: string, stdin = ""): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync("/bin/sh", ["-c", script], {
    input: stdin,
    encoding: "utf8",
    env: { ...process.env, PATH: `${fakeBin}:${process.env["PATH"] ?? ""}` },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The fake docker's calls since the last look. */
function takeDockerCalls(): string[] {
  const calls = existsSync(dockerCalls)
    ? readFileSync(dockerCalls, "utf8")
        .trim()
        .split("\n")
        .filter((line) => line !== "")
    : [];
  rmSync(dockerCalls, { force: true });
  return calls;
}

describe("shellQuote", () => {
  it("keeps every value one literal word, whatever it holds", () => {
    for (const value of ["plain", "it's", "$(touch /tmp/pwned)", "`id`", "a; rm -rf /", "line\nbreak", '"quoted"', "", "*", "-n"]) {
      assert.equal(execFileSync("/bin/sh", ["-c", `printf '%s' ${shellQuote(value)}`], { encoding: "utf8" }), value);
    }
  });
});

describe("inlineScript", () => {
  const hostile = ["plain", "it's", "$(touch /tmp/pwned)", "`id`", "a; rm -rf /", "line\nbreak", '"quoted"', "", "*", "-n", "CLAWFLEET_SCRIPT", "'"];

  it("runs the script in a real sh with each value as one positional parameter and the environment as given, whatever they hold", () => {
    const script = ['for value in "$@"; do printf "[%s]" "$value"; done', 'printf "{%s}" "$0" "$EXTRA"'].join("\n");
    const command = inlineScript("clawfleet-test", script, hostile, { EXTRA: "x'y $(id)" });
    const printed = execFileSync("/bin/sh", ["-c", command], { encoding: "utf8" });
    assert.equal(printed, `${hostile.map((v) => `[${v}]`).join("")}{clawfleet-test}{x'y $(id)}`);
    assert.deepEqual(readInlineScript(command), { name: "clawfleet-test", text: script, args: hostile });
  });

  it("refuses a script holding its here-document's delimiter as a line, which would end it early", () => {
    assert.throws(() => inlineScript("clawfleet-test", "echo a\nCLAWFLEET_SCRIPT\necho b", []), {
      message: "script clawfleet-test holds the line CLAWFLEET_SCRIPT, which ends it early",
    });
  });
});

describe("renderEnsureStateDir", () => {
  it("creates the directory 0700 and leaves existing state alone on a second run", () => {
    const dir = join(work, "users", "alice");
    assert.equal(sh(renderEnsureStateDir({ dir, uid: 1000 })).status, 0);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    writeFileSync(join(dir, "keep.sqlite"), "approvals");
    assert.equal(sh(renderEnsureStateDir({ dir, uid: 1000 })).status, 0);
    assert.equal(readFileSync(join(dir, "keep.sqlite"), "utf8"), "approvals");
  });
});

describe("renderWriteFile", () => {
  it("writes stdin atomically, 0600, leaving no temp file behind", () => {
    const dir = join(work, "write");
    sh(renderEnsureStateDir({ dir, uid: 1000 }));
    const result = sh(renderWriteFile({ dir, file: "openclaw.json", uid: 1000, stagingDir: join(work, "staging") }), '{"a": "it\'s $(x)"}\n');
    assert.equal(result.status, 0, result.stderr);
    assert.equal(readFileSync(join(dir, "openclaw.json"), "utf8"), '{"a": "it\'s $(x)"}\n');
    assert.equal(statSync(join(dir, "openclaw.json")).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir), ["openclaw.json"]);
  });

  it("does not touch an unchanged file (no reload), and replaces a changed one", () => {
    const dir = join(work, "idempotent");
    sh(renderEnsureStateDir({ dir, uid: 1000 }));
    const script = renderWriteFile({ dir, file: "openclaw.json", uid: 1000, stagingDir: join(work, "staging") });
    sh(script, "one\n");
    const first = statSync(join(dir, "openclaw.json")).ino;
    sh(script, "one\n");
    assert.equal(statSync(join(dir, "openclaw.json")).ino, first);
    sh(script, "two\n");
    assert.notEqual(statSync(join(dir, "openclaw.json")).ino, first);
    assert.equal(readFileSync(join(dir, "openclaw.json"), "utf8"), "two\n");
    assert.deepEqual(readdirSync(dir), ["openclaw.json"]);
  });
});

describe("renderWriteFile in a folder the tenant writes in", () => {
  it("replaces a link planted at the file instead of writing through it, and makes no temp file there", () => {
    const dir = join(work, "planted");
    sh(renderEnsureStateDir({ dir, uid: 1000 }));
    const victim = join(work, "victim");
    writeFileSync(victim, "host file\n");
    symlinkSync(victim, join(dir, "openclaw.json"));
    const result = sh(renderWriteFile({ dir, file: "openclaw.json", uid: 1000, stagingDir: join(work, "staging") }), "config\n");
    assert.equal(result.status, 0, result.stderr);
    assert.equal(readFileSync(victim, "utf8"), "host file\n", "the link's target is untouched");
    assert.equal(lstatSync(join(dir, "openclaw.json")).isSymbolicLink(), false);
    assert.equal(readFileSync(join(dir, "openclaw.json"), "utf8"), "config\n");
    assert.deepEqual(readdirSync(dir), ["openclaw.json"]);
    assert.equal(statSync(join(work, "staging")).mode & 0o777, 0o700);
  });
});

describe("renderPrepareHost", () => {
  it("names the host and the fix when docker is missing", () => {
    const script = renderPrepareHost({ hostId: "gw1", stateRoot: join(work, "root"), image: "example/openclaw:1", tailscale: false });
    const result = spawnSync("/bin/sh", ["-c", script], { encoding: "utf8", env: { PATH: "/nonexistent" } });
    assert.equal(result.status, 1);
    assert.equal(result.stderr, "clawfleet: host gw1: docker is not installed; install docker.io (Debian) or Docker Engine\n");
  });

  it("names the host and the fix when bash is missing: the backup before an image change needs it", () => {
    const script = renderPrepareHost({ hostId: "gw1", stateRoot: join(work, "root"), image: "example/openclaw:1", tailscale: false });
    const tools = join(work, "tools-without-bash");
    mkdirSync(tools, { recursive: true });
    writeFileSync(join(tools, "docker"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const result = spawnSync("/bin/sh", ["-c", script], { encoding: "utf8", env: { PATH: tools } });
    assert.equal(result.status, 1);
    assert.equal(result.stderr, "clawfleet: host gw1: bash is not installed, which the backup before an image change runs; install bash\n");
  });
});

describe("renderMoveState", () => {
  it("copies a tenant's state to its new place once, renames the old copy aside, and never overwrites state", () => {
    const from = join(work, "old-host", "users", "alice");
    const to = join(work, "new-host", "users", "alice");
    sh(renderEnsureStateDir({ dir: from, uid: 1000 }));
    sh(renderEnsureStateDir({ dir: to, uid: 1000 }));
    mkdirSync(join(from, "state"));
    writeFileSync(join(from, "state", "openclaw.sqlite"), "approvals");
    const script = renderMoveState({
      from: { dir: from, ssh: undefined },
      to: { dir: to, ssh: undefined },
      containerName: "clawfleet-tenant-alice",
      uid: 1000,
    });
    takeDockerCalls();
    const first = sh(script);
    assert.equal(first.status, 0, first.stderr);
    assert.deepEqual(takeDockerCalls(), ["stop -t 30 clawfleet-tenant-alice"], "the old gateway is stopped before its state is copied");
    assert.equal(readFileSync(join(to, "state", "openclaw.sqlite"), "utf8"), "approvals");
    assert.equal(statSync(to).mode & 0o777, 0o700);
    const aside = readdirSync(join(work, "old-host", "users")).filter((name) => name.startsWith("alice.moved-"));
    assert.equal(aside.length, 1, "the old copy is kept under a new name");
    assert.match(aside[0] ?? "", /^alice\.moved-\d{8}T\d{6}Z$/);
    assert.equal(readFileSync(join(work, "old-host", "users", aside[0] ?? "", "state", "openclaw.sqlite"), "utf8"), "approvals");
    writeFileSync(join(to, "state", "openclaw.sqlite"), "newer");
    const again = sh(script);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(readFileSync(join(to, "state", "openclaw.sqlite"), "utf8"), "newer", "a re-run is a no-op");
    assert.deepEqual(takeDockerCalls(), [], "and stops nothing");

    const back = sh(
      renderMoveState({ from: { dir: to, ssh: undefined }, to: { dir: from, ssh: undefined }, containerName: "clawfleet-tenant-alice", uid: 1000 }),
    );
    assert.equal(back.status, 0, back.stderr);
    assert.equal(readFileSync(join(from, "state", "openclaw.sqlite"), "utf8"), "newer", "a move back lands on the freed path");
  });

  it("refuses a target that holds state while the source does too, and a source with nothing to move", () => {
    const from = join(work, "refuse", "users", "bob");
    const other = join(work, "refuse", "users", "carol");
    mkdirSync(join(from, "state"), { recursive: true });
    mkdirSync(join(other, "state"), { recursive: true });
    const refused = sh(
      renderMoveState({ from: { dir: from, ssh: undefined }, to: { dir: other, ssh: undefined }, containerName: "clawfleet-tenant-bob", uid: 1000 }),
    );
    assert.equal(refused.status, 1);
    assert.equal(refused.stderr, `clawfleet: '${other}' already holds gateway state; move it aside or remove movedFrom and renamedFrom\n`);
    const empty = join(work, "refuse", "users", "nobody");
    const nothing = sh(
      renderMoveState({ from: { dir: empty, ssh: undefined }, to: { dir: join(work, "refuse", "x"), ssh: undefined }, containerName: "c", uid: 1000 }),
    );
    assert.equal(nothing.status, 1);
    assert.equal(nothing.stderr, `clawfleet: '${empty}' holds no gateway state to move; check movedFrom and renamedFrom\n`);
  });

  it("reaches a remote host through ssh with its host key pinned and the command as one quoted word", () => {
    const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDUZzTanz2CG879Q/C5QdK2PZPff1WcVXzIN8hc23EtF";
    const script = renderMoveState({
      from: { dir: "/data/claw/users/alice", ssh: { host: "gw2.example.ts.net", user: "deploy", port: 2222, hostKey } },
      to: { dir: "/data/claw/users/alice", ssh: undefined },
      containerName: "clawfleet-tenant-alice",
      uid: 1000,
    });
    assert.ok(
      script.includes(
        `ssh -o BatchMode=yes '-o' 'StrictHostKeyChecking=yes' '-o' 'UserKnownHostsFile=/dev/null' '-o' 'GlobalKnownHostsFile=/dev/null' '-o' 'KnownHostsCommand=/bin/echo [gw2.example.ts.net]:2222 ${hostKey}' -p 2222 'deploy@gw2.example.ts.net' 'as_root() {`,
      ),
      script,
    );
  });
});

describe("renderEgressApply", () => {
  /** A directory of stand-in commands for PATH: each prints its argv to calls.log and exits with the given code. */
  function fakeTools(codes: Record<string, number>): { dir: string; calls: () => string[] } {
    const dir = mkdtempSync(join(work, "tools-"));
    const log = join(dir, "calls.log");
    for (const [name, code] of Object.entries(codes)) {
      writeFileSync(join(dir, name), `#!/bin/sh\necho "${name} $*" >> ${shellQuote(log)}\nexit ${code}\n`, { mode: 0o755 });
    }
    return { dir, calls: () => readFileSync(log, "utf8").trim().split("\n") };
  }

  it("names the host and the fix when the firewall has no DOCKER-USER chain, before it touches anything", () => {
    const tools = fakeTools({ iptables: 1, docker: 0, "iptables-restore": 0 });
    const script = renderEgressApply({ hostId: "gw1", network: "clawfleet-tenant-alice", allow: [] });
    const result = spawnSync("/bin/sh", ["-c", script], { encoding: "utf8", env: { PATH: `${tools.dir}:/usr/bin:/bin` } });
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      "clawfleet: host gw1: the firewall has no DOCKER-USER chain (Docker makes it when it manages iptables, its default); start Docker with iptables on, or set hosts.gw1.egress.blockPrivate: false\n",
    );
    assert.deepEqual(tools.calls(), ["iptables -S DOCKER-USER"]);
  });

  it("names the network when it has no bridge on the host", () => {
    const tools = fakeTools({ iptables: 0, "iptables-restore": 0 });
    // Docker prints the network's id, and nothing for a bridge name option it was not given.
    writeFileSync(join(tools.dir, "docker"), `#!/bin/sh\ncase "$*" in *.Id*) echo 00000000cafe0123456789 ;; esac\n`, { mode: 0o755 });
    const script = renderEgressApply({ hostId: "gw1", network: "clawfleet-tenant-alice", allow: [] });
    const result = spawnSync("/bin/sh", ["-c", script], { encoding: "utf8", env: { PATH: `${tools.dir}:/usr/bin:/bin` } });
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      "clawfleet: host gw1: network clawfleet-tenant-alice has no bridge br-00000000cafe on the host, so its egress rules would not match; check docker network inspect clawfleet-tenant-alice\n",
    );
  });

  it("fills the gateway's own chain in one transaction: connections it did not open, resolvers, allowed ranges, then the blocked ranges", () => {
    const script = renderEgressApply({ hostId: "gw1", network: "clawfleet-tenant-alice", allow: ["10.20.0.5/32"] });
    const chain = egressChainOf("clawfleet-tenant-alice");
    assert.match(chain, /^CLAWFLEET-[0-9a-f]{16}$/);
    assert.ok(chain.length <= 28, "iptables chain names are at most 28 characters");
    const echoed = script
      .split("\n")
      .filter((line) => line.trim().startsWith("echo '-A"))
      .map((line) => line.trim().slice("echo '".length, -1));
    assert.deepEqual(echoed, [
      `-A ${chain} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
      `-A ${chain} -d 10.20.0.5/32 -j RETURN`,
      `-A ${chain} -d 10.0.0.0/8 -j REJECT --reject-with icmp-admin-prohibited`,
      `-A ${chain} -d 172.16.0.0/12 -j REJECT --reject-with icmp-admin-prohibited`,
      `-A ${chain} -d 192.168.0.0/16 -j REJECT --reject-with icmp-admin-prohibited`,
      `-A ${chain} -d 169.254.0.0/16 -j REJECT --reject-with icmp-admin-prohibited`,
      `-A ${chain} -d 100.64.0.0/10 -j REJECT --reject-with icmp-admin-prohibited`,
    ]);
    assert.ok(script.includes(`  echo "-A ${chain} -o $bridge -j RETURN"`), "packets that stay on the gateway's own network pass");
    assert.ok(script.includes("iptables-restore --noflush"));
  });

  it("removes nothing it cannot find, and exits 0 when the rules are gone already", () => {
    const tools = fakeTools({ iptables: 1 });
    const result = spawnSync("/bin/sh", ["-c", renderEgressRemove({ network: "clawfleet-tenant-alice" })], {
      encoding: "utf8",
      env: { PATH: `${tools.dir}:/usr/bin:/bin` },
    });
    assert.equal(result.status, 0, result.stderr);
    const chain = egressChainOf("clawfleet-tenant-alice");
    assert.deepEqual(tools.calls(), ["iptables -S DOCKER-USER", `iptables -F ${chain}`, `iptables -X ${chain}`]);
  });
});
