import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { dedicatedGatewaySpec } from "../../components/gateway-spec";
import { parseFleet } from "../../declaration/parse";
import type { DedicatedTenant, Host } from "../../declaration/schema";
import { readStackFile } from "../../declaration/stack-file";
import { renderHealthGate } from "../../runtimes/docker/commands";
import { renderRollback } from "../../runtimes/docker/rollback";
import { renderBackupBeforeUpgrade } from "../../runtimes/docker/upgrade";
import { shellQuote } from "../../runtimes/shell";

// The scripts run in a real /bin/sh with real tar, mv and cp on a state directory of their own; `docker` is a fake on
// PATH that keeps each container as files (image, rollback label, environment, labels) and logs every call.
const work = mkdtempSync(join(tmpdir(), "clawfleet-rollback-"));
after(() => rmSync(work, { recursive: true, force: true }));

const root = join(work, "root");
const stack = `config:
  clawfleet:image: gw:bad
  clawfleet:hosts:
    h1: { stateRoot: ${root}, ports: { from: 18100, to: 18199 } }
  clawfleet:tenants:
    bob: { tier: dedicated, host: h1, port: 18102, memoryMb: 1024, cpus: 1.5, pidsLimit: 256, labels: { team: b }, isolation: runsc }
`;
const fleet = parseFleet("rollback.yaml", readStackFile("rollback.yaml", stack));
const spec = dedicatedGatewaySpec(fleet.tenants[0] as DedicatedTenant, fleet.hosts[0] as Host, fleet.image);
const name = "clawfleet-tenant-bob";
const state = join(root, "users", "bob");
const backups = join(root, "backups", name);
const archiveName = "20261203T100000Z-2026-12-03T10-00-00.000+00-00-openclaw-backup.tar.gz";

const fakeDocker = `#!/bin/sh
d=$FAKE_DOCKER
printf '%s\\n' "$*" >>"$d/calls"
c=
for a in "$@"; do c=$a; done
case "$1 $2" in
  "image inspect") grep -qx "$3" "$d/images" ;;
  "inspect --format" | "inspect -f")
    [ -f "$d/$c.image" ] || exit 1
    case "$3" in
      *RestartCount*) cat "$d/$c.health" ;;
      *rollback*) cat "$d/$c.rolled" 2>/dev/null || true ;;
      *Config.Image*) cat "$d/$c.image" ;;
      *Config.User*) echo 1000:1000 ;;
      *Entrypoint*) echo node /app/node_modules/openclaw/openclaw.mjs ;;
      *Mounts*) echo ${state} ;;
      *Config.Env*) cat "$d/$c.env" ;;
      *Config.Labels*) cat "$d/$c.labels" ;;
      *State.Running*) echo true ;;
    esac ;;
  "stop "*) ;;
  "rm -f") rm -f "$d/$c".* ;;
  "start "*) ;;
  "logs "*) echo "gateway log line" ;;
  "create "*)
    for a in "$@"; do printf '%s\\n' "$a"; done >"$d/create.args"
    printf '%s\\n' "$c" >"$d/$3.image"
    for a in "$@"; do case "$a" in clawfleet.rollback=*) printf '%s\\n' "\${a#clawfleet.rollback=}" >"$d/$3.rolled" ;; esac; done
    : >"$d/$3.env"; : >"$d/$3.labels"; echo "healthy running 0 0" >"$d/$3.health" ;;
  "run --rm")
    s=; o=
    for a in "$@"; do case "$a" in *:/staging) s=\${a%:/staging} ;; *:/backup) o=\${a%:/backup} ;; esac; done
    if [ -n "$o" ]; then
      # openclaw backup create: one archive in the output folder
      : >"$o/openclaw-backup.tar.gz"; echo '  "archivePath": "/backup/openclaw-backup.tar.gz",'
    else
      # openclaw backup restore: unpacks the archive into <staging>/out/<name>/payload/posix/state
      mkdir -p "$s/out/x/payload/posix/state" && tar -xzf "$s/archive.tar.gz" -C "$s/out/x/payload/posix/state"
    fi ;;
  *) echo "unexpected docker $*" >&2; exit 3 ;;
esac
`;

interface Setup {
  readonly fake: string;
  readonly env: NodeJS.ProcessEnv;
}

