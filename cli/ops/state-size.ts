import { shellQuote } from "../../runtimes/shell";
import type { TenantTarget } from "./targets";

/** Seconds `du` may take per host: a huge state directory costs its size, not the whole probe. */
const duSeconds = 30;

/**
 * Shell lines that print `size <KiB> <dir>` for each directory that exists (du on the host, as root:
 * the directories are 0700 and owned by the gateway's user).
 */
export function stateSizeProbe(dirs: readonly string[]): string[] {
  if (dirs.length === 0) return [];
  return [
    `for dir in ${dirs.map(shellQuote).join(" ")}; do`,
    `  [ -d "$dir" ] && echo "size $(timeout ${duSeconds} du -sk -- "$dir" 2>/dev/null | cut -f1) $dir"`,
    `done`,
    `true`,
  ];
}

/** The probe's lines: KiB by directory; a directory du could not measure in time is left out. */
export function readStateSizes(lines: readonly string[]): ReadonlyMap<string, number> {
  const sizes = new Map<string, number>();
  for (const line of lines) {
    const match = /^size (\d+) (.+)$/.exec(line);
    if (match !== null) sizes.set(match[2] ?? "", Number(match[1]));
  }
  return sizes;
}

/** 0.4 MB, 12 MB, 1210 MB. */
export function formatMb(mb: number): string {
  return mb < 10 ? `${(Math.round(mb * 10) / 10).toFixed(1)} MB` : `${Math.round(mb)} MB`;
}

/** What doctor and status say of a tenant whose state is over its declared limit; undefined when it is not. */
export function stateOverLimit(target: TenantTarget, sizeMb: number | undefined): { what: string; fix: string } | undefined {
  const limit = target.stateLimitMb;
  if (limit === undefined || sizeMb === undefined || sizeMb <= limit) return undefined;
  return {
    what: `tenant ${target.id}'s state ${target.stateDir} is ${formatMb(sizeMb)}, over its stateLimitMb of ${limit} MB`,
    fix: `see what grows (du -xh --max-depth 2 ${target.stateDir} | sort -h | tail), back it up (clawfleet backup) and remove what is not needed, or raise tenants.${target.id}.stateLimitMb`,
  };
}
