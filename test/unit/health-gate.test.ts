import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { renderHealthGate } from "../../runtimes/docker/commands";

// The gate runs in a real /bin/sh against a `docker` that answers `inspect` with the states a
// real daemon reports, one per call, in order (checked on Docker 20.10: a container Docker is
// restarting after a crash reads `unhealthy restarting <count>`, with the count already raised).
const work = mkdtempSync(join(tmpdir(), "clawfleet-gate-"));
after(() => rmSync(work, { recursive: true, force: true }));

function gate(states: readonly string[]): { status: number | null; stderr: string; calls: number } {
  const dir = mkdtempSync(join(work, "run-"));
  writeFileSync(join(dir, "states"), states.map((state) => `${state}\n`).join(""));
  writeFileSync(join(dir, "calls"), "0\n");
  const docker = [
    "#!/bin/sh",
    `dir='${dir}'`,
    'case "$1" in',
    "  inspect)",
    '    case "$*" in *RestartCount*) ;; *) exit 0 ;; esac',
    '    n=$(($(cat "$dir/calls") + 1)); echo "$n" >"$dir/calls"',
    '    line=$(sed -n "${n}p" "$dir/states")',
    '    [ "$line" != gone ] || exit 1',
    '    [ -n "$line" ] || { echo "no state left for call $n" >&2; exit 3; }',
    '    echo "$line" ;;',
    '  logs) echo "gateway log line" ;;',
    "esac",
  ].join("\n");
  writeFileSync(join(dir, "docker"), docker);
  writeFileSync(join(dir, "sleep"), "#!/bin/sh\nexit 0\n");
  chmodSync(join(dir, "docker"), 0o755);
  chmodSync(join(dir, "sleep"), 0o755);
  const script = renderHealthGate({ containerName: "clawfleet-tenant-alice", timeoutSeconds: 300 });
  const result = spawnSync("/bin/sh", ["-c", script], { encoding: "utf8", env: { ...process.env, PATH: `${dir}:${process.env["PATH"] ?? ""}` } });
  return { status: result.status, stderr: result.stderr, calls: Number(readFileSync(join(dir, "calls"), "utf8")) };
}

describe("renderHealthGate", () => {
  it("passes a gateway that becomes healthy", () => {
    const result = gate(["starting running 0 0", "starting running 0 0", "healthy running 0 0"]);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.calls, 3);
  });

  it("lets one restart after a crash pass, while Docker reports the restarting container unhealthy", () => {
    const result = gate(["starting running 0 0", "unhealthy restarting 1 1", "starting running 1 1", "healthy running 1 1"]);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.calls, 4);
  });

  it("fails at the second restart, naming the container and where to read why", () => {
    const result = gate(["starting running 0 0", "unhealthy restarting 1 1", "starting running 1 1", "unhealthy restarting 2 1", "healthy running 2 1"]);
    assert.equal(result.status, 1);
    assert.equal(result.calls, 4);
    assert.equal(
      result.stderr,
      "gateway log line\nclawfleet: gateway clawfleet-tenant-alice exited (code 1) and was restarted 2 times; read why with: docker logs clawfleet-tenant-alice\n",
    );
  });

  it("fails a running gateway that Docker reports unhealthy, with its last log lines", () => {
    const result = gate(["starting running 0 0", "unhealthy running 0 0"]);
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      "gateway log line\nclawfleet: gateway clawfleet-tenant-alice is unhealthy; read why with: docker logs clawfleet-tenant-alice\n",
    );
  });

  it("names what openclaw's exit code 78 means", () => {
    const restarted = gate(["starting running 0 0", "unhealthy restarting 1 78", "unhealthy restarting 2 78"]);
    assert.equal(restarted.status, 1);
    assert.equal(
      restarted.stderr,
      "gateway log line\nclawfleet: gateway clawfleet-tenant-alice exited with code 78 (openclaw refuses to start: its config is invalid, or gateway.maintenance_required, a plugin the image does not bundle) and was restarted 2 times; read why with: docker logs clawfleet-tenant-alice\n",
    );
    const stopped = gate(["starting running 0 0", "exited exited 0 78"]);
    assert.equal(stopped.status, 1);
    assert.equal(
      stopped.stderr,
      "gateway log line\nclawfleet: gateway clawfleet-tenant-alice exited with code 78 (openclaw refuses to start: its config is invalid, or gateway.maintenance_required, a plugin the image does not bundle); read why with: docker logs clawfleet-tenant-alice\n",
    );
  });

  it("names the exit code of a gateway that exited, although Docker still reports its health unhealthy", () => {
    const result = gate(["starting running 0 0", "unhealthy exited 0 1"]);
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      "gateway log line\nclawfleet: gateway clawfleet-tenant-alice exited (code 1); read why with: docker logs clawfleet-tenant-alice\n",
    );
  });

  it("fails when the container is gone", () => {
    const result = gate(["starting running 0 0", "gone"]);
    assert.equal(result.status, 1);
    assert.equal(result.stderr, "clawfleet: gateway clawfleet-tenant-alice: its container is gone; run the deploy again\n");
  });
});
