import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { gatewayCommon, trialConfig } from "../../components/gateway-spec";
import { preflightStateDirsOf, renderBackupBeforeUpgrade, renderPreflight } from "../../runtimes/docker/upgrade";
import { readInlineScript, trialStateScript } from "../../runtimes/shell";

// The preflight runs in a real /bin/sh with real tar; `docker` is a fake on PATH that lists the copy it is given.
const work = mkdtempSync(join(tmpdir(), "clawfleet-upgrade-"));
after(() => rmSync(work, { recursive: true, force: true }));

const fakeBin = join(work, "bin");
const seenCopy = join(work, "seen-copy.txt");
const seenEach = join(work, "seen-each.txt");
const calls = join(work, "calls.txt");
const mountSource = join(work, "mount-source.txt");
const running = join(work, "running.txt");
const backedUp = join(work, "backed-up.txt");
const backedUpLinks = join(work, "backed-up-links.txt");
const archiveLink = join(work, "archive-link.txt");
mkdirSync(fakeBin);
writeFileSync(
  join(fakeBin, "docker"),
  [
    "#!/bin/sh",
    `printf '%s\\n' "$*" >>${calls}`,
    'case "$1" in',
    '  run) for a in "$@"; do case "$a" in *:/state) src=${a%:/state} ;; *:/backup) out=${a%:/backup} ;; esac; done',
    `       case " $* " in *" -d "*) (cd "$src" && find . -type f | sort) >${seenCopy}; { echo copy; cd "$src" && find . -type f -name 'own-*' | sort; } >>${seenEach} ;; esac`,
    // The backup tool: one new archive in the output folder, named as openclaw names it.
    `       if [ -n "$out" ]; then (cd "$src" && pwd && find . -type f | sort) >${backedUp}; (cd "$src" && find . -type l | sort) >${backedUpLinks}; fi`,
    // A tool that leaves a link where its archive should be (archive-link.txt names where it leads).
    `       if [ -n "$out" ] && [ -f ${archiveLink} ]; then ln -s "$(cat ${archiveLink})" "$out/2026-12-03T10-00-00.000+00-00-openclaw-backup.tar.gz"; echo '  "archivePath": "/backup/2026-12-03T10-00-00.000+00-00-openclaw-backup.tar.gz",'; exit 0; fi`,
    '       if [ -n "$out" ]; then : >"$out/2026-12-03T10-00-00.000+00-00-openclaw-backup.tar.gz"; echo \'  "archivePath": "/backup/2026-12-03T10-00-00.000+00-00-openclaw-backup.tar.gz",\'; fi ;;',
    // The gateway being backed up: as a container of the stack's image runs it, its state mounted from mount-source.txt.
    '  inspect) case "$*" in',
    "    *clawfleet.rollback*) ;;",
    "    *Config.User*) echo 1000:1000 ;;",
    "    *Entrypoint*) echo node /app/node_modules/openclaw/openclaw.mjs ;;",
    "    *Config.Env*) echo OPENCLAW_STATE_DIR=/state ;;",
    `    *Mounts*) cat ${mountSource} ;;`,
    "    *Config.Image*) echo gw:1 ;;",
    `    *State.Running*) cat ${running} 2>/dev/null || echo true ;;`,
    "    *) echo healthy ;;",
    "  esac ;;",
    "esac",
    "exit 0",
    "",
  ].join("\n"),
);
chmodSync(join(fakeBin, "docker"), 0o755);

/** Every gateway's settings, with a health check that passes at once. */
const quick = { ...gatewayCommon, health: { probe: "process.exit(0)", startPeriodSeconds: 5, gateSeconds: 30 } };

function run(script: string): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("/bin/sh", ["-c", script], { env: { ...process.env, PATH: `${fakeBin}:${process.env["PATH"] ?? ""}` } });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("close", (status) => resolve({ status, stderr }));
  });
}

