// Rewrites the README's declaration reference from the schema (npm run docs).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { declarationReference, renderReferenceTable, withReference } from "../declaration/reference";

const readmeFile = join(__dirname, "..", "README.md");
const before = readFileSync(readmeFile, "utf8");
const after = withReference(before, renderReferenceTable(declarationReference()));
if (after !== before) writeFileSync(readmeFile, after);
process.stdout.write(after === before ? "README.md: the declaration reference is up to date\n" : "README.md: the declaration reference was rewritten\n");
