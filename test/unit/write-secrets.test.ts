import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { renderRemoveSecrets, renderWriteSecrets } from "../../runtimes/docker/commands";

// The script runs in a real /bin/sh with real mktemp, cmp and mv; `docker` is a fake on PATH that answers whether the
// gateway runs and what `openclaw secrets reload --json` prints, and logs every call.
const work = mkdtempSync(join(tmpdir(), "clawfleet-secrets-"));
after(() => rmSync(work, { recursive: true, force: true }));

const uid = process.getuid?.() ?? 0;
const cli = ["node", "/app/node_modules/openclaw/openclaw.mjs"];
const name = "clawfleet-tenant-alice";

const fakeDocker = `#!/bin/sh
printf '%s\\n' "$*" >>"$FAKE_DOCKER/calls"
case "$1" in
  inspect) cat "$FAKE_DOCKER/running" 2>/dev/null || { echo "Error: No such container: x" >&2; exit 1; } ;;
  exec)
    n=$(cat "$FAKE_DOCKER/failures" 2>/dev/null || echo 0)
    if [ -e "$FAKE_DOCKER/vanishes" ]; then rm -f "$FAKE_DOCKER/running"; echo "Error response from daemon: No such container: x" >&2; exit 1; fi
    if [ "$n" -gt 0 ]; then echo $((n - 1)) >"$FAKE_DOCKER/failures"; echo "gateway closed (1006): connect ECONNREFUSED" >&2; exit 1; fi
    cat "$FAKE_DOCKER/reload" ;;
  *) echo "unexpected docker $*" >&2; exit 3 ;;
esac
`;

interface Host {
  readonly dir: string;
  readonly fake: string;
  readonly env: NodeJS.ProcessEnv;
}

/** A host where the gateway runs (or not), and its reload answers `reload` after failing `failures` times. */
function host(running: boolean | undefined, reload = '{\n  "ok": true,\n  "warningCount": 0\n}', failures = 0): Host {
  const fake = mkdtempSync(join(work, "docker-"));
  const bin = join(fake, "bin");
  mkdirSync(bin);
  writeFileSync(join(bin, "docker"), fakeDocker);
  writeFileSync(join(bin, "sleep"), "#!/bin/sh\nexit 0\n");
  chmodSync(join(bin, "docker"), 0o755);
  chmodSync(join(bin, "sleep"), 0o755);
  if (running !== undefined) writeFileSync(join(fake, "running"), `${running}\n`);
  writeFileSync(join(fake, "reload"), `${reload}\n`);
  writeFileSync(join(fake, "failures"), `${failures}\n`);
  return { dir: join(fake, "root", "secrets", name), fake, env: { ...process.env, PATH: `${bin}:${process.env["PATH"] ?? ""}`, FAKE_DOCKER: fake } };
}

function write(setup: Host, content: string) {
  const command = renderWriteSecrets({
    dir: setup.dir,
    file: "secrets.json",
    uid,
    containerName: name,
    cli,
    stagingDir: join(setup.fake, "root", ".clawfleet"),
  });
  return spawnSync("/bin/sh", ["-c", command], { input: content, env: setup.env, encoding: "utf8" });
}

const calls = (setup: Host) => (existsSync(join(setup.fake, "calls")) ? readFileSync(join(setup.fake, "calls"), "utf8").trim().split("\n") : []);
const reloadCall = `exec ${name} ${cli.join(" ")} secrets reload --json`;
const content = '{\n  "modelKeys": { "anthropic": "sk-ant-1" },\n  "channels": {}\n}\n';