/** A host where bob's gateway runs `image` on state "new", with a pre-upgrade archive of state "old" taken from gw:good. */
function host(image: string, pending: string | undefined): Setup {
  rmSync(root, { recursive: true, force: true });
  const fake = mkdtempSync(join(work, "docker-"));
  const bin = join(fake, "bin");
  mkdirSync(bin);
  writeFileSync(join(bin, "docker"), fakeDocker);
  writeFileSync(join(bin, "sleep"), "#!/bin/sh\nexit 0\n");
  chmodSync(join(bin, "docker"), 0o755);
  chmodSync(join(bin, "sleep"), 0o755);
  writeFileSync(join(fake, "images"), "gw:good\ngw:bad\n");
  writeFileSync(join(fake, `${name}.image`), `${image}\n`);
  writeFileSync(join(fake, `${name}.health`), "unhealthy restarting 2 1\n");
  writeFileSync(join(fake, `${name}.env`), "PATH=/usr/bin\nOPENCLAW_STATE_DIR=/state\nOPENCLAW_GATEWAY_TOKEN=t0ken\nNODE_VERSION=24\n");
  writeFileSync(join(fake, `${name}.labels`), "clawfleet.gateway=tenant/bob\nclawfleet.stack=clawfleet/prod\norg.opencontainers.image.version=9\nteam=b\n");
  mkdirSync(join(state, "state"), { recursive: true });
  writeFileSync(join(state, "openclaw.json"), "stack's config\n");
  writeFileSync(join(state, "state", "db"), "new\n");
  const old = join(work, "old-state");
  rmSync(old, { recursive: true, force: true });
  mkdirSync(join(old, "state"), { recursive: true });
  writeFileSync(join(old, "openclaw.json"), "archived config\n");
  writeFileSync(join(old, "state", "db"), "old\n");
  mkdirSync(backups, { recursive: true });
  execFileSync("tar", ["-czf", join(backups, archiveName), "-C", old, "."]);
  writeFileSync(join(backups, `${archiveName}.image`), "gw:good\n");
  if (pending !== undefined) writeFileSync(join(backups, ".pending"), `${archiveName}\t${pending}\n`);
  return { fake, env: { ...process.env, FAKE_DOCKER: fake, PATH: `${bin}:${process.env["PATH"] ?? ""}` } };
}

const rollback = renderRollback({ spec, backupDir: backups });

function run(script: string, args: string[], { env }: Setup) {
  return spawnSync("/bin/sh", ["-c", script, "sh", ...args], { encoding: "utf8", env });
}

const asideOf = () => readdirSync(join(root, "users")).find((f) => f.startsWith("bob.before-rollback-")) ?? "";