describe("renderPreflight", () => {
  it("copies the canary's state without its cache, while the gateway keeps writing files that come and go", async () => {
    const state = join(work, "users", "alice");
    for (const dir of ["cache/control-ui-assets", "workspace/cache", "state"]) mkdirSync(join(state, dir), { recursive: true });
    writeFileSync(join(state, "cache", "control-ui-assets", "core.css.br"), "cached");
    writeFileSync(join(state, "workspace", "cache", "notes.md"), "the tenant's own");
    writeFileSync(join(state, "state", "openclaw.sqlite"), "approvals");
    writeFileSync(join(state, "openclaw.json"), "{}\n");
    // What a running gateway does: staging folders written and removed while the copy is read.
    const churn = spawn("/bin/sh", [
      "-c",
      `i=0; while :; do d=${state}/cache/control-ui-assets/.staging-$i; mkdir -p $d && echo x >$d/a && rm -rf ${state}/cache/control-ui-assets/.staging-$((i-1)); echo y >${state}/state/wal-$((i%3)); i=$((i+1)); done`,
    ]);
    const churned = new Promise((resolve) => churn.on("close", resolve));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const script = renderPreflight({
      hostId: "local",
      image: "gw:2",
      stateDirs: [state],
      workDir: join(work, "tmp"),
      gateway: quick,
      fallbackConfig: { file: "openclaw.json", text: "{}" },
    });
    const results = await Promise.all([1, 2, 3].map(() => run(script)));
    churn.kill();
    await churned;
    for (const result of results) assert.equal(result.status, 0, result.stderr);
    const copied = readFileSync(seenCopy, "utf8").trim().split("\n");
    assert.deepEqual(
      copied.filter((f) => !f.startsWith("./state/wal-")),
      ["./openclaw.json", "./state/openclaw.sqlite", "./workspace/cache/notes.md"],
    );
  });
});

describe("renderPreflight on a state the tenant wrote links into", () => {
  it("copies a link as a link and changes the owner of nothing outside the copy, as root", async () => {
    const state = join(work, "linked", "users", "mallory");
    mkdirSync(state, { recursive: true });
    const outside = join(work, "linked", "host-file");
    writeFileSync(outside, "the host's");
    chownSync(outside, 0, 0);
    symlinkSync(outside, join(state, "evil"));
    symlinkSync(join(work, "linked"), join(state, "evil-dir"));
    writeFileSync(join(state, "openclaw.json"), "{}\n");
    const result = await run(
      renderPreflight({ hostId: "local", image: "gw:2", stateDirs: [state], workDir: join(work, "tmp"), gateway: quick, fallbackConfig: trialConfig }),
    );
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual([statSync(outside).uid, statSync(outside).gid], [0, 0], "the file a link in the state names keeps its owner");
    assert.equal(statSync(join(work, "linked")).uid, 0, "the folder a link in the state names keeps its owner");
    assert.equal(readFileSync(outside, "utf8"), "the host's");
  });
});

describe("renderPreflight with rollout.preflight: all", () => {
  it("tries the image on a copy of each gateway's state in turn, and on empty state for a gateway that has none yet", async () => {
    const dirs = ["carol", "dave"].map((id) => {
      const dir = join(work, "all", id);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `own-${id}`), id);
      return dir;
    });
    writeFileSync(seenEach, "");
    const script = renderPreflight({
      hostId: "local",
      image: "gw:2",
      stateDirs: [...dirs, join(work, "all", "erin")],
      workDir: join(work, "tmp"),
      gateway: quick,
      fallbackConfig: { file: "openclaw.json", text: "{}" },
    });
    const result = await run(script);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(readFileSync(seenEach, "utf8"), "copy\n./own-carol\ncopy\n./own-dave\ncopy\n");
    assert.deepEqual(readdirSync(join(work, "tmp")), [], "no copy is left behind");
  });
});

describe("the trial's copy of a state (runtimes/scripts/prepare-trial-state.mjs)", () => {
  const prepare = (dir: string, fallback: string) =>
    spawnSync(process.execPath, ["--input-type=module", "-e", trialStateScript(), dir, "openclaw.json", fallback], {
      encoding: "utf8",
    });

  it("keeps the tenant's config but its channels, so the trial never talks to a chat service", () => {
    const dir = join(work, "trial-copy");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "openclaw.json"), JSON.stringify({ agents: { defaults: { model: "openai/gpt-5.1" } }, channels: { telegram: { enabled: true } } }));
    const result = prepare(dir, "{}");
    assert.equal(result.status, 0, result.stderr);
    assert.equal(readFileSync(join(dir, "openclaw.json"), "utf8"), `${JSON.stringify({ agents: { defaults: { model: "openai/gpt-5.1" } } }, null, 2)}\n`);
  });

  it("gives a copy with no readable config the fallback config, without its channels", () => {
    const dir = join(work, "trial-empty");
    mkdirSync(dir, { recursive: true });
    const result = prepare(dir, JSON.stringify({ gateway: { mode: "local" }, channels: {} }));
    assert.equal(result.status, 0, result.stderr);
    assert.equal(readFileSync(join(dir, "openclaw.json"), "utf8"), `${JSON.stringify({ gateway: { mode: "local" } }, null, 2)}\n`);
  });
});