describe("the credentials file's writer", () => {
  it("writes the file private to the gateway's user, in a folder only it may enter, for a gateway not created yet", () => {
    const setup = host(undefined);
    const result = write(setup, content);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(readFileSync(join(setup.dir, "secrets.json"), "utf8"), content);
    assert.equal(statSync(join(setup.dir, "secrets.json")).mode & 0o777, 0o600);
    assert.equal(statSync(join(setup.dir, "secrets.json")).uid, uid);
    assert.equal(statSync(setup.dir).mode & 0o777, 0o700);
    assert.deepEqual(readdirSync(setup.dir), ["secrets.json"], "no temporary file is left");
    assert.deepEqual(calls(setup), [`inspect --type container --format {{.State.Running}} ${name}`], "nothing to reload");
  });

  it("replaces a link planted at the file instead of writing through it", () => {
    const setup = host(undefined);
    mkdirSync(setup.dir, { recursive: true });
    const victim = join(setup.fake, "victim");
    writeFileSync(victim, "host file\n");
    symlinkSync(victim, join(setup.dir, "secrets.json"));
    const result = write(setup, content);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(readFileSync(victim, "utf8"), "host file\n");
    assert.equal(lstatSync(join(setup.dir, "secrets.json")).isSymbolicLink(), false);
    assert.equal(readFileSync(join(setup.dir, "secrets.json"), "utf8"), content);
  });

  it("makes a running gateway reload it, and says so", () => {
    const setup = host(true);
    const result = write(setup, content);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, `gateway ${name} reloaded its credentials\n`);
    assert.deepEqual(calls(setup).slice(1), [reloadCall]);
  });

  it("replaces the file whole on a rotation, and reloads even when the file already holds the content", () => {
    const setup = host(true);
    assert.equal(write(setup, content).status, 0);
    const rotated = content.replace("sk-ant-1", "sk-ant-2");
    assert.equal(write(setup, rotated).status, 0);
    assert.equal(readFileSync(join(setup.dir, "secrets.json"), "utf8"), rotated);
    // A deploy that stopped after writing the file has not reloaded yet: running it again does.
    assert.equal(write(setup, rotated).status, 0);
    assert.equal(calls(setup).filter((call) => call === reloadCall).length, 3);
  });

  it("waits for a gateway that is still starting", () => {
    const setup = host(true, undefined, 3);
    const result = write(setup, content);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(calls(setup).filter((call) => call === reloadCall).length, 4);
  });

  it("leaves the reload to the gateway's next start when the same deploy removes it between the look and the reload", () => {
    const setup = host(true);
    writeFileSync(join(setup.fake, "vanishes"), "");
    const result = write(setup, content);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, `gateway ${name} stopped before it reloaded its credentials; it reads them when it starts\n`);
    assert.equal(readFileSync(join(setup.dir, "secrets.json"), "utf8"), content);
    assert.equal(calls(setup).filter((call) => call === reloadCall).length, 1);
  });

  it("fails, naming the gateway and the gateway's last word, when it never reloads", () => {
    const setup = host(true, undefined, 100);
    const result = write(setup, content);
    assert.equal(result.status, 1);
    assert.equal(result.stderr, `clawfleet: gateway ${name} did not reload its credentials: gateway closed (1006): connect ECONNREFUSED\n`);
    assert.equal(calls(setup).filter((call) => call === reloadCall).length, 12);
  });

  it("fails when a reference to the file does not resolve after the reload, naming where to read why", () => {
    const setup = host(true, '{\n  "ok": true,\n  "warningCount": 2\n}');
    const result = write(setup, content);
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      `clawfleet: gateway ${name} reloaded its credentials, but 2 of its references to them do not resolve; its log names them (SECRETS_ lines): docker logs ${name}\n`,
    );
  });

  it("is removed with its folder when the gateway goes", () => {
    const setup = host(false);
    assert.equal(write(setup, content).status, 0);
    const result = spawnSync("/bin/sh", ["-c", renderRemoveSecrets({ dir: setup.dir })], { env: setup.env, encoding: "utf8" });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(existsSync(setup.dir), false);
  });

  it("passes shellcheck as the command it is rendered into runs it", () => {
    const file = join(work, "write-secrets.sh");
    writeFileSync(
      file,
      `#!/bin/sh\n${renderWriteSecrets({ dir: "/srv/claw/secrets/x", file: "secrets.json", uid: 1000, containerName: name, cli, stagingDir: "/srv/claw/.clawfleet" })}\n`,
    );
    const result = spawnSync("shellcheck", ["--shell=sh", file], { encoding: "utf8" });
    assert.equal(result.status, 0, result.stdout);
  });
});
