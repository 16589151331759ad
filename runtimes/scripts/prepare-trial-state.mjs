// Readies a copy of a gateway's state for the image preflight's throwaway gateway, inside a container of the new
// image as the gateway's user: frees openclaw's state owner lease (the copy must be free to start) and removes the
// channels from the config (the trial never talks to chat services). A copy without a readable config gets the
// fallback config.
//
// Usage: node --input-type=module -e "<this file>" <state dir> <config file name> <fallback config JSON>
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const [stateDir, configFile, fallback] = process.argv.slice(1);
const database = `${stateDir}/state/openclaw.sqlite`;
if (existsSync(database)) {
  // Only here: node:sqlite is in the gateway image's Node, not in every Node.
  const { DatabaseSync } = await import("node:sqlite");
  try {
    new DatabaseSync(database).exec("DELETE FROM state_leases");
  } catch {
    // No lease table yet: nothing holds the state.
  }
}
const file = `${stateDir}/${configFile}`;
let config;
try {
  config = JSON.parse(readFileSync(file, "utf8"));
} catch {
  config = JSON.parse(fallback);
}
delete config.channels;
writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
