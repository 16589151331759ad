import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { offsiteKeyOf } from "../../cli/ops/offsite";
import { parseFleet } from "../../declaration/parse";
import { SecretValue } from "../../declaration/secret";
import { offsiteUnitOf, renderOffsiteSchedule, renderOffsiteUnschedule } from "../../runtimes/docker/offsite";
import { hostScript, hostScriptFiles, operatorScript, operatorScriptFiles } from "../../runtimes/docker/scripts";
import { readInlineScript, secretsPrelude } from "../../runtimes/shell";

// The timer's install and removal run in a real /bin/sh as rendered, with the job's folder and the units' folder moved
// into a scratch folder, and `systemctl` a fake that logs each call and says what `FAKE_STATE` holds for
// is-system-running. systemd-analyze is the machine's own: it checks the calendar expression and the units.
const work = mkdtempSync(join(tmpdir(), "clawfleet-offsite-schedule-"));
after(() => rmSync(work, { recursive: true, force: true }));

const offsite = parseFleet("stacks/Pulumi.prod.yaml", {
  image: "ghcr.io/openclaw/openclaw:2026.9.6",
  hosts: { gw1: { stateRoot: "/srv/clawfleet", ports: { from: 18100, to: 18199 } } },
  tenants: { alice: { tier: "dedicated", host: "gw1" } },
  backups: {
    offsite: {
      s3: {
        endpoint: "https://s3.example.com",
        bucket: "fleet-backups",
        prefix: "prod/",
        accessKeyId: new SecretValue("id"),
        secretAccessKey: new SecretValue("key"),
      },
      ageRecipient: "age146l5vqqaykf7gravrtfcwsmf6v0vjjnskt2m75l5xl3wxgrygcaset87d8",
      keep: 3,
      schedule: "*-*-* 03:00:00",
    },
  },
}).backups?.offsite;
assert.ok(offsite?.schedule !== undefined);
const scheduled = { ...offsite, schedule: offsite.schedule };
const stack = "clawfleet/prod";
const unit = "clawfleet-offsite-clawfleet-prod";
const credentials = secretsPrelude({ S3_ACCESS_KEY_ID: "id", S3_SECRET_ACCESS_KEY: "key" });

function fakeHost(systemState = "running") {
  const root = mkdtempSync(join(work, "host-"));
  const bin = join(root, "bin");
  mkdirSync(bin);
  const systemctl = `#!/bin/sh\nprintf '%s\\n' "$*" >>"$FAKE/systemctl"\n[ "$1" = is-system-running ] && echo "$FAKE_STATE"\nexit 0\n`;
  writeFileSync(join(bin, "systemctl"), systemctl);
  chmodSync(join(bin, "systemctl"), 0o755);
  mkdirSync(join(root, "units"));
  return {
    root,
    dir: join(root, "offsite"),
    units: join(root, "units"),
    env: { ...process.env, PATH: `${bin}:${process.env["PATH"] ?? ""}`, FAKE: root, FAKE_STATE: systemState },
  };
}
type FakeHost = ReturnType<typeof fakeHost>;

/** Runs a rendered command with its folders moved to the fake host's. */
function run(command: string, host: FakeHost, stdin = "") {
  const { text, name, args } = readInlineScript(command);
  const moved = args.map((arg) => (arg === "/srv/clawfleet/offsite" ? host.dir : arg === "/etc/systemd/system" ? host.units : arg));
  return spawnSync("/bin/sh", ["-c", text, name, ...moved], { env: host.env, input: stdin, encoding: "utf8" });
}
const systemctlCalls = (host: FakeHost) =>
  existsSync(join(host.root, "systemctl")) ? readFileSync(join(host.root, "systemctl"), "utf8").trim().split("\n") : [];
const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);
const install = renderOffsiteSchedule({ hostId: "gw1", stack, stateRoot: "/srv/clawfleet", offsite: scheduled });
const remove = renderOffsiteUnschedule({ stack, stateRoot: "/srv/clawfleet" });

