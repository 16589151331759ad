/**
 * A value that came from Pulumi secure config. The declaration never holds a
 * secret as a bare string: the boundary wraps it in this class, and only the
 * component that hands it to a resource unwraps it (into `pulumi.secret`).
 */
export class SecretValue {
  /** @param value the decrypted value under `pulumi up`; a placeholder under `clawfleet plan`. */
  constructor(readonly value: string) {}

  toJSON(): string {
    return "[secret]";
  }

  toString(): string {
    return "[secret]";
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return "[secret]";
  }
}

/** Text patterns that mark a string as a credential, wherever it sits in a field or a line of text. */
const credentialPatterns: readonly RegExp[] = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/g,
  /\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}/g,
  /\btskey-[A-Za-z0-9-]{10,}/g,
  /\bgh[pousr]_[A-Za-z0-9]{20,}/g,
  /\bgithub_pat_[A-Za-z0-9_]{20,}/g,
  /\bglpat-[A-Za-z0-9_-]{20,}/g,
  /\bxox[abposre]-[A-Za-z0-9-]{10,}/g,
  /\bxapp-[A-Za-z0-9-]{10,}/g,
  /\b\d{6,12}:[A-Za-z0-9_-]{30,}/g, // Telegram bot token
  /\b[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,}/g, // Discord bot token
  /\bAIza[0-9A-Za-z_-]{35}/g, // Google API key
  /\bAKIA[0-9A-Z]{16}\b/g,
];

export function looksLikeCredential(text: string): boolean {
  return credentialPatterns.some((pattern) => {
    pattern.lastIndex = 0;
    return pattern.test(text);
  });
}

/** Placeholder that replaces a credential in any text the CLI prints. */
export const redacted = "[redacted]";

/** `text` with every credential-looking part replaced, so no message repeats one. */
export function redactCredentials(text: string): string {
  return credentialPatterns.reduce((result, pattern) => result.replace(pattern, redacted), text);
}