describe("renderRollback", () => {
  it("puts the previous image back on the newest pre-upgrade archive, with the gateway's settings, environment and labels", () => {
    const setup = host("gw:bad", undefined);
    const result = run(rollback, ["any"], setup);
    assert.equal(result.status, 0, result.stderr);
    const aside = asideOf();
    assert.match(aside, /^bob\.before-rollback-\d{8}T\d{6}Z$/);
    assert.equal(result.stdout, `done\tgw:bad\tgw:good\t${backups}/${archiveName}\t${state}.${aside.slice("bob.".length)}\thealthy\n`);
    assert.equal(result.stderr, `clawfleet: gateway ${name}: putting gw:bad back on gw:good from ${backups}/${archiveName}\n`);
    // The archived state is in place with the stack's config; the replaced state is kept.
    assert.equal(readFileSync(join(state, "state", "db"), "utf8"), "old\n");
    assert.equal(readFileSync(join(state, "openclaw.json"), "utf8"), "stack's config\n");
    assert.equal(readFileSync(join(root, "users", aside, "state", "db"), "utf8"), "new\n");
    const args = readFileSync(join(setup.fake, "create.args"), "utf8")
      .trim()
      .split("\n")
      .map((a) => a.replace(/\/\.rollback\.[^/]+\//, "/.rollback.X/"));
    assert.deepEqual(args, [
      "create",
      ...["--name", name, "--hostname", name, "--user", "1000:1000"],
      ...["--env-file", `${root}/users/.rollback.X/env`, "--label-file", `${root}/users/.rollback.X/labels`, "--label", "clawfleet.rollback=gw:bad"],
      ...["--publish", "127.0.0.1:18102:18789/tcp", "--mount", `type=bind,source=${state},target=/state`],
      ...["--mount", `type=bind,source=${root}/secrets/clawfleet-tenant-bob,target=/run/clawfleet,readonly`],
      ...["--tmpfs", "/tmp:rw,nosuid,nodev,size=64m", "--tmpfs", "/home/node:rw,nosuid,nodev,size=64m,uid=1000,gid=1000"],
      ...["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true", "--init"],
      ...["--memory", "1024m", "--memory-swap", "1024m", "--cpus", "1.5", "--pids-limit", "256", "--restart", "unless-stopped", "--network", name],
      ...["--runtime", "runsc"],
      ...["--health-cmd", `node -e ${shellQuote(spec.health.probe)}`, "--health-interval", "10s", "--health-timeout", "5s", "--health-start-period", "120s"],
      ...["--health-retries", "3", "--stop-signal", "SIGTERM", "--stop-timeout", "30"],
      ...["--log-driver", "json-file", "--log-opt", "max-size=10m", "--log-opt", "max-file=3", "gw:good"],
    ]);
    assert.equal(readFileSync(join(setup.fake, `${name}.rolled`), "utf8"), "gw:bad\n");
    // The previous image unpacks the archive confined as the gateway is, as its user, on no network.
    const restores = readFileSync(join(setup.fake, "calls"), "utf8")
      .split("\n")
      .filter((call) => call.startsWith("run --rm"));
    assert.deepEqual(
      restores.map((call) => call.replace(/\S+:\/staging/, "WORK:/staging")),
      [
        "run --rm --user 1000:1000 --cap-drop ALL --security-opt no-new-privileges:true --network none -e OPENCLAW_STATE_DIR=/tmp/unused -e HOME=/tmp " +
          "-v WORK:/staging --entrypoint node gw:good /app/node_modules/openclaw/openclaw.mjs backup restore /staging/archive.tar.gz --target /staging/out --json",
      ],
    );
    // Again: nothing more.
    const again = run(rollback, ["any"], setup);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout, "none\tit runs gw:good since its change to gw:bad failed\n");
  });

  it("copies only the gateway's own environment and labels into the new container", () => {
    const setup = host("gw:bad", undefined);
    const script = rollback.replace(
      `as_root docker create`,
      `cp "$work/env" "$FAKE_DOCKER/env.copied"; cp "$work/labels" "$FAKE_DOCKER/labels.copied"; as_root docker create`,
    );
    const result = run(script, ["any"], setup);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(readFileSync(join(setup.fake, "env.copied"), "utf8"), "OPENCLAW_STATE_DIR=/state\nOPENCLAW_GATEWAY_TOKEN=t0ken\n");
    assert.equal(readFileSync(join(setup.fake, "labels.copied"), "utf8"), "clawfleet.gateway=tenant/bob\nclawfleet.stack=clawfleet/prod\nteam=b\n");
  });

  it("under the health gate, acts only for the image change under way", () => {
    const other = host("gw:bad", "gw:other");
    const skipped = run(rollback, ["auto"], other);
    assert.equal(skipped.stdout, "none\tits image change to gw:other is not the one it runs\n");
    assert.equal(readFileSync(join(state, "state", "db"), "utf8"), "new\n");
    const none = host("gw:bad", undefined);
    assert.equal(run(rollback, ["auto"], none).stdout, "none\tno image change is under way\n");
    const under = host("gw:bad", "gw:bad");
    const done = run(rollback, ["auto"], under);
    assert.equal(done.status, 0, done.stderr);
    assert.match(done.stdout, /^done\tgw:bad\tgw:good\t/);
    assert.equal(existsSync(join(backups, ".pending")), false, "the change is no longer under way");
  });

  it("does nothing to a gateway on the image before its last change, or without a pre-upgrade archive", () => {
    const same = host("gw:good", undefined);
    assert.equal(run(rollback, ["any"], same).stdout, "none\tit runs gw:good, the image before its last change\n");
    const bare = host("gw:bad", undefined);
    rmSync(backups, { recursive: true });
    assert.equal(run(rollback, ["any"], bare).stdout, "none\tit has no pre-upgrade backup that names its previous image\n");
    rmSync(join(bare.fake, `${name}.image`));
    assert.equal(run(rollback, ["any"], bare).stdout, "none\tit has no container\n");
  });

  it("changes nothing when the previous image is gone from the host", () => {
    const setup = host("gw:bad", undefined);
    writeFileSync(join(setup.fake, "images"), "gw:bad\n");
    const result = run(rollback, ["any"], setup);
    assert.equal(result.status, 1);
    assert.equal(result.stderr, `clawfleet: gateway ${name}: the previous image gw:good is no longer on the host; nothing was changed\n`);
    assert.equal(readFileSync(join(state, "state", "db"), "utf8"), "new\n");
  });
});

describe("renderHealthGate with the way back", () => {
  const gate = renderHealthGate({ containerName: name, timeoutSeconds: 300, rollback: { script: rollback, backupDir: backups } });

  it("puts a gateway whose new image fails back on the previous one, and the deploy's error says so", () => {
    const setup = host("gw:bad", "gw:bad");
    const result = run(gate, [], setup);
    assert.equal(result.status, 1);
    const aside = `${state}.${asideOf().slice("bob.".length)}`;
    assert.equal(
      result.stderr,
      `gateway log line\nclawfleet: gateway ${name}: putting gw:bad back on gw:good from ${backups}/${archiveName}\nclawfleet: gateway ${name} exited (code 1) and was restarted 2 times; read why with: docker logs ${name}. It was put back on gw:good from ${backups}/${archiveName} (it is healthy; the state it had on gw:bad is kept at ${aside}). Declare gw:good again, or an image that works, and deploy\n`,
    );
    assert.equal(readFileSync(join(state, "state", "db"), "utf8"), "old\n");
  });

  it("fails as before when no image change is under way", () => {
    const setup = host("gw:bad", undefined);
    const result = run(gate, [], setup);
    assert.equal(result.status, 1);
    assert.equal(result.stderr, `gateway log line\nclawfleet: gateway ${name} exited (code 1) and was restarted 2 times; read why with: docker logs ${name}\n`);
    assert.equal(readFileSync(join(state, "state", "db"), "utf8"), "new\n");
  });

  it("passes a healthy gateway and ends the image change", () => {
    const setup = host("gw:bad", "gw:bad");
    writeFileSync(join(setup.fake, `${name}.health`), "healthy running 0 0\n");
    assert.equal(run(gate, [], setup).status, 0);
    assert.equal(existsSync(join(backups, ".pending")), false);
  });

  it("refuses a deploy that declares again the image a rollback went back from", () => {
    const setup = host("gw:good", undefined);
    writeFileSync(join(setup.fake, `${name}.rolled`), "gw:bad\n");
    const result = run(gate, [], setup);
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      `clawfleet: gateway ${name} runs gw:good, put back there after gw:bad failed on it; declare that image again, or an image that works, and deploy\n`,
    );
  });
});

