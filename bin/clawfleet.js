#!/usr/bin/env node
"use strict";
// Entry point for `npx clawfleet`: loads the TypeScript CLI through tsx.
require("tsx/cjs/api").register();
const { main } = require("../cli/main.ts");

main(
  process.argv.slice(2),
  (text) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`),
  (text) => process.stderr.write(text.endsWith("\n") ? text : `${text}\n`),
).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`clawfleet: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
