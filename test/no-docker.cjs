"use strict";
// Loaded with register.cjs by npm test's unit, component and stand-in tests (package.json test:unit), and only there:
// none of them may reach the machine's Docker daemon, since one that did could stop or remove a real gateway of the
// same name (a developer's, or the e2e suite's running beside it). A `docker` that refuses, and names the call, comes
// first on PATH; a test that runs host scripts puts its own fake before it. The e2e suite's processes do not load it.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const refusingBin = fs.mkdtempSync(path.join(os.tmpdir(), "clawfleet-no-docker-"));
fs.writeFileSync(path.join(refusingBin, "docker"), "#!/bin/sh\nprintf 'a test reached the real docker: docker %s\\n' \"$*\" >&2\nexit 97\n", { mode: 0o755 });
process.env.PATH = `${refusingBin}${path.delimiter}${process.env.PATH ?? ""}`;
process.on("exit", () => fs.rmSync(refusingBin, { recursive: true, force: true }));
