import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { declarationReference, referenceEnd, referenceStart, renderReferenceTable, withReference } from "../../declaration/reference";

const readme = readFileSync(join(__dirname, "../../README.md"), "utf8");

describe("the README's declaration reference", () => {
  it("is the table the schema generates (run npm run docs after changing the schema)", () => {
    const start = readme.indexOf(referenceStart);
    const end = readme.indexOf(referenceEnd);
    assert.ok(start !== -1 && end > start, "README.md lost the declaration reference markers");
    assert.equal(readme.slice(start + referenceStart.length, end), `\n\n${renderReferenceTable(declarationReference())}\n\n`);
  });

  it("gives every field a type, a default and a note", () => {
    for (const row of declarationReference()) {
      assert.ok(row.type !== "" && !["unknown", "pipe", "transform"].includes(row.type), `${row.field}: type ${row.type}`);
      assert.notEqual(row.default, "", row.field);
      assert.notEqual(row.notes, "", `${row.field} has no note; give it .meta({ description })`);
    }
  });

  it("lists the fields a reader looks for, once each", () => {
    const fields = declarationReference().map((row) => row.field);
    assert.equal(new Set(fields).size, fields.length);
    for (const field of [
      "`image`",
      "`hosts.<id>.ssh.hostKey`",
      "`hosts.<id>.shared.modelKeys`",
      "`tenants.<id>.renamedFrom`",
      "`tenants.<id>.bindings[].peer.id`",
    ]) {
      assert.ok(fields.includes(field), field);
    }
  });

  it("is written between the markers and leaves the rest of the file alone", () => {
    const text = `before\n${referenceStart}\nold\n${referenceEnd}\nafter\n`;
    assert.equal(withReference(text, "| a |"), `before\n${referenceStart}\n\n| a |\n\n${referenceEnd}\nafter\n`);
    assert.throws(() => withReference("no markers", "| a |"), /has no .* markers/);
  });
});
