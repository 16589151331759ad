import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { renderServeAdd, renderServeRemove } from "../../runtimes/docker/commands";

// The Serve commands run in a real /bin/sh; `tailscale` and `docker` are fakes on PATH. The fake tailscale logs each
// call, reports a concurrent writer as many times as `busy` says, and answers an `off` with what `off` holds.
const work = mkdtempSync(join(tmpdir(), "clawfleet-serve-"));
after(() => rmSync(work, { recursive: true, force: true }));

const fakeTailscale = `#!/bin/sh
d=$FAKE
printf '%s\\n' "$*" >>"$d/calls"
n=$(cat "$d/busy" 2>/dev/null || echo 0)
if [ "$n" -gt 0 ]; then echo $((n - 1)) >"$d/busy"; echo "Another client is changing the serve config; please try again." >&2; exit 1; fi
case "$*" in *" off") if [ -s "$d/off" ]; then cat "$d/off" >&2; exit 1; fi ;; esac
exit 0
`;
const fakeDocker = `#!/bin/sh
printf '%s\\n' "$*" >>"$FAKE/docker-calls"
cat "$FAKE/holder" 2>/dev/null || true
`;

function host(setup: { busy?: number; off?: string; holder?: string } = {}) {
  const fake = mkdtempSync(join(work, "host-"));
  const bin = join(fake, "bin");
  mkdirSync(bin);
  for (const [name, text] of [
    ["tailscale", fakeTailscale],
    ["docker", fakeDocker],
    ["sleep", "#!/bin/sh\nexit 0\n"],
  ] as const) {
    writeFileSync(join(bin, name), text);
    chmodSync(join(bin, name), 0o755);
  }
  if (setup.busy !== undefined) writeFileSync(join(fake, "busy"), `${setup.busy}\n`);
  if (setup.off !== undefined) writeFileSync(join(fake, "off"), `${setup.off}\n`);
  if (setup.holder !== undefined) writeFileSync(join(fake, "holder"), `${setup.holder}\n`);
  return { fake, env: { ...process.env, PATH: `${bin}:${process.env["PATH"] ?? ""}`, FAKE: fake } };
}

const run = (command: string, setup: ReturnType<typeof host>) => spawnSync("/bin/sh", ["-c", command], { env: setup.env, encoding: "utf8" });
const calls = (setup: ReturnType<typeof host>) => readFileSync(join(setup.fake, "calls"), "utf8").trim().split("\n");
const add = renderServeAdd({ httpsPort: 18101, localPort: 18101 });
const remove = renderServeRemove({ httpsPort: 18101, localPort: 18101, gateway: "tenant/alice" });

describe("the Serve commands", () => {
  it("publish the gateway's local port on its https port, in the background, waiting out a concurrent writer", () => {
    const setup = host({ busy: 2 });
    const result = run(add, setup);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(calls(setup), Array(3).fill("serve --bg --yes --https=18101 http://127.0.0.1:18101"));
  });

  it("give up after ten concurrent writers, with Tailscale's words", () => {
    const setup = host({ busy: 100 });
    const result = run(add, setup);
    assert.equal(result.status, 1);
    assert.equal(result.stderr, "Another client is changing the serve config; please try again.\n");
    assert.equal(calls(setup).length, 10);
  });

  it("remove the entry, and pass when it is gone already", () => {
    const setup = host({ off: "error: failed to remove web serve: handler does not exist" });
    const result = run(remove, setup);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(calls(setup), ["serve --https=18101 off"]);
    assert.equal(readFileSync(join(setup.fake, "docker-calls"), "utf8"), 'ps --filter publish=18101 --format {{.Label "clawfleet.gateway"}}\n');
  });

  it("leave the entry to another gateway that publishes the port by now", () => {
    const setup = host({ holder: "tenant/bob" });
    assert.equal(run(remove, setup).status, 0);
    assert.throws(() => calls(setup), /ENOENT/, "tailscale is not called");
  });

  it("fail on any other answer of Tailscale, with its words", () => {
    const setup = host({ off: "error: tailscaled is not running" });
    const result = run(remove, setup);
    assert.equal(result.status, 1);
    assert.equal(result.stderr, "error: tailscaled is not running\n");
  });

  it("pass shellcheck as rendered", () => {
    const files = [add, remove].map((command, i) => {
      const file = join(work, `serve-${i}.sh`);
      writeFileSync(file, `#!/bin/sh\n${command}\n`);
      return file;
    });
    const result = spawnSync("shellcheck", ["--shell=sh", ...files], { encoding: "utf8" });
    assert.equal(result.status, 0, result.stdout);
  });
});
