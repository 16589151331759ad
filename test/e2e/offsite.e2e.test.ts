import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { dockerExec, removeHostObjects } from "./docker-api";
import { EngineDeployer } from "./engine/deployer";
import { gatewayImage } from "./gateway-image";
import { poll } from "./wait";

/*
 * Off-host backups against a real S3-compatible server (gofakes3 built from the Go module proxy by
 * scripts/install-s3-server.sh, on loopback, checking every SigV4 signature) and Debian's age: one
 * dedicated gateway (stack offsite, host offhost, tenant offa, port 18971) deployed with the real
 * Pulumi engine and the real docker provider plugin (./engine/deployer.ts); the S3 credentials are
 * real Pulumi secrets (pulumi config set --secret in a file:// backend), read by the CLI with pulumi
 * config get in the deployer's project, as a user's shell would.
 */

const repo = resolve(__dirname, "..", "..");
const work = mkdtempSync(join(tmpdir(), "clawfleet-offsite-e2e-"));
const stateRoot = join(work, "state");
const identityFile = join(work, "identity.txt");
const container = "clawfleet-tenant-offa";
const bucket = "fleet-backups";
const accessKeyId = `AKOFF${randomBytes(6).toString("hex").toUpperCase()}`;
const secretAccessKey = `${randomBytes(15).toString("base64")}/x+${randomBytes(6).toString("hex")}`;
const log = (line: string) => process.stderr.write(`offsite-e2e: ${line}\n`);
// systemd is not the init system here: the deploys see a systemctl of the test's own first on PATH, which logs each call
// and answers is-system-running with "running", until `realSystemctl` exists; then it hands every call to the real one.
const fakeBin = join(work, "bin");
const systemctlCalls = join(work, "systemctl-calls");
const realSystemctl = join(work, "real-systemctl");
const unit = "clawfleet-offsite-clawfleet-offsite";
const units = "/etc/systemd/system";

let image = "";
let endpoint = "";
let server: ChildProcess | undefined;
let deployer: EngineDeployer | undefined;
/** The deployer's stack file: the one the CLI reads, secrets and all. */
let stackFile = "";
let cliEnv: NodeJS.ProcessEnv;
let identitySecret = "";
let configureWith: (schedule?: string) => void = () => undefined;
let secureLines: string[] = [];
/** Every line the CLI printed in this file, to look for secrets in. */
const printed: string[] = [];

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
}

function clawfleet(...args: string[]): Promise<CliResult> {
  const started = Date.now();
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [join(repo, "bin", "clawfleet.js"), ...args], { env: cliEnv, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", fail);
    child.on("close", (code) => {
      printed.push(stdout, stderr);
      done({ code: code ?? 1, stdout, stderr, seconds: (Date.now() - started) / 1000 });
    });
  });
}

/** A signed request of the test's own to the bucket (curl reads the credentials from stdin, as config). */
function s3(method: string, path: string): Buffer {
  const emptySha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  return execFileSync(
    "curl",
    [
      "-q",
      "-sS",
      "--fail",
      "--aws-sigv4",
      "aws:amz:us-east-1:s3",
      "-K",
      "-",
      "-X",
      method,
      "-H",
      `x-amz-content-sha256: ${emptySha}`,
      `${endpoint}/${bucket}/${path}`,
    ],
    { input: `user = "${accessKeyId}:${secretAccessKey}"\n`, maxBuffer: 512 * 1024 * 1024 },
  );
}

function keysInBucket(): string[] {
  const xml = s3("GET", `?list-type=2&prefix=e2e%2F${container}%2F`).toString();
  return [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1] ?? "").sort();
}

async function teardown(): Promise<void> {
  await removeHostObjects(["offhost"]);
  for (const kind of ["timer", "service"]) rmSync(join(units, `${unit}.${kind}`), { force: true });
}

