import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** The host scripts of the Docker runtime, as files in runtimes/docker/scripts/ (shellcheck reads them there). */
export const hostScriptFiles = { preflight: "preflight.sh", prepareTrialState: "prepare-trial-state.mjs", writeSecrets: "write-secrets.sh" } as const;

const cache = new Map<string, string>();

/**
 * The text of a host script. Found from here upwards, so that the CLI's bundle in dist/ finds it as the sources do.
 */
export function hostScript(file: (typeof hostScriptFiles)[keyof typeof hostScriptFiles]): string {
  const known = cache.get(file);
  if (known !== undefined) return known;
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const candidate = join(dir, "runtimes", "docker", "scripts", file);
    if (existsSync(candidate)) {
      const text = readFileSync(candidate, "utf8");
      cache.set(file, text);
      return text;
    }
    if (dirname(dir) === dir) throw new Error(`cannot find runtimes/docker/scripts/${file} next to clawfleet`);
  }
}
