import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { it } from "node:test";

it("shows in the README and the CI guide the comment the CLI renders for the fixture pair", () => {
  const rendered = execFileSync(
    process.execPath,
    ["bin/clawfleet.js", "diff", "test/fixtures/diff/base/Pulumi.prod.yaml", "test/fixtures/diff/head/Pulumi.prod.yaml", "--markdown"],
    { encoding: "utf8" },
  );
  assert.equal(readFileSync("docs/sample-pr-comment.md", "utf8"), rendered);
  for (const doc of ["README.md", "docs/deploying-from-ci.md"]) {
    const text = readFileSync(doc, "utf8");
    const start = text.indexOf("<!-- sample-comment -->");
    const end = text.indexOf("<!-- /sample-comment -->");
    assert.ok(start >= 0 && end > start, `${doc} has the sample markers`);
    assert.ok(text.slice(start, end).includes(rendered), `${doc} shows the rendered comment`);
  }
});
