"use strict";
// The TypeScript loader for the unit, component and stand-in tests:
//   node --require ./test/register.cjs --test <files>
// It compiles each .ts file with esbuild (shipped with tsx), with this repo's tsconfig
// and an inline source map, as tsx does, and leaves every other file to Node.
//
// tsx's require hook also reads every .js file a test loads and scans it for ESM syntax,
// typescript.js (which @pulumi/pulumi loads) included: about a second per test file, and
// the suite starts a process per file, because the SDK's mock runtime is process-wide.
// The project's own sources are TypeScript and CommonJS, so none of that is needed here.
const fs = require("node:fs");
const path = require("node:path");
const Module = require("node:module");
// tsx's own esbuild, found through tsx as bin/clawfleet.js finds it (esbuild is not a dependency of its own).
const esbuild = require(require.resolve("esbuild", { paths: [path.dirname(require.resolve("tsx/package.json"))] }));

const tsconfig = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "tsconfig.json"), "utf8"));
const tsconfigRaw = { compilerOptions: tsconfig.compilerOptions };
const target = `node${process.versions.node.split(".")[0]}`;

// Stack traces point into the .ts sources (--enable-source-maps on the command line
// also maps the test runner's own locations).
process.setSourceMapsEnabled(true);

Module._extensions[".ts"] = function compileTypeScript(module, filename) {
  const source = fs.readFileSync(filename, "utf8");
  const { code } = esbuild.transformSync(source, {
    loader: "ts",
    format: "cjs",
    platform: "node",
    target,
    sourcefile: filename,
    sourcemap: "inline",
    tsconfigRaw,
  });
  module._compile(code, filename);
};
