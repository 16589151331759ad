import assert from "node:assert/strict";
import { test } from "node:test";
import { engineHeading, replaceSection, sectionOf } from "../../bench/measure";

/**
 * `npm run bench` and `npm run bench:engine` write bench/results.md in turn: each replaces its own
 * sections and must leave the other's figures exactly as they were.
 */

const benchPart = ["# clawfleet benchmark", "", "## Program evaluation", "", "| a | b |", "", "## Checks", "", "- ok: plan", ""].join("\n");
const enginePart = (figure: string) => [engineHeading, "", `preview ${figure}`, "", "### Checks", "", "- ok: preview", ""].join("\n");

test("bench:engine appends its section to a results file that has none, and leaves the rest as it was", () => {
  const written = replaceSection(benchPart, engineHeading, enginePart("10 s"));
  assert.equal(written.startsWith(benchPart.trimEnd()), true);
  assert.equal(sectionOf(written, engineHeading), enginePart("10 s").trimEnd());
});

test("bench:engine replaces its own section only, wherever it stands", () => {
  const after = `${replaceSection(benchPart, engineHeading, enginePart("10 s"))}`;
  const again = replaceSection(after, engineHeading, enginePart("12 s"));
  assert.equal(sectionOf(again, engineHeading), enginePart("12 s").trimEnd());
  assert.equal(again.includes("10 s"), false);
  assert.equal(sectionOf(again, "## Checks"), "## Checks\n\n- ok: plan");

  const first = `${enginePart("10 s")}\n${benchPart.replace("# clawfleet benchmark\n\n", "")}`;
  const replaced = replaceSection(first, engineHeading, enginePart("12 s"));
  assert.equal(sectionOf(replaced, engineHeading), enginePart("12 s").trimEnd());
  assert.equal(sectionOf(replaced, "## Program evaluation"), "## Program evaluation\n\n| a | b |");
});

test("a results file without the engine's section has none to keep", () => {
  assert.equal(sectionOf(benchPart, engineHeading), undefined);
  // A heading that only starts the same is another section.
  assert.equal(sectionOf(`${benchPart}\n${engineHeading} notes\n\ntext\n`, engineHeading), undefined);
});
