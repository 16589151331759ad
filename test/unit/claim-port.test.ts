import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { renderClaimPort } from "../../runtimes/docker/commands";

// The claim runs in a real /bin/sh; `docker` is a fake on PATH that keeps each container as a file
// (`<id>`: "name|gateway label|stack label|host ports ") and logs every call. A container listed but
// with no file is one that the same deploy removed between the listing and the look at it.
const work = mkdtempSync(join(tmpdir(), "clawfleet-claim-"));
after(() => rmSync(work, { recursive: true, force: true }));

const fakeDocker = `#!/bin/sh
d=$FAKE_DOCKER
printf '%s\\n' "$*" >>"$d/calls"
last=
for a in "$@"; do last=$a; done
case "$1 $2" in
  "ps -aq") cat "$d/listed" ;;
  "ps --filter") for f in "$d"/c-*; do [ -f "$f" ] || continue; case "$(cat "$f")" in *"|\${3#publish=} "* | *" \${3#publish=} "*) cut -d'|' -f1 "$f" | sed 's:^/::' ;; esac; done ;;
  "inspect --format") [ -f "$d/c-$last" ] || { echo "Error: No such object: $last" >&2; exit 1; }; cat "$d/c-$last" ;;
  "inspect "*) [ -f "$d/c-$last" ] || { echo "Error: No such object: $last" >&2; exit 1; } ;;
  "stop -t") [ -f "$d/c-$last" ] || { echo "Error: No such container: $last" >&2; exit 1; } ;;
  "rm -f") [ -f "$d/c-$last" ] || { echo "Error: No such container: $last" >&2; exit 1; }; rm -f "$d/c-$last" ;;
  *) echo "unexpected docker $*" >&2; exit 3 ;;
esac
`;

/** A host whose Docker lists `listed` and knows `containers` (id -> inspect line). */
function host(listed: readonly string[], containers: Readonly<Record<string, string>>) {
  const fake = mkdtempSync(join(work, "docker-"));
  mkdirSync(join(fake, "bin"));
  writeFileSync(join(fake, "bin", "docker"), fakeDocker);
  chmodSync(join(fake, "bin", "docker"), 0o755);
  writeFileSync(join(fake, "listed"), listed.map((id) => `${id}\n`).join(""));
  for (const [id, line] of Object.entries(containers)) writeFileSync(join(fake, `c-${id}`), line);
  return { fake, env: { ...process.env, PATH: `${join(fake, "bin")}:${process.env["PATH"] ?? ""}`, FAKE_DOCKER: fake } };
}

const claim = renderClaimPort({ hostId: "main", port: 18789, gateway: "shared/main", containerName: "clawfleet-shared-main", stack: "clawfleet/dev" });

describe("the port claim", () => {
  it("stops and removes a gateway of the stack that holds the port, and passes over one that is gone by the time it looks", () => {
    const setup = host(["aaa", "bbb"], { bbb: "/clawfleet-shared-local|shared/local|clawfleet/dev|18789 " });
    const result = spawnSync("/bin/sh", ["-c", claim], { env: setup.env, encoding: "utf8" });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr, "clawfleet: host main: port 18789 is held by clawfleet-shared-local, which this deploy replaces; stopping it first\n");
    assert.equal(existsSync(join(setup.fake, "c-bbb")), false);
    assert.ok(readFileSync(join(setup.fake, "calls"), "utf8").includes("stop -t 30 bbb"));
  });

  it("passes when the gateway's own container holds the port already (a re-run), stopping nothing", () => {
    const setup = host(["ccc"], { ccc: "/clawfleet-shared-main|shared/main|clawfleet/dev|18789 " });
    const result = spawnSync("/bin/sh", ["-c", claim], { env: setup.env, encoding: "utf8" });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr, "");
    assert.doesNotMatch(readFileSync(join(setup.fake, "calls"), "utf8"), /^(stop|rm) /m);
  });

  it("never stops a gateway of another stack: the port stays its, and the claim fails naming it", () => {
    const setup = host(["ddd"], { ddd: "/clawfleet-shared-other|shared/other|clawfleet/prod|18789 " });
    const result = spawnSync("/bin/sh", ["-c", claim], { env: setup.env, encoding: "utf8" });
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      "clawfleet: host main: port 18789 is held by container clawfleet-shared-other, which this stack does not manage; stop it or declare another port\n",
    );
    assert.equal(existsSync(join(setup.fake, "c-ddd")), true);
    assert.doesNotMatch(readFileSync(join(setup.fake, "calls"), "utf8"), /^(stop|rm) /m);
  });

  it("refuses a port held by a container the stack does not manage, naming it", () => {
    const setup = host([], { zzz: "/someone-else|||18789 " });
    const result = spawnSync("/bin/sh", ["-c", claim], { env: setup.env, encoding: "utf8" });
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      "clawfleet: host main: port 18789 is held by container someone-else, which this stack does not manage; stop it or declare another port\n",
    );
  });

  it("passes shellcheck as the command it is rendered into runs it", () => {
    const file = join(work, "claim-port.sh");
    writeFileSync(file, `#!/bin/sh\n${claim}\n`);
    const result = spawnSync("shellcheck", ["--shell=sh", file], { encoding: "utf8" });
    assert.equal(result.status, 0, result.stdout);
  });
});
