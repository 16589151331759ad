/**
 * A kubectl on PATH that answers as a cluster would in one scenario, for the shell scripts the Kubernetes runtime runs
 * on the machine that runs Pulumi or the CLI: it records each call and keeps each manifest applied, and answers the
 * rest from the caller's `case` arms (first match wins; a call no arm matches succeeds with no output).
 */
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface KubectlRun extends SpawnSyncReturns<string> {
  /** The manifests applied, in order. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a manifest as the script applies it
  readonly applied: any[];
  /** kubectl's arguments, one call per entry. */
  readonly calls: string[];
}

/** Runs `script` with `/bin/sh` in `dir` (made here) with a kubectl answering by `arms`, e.g. `*"get pod/"*) exit 0 ;;`. */
export function runWithKubectl(dir: string, arms: readonly string[], script: string): KubectlRun {
  const bin = join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  writeFileSync(
    join(bin, "kubectl"),
    [
      "#!/bin/sh",
      `echo "$*" >>${JSON.stringify(join(dir, "calls"))}`,
      'case "$*" in',
      `  *"apply -f -"*) n=$(ls ${JSON.stringify(dir)} | grep -c applied); cat >${JSON.stringify(dir)}/applied-$n.json ;;`,
      ...arms.map((arm) => `  ${arm}`),
      "esac",
    ].join("\n"),
  );
  chmodSync(join(bin, "kubectl"), 0o755);
  writeFileSync(join(dir, "calls"), "");
  const result = spawnSync("/bin/sh", ["-c", script], { encoding: "utf8", env: { ...process.env, PATH: `${bin}:${process.env["PATH"] ?? ""}` } });
  const applied = readdirSync(dir)
    .filter((f) => f.startsWith("applied-"))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as unknown);
  return { ...result, applied, calls: readFileSync(join(dir, "calls"), "utf8").trim().split("\n") };
}
