#!/usr/bin/env node
"use strict";
// Entry point for `npx clawfleet`.
//
// The CLI is TypeScript. It runs as one JavaScript file that esbuild (shipped with tsx)
// bundles into dist/ on first use and again whenever one of its sources changes: a large
// stack evaluates several times faster that way than through tsx's require hooks and
// source maps. Nothing needs to be built by hand. The bundle has a linked source map, so
// `NODE_OPTIONS=--enable-source-maps` shows TypeScript positions when debugging. If the
// bundle cannot be built or written (no esbuild, read-only install), the CLI runs through
// tsx as before.
const { spawn } = require("node:child_process");
const { createHash } = require("node:crypto");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const root = path.join(__dirname, "..");
const entry = path.join("cli", "main.ts");
// dist/<file>: one level below the root, so `__dirname/../bin/clawfleet.js` in the bundle still names this file.
const bundleFile = path.join(root, "dist", "clawfleet-cli.js");
const manifestFile = path.join(root, "dist", "clawfleet-cli.json");

/** A key over the bundler's version and every source file the bundle was made of. */
function keyOf(version, inputs) {
  const hash = createHash("sha256").update(`${version}\n${fs.readFileSync(__filename, "utf8")}\n`);
  for (const input of inputs) {
    let content;
    try {
      content = fs.readFileSync(path.join(root, input));
    } catch {
      content = "(missing)";
    }
    hash.update(`${input}\n${content.length}\n`).update(content);
  }
  return hash.digest("hex");
}

/** The bundle's path when it matches the sources, else undefined. */
function currentBundle() {
  try {
    const manifest = JSON.parse(fs.readFileSync(manifestFile, "utf8"));
    if (fs.existsSync(bundleFile) && manifest.key === keyOf(manifest.esbuild, manifest.inputs)) return bundleFile;
  } catch {
    // No bundle yet, or an unreadable one: build it.
  }
  return undefined;
}

/** Bundles the CLI (dependencies stay in node_modules) and writes it atomically; returns its path. */
function buildBundle() {
  const esbuild = require(require.resolve("esbuild", { paths: [path.dirname(require.resolve("tsx/package.json"))] }));
  fs.mkdirSync(path.dirname(bundleFile), { recursive: true });
  const temporary = `${bundleFile}.${process.pid}.tmp`;
  try {
    const result = esbuild.buildSync({
      absWorkingDir: root,
      entryPoints: [entry],
      outfile: temporary,
      bundle: true,
      platform: "node",
      format: "cjs",
      target: "node20",
      packages: "external",
      sourcemap: "linked",
      metafile: true,
      logLevel: "silent",
    });
    const inputs = Object.keys(result.metafile.inputs).sort();
    const map = fs.readFileSync(`${temporary}.map`, "utf8");
    const code = fs.readFileSync(temporary, "utf8").replace(/\/\/# sourceMappingURL=.*\n?$/, `//# sourceMappingURL=${path.basename(bundleFile)}.map\n`);
    const manifest = JSON.stringify({ esbuild: esbuild.version, inputs, key: keyOf(esbuild.version, inputs) });
    // Each file is renamed into place whole, so a concurrent run sees an old or a new file, never half of one.
    fs.writeFileSync(temporary, code);
    fs.writeFileSync(`${temporary}.map`, map);
    fs.writeFileSync(`${manifestFile}.${process.pid}.tmp`, manifest);
    fs.renameSync(`${temporary}.map`, `${bundleFile}.map`);
    fs.renameSync(temporary, bundleFile);
    fs.renameSync(`${manifestFile}.${process.pid}.tmp`, manifestFile);
    return bundleFile;
  } finally {
    for (const leftover of [temporary, `${temporary}.map`, `${manifestFile}.${process.pid}.tmp`]) fs.rmSync(leftover, { force: true });
  }
}

/**
 * Parts of @pulumi/pulumi that the CLI never runs but the SDK loads up front: the Automation
 * API (npm's arborist, sigstore, tar) and function serialization (TypeScript's compiler, 9 MB
 * of source) were a second of every start. Each is loaded when first used instead: a module
 * is a stand-in until a property of it is read, and an export named here (one the SDK copies
 * at load time) is a function that loads the module when called.
 */
const deferredSdkModules = {
  "automation/index.js": [],
  "typescript-shim.js": [],
  "runtime/closure/codePaths.js": ["computeCodePaths"],
};

/** Defers them while `load` runs (the CLI's modules, and the SDK with them, load at its start). */
function withUnusedSdkModulesDeferred(load) {
  const Module = require("node:module");
  const original = Module._load;
  try {
    deferUnusedSdkModules(Module);
    return load();
  } finally {
    Module._load = original;
  }
}

function deferUnusedSdkModules(Module) {
  let sdk;
  try {
    sdk = path.dirname(require.resolve("@pulumi/pulumi", { paths: [root] }));
  } catch {
    return;
  }
  const deferred = new Map(Object.entries(deferredSdkModules).map(([file, functions]) => [path.join(sdk, file), functions]));
  const load = Module._load;
  Module._load = function (request, parent, isMain) {
    const file = parent?.filename?.startsWith(sdk) ? Module._resolveFilename(request, parent, isMain) : undefined;
    const functions = file === undefined ? undefined : deferred.get(file);
    if (functions === undefined || Module._cache[file] !== undefined) return load.apply(this, arguments);
    let real;
    const loaded = () => (real ??= load.call(Module, request, parent, isMain));
    const stubs = new Map(functions.map((name) => [name, (...args) => loaded()[name](...args)]));
    return new Proxy(
      {},
      {
        get: (_, key) => (real === undefined && key === "__esModule" ? true : real === undefined && stubs.has(key) ? stubs.get(key) : loaded()[key]),
        has: (_, key) => key in loaded(),
        ownKeys: () => Reflect.ownKeys(loaded()),
        getOwnPropertyDescriptor: (_, key) => {
          const descriptor = Reflect.getOwnPropertyDescriptor(loaded(), key);
          return descriptor === undefined ? undefined : { ...descriptor, configurable: true };
        },
      },
    );
  };
}

function loadCli() {
  let bundle;
  try {
    bundle = currentBundle() ?? buildBundle();
  } catch {
    bundle = undefined;
  }
  if (bundle !== undefined) return withUnusedSdkModulesDeferred(() => require(bundle));
  require("tsx/cjs/api").register();
  return withUnusedSdkModulesDeferred(() => require("../cli/main.ts"));
}

/**
 * `plan` evaluates the whole program at once, and the SDK keeps every resource's pending
 * work alive until the end: about 0.6 GB of heap per 1000 tenants. Node's default heap
 * limit (at most 4 GB) would fail or thrash near 6000 tenants, so `plan` runs in a child
 * Node with a heap limit of three quarters of the machine's memory. Its young generation
 * stays small (32 MB semi-spaces): since outputs are made on first read, most young
 * objects die young, and a larger one only raised peak memory (bench/results.md).
 * Flags the user gives (execArgv or NODE_OPTIONS) win.
 */
function planNeedsLargerHeap() {
  if (process.argv[2] !== "plan" || process.env.CLAWFLEET_HEAP_SET === "1") return false;
  return ![...process.execArgv, process.env.NODE_OPTIONS ?? ""].some((flag) => flag.includes("--max-old-space-size"));
}

function runWithLargerHeap() {
  const heapMb = Math.floor((os.totalmem() / 1048576) * 0.75);
  // The IPC channel closes when this process ends in any way (even SIGKILL); the child then exits too.
  const child = spawn(
    process.execPath,
    [`--max-old-space-size=${heapMb}`, "--max-semi-space-size=32", ...process.execArgv, __filename, ...process.argv.slice(2)],
    { stdio: ["inherit", "inherit", "inherit", "ipc"], env: { ...process.env, CLAWFLEET_HEAP_SET: "1" } },
  );
  child.channel?.unref();
  const forward = (signal) => child.kill(signal);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, forward);
  child.on("error", (error) => {
    process.stderr.write(`clawfleet: cannot start node: ${error.message}\n`);
    process.exitCode = 1;
  });
  child.on("exit", (code, signal) => {
    for (const name of ["SIGINT", "SIGTERM", "SIGHUP"]) process.off(name, forward);
    if (signal !== null) process.kill(process.pid, signal);
    else process.exitCode = code ?? 1;
  });
}

