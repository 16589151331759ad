import { readFileSync, writeFileSync } from "node:fs";
import { planStackFile } from "../../cli/plan";

// Runs the program for one stack file under the mock runtime (one run per process) and
// writes every registered resource, secrets included, to a 0600 file for the applier.
// [known.json]: outputs the engine would hand the program from state, by resource name.
const [file, out, known] = process.argv.slice(2);
if (file === undefined || out === undefined) throw new Error("usage: plan-revealed.ts <stack file> <out.json> [known-outputs.json]");
const knownOutputs = known === undefined ? undefined : (JSON.parse(readFileSync(known, "utf8")) as Record<string, Record<string, unknown>>);
planStackFile(file, knownOutputs === undefined ? {} : { knownOutputs }).then((plan) => writeFileSync(out, JSON.stringify(plan.resources), { mode: 0o600 }));