describe("the preflight script (runtimes/docker/scripts/preflight.sh)", () => {
  it("passes shellcheck as the command it is rendered into runs it", () => {
    const file = join(work, "preflight-rendered.sh");
    const rendered = renderPreflight({
      hostId: "local",
      image: "gw:2",
      stateDirs: ["/srv/a"],
      workDir: "/srv/work",
      gateway: gatewayCommon,
      fallbackConfig: trialConfig,
    });
    const body = rendered.slice(rendered.indexOf("\n") + 1, rendered.lastIndexOf("\nCLAWFLEET_SCRIPT\n"));
    writeFileSync(file, `#!/bin/sh\n${body}\n`);
    const result = spawnSync("shellcheck", ["--shell=sh", file], { encoding: "utf8" });
    assert.equal(result.status, 0, result.stdout);
  });

  it("is one here-document in the command: no value of the stack is ever read as shell", () => {
    const rendered = renderPreflight({
      hostId: "local",
      image: "gw:2'; touch /tmp/pwned; '",
      stateDirs: ["/srv/$(id)"],
      workDir: "/srv/work",
      gateway: gatewayCommon,
      fallbackConfig: trialConfig,
    });
    assert.ok(rendered.startsWith(`TRIAL_FLAGS='--user 1000:1000 --read-only`), rendered.split("\n")[0]);
    assert.match(rendered.split("\n")[0] ?? "", / sh -c "\$\(cat <<'CLAWFLEET_SCRIPT'$/);
    const args = rendered.slice(rendered.indexOf("\nCLAWFLEET_SCRIPT\n") + "\nCLAWFLEET_SCRIPT\n".length);
    assert.ok(args.startsWith(`)" 'clawfleet-preflight' 'local' 'gw:2'"'"'; touch /tmp/pwned; '"'"'' `), args.slice(0, 120));
    assert.ok(args.endsWith(` '/srv/$(id)'`), args.slice(-120));
    const read = readInlineScript(rendered);
    assert.deepEqual(read.args.slice(0, 2), ["local", "gw:2'; touch /tmp/pwned; '"]);
    assert.equal(read.args[11], trialStateScript(), "the trial's copy is readied by the file's own text");
    assert.deepEqual(preflightStateDirsOf(rendered), ["/srv/$(id)"]);
  });
});

describe("renderBackupBeforeUpgrade", () => {
  it("keeps the declared number of its own archives and never deletes anything else in the folder, such as a manual backup", async () => {
    const state = join(work, "users", "bob");
    mkdirSync(state, { recursive: true });
    writeFileSync(join(state, "openclaw.json"), "{}\n");
    const folder = join(work, "backups", "clawfleet-tenant-bob");
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    const older = [
      "20261101T000000Z-2026-11-01T00-00-00.000+00-00-openclaw-backup.tar.gz",
      "20261102T000000Z-2026-11-02T00-00-00.000+00-00-openclaw-backup.tar.gz",
      "20261103T000000Z-2026-11-03T00-00-00.000+00-00-openclaw-backup.tar.gz",
      "clawfleet-tenant-bob-2026-10-01T00-00-00.000+00-00-openclaw-backup.tar.gz",
      "notes.txt",
    ];
    older.forEach((name, i) => {
      writeFileSync(join(folder, name), "");
      if (name.startsWith("2026")) writeFileSync(join(folder, `${name}.image`), "gw:1\n");
      const day = new Date(Date.UTC(2026, 10, 1 + i)).getTime() / 1000;
      utimesSync(join(folder, name), day, day);
    });
    writeFileSync(mountSource, `${state}\n`);
    const result = await run(renderBackupBeforeUpgrade({ containerName: "clawfleet-tenant-bob", image: "gw:2", backupDir: folder, keep: 2 }));
    assert.equal(result.status, 0, result.stderr);
    const kept = readdirSync(folder).sort();
    assert.equal(kept.length, 7, kept.join(", "));
    assert.deepEqual(kept.slice(0, 3), [
      ".pending",
      "20261103T000000Z-2026-11-03T00-00-00.000+00-00-openclaw-backup.tar.gz",
      "20261103T000000Z-2026-11-03T00-00-00.000+00-00-openclaw-backup.tar.gz.image",
    ]);
    assert.match(kept[3] ?? "", /^\d{8}T\d{6}Z-2026-12-03T10-00-00\.000\+00-00-openclaw-backup\.tar\.gz$/);
    assert.equal(kept[4], `${kept[3] ?? ""}.image`, "the image it ran is recorded beside the new archive");
    assert.deepEqual(kept.slice(5), ["clawfleet-tenant-bob-2026-10-01T00-00-00.000+00-00-openclaw-backup.tar.gz", "notes.txt"]);
  });
});

describe("renderBackupBeforeUpgrade of a stopped gateway", () => {
  it("backs up a copy of its state, never the state itself, and leaves no copy behind", async () => {
    const state = join(work, "stopped", "users", "dave");
    mkdirSync(join(state, "agents"), { recursive: true });
    writeFileSync(join(state, "openclaw.json"), "{}\n");
    writeFileSync(join(state, "agents", "main.sqlite"), "");
    const folder = join(work, "stopped", "backups", "clawfleet-tenant-dave");
    writeFileSync(mountSource, `${state}\n`);
    writeFileSync(running, "false\n");
    try {
      const result = await run(renderBackupBeforeUpgrade({ containerName: "clawfleet-tenant-dave", image: "gw:2", backupDir: folder, keep: 2 }));
      assert.equal(result.status, 0, result.stderr);
    } finally {
      rmSync(running);
    }
    const [source, ...files] = readFileSync(backedUp, "utf8").trim().split("\n");
    assert.notEqual(source, state);
    assert.match(source ?? "", new RegExp(`^${folder}/\\.staging\\.\\w+/state$`));
    assert.deepEqual(files, ["./agents/main.sqlite", "./openclaw.json"]);
    assert.deepEqual(
      readdirSync(folder).filter((name) => name.startsWith(".staging")),
      [],
    );
  });
});

describe("renderBackupBeforeUpgrade and links it did not make", () => {
  it("copies a link in a stopped gateway's state as a link, and changes nothing it leads to", async () => {
    const victim = join(work, "links", "host-file");
    mkdirSync(join(work, "links"), { recursive: true });
    writeFileSync(victim, "host file\n", { mode: 0o644 });
    const state = join(work, "links", "users", "frank");
    mkdirSync(state, { recursive: true });
    writeFileSync(join(state, "openclaw.json"), "{}\n");
    symlinkSync(victim, join(state, "outside"));
    writeFileSync(mountSource, `${state}\n`);
    writeFileSync(running, "false\n");
    try {
      const result = await run(
        renderBackupBeforeUpgrade({ containerName: "clawfleet-tenant-frank", image: "gw:2", backupDir: join(work, "links", "backups", "frank"), keep: 2 }),
      );
      assert.equal(result.status, 0, result.stderr);
    } finally {
      rmSync(running);
    }
    assert.deepEqual(readFileSync(backedUpLinks, "utf8").trim().split("\n"), ["./outside"]);
    assert.equal(readFileSync(victim, "utf8"), "host file\n");
    assert.equal(statSync(victim).mode & 0o777, 0o644);
  });

  it("refuses an archive the tool left as a link, and changes nothing the link leads to", async () => {
    const victim = join(work, "links", "host-file-2");
    writeFileSync(victim, "host file\n", { mode: 0o644 });
    chownSync(victim, 1234, 1234);
    const state = join(work, "links", "users", "gina");
    mkdirSync(state, { recursive: true });
    writeFileSync(join(state, "openclaw.json"), "{}\n");
    const folder = join(work, "links", "backups", "gina");
    writeFileSync(mountSource, `${state}\n`);
    writeFileSync(archiveLink, victim);
    let result: { status: number | null; stderr: string };
    try {
      result = await run(renderBackupBeforeUpgrade({ containerName: "clawfleet-tenant-gina", image: "gw:2", backupDir: folder, keep: 2 }));
    } finally {
      rmSync(archiveLink);
    }
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      "backup-gateway: the gateway's backup tool left no archive file at /backup/2026-12-03T10-00-00.000+00-00-openclaw-backup.tar.gz\n" +
        "clawfleet: gateway clawfleet-tenant-gina: the backup before the image change failed (above); no gateway was changed\n",
    );
    assert.equal(readFileSync(victim, "utf8"), "host file\n");
    assert.equal(statSync(victim).mode & 0o777, 0o644);
    assert.equal(statSync(victim).uid, 1234);
    assert.deepEqual(readdirSync(folder), [], "no archive, no record of a change under way, no staging left");
  });
});

