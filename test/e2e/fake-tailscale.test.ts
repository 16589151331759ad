// Self-test of the fake tailscale CLI that the end-to-end tests put on PATH.
// If the fake drifts from the behaviour clawfleet relies on, these fail first.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const FAKE = path.join(__dirname, "fake-tailscale", "tailscale");
const NODE_KEY = "gw.example-tailnet.ts.net";

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function freshDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fake-tailscale-"));
  dirs.push(dir);
  return dir;
}

function env(dir: string | undefined, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, FAKE_TAILSCALE_WRITE_DELAY_MS: "0", ...extra };
  if (dir === undefined) delete e.FAKE_TAILSCALE_DIR;
  else e.FAKE_TAILSCALE_DIR = dir;
  return e;
}

function run(dir: string | undefined, args: string[], extra: Record<string, string> = {}): Result {
  const r = spawnSync(FAKE, args, { env: env(dir, extra), encoding: "utf8" });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function runAsync(dir: string, args: string[], extra: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(FAKE, args, { env: env(dir, extra) });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

function serveStatus(dir: string): unknown {
  const r = run(dir, ["serve", "status", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

function calls(dir: string): string[][] {
  return fs
    .readFileSync(path.join(dir, "calls.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as string[]);
}

function oneHandler(port: string, target: string): unknown {
  return {
    TCP: { [port]: { HTTPS: true } },
    Web: { [`${NODE_KEY}:${port}`]: { Handlers: { "/": { Proxy: target } } } },
  };
}

test("the file is executable and says it is a fake", () => {
  fs.accessSync(FAKE, fs.constants.X_OK);
  const head = fs.readFileSync(FAKE, "utf8").split("\n").slice(0, 3).join("\n");
  assert.match(head, /^#!\/usr\/bin\/env node/);
  assert.match(head, /FAKE FOR TESTS\. THIS IS NOT TAILSCALE/);
});

test("refuses to run without FAKE_TAILSCALE_DIR", () => {
  const r = run(undefined, ["version"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /FAKE_TAILSCALE_DIR is not set/);
});

test("version prints a fake version and every call is recorded as a JSON line", () => {
  const dir = freshDir();
  const r = run(dir, ["version"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout.split("\n")[0] ?? "", /^\d+\.\d+\.\d+-fake$/);
  run(dir, ["status", "--json"]);
  run(dir, ["serve", "--bg", "--yes", "--https=8443", "http://127.0.0.1:19001"]);
  assert.deepEqual(calls(dir), [["version"], ["status", "--json"], ["serve", "--bg", "--yes", "--https=8443", "http://127.0.0.1:19001"]]);
});

test("status --json describes the self node with its MagicDNS name", () => {
  const dir = freshDir();
  const r = run(dir, ["status", "--json"]);
  assert.equal(r.code, 0);
  const status = JSON.parse(r.stdout) as { Self: { DNSName: string }; BackendState: string };
  assert.equal(status.Self.DNSName, `${NODE_KEY}.`);
  assert.equal(status.BackendState, "Running");
});

test("serve status --json is {} when nothing is served", () => {
  const dir = freshDir();
  const r = run(dir, ["serve", "status", "--json"]);
  assert.equal(r.code, 0);
  assert.deepEqual(JSON.parse(r.stdout), {});
});

test("serve --bg --yes adds a handler in the ServeConfig shape", () => {
  const dir = freshDir();
  const r = run(dir, ["serve", "--bg", "--yes", "--https=8443", "http://127.0.0.1:19001"]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(serveStatus(dir), oneHandler("8443", "http://127.0.0.1:19001"));
});

test("serve --bg without --yes is accepted, and the same add twice gives the same state", () => {
  const dir = freshDir();
  assert.equal(run(dir, ["serve", "--bg", "--https=8443", "http://127.0.0.1:19001"]).code, 0);
  const once = serveStatus(dir);
  assert.equal(run(dir, ["serve", "--bg", "--https=8443", "http://127.0.0.1:19001"]).code, 0);
  assert.deepEqual(serveStatus(dir), once);
  assert.deepEqual(once, oneHandler("8443", "http://127.0.0.1:19001"));
});

test("a new target on the same port replaces the old one; other ports are kept", () => {
  const dir = freshDir();
  run(dir, ["serve", "--bg", "--yes", "--https=8443", "http://127.0.0.1:19001"]);
  run(dir, ["serve", "--bg", "--yes", "--https=8444", "http://127.0.0.1:19002"]);
  run(dir, ["serve", "--bg", "--yes", "--https=8443", "http://127.0.0.1:19009"]);
  assert.deepEqual(serveStatus(dir), {
    TCP: { "8443": { HTTPS: true }, "8444": { HTTPS: true } },
    Web: {
      [`${NODE_KEY}:8443`]: { Handlers: { "/": { Proxy: "http://127.0.0.1:19009" } } },
      [`${NODE_KEY}:8444`]: { Handlers: { "/": { Proxy: "http://127.0.0.1:19002" } } },
    },
  });
});

test("serve --https=<port> off removes the handler, and fails with 'handler does not exist' when there is none", () => {
  const dir = freshDir();
  run(dir, ["serve", "--bg", "--yes", "--https=8443", "http://127.0.0.1:19001"]);
  run(dir, ["serve", "--bg", "--yes", "--https=8444", "http://127.0.0.1:19002"]);
  assert.equal(run(dir, ["serve", "--https=8443", "off"]).code, 0);
  assert.deepEqual(serveStatus(dir), oneHandler("8444", "http://127.0.0.1:19002"));

  const again = run(dir, ["serve", "--https=8443", "off"]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /handler does not exist/);
  assert.deepEqual(serveStatus(dir), oneHandler("8444", "http://127.0.0.1:19002"));

  assert.equal(run(dir, ["serve", "--https=8444", "off"]).code, 0);
  assert.deepEqual(serveStatus(dir), {});
});

test("serve reset clears everything", () => {
  const dir = freshDir();
  run(dir, ["serve", "--bg", "--yes", "--https=8443", "http://127.0.0.1:19001"]);
  assert.equal(run(dir, ["serve", "reset"]).code, 0);
  assert.deepEqual(serveStatus(dir), {});
});

test("unknown subcommands and unknown flags fail with exit 1", () => {
  const dir = freshDir();
  const sub = run(dir, ["login"]);
  assert.equal(sub.code, 1);
  assert.match(sub.stderr, /unknown subcommand: login/);

  const flag = run(dir, ["serve", "--bg", "--tcp=22", "tcp://127.0.0.1:22"]);
  assert.equal(flag.code, 1);
  assert.match(flag.stderr, /flag provided but not defined: -tcp/);

  const statusFlag = run(dir, ["serve", "status", "--verbose"]);
  assert.equal(statusFlag.code, 1);
  assert.match(statusFlag.stderr, /flag provided but not defined/);
  assert.deepEqual(serveStatus(dir), {});
});

test("funnel is recorded and always refused", () => {
  const dir = freshDir();
  const r = run(dir, ["funnel", "--bg", "--https=443", "http://127.0.0.1:19001"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /funnel is not allowed in clawfleet tests/);
  assert.deepEqual(calls(dir), [["funnel", "--bg", "--https=443", "http://127.0.0.1:19001"]]);
  assert.deepEqual(serveStatus(dir), {});
});

test("two overlapping serve writes: one fails with the guard message, the lock is released afterwards", async () => {
  const dir = freshDir();
  const slow = { FAKE_TAILSCALE_WRITE_DELAY_MS: "1500" };
  const first = runAsync(dir, ["serve", "--bg", "--yes", "--https=8443", "http://127.0.0.1:19001"], slow);
  // Start the second one only once the first holds the lock.
  const lock = path.join(dir, "serve.lock");
  const deadline = Date.now() + 5000;
  while (!fs.existsSync(lock)) {
    assert.ok(Date.now() < deadline, "the first serve command never took the lock");
    await new Promise((r) => setTimeout(r, 10));
  }
  const second = await runAsync(dir, ["serve", "--bg", "--yes", "--https=8444", "http://127.0.0.1:19002"], slow);
  const firstResult = await first;

  assert.equal(firstResult.code, 0, firstResult.stderr);
  assert.equal(second.code, 1);
  assert.equal(second.stderr.trim(), "Another client is changing the serve config; please try again.");
  assert.equal(fs.existsSync(lock), false, "lock must be removed after the write");
  assert.deepEqual(serveStatus(dir), oneHandler("8443", "http://127.0.0.1:19001"));

  // The failed writer left nothing behind: a retry goes through.
  assert.equal(run(dir, ["serve", "--bg", "--yes", "--https=8444", "http://127.0.0.1:19002"]).code, 0);
  assert.equal(Object.keys((serveStatus(dir) as { TCP: object }).TCP).length, 2);
});

test("a failed off releases the lock too", () => {
  const dir = freshDir();
  assert.equal(run(dir, ["serve", "--https=9999", "off"]).code, 1);
  assert.equal(fs.existsSync(path.join(dir, "serve.lock")), false);
  assert.equal(run(dir, ["serve", "--bg", "--https=9999", "http://127.0.0.1:1"]).code, 0);
});

// `nobody` exists on every Debian system, so no user has to be made for this.
const OTHER_USER = "nobody";
const asRoot = process.getuid?.() === 0;

function runAs(user: string, dir: string, args: string[]): Result {
  const r = spawnSync("runuser", ["-u", user, "--", FAKE, ...args], { env: env(dir), encoding: "utf8" });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// A state dir that another user can write to, as tailscaled's state is reachable by every local user.
function sharedDir(): string {
  const dir = freshDir();
  fs.chmodSync(dir, 0o777);
  return dir;
}

function deniedText(reason: string, args: string[]): string {
  return `Access denied: ${reason}\n\nUse 'sudo tailscale ${args.join(" ")}'.\nTo not require root, use 'sudo tailscale set --operator=$USER' once.`;
}

test(
  "serve writes from a user that is neither root nor the operator are refused; state is unchanged",
  { skip: !asRoot && "needs root to run as another user" },
  () => {
    const dir = sharedDir();
    assert.equal(run(dir, ["serve", "--bg", "--yes", "--https=8443", "http://127.0.0.1:19001"]).code, 0);
    const before = serveStatus(dir);

    const add = ["serve", "--bg", "--yes", "--https=8444", "http://127.0.0.1:19002"];
    const writes = [add, ["serve", "--https=8443", "off"], ["serve", "reset"]];
    for (const args of writes) {
      const r = runAs(OTHER_USER, dir, args);
      assert.equal(r.code, 1, `${args.join(" ")} must fail`);
      assert.equal(r.stderr.trim(), deniedText("serve config denied", args));
    }
    assert.deepEqual(serveStatus(dir), before);
    assert.equal(fs.existsSync(path.join(dir, "serve.lock")), false);
  },
);

test("reads are allowed for any user", { skip: !asRoot && "needs root to run as another user" }, () => {
  const dir = sharedDir();
  run(dir, ["serve", "--bg", "--yes", "--https=8443", "http://127.0.0.1:19001"]);
  const version = runAs(OTHER_USER, dir, ["version"]);
  assert.equal(version.code, 0, version.stderr);
  const status = runAs(OTHER_USER, dir, ["status", "--json"]);
  assert.equal(status.code, 0, status.stderr);
  assert.equal((JSON.parse(status.stdout) as { BackendState: string }).BackendState, "Running");
  const serve = runAs(OTHER_USER, dir, ["serve", "status", "--json"]);
  assert.equal(serve.code, 0, serve.stderr);
  assert.deepEqual(JSON.parse(serve.stdout), oneHandler("8443", "http://127.0.0.1:19001"));
});

test("only root may set the operator; then the operator's serve writes go through", { skip: !asRoot && "needs root to run as another user" }, () => {
  const dir = sharedDir();
  const byUser = runAs(OTHER_USER, dir, ["set", `--operator=${OTHER_USER}`]);
  assert.equal(byUser.code, 1);
  assert.equal(byUser.stderr.trim(), deniedText("prefs write access denied", ["set", `--operator=${OTHER_USER}`]));

  assert.equal(run(dir, ["set", `--operator=${OTHER_USER}`]).code, 0);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, "prefs.json"), "utf8")), { OperatorUser: OTHER_USER });

  const add = runAs(OTHER_USER, dir, ["serve", "--bg", "--yes", "--https=8443", "http://127.0.0.1:19001"]);
  assert.equal(add.code, 0, add.stderr);
  assert.deepEqual(serveStatus(dir), oneHandler("8443", "http://127.0.0.1:19001"));
  assert.equal(runAs(OTHER_USER, dir, ["serve", "--https=8443", "off"]).code, 0, "off");
  assert.equal(runAs(OTHER_USER, dir, ["serve", "reset"]).code, 0, "reset");
  assert.deepEqual(serveStatus(dir), {});

  // Even the operator may not hand the role on; clearing it is root's too.
  assert.equal(runAs(OTHER_USER, dir, ["set", "--operator=root"]).code, 1);
  assert.equal(run(dir, ["set", "--operator="]).code, 0);
  const again = runAs(OTHER_USER, dir, ["serve", "reset"]);
  assert.equal(again.code, 1);
  assert.equal(again.stderr.trim(), deniedText("serve config denied", ["serve", "reset"]));
});
