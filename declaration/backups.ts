import type { Fleet, Host, OffsiteDecl } from "./schema";

/** A host's off-host target and the config path it was declared at (where its secrets are read from). */
export interface OffsiteTarget {
  readonly decl: OffsiteDecl;
  /** `backups.offsite` or `hosts.<id>.backups.offsite`. */
  readonly path: string;
}

/** The host's own `backups.offsite`, else the stack's, else undefined. */
export function offsiteOf(fleet: Fleet, host: Host): OffsiteTarget | undefined {
  if (host.backups?.offsite !== undefined) return { decl: host.backups.offsite, path: `hosts.${host.id}.backups.offsite` };
  if (fleet.backups?.offsite !== undefined) return { decl: fleet.backups.offsite, path: "backups.offsite" };
  return undefined;
}