describe("renderBackupBeforeUpgrade on a backup folder that is a link", () => {
  it("refuses it before anything is made, chowned or chmodded there", async () => {
    const elsewhere = join(work, "links", "elsewhere");
    mkdirSync(elsewhere, { recursive: true, mode: 0o755 });
    chmodSync(elsewhere, 0o755);
    const state = join(work, "links", "users", "hank");
    mkdirSync(state, { recursive: true });
    writeFileSync(join(state, "openclaw.json"), "{}\n");
    const folder = join(work, "links", "backups", "hank");
    mkdirSync(join(work, "links", "backups"), { recursive: true });
    symlinkSync(elsewhere, folder);
    writeFileSync(mountSource, `${state}\n`);
    const result = await run(renderBackupBeforeUpgrade({ containerName: "clawfleet-tenant-hank", image: "gw:2", backupDir: folder, keep: 2 }));
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      `backup-gateway: ${folder} is a link; give the folder it leads to, or a new folder\n` +
        "clawfleet: gateway clawfleet-tenant-hank: the backup before the image change failed (above); no gateway was changed\n",
    );
    assert.equal(statSync(elsewhere).mode & 0o777, 0o755);
    assert.deepEqual(readdirSync(elsewhere), []);
  });
});

describe("the preflight's and the backup's containers", () => {
  const runs = () =>
    readFileSync(calls, "utf8")
      .split("\n")
      .filter((line) => line.startsWith("run "));
  const state = join(work, "confined", "users", "carol");
  mkdirSync(state, { recursive: true });
  writeFileSync(join(state, "openclaw.json"), "{}\n");

  it("run the trial gateway confined and configured as every gateway is, on no network and no port", async () => {
    writeFileSync(calls, "");
    const result = await run(
      renderPreflight({ hostId: "local", image: "gw:2", stateDirs: [state], workDir: join(work, "tmp"), gateway: quick, fallbackConfig: trialConfig }),
    );
    assert.equal(result.status, 0, result.stderr);
    const [prepare, trial] = runs();
    assert.match(prepare ?? "", /^run --rm --user 1000:1000 --network none -v \S+:\/state --entrypoint node gw:2 --input-type=module -e /);
    assert.match(
      trial ?? "",
      new RegExp(
        "^run -d --name clawfleet-preflight-local --hostname clawfleet-preflight-local --restart on-failure:1 " +
          "--user 1000:1000 --read-only --cap-drop ALL --security-opt no-new-privileges:true " +
          "--tmpfs /tmp:rw,nosuid,nodev,size=64m --tmpfs /home/node:rw,nosuid,nodev,size=64m,uid=1000,gid=1000 --network none -v \\S+:/state " +
          "-e OPENCLAW_STATE_DIR=/state -e OPENCLAW_CONFIG_READONLY=1 -e OPENCLAW_DISABLE_BONJOUR=1 -e HOME=/home/node -e OPENCLAW_GATEWAY_TOKEN=[0-9a-f]{48} --health-cmd ",
      ),
    );
  });

  it("follow the gateways' confinement: a capability given back to every gateway is given back to the trial too", async () => {
    writeFileSync(calls, "");
    const gateway = { ...quick, confinement: { ...quick.confinement, addCapabilities: ["NET_BIND_SERVICE"] } };
    const result = await run(
      renderPreflight({ hostId: "local", image: "gw:2", stateDirs: [state], workDir: join(work, "tmp"), gateway, fallbackConfig: trialConfig }),
    );
    assert.equal(result.status, 0, result.stderr);
    assert.match(runs()[1] ?? "", / --cap-drop ALL --cap-add NET_BIND_SERVICE --security-opt no-new-privileges:true /);
  });

  it("run the backup tool as the gateway's user, without capabilities, new privileges or network, on the gateway's state", async () => {
    writeFileSync(calls, "");
    const folder = join(work, "confined", "backups", "clawfleet-tenant-carol");
    writeFileSync(mountSource, `${state}\n`);
    const result = await run(renderBackupBeforeUpgrade({ containerName: "clawfleet-tenant-carol", image: "gw:2", backupDir: folder, keep: 2 }));
    assert.equal(result.status, 0, result.stderr);
    assert.match(
      runs()[0] ?? "",
      new RegExp(
        "^run --rm --user 1000:1000 --cap-drop ALL --security-opt no-new-privileges:true --network none " +
          "-e OPENCLAW_STATE_DIR=/state -e OPENCLAW_CONFIG_READONLY=1 -e HOME=/tmp -v \\S+:/state -v \\S+:/backup " +
          "--entrypoint node \\S+ /app/node_modules/openclaw/openclaw.mjs backup create --verify --output /backup --json$",
      ),
    );
  });
});
