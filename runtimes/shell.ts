/**
 * POSIX shell text for commands run on gateway hosts, here or over SSH: by a runtime that
 * runs host commands and by the day-2 commands. Every value is single-quoted.
 */

/** Quotes a value as one shell word. */
export function shellQuote(value: string | number): string {
  return `'${String(value).replaceAll("'", `'"'"'`)}'`;
}

/** Runs as root directly, or through password-less sudo for a non-root SSH user. */
export const asRoot = `as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }`;

export const fail = `fail() { printf 'clawfleet: %s\\n' "$*" >&2; exit 1; }`;

export function script(...lines: string[]): string {
  return ["set -eu", ...lines].join("\n");
}

/** How an SSH host is reached, with the host key every connection must present. */
export interface SshTarget {
  readonly host: string;
  readonly user: string;
  readonly port: number;
  /** `<type> <base64>`; any other key is refused. */
  readonly hostKey: string;
}

/**
 * OpenSSH client options that accept exactly the declared host key: no known_hosts file is
 * read or written, and the key comes from `KnownHostsCommand` (an absolute program, no shell).
 */
export function sshPinOptions(target: SshTarget): string[] {
  const pattern = target.port === 22 ? target.host : `[${target.host}]:${target.port}`;
  return [
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    `KnownHostsCommand=/bin/echo ${pattern} ${target.hostKey}`,
  ];
}