describe("the off-host backup timer", () => {
  it("is named after the stack", () => {
    assert.equal(offsiteUnitOf(stack), unit);
    assert.equal(offsiteUnitOf("a/b.c_d"), "clawfleet-offsite-a-b.c_d");
  });

  it("passes shellcheck as the command it is rendered into runs it", () => {
    const file = join(work, "offsite-schedule.sh");
    writeFileSync(file, readInlineScript(install).text);
    const result = spawnSync("shellcheck", ["--shell=sh", file], { encoding: "utf8" });
    assert.equal(result.status, 0, result.stdout);
    const job = spawnSync("shellcheck", [join(__dirname, "..", "..", "runtimes", "docker", "scripts", "offsite-job.sh")], { encoding: "utf8" });
    assert.equal(job.status, 0, job.stdout);
  });

  it("installs the job, its scripts, settings and credentials root-only, and a timer and service systemd accepts, then starts the timer", () => {
    const host = fakeHost();
    const result = run(install, host, credentials);
    assert.equal(result.stderr, "");
    assert.equal(result.status, 0);
    assert.equal(result.stdout, `scheduled ${unit}.timer on host gw1: *-*-* 03:00:00\n`);
    assert.deepEqual(systemctlCalls(host), ["is-system-running", "daemon-reload", `enable ${unit}.timer`, `restart ${unit}.timer`]);
    assert.equal(mode(host.dir), "700");
    assert.deepEqual(
      ["credentials", "settings", "offsite-job.sh", "backup-gateway.sh", "offsite-gateway.sh"].map((file) => mode(join(host.dir, file))),
      ["600", "600", "700", "700", "700"],
    );
    assert.equal(readFileSync(join(host.dir, "credentials"), "utf8"), credentials);
    assert.equal(readFileSync(join(host.dir, "offsite-job.sh"), "utf8"), hostScript(hostScriptFiles.offsiteJob));
    assert.equal(readFileSync(join(host.dir, "backup-gateway.sh"), "utf8"), operatorScript(operatorScriptFiles.backup));
    assert.equal(readFileSync(join(host.dir, "offsite-gateway.sh"), "utf8"), operatorScript(operatorScriptFiles.offsite));
    assert.deepEqual(readFileSync(join(host.dir, "settings"), "utf8").split("\n"), [
      stack,
      "gw1",
      "clawfleet.stack",
      "clawfleet.host",
      "clawfleet.gateway",
      "https://s3.example.com",
      "us-east-1",
      "fleet-backups",
      "prod/",
      scheduled.ageRecipient,
      "3",
      "/srv/clawfleet/backups/manual",
      "",
    ]);
    const timer = readFileSync(join(host.units, `${unit}.timer`), "utf8");
    assert.match(timer, /^OnCalendar=\*-\*-\* 03:00:00$/m);
    assert.match(timer, /^Persistent=true$/m);
    const service = readFileSync(join(host.units, `${unit}.service`), "utf8");
    assert.match(service, new RegExp(`^ExecStart=/[a-z/]*bin/bash ${host.dir}/offsite-job.sh ${host.dir}$`, "m"));
    assert.deepEqual([mode(join(host.units, `${unit}.timer`)), mode(join(host.units, `${unit}.service`))], ["644", "644"]);
    const verify = spawnSync("systemd-analyze", ["verify", join(host.units, `${unit}.timer`), join(host.units, `${unit}.service`)], { encoding: "utf8" });
    assert.equal(verify.status, 0, verify.stderr);
    assert.equal(verify.stderr, "");

    // Again with the same values: no file changes, so systemd is not asked to reload, and the timer is left running.
    const before = statSync(join(host.dir, "credentials")).mtimeMs;
    const again = run(install, host, credentials);
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual(systemctlCalls(host).slice(4), ["is-system-running", `enable ${unit}.timer`, `start ${unit}.timer`]);
    assert.equal(statSync(join(host.dir, "credentials")).mtimeMs, before);

    // Another schedule alone: the timer's file changes, systemd reloads it and the running timer is restarted on it.
    const weekly = renderOffsiteSchedule({ hostId: "gw1", stack, stateRoot: "/srv/clawfleet", offsite: { ...scheduled, schedule: "weekly" } });
    const changed = run(weekly, host, credentials);
    assert.equal(changed.status, 0, changed.stderr);
    assert.deepEqual(systemctlCalls(host).slice(7), ["is-system-running", "daemon-reload", `enable ${unit}.timer`, `restart ${unit}.timer`]);
    assert.match(readFileSync(join(host.units, `${unit}.timer`), "utf8"), /^OnCalendar=weekly$/m);
    assert.equal(statSync(join(host.dir, "credentials")).mtimeMs, before);

    // Removed: the timer stopped, both units and the folder with its credentials gone.
    const removed = run(remove, host);
    assert.deepEqual([removed.status, removed.stdout, removed.stderr], [0, `removed ${unit}.timer\n`, ""]);
    assert.deepEqual(systemctlCalls(host).slice(11), [`disable --now ${unit}.timer`, "daemon-reload"]);
    assert.deepEqual(
      [existsSync(host.dir), existsSync(join(host.units, `${unit}.timer`)), existsSync(join(host.units, `${unit}.service`))],
      [false, false, false],
    );
  });

  it("is refused, with nothing written, where systemd is not the init system, naming the host and what to do instead", () => {
    const host = fakeHost("offline");
    const result = run(install, host, credentials);
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      "clawfleet: host gw1: backups.offsite.schedule installs a systemd timer, and systemd is not this host's init system (systemctl is-system-running: offline); drop schedule there and run clawfleet backup --offsite from cron instead\n",
    );
    assert.equal(existsSync(host.dir), false);
  });

  it("refuses a schedule systemd does not read, and a link where its folder goes", () => {
    const bogus = renderOffsiteSchedule({ hostId: "gw1", stack, stateRoot: "/srv/clawfleet", offsite: { ...scheduled, schedule: "every 5 minutes" } });
    const host = fakeHost();
    const result = run(bogus, host, credentials);
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      "clawfleet: host gw1: backups.offsite.schedule 'every 5 minutes' is no calendar expression systemd reads (systemd-analyze calendar refuses it); use one such as daily or *-*-* 03:00:00\n",
    );
    assert.equal(existsSync(host.dir), false);
    const linked = fakeHost();
    symlinkSync(work, linked.dir);
    const refused = run(install, linked, credentials);
    assert.equal(refused.status, 1);
    assert.equal(refused.stderr, `clawfleet: host gw1: ${linked.dir} is a link; remove it, the deploy makes that folder itself\n`);
    // A link where its record of the last archives goes: refused before anything is chowned through it.
    const inner = fakeHost();
    const outside = join(inner.root, "outside");
    mkdirSync(outside, { mode: 0o755 });
    mkdirSync(inner.dir, { mode: 0o700 });
    symlinkSync(outside, join(inner.dir, "last"));
    const innerRefused = run(install, inner, credentials);
    assert.equal(innerRefused.status, 1);
    assert.equal(innerRefused.stderr, `clawfleet: host gw1: ${inner.dir}/last is a link; remove it, the deploy makes that folder itself\n`);
    assert.equal(mode(outside), "755");
  });
});

