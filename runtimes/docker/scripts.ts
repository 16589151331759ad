import { readFileSync } from "node:fs";
import { join } from "node:path";
import { shippedFile } from "../shell";

/** The host scripts of the Docker runtime, as files in runtimes/docker/scripts/ (shellcheck reads them there). */
export const hostScriptFiles = { preflight: "preflight.sh", prepareTrialState: "prepare-trial-state.mjs", writeSecrets: "write-secrets.sh" } as const;

const cache = new Map<string, string>();

/** The text of a host script, read once. */
export function hostScript(file: (typeof hostScriptFiles)[keyof typeof hostScriptFiles]): string {
  const known = cache.get(file);
  if (known !== undefined) return known;
  const text = readFileSync(shippedFile(join("runtimes", "docker", "scripts", file)), "utf8");
  cache.set(file, text);
  return text;
}