/**
 * A CLI started by another clawfleet process (the heap wrapper, or `diff` planning both
 * files) has an IPC channel to it: when that process is gone, there is no one to report
 * to, so this one stops instead of running on as an orphan.
 */
function exitWithParent() {
  if (process.channel === undefined) return;
  process.channel.unref();
  process.on("disconnect", () => process.exit(process.exitCode ?? 1));
}

/**
 * A reader that stops early (`clawfleet plan --json | head`) closes the pipe: the rest of
 * the output has nowhere to go, which is no error of the plan. Exit quietly, as `cat` does.
 */
function quietOnClosedPipe() {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error) => {
      if (error.code === "EPIPE") endNow(process.exitCode ?? 0);
      throw error;
    });
  }
}

/** What ends the processes the CLI started (`docker logs --follow`, ssh) with it; set once the CLI is loaded. */
let stopChildren = () => {};
/** True once the CLI's work settled or the CLI was told to end: nothing is left unfinished by accident. */
let settled = false;

/** Ends the CLI now, with the processes it started. */
function endNow(code, signal = "SIGTERM") {
  settled = true;
  stopChildren(signal);
  process.exit(code);
}

/** SIGINT, SIGTERM and SIGHUP end the CLI and what it started, with the shell's code for the signal. */
function endOnSignals() {
  const numbers = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };
  for (const [signal, number] of Object.entries(numbers)) process.on(signal, () => endNow(128 + number, signal === "SIGINT" ? "SIGINT" : "SIGTERM"));
}

exitWithParent();
quietOnClosedPipe();
if (planNeedsLargerHeap()) runWithLargerHeap();
else runCli();

function runCli() {
  endOnSignals();
  // A program whose promises never settle would let Node exit quietly with status 0.
  process.on("exit", (code) => {
    if (!settled && code === 0) {
      process.stderr.write("clawfleet: the program stopped before it finished (a promise never settled)\n");
      process.exitCode = 1;
    }
  });
  const cli = loadCli();
  stopChildren = cli.stopChildren;
  const { main } = cli;

  main(
    process.argv.slice(2),
    (text) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`),
    (text) => process.stderr.write(text.endsWith("\n") ? text : `${text}\n`),
  ).then(
    (code) => {
      settled = true;
      process.exitCode = code;
    },
    (error) => {
      settled = true;
      process.stderr.write(`clawfleet: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
