import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";

const work = mkdtempSync(join(tmpdir(), "clawfleet-watch-cli-"));
after(() => rmSync(work, { recursive: true, force: true }));

/**
 * A fake `ssh` first on PATH: a host that accepts the connection and then never answers. It records its pid and
 * becomes a `sleep`, a real process that `watch` must stop.
 */
function hangingSsh(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "ssh"), '#!/bin/sh\necho $$ >> "$FAKE_SSH_PIDS"\nexec sleep 600\n');
  chmodSync(join(dir, "ssh"), 0o755);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until<T>(what: string, seconds: number, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("clawfleet watch and signals", () => {
  for (const [signal, code] of [
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const) {
    it(`ends on ${signal} with exit ${code}, leaving none of the ssh processes it started`, async () => {
      const dir = join(work, signal);
      hangingSsh(join(dir, "bin"));
      const pids = join(dir, "pids");
      const child = spawn(process.execPath, ["bin/clawfleet.js", "watch", "stacks/Pulumi.prod.yaml", "--timeout", "600"], {
        env: { ...process.env, PATH: `${join(dir, "bin")}:${process.env["PATH"] ?? ""}`, FAKE_SSH_PIDS: pids },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = once(child, "exit");
      // Both hosts (gw1, gw2) are being asked: two ssh processes hang.
      const started = await until("both hosts' ssh to start", 120, () => {
        const lines = existsSync(pids) ? readFileSync(pids, "utf8").trim().split("\n").filter(Boolean) : [];
        return lines.length >= 2 ? lines.map(Number) : undefined;
      });
      assert.ok(started.every(alive));
      child.kill(signal);
      const [exitCode] = (await exited) as [number | null];
      assert.equal(exitCode, code, stderr);
      assert.match(stderr, /^clawfleet watch: watching 5 tenants on 2 hosts every 60 s \(a host that takes more than 600 s counts as not answering\)$/m);
      await until("the ssh processes to end", 30, () => (started.some(alive) ? undefined : true));
    });
  }
});