before(async () => {
  image = gatewayImage(repo, log, { testTools: true });
  log("making sure the S3 server is there (scripts/install-s3-server.sh)");
  const builtServer = execFileSync("bash", [join(repo, "scripts", "install-s3-server.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const serverBin = builtServer.trim().split("\n").pop() ?? "";

  server = spawn(serverBin, ["-addr", "127.0.0.1:0", "-bucket", bucket], {
    env: { S3_SERVER_ACCESS_KEY_ID: accessKeyId, S3_SERVER_SECRET_ACCESS_KEY: secretAccessKey },
    stdio: ["ignore", "pipe", "pipe"],
  });
  server.stderr?.resume();
  endpoint = await new Promise<string>((done, fail) => {
    let text = "";
    server?.stdout?.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      const url = /listening on (http:\/\/\S+)/.exec(text)?.[1];
      if (url !== undefined) done(url);
    });
    server?.on("exit", (code) => fail(new Error(`s3-server exited with ${code}`)));
  });
  log(`S3 server at ${endpoint}`);

  execFileSync("age-keygen", ["-o", identityFile], { stdio: "ignore" });
  const identity = readFileSync(identityFile, "utf8");
  identitySecret = /^AGE-SECRET-KEY-1\S+$/m.exec(identity)?.[0] ?? "";
  const recipient = /public key: (age1\S+)/.exec(identity)?.[1] ?? "";

  // offhost does not publish on Tailscale (serve is off): nothing here runs tailscale.
  mkdirSync(fakeBin);
  writeFileSync(
    join(fakeBin, "systemctl"),
    [
      "#!/bin/sh",
      `if [ -e ${realSystemctl} ]; then exec /usr/bin/systemctl "$@"; fi`,
      `printf '%s\\n' "$*" >>${systemctlCalls}`,
      'if [ "$1" = is-system-running ]; then echo running; fi',
      "",
    ].join("\n"),
  );
  chmodSync(join(fakeBin, "systemctl"), 0o755);
  const env = { ...process.env, PATH: `${fakeBin}:${process.env["PATH"] ?? ""}` };
  deployer = await EngineDeployer.real({ repo, work: join(work, "engine"), stack: "offsite", env, progress: log });
  stackFile = deployer.stackFile;
  configureWith = (schedule?: string) =>
    deployer?.configure(
      [
        "config:",
        `  clawfleet:image: ${image}`,
        "  clawfleet:hosts:",
        "    offhost:",
        `      stateRoot: ${stateRoot}`,
        "      ports: { from: 18970, to: 18979 }",
        "  clawfleet:tenants:",
        "    offa: { tier: dedicated, host: offhost, port: 18971 }",
        "  clawfleet:backups:",
        "    offsite:",
        `      ageRecipient: ${recipient}`,
        "      keep: 2",
        ...(schedule === undefined ? [] : [`      schedule: "${schedule}"`]),
        "      s3:",
        `        endpoint: ${endpoint}`,
        `        bucket: ${bucket}`,
        "        prefix: e2e/",
        ...secureLines,
        "",
      ].join("\n"),
    );
  configureWith();
  // The CLI runs pulumi as a user's shell would: the tools on PATH, logged in to the stack's backend, the passphrase set.
  cliEnv = { ...process.env, ...deployer.pulumiEnv };
  // The values go in on stdin, as an operator would type them.
  await deployer.pulumi(["config", "set", "--secret", "--path", "clawfleet:backups.offsite.s3.accessKeyId"], false, accessKeyId);
  await deployer.pulumi(["config", "set", "--secret", "--path", "clawfleet:backups.offsite.s3.secretAccessKey"], false, secretAccessKey);
  // The secure values pulumi wrote, kept when the test writes the stack file again.
  const written = readFileSync(stackFile, "utf8");
  const secure = (field: string) => new RegExp(`${field}:\\s*\\n?\\s*secure: (\\S+)`).exec(written)?.[1];
  const [secureId, secureKey] = [secure("accessKeyId"), secure("secretAccessKey")];
  assert.ok(secureId !== undefined && secureKey !== undefined, written);
  secureLines = ["        accessKeyId:", `          secure: ${secureId}`, "        secretAccessKey:", `          secure: ${secureKey}`];
  assert.doesNotMatch(readFileSync(stackFile, "utf8"), new RegExp(secretAccessKey.replace(/[+/]/g, "\\$&")));
  await teardown();
  log("deploying stack offsite: offa on offhost");
  await deployer.deploy();
});

after(async () => {
  await teardown();
  server?.kill("SIGTERM");
  rmSync(work, { recursive: true, force: true });
});

async function readMarker(): Promise<string> {
  const result = await dockerExec(container, ["sh", "-c", "cat /state/offsite-marker.txt 2>/dev/null || echo '(none)'"]);
  return result.output.trim();
}

describe("off-host backups", () => {
  it("backup --offsite uploads only age-encrypted archives, keeps the newest 2, and restore --from-offsite latest brings the state back", async () => {
    await poll("offa healthy", 300, async () => {
      const state = execFileSync("docker", ["inspect", "-f", "{{.State.Health.Status}}", container], { encoding: "utf8" }).trim();
      return state === "healthy" ? true : undefined;
    });
    const marker = `before-offsite-${randomBytes(4).toString("hex")}`;
    const write = await dockerExec(container, ["sh", "-c", `echo ${marker} > /state/offsite-marker.txt`]);
    assert.equal(write.code, 0, write.output);

    const uploads: string[] = [];
    for (let round = 1; round <= 3; round++) {
      const result = await clawfleet("backup", stackFile, "--offsite");
      assert.equal(result.code, 0, result.stderr);
      const [gateway, key] = result.stdout.trim().split(" ");
      assert.equal(gateway, container);
      assert.match(key ?? "", new RegExp(`^e2e/${container}/${container}-.*\\.tar\\.gz\\.age$`));
      uploads.push(key ?? "");
      log(`backup --offsite round ${round} took ${result.seconds.toFixed(1)} s`);
      if (round === 3) assert.match(result.stderr, new RegExp(`deleted 1 older off-host copy of ${container} \\(keep: 2\\): ${uploads[0]}`));
    }
    assert.deepEqual(keysInBucket(), [uploads[1], uploads[2]].sort());

    // What left the host: age's format, not a gzip'ed tar; it opens with the operator's identity only.
    const sealed = s3("GET", uploads[2] ?? "");
    assert.equal(sealed.subarray(0, 22).toString(), "age-encryption.org/v1\n");
    assert.notDeepEqual([...sealed.subarray(0, 2)], [0x1f, 0x8b]);
    assert.ok(!sealed.includes(Buffer.from(marker)), "the marker is readable in the uploaded object");
    const opened = execFileSync("age", ["-d", "-i", identityFile], { input: sealed, maxBuffer: 512 * 1024 * 1024 });
    assert.deepEqual([...opened.subarray(0, 2)], [0x1f, 0x8b]);
    const listing = execFileSync("tar", ["-tzf", "-"], { input: opened, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    assert.match(listing, /\/offsite-marker\.txt/);

    const list = await clawfleet("backup", stackFile, "--list", "--json");
    assert.equal(list.code, 0, list.stderr);
    const rows = (JSON.parse(list.stdout) as { gateways: { gateway: string; copies: number; newest: string; ageSeconds: number }[] }).gateways;
    assert.deepEqual(
      rows.map((r) => [r.gateway, r.copies, r.newest]),
      [[container, 2, uploads[2]]],
    );
    assert.ok((rows[0]?.ageSeconds ?? -1) >= 0 && (rows[0]?.ageSeconds ?? 999) < 600, `age ${rows[0]?.ageSeconds}`);
    const table = await clawfleet("backup", stackFile, "--list");
    assert.match(table.stdout.trimEnd(), new RegExp(`^GATEWAY +HOST +COPIES +NEWEST AGE +NEWEST\\n${container} +offhost +2 +\\d+s +${uploads[2]}$`));

    const change = await dockerExec(container, ["sh", "-c", "echo changed-after-backup > /state/offsite-marker.txt"]);
    assert.equal(change.code, 0, change.output);
    const restored = await clawfleet("restore", stackFile, "offa", "--from-offsite", "latest", "--identity", identityFile);
    assert.equal(restored.code, 0, restored.stderr);
    assert.match(restored.stdout, /^restored tenant offa from .*; the gateway is healthy; the previous state is kept at /);
    log(`restore --from-offsite latest took ${restored.seconds.toFixed(1)} s`);
    assert.equal(await readMarker(), marker);
    // The decrypted archive does not stay on the host; the archives backup made there do.
    const folder = readdirSync(join(stateRoot, "backups", "manual", container));
    assert.deepEqual(
      folder.filter((name) => name.startsWith("offsite-")),
      [],
    );
    assert.equal(folder.filter((name) => name.endsWith(".tar.gz")).length, 3);

    const wrong = join(work, "other-identity.txt");
    execFileSync("age-keygen", ["-o", wrong], { stdio: "ignore" });
    const refused = await clawfleet("restore", stackFile, "offa", "--from-offsite", uploads[1] ?? "", "--identity", wrong);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /age could not decrypt .*is the identity the one for the stack's ageRecipient\?/);
    assert.equal(await readMarker(), marker);

    for (const text of printed) {
      assert.ok(!text.includes(secretAccessKey), "the S3 secret key was printed");
      assert.ok(!text.includes(identitySecret), "the age identity was printed");
    }
  });

  it("with a schedule, installs a timer on the host whose job backs up, encrypts, uploads and prunes as backup --offsite does", async () => {
    configureWith("*-*-* 03:00:00");
    await deployer?.deploy();
    const service = readFileSync(join(units, `${unit}.service`), "utf8");
    assert.match(readFileSync(join(units, `${unit}.timer`), "utf8"), /^OnCalendar=\*-\*-\* 03:00:00$/m);
    assert.deepEqual(readFileSync(systemctlCalls, "utf8").trim().split("\n"), [
      "is-system-running",
      "daemon-reload",
      `enable ${unit}.timer`,
      `restart ${unit}.timer`,
    ]);
    const verify = spawnSync("systemd-analyze", ["verify", join(units, `${unit}.timer`), join(units, `${unit}.service`)], { encoding: "utf8" });
    assert.equal(verify.status, 0, verify.stderr);
    const jobDir = join(stateRoot, "offsite");
    assert.deepEqual(
      [jobDir, join(jobDir, "credentials")].map((path) => `${statSync(path).uid} ${(statSync(path).mode & 0o777).toString(8)}`),
      ["0 700", "0 600"],
    );

    // The job as systemd starts it: the service's own command line, as root.
    const execStart = /^ExecStart=(.*)$/m.exec(service)?.[1]?.split(" ") ?? [];
    const before = keysInBucket();
    const manual = join(stateRoot, "backups", "manual", container);
    const archivesBefore = readdirSync(manual).filter((name) => name.endsWith(".tar.gz"));
    const runJob = () => spawnSync(execStart[0] ?? "", execStart.slice(1), { encoding: "utf8", timeout: 600_000 });
    const first = runJob();
    log(`the scheduled job: ${first.stdout.trim()}`);
    assert.equal(first.status, 0, first.stderr);
    const uploaded = new RegExp(`^offsite-job: ${container}: uploaded (e2e/${container}/\\S+\\.tar\\.gz\\.age); deleted (\\S+)$`, "m").exec(first.stdout);
    assert.ok(uploaded, first.stdout);
    assert.equal(uploaded[2], before[0]);
    assert.deepEqual(keysInBucket(), [before[1], uploaded[1]].sort());
    assert.match(first.stdout, /^offsite-job: 1 gateway of clawfleet\/offsite copied off host offhost, encrypted$/m);
    const sealed = s3("GET", uploaded[1] ?? "");
    assert.equal(sealed.subarray(0, 22).toString(), "age-encryption.org/v1\n");
    assert.match(
      execFileSync("tar", ["-tzf", "-"], {
        input: execFileSync("age", ["-d", "-i", identityFile], { input: sealed, maxBuffer: 512 * 1024 * 1024 }),
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
      }),
      /\/offsite-marker\.txt/,
    );
    const list = await clawfleet("backup", stackFile, "--list", "--json");
    assert.equal((JSON.parse(list.stdout) as { gateways: { newest: string }[] }).gateways[0]?.newest, uploaded[1]);

    // The next run: one more archive on the host than before the job ran, never more; the operator's stay.
    const second = runJob();
    assert.equal(second.status, 0, second.stderr);
    const archivesAfter = readdirSync(manual).filter((name) => name.endsWith(".tar.gz"));
    assert.equal(archivesAfter.length, archivesBefore.length + 1);
    assert.ok(archivesBefore.every((name) => archivesAfter.includes(name)));
    assert.equal(keysInBucket().length, 2);
    assert.ok(!(first.stdout + first.stderr + second.stdout + second.stderr).includes(secretAccessKey));

    // Where systemd is not the init system (this machine, with its real systemctl), a changed schedule is refused.
    writeFileSync(realSystemctl, "");
    configureWith("weekly");
    await assert.rejects(
      deployer?.deploy() ?? Promise.resolve(),
      /clawfleet: host offhost: backups.offsite.schedule installs a systemd timer, and systemd is not this host's init system \(systemctl is-system-running: offline\); drop schedule there and run clawfleet backup --offsite from cron instead/,
    );

    // No schedule: the timer, its service and the job's folder (its credentials with it) go; the archives stay.
    configureWith();
    await deployer?.deploy();
    assert.deepEqual([existsSync(join(units, `${unit}.timer`)), existsSync(join(units, `${unit}.service`)), existsSync(jobDir)], [false, false, false]);
    assert.equal(readdirSync(manual).filter((name) => name.endsWith(".tar.gz")).length, archivesAfter.length);
  });
});
