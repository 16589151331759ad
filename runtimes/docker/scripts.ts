import { readFileSync } from "node:fs";
import { join } from "node:path";
import { shippedFile } from "../shell";

/** The host scripts of the Docker runtime, as files in runtimes/docker/scripts/ (shellcheck reads them there). */
export const hostScriptFiles = {
  preflight: "preflight.sh",
  writeSecrets: "write-secrets.sh",
  claimPort: "claim-port.sh",
  healthGate: "health-gate.sh",
  rollback: "rollback.sh",
  serve: "serve.sh",
  offsiteSchedule: "offsite-schedule.sh",
  offsiteJob: "offsite-job.sh",
} as const;

/**
 * The operator's scripts in scripts/, run on a gateway host by hand, by the day-2 verbs, by the deploy right before a
 * gateway's container is replaced for a new image (the backup) and by the scheduled off-host backup (the backup and
 * the off-host copy): one procedure for each, whoever runs it.
 */
export const operatorScriptFiles = { backup: "backup-gateway.sh", restore: "restore-gateway.sh", offsite: "offsite-gateway.sh" } as const;

const cache = new Map<string, string>();

function shipped(relative: string): string {
  const known = cache.get(relative);
  if (known !== undefined) return known;
  const text = readFileSync(shippedFile(relative), "utf8");
  cache.set(relative, text);
  return text;
}

/** The text of a host script, read once. */
export function hostScript(file: (typeof hostScriptFiles)[keyof typeof hostScriptFiles]): string {
  return shipped(join("runtimes", "docker", "scripts", file));
}

/** The text of an operator's script, read once. */
export function operatorScript(file: (typeof operatorScriptFiles)[keyof typeof operatorScriptFiles]): string {
  return shipped(join("scripts", file));
}