// The job, run as systemd runs it, with fakes for docker (the gateways), backup-gateway.sh (an archive per call, or a
// failure for a gateway named in FAIL) and offsite-gateway.sh (logs its command and whether the credentials came first).
describe("the scheduled off-host job", () => {
  function jobHost() {
    const host = fakeHost();
    assert.equal(run(install, host, credentials).status, 0);
    const backups = join(host.root, "backups");
    const settings = readFileSync(join(host.dir, "settings"), "utf8").replace("/srv/clawfleet/backups/manual", backups);
    writeFileSync(join(host.dir, "settings"), settings);
    const bin = join(host.root, "bin");
    writeFileSync(join(bin, "docker"), `#!/bin/sh\nprintf '%s\\n' "$*" >>"$FAKE/docker-calls"\nprintf 'clawfleet-tenant-bob\\nclawfleet-shared-gw1\\n'\n`);
    chmodSync(join(bin, "docker"), 0o755);
    writeFileSync(
      join(host.dir, "backup-gateway.sh"),
      [
        'if [ "$1" = "$FAIL" ]; then echo "backup-gateway: $1 is not running and its state is gone" >&2; exit 1; fi',
        'mkdir -p "$2"; n=$(($(cat "$FAKE/n" 2>/dev/null || echo 0) + 1)); echo "$n" >"$FAKE/n"',
        'a="$2/2026-12-05T03-00-0$n.000+00-00-openclaw-backup.tar.gz"; : >"$a"; echo "verifying"; echo "$a"',
        "",
      ].join("\n"),
    );
    writeFileSync(
      join(host.dir, "offsite-gateway.sh"),
      [`printf '%s|%s\\n' "$*" "$S3_SECRET_ACCESS_KEY" >>"$FAKE/offsite-calls"`, 'if [ "$1" = prune ]; then echo "$5old.tar.gz.age"; fi', ""].join("\n"),
    );
    return { ...host, backups };
  }
  const job = (host: ReturnType<typeof jobHost>, fail = "") =>
    spawnSync("bash", [join(host.dir, "offsite-job.sh"), host.dir], { env: { ...host.env, FAIL: fail }, encoding: "utf8" });

  it("backs up, uploads and prunes each gateway of the stack on the host, keeping one archive of its own there", () => {
    const host = jobHost();
    const first = job(host);
    assert.equal(first.stderr, "");
    assert.equal(first.status, 0);
    const bob = (n: number) => join(host.backups, "clawfleet-tenant-bob", `2026-12-05T03-00-0${n}.000+00-00-openclaw-backup.tar.gz`);
    // The fake numbers its archives across gateways, in the job's order: the shared gateway's first. The key is the one
    // clawfleet backup --offsite gives the same archive.
    const key = offsiteKeyOf(scheduled, "clawfleet-tenant-bob", bob(2));
    assert.equal(key, "prod/clawfleet-tenant-bob/2026-12-05T03-00-02.000_00-00-openclaw-backup.tar.gz.age");
    assert.equal(
      first.stdout,
      [
        "offsite-job: clawfleet-shared-gw1: uploaded prod/clawfleet-shared-gw1/2026-12-05T03-00-01.000_00-00-openclaw-backup.tar.gz.age; deleted prod/clawfleet-shared-gw1/old.tar.gz.age",
        `offsite-job: clawfleet-tenant-bob: uploaded ${key}; deleted prod/clawfleet-tenant-bob/old.tar.gz.age`,
        "offsite-job: 2 gateways of clawfleet/prod copied off host gw1, encrypted",
        "",
      ].join("\n"),
    );
    assert.deepEqual(readFileSync(join(host.root, "docker-calls"), "utf8").trim().split("\n"), [
      `ps -a --filter label=clawfleet.stack=${stack} --filter label=clawfleet.host=gw1 --filter label=clawfleet.gateway --format {{.Names}}`,
    ]);
    const calls = readFileSync(join(host.root, "offsite-calls"), "utf8").trim().split("\n");
    assert.deepEqual(calls.slice(2), [
      `put https://s3.example.com us-east-1 fleet-backups ${key} ${scheduled.ageRecipient} ${bob(2)}|key`,
      "prune https://s3.example.com us-east-1 fleet-backups prod/clawfleet-tenant-bob/ 3|key",
    ]);
    assert.equal(existsSync(bob(2)), true);

    // The next run deletes the archive the last one made, and only that.
    writeFileSync(join(host.backups, "clawfleet-tenant-bob", "operator.tar.gz"), "");
    const second = job(host);
    assert.equal(second.status, 0, second.stderr);
    assert.deepEqual([existsSync(bob(2)), existsSync(bob(4)), existsSync(join(host.backups, "clawfleet-tenant-bob", "operator.tar.gz"))], [false, true, true]);
  });

  it("replaces a link left as its record of the last archive instead of writing through it, and deletes nothing outside the gateway's folder", () => {
    const host = jobHost();
    const outside = join(host.root, "outside.txt");
    writeFileSync(outside, "keep me\n");
    symlinkSync(outside, join(host.dir, "last", "clawfleet-tenant-bob"));
    writeFileSync(join(host.dir, "last", "clawfleet-shared-gw1"), `${join(host.backups, "clawfleet-shared-gw1", "..", "..", "outside.txt")}\n`);
    const result = job(host);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(readFileSync(outside, "utf8"), "keep me\n");
    assert.match(
      readFileSync(join(host.dir, "last", "clawfleet-tenant-bob"), "utf8"),
      /clawfleet-tenant-bob\/2026-12-05T03-00-02\.000\+00-00-openclaw-backup\.tar\.gz\n$/,
    );
    assert.equal(statSync(join(host.dir, "last", "clawfleet-tenant-bob")).isFile(), true);
  });

  it("goes on past a gateway that fails, then fails naming it", () => {
    const host = jobHost();
    const result = job(host, "clawfleet-shared-gw1");
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      [
        "offsite-job: clawfleet-shared-gw1: the backup failed: backup-gateway: clawfleet-shared-gw1 is not running and its state is gone",
        "offsite-job: 1 of 2 gateways not copied off host gw1: clawfleet-shared-gw1",
        "",
      ].join("\n"),
    );
    assert.match(result.stdout, /^offsite-job: clawfleet-tenant-bob: uploaded prod\/clawfleet-tenant-bob\//);
  });
});