describe("renderBackupBeforeUpgrade and a rollback", () => {
  it("records the previous image beside the archive and the change under way", () => {
    const setup = host("gw:good", undefined);
    rmSync(backups, { recursive: true });
    const result = run(renderBackupBeforeUpgrade({ containerName: name, image: "gw:bad", backupDir: backups, keep: 3 }), [], setup);
    assert.equal(result.status, 0, result.stderr);
    const files = readdirSync(backups).sort();
    assert.equal(files.length, 3, files.join(", "));
    const [pending, archive, image] = files;
    assert.equal(pending, ".pending");
    assert.match(archive ?? "", /^\d{8}T\d{6}Z-openclaw-backup\.tar\.gz$/);
    assert.equal(image, `${archive}.image`);
    assert.equal(readFileSync(join(backups, image), "utf8"), "gw:good\n");
    assert.equal(readFileSync(join(backups, ".pending"), "utf8"), `${archive}\tgw:bad\n`);
  });

  it("removes the container a rollback left before the deploy creates the gateway's own, on the restored state", () => {
    const setup = host("gw:good", "gw:bad");
    writeFileSync(join(setup.fake, `${name}.rolled`), "gw:bad\n");
    const result = run(renderBackupBeforeUpgrade({ containerName: name, image: "gw:good", backupDir: backups, keep: 3 }), [], setup);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(
      result.stderr,
      `clawfleet: gateway ${name}: removing the container that runs gw:good since gw:bad failed on it; gw:good starts on the same state\n`,
    );
    assert.equal(existsSync(join(setup.fake, `${name}.image`)), false);
    assert.equal(existsSync(join(backups, ".pending")), false);
    assert.equal(readFileSync(join(state, "state", "db"), "utf8"), "new\n");
  });

  it("leaves the rolled-back container running when the image that failed on it is declared again", () => {
    const setup = host("gw:good", undefined);
    writeFileSync(join(setup.fake, `${name}.rolled`), "gw:bad\n");
    const result = run(renderBackupBeforeUpgrade({ containerName: name, image: "gw:bad", backupDir: backups, keep: 3 }), [], setup);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr, "");
    assert.equal(readFileSync(join(setup.fake, `${name}.image`), "utf8"), "gw:good\n");
    assert.deepEqual(readdirSync(backups).sort(), [archiveName, `${archiveName}.image`]);
  });
});

describe("the rollback scripts", () => {
  it("pass shellcheck", () => {
    const dir = mkdtempSync(join(work, "shellcheck-"));
    const files = [rollback, renderHealthGate({ containerName: name, timeoutSeconds: 300, rollback: { script: rollback, backupDir: backups } })].map(
      (text, i) => {
        const file = join(dir, `script-${i}.sh`);
        writeFileSync(file, `#!/bin/sh\n${text}\n`);
        return file;
      },
    );
    const result = spawnSync("shellcheck", ["--shell=sh", ...files], { encoding: "utf8" });
    assert.equal(result.status, 0, result.stdout);
  });
});
