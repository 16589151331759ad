import { writeFileSync } from "node:fs";
import { planStackFile } from "../../cli/plan";

// Runs the program for one stack file under the mock runtime (one run per process) and
// writes every registered resource, secrets included, to a 0600 file for the applier.
const [file, out] = process.argv.slice(2);
if (file === undefined || out === undefined) throw new Error("usage: plan-revealed.ts <stack file> <out.json>");
planStackFile(file).then((plan) => writeFileSync(out, JSON.stringify(plan.resources), { mode: 0o600 }));
