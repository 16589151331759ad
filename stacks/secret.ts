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

/** Text patterns that mark a string as a credential, whichever field it sits in. */
const credentialPatterns: readonly RegExp[] = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  /\bsk-(ant-)?[A-Za-z0-9_-]{16,}/,
  /\btskey-[A-Za-z0-9-]{10,}/,
  /\bgh[pousr]_[A-Za-z0-9]{20,}/,
  /\bxox[abposr]-[A-Za-z0-9-]{10,}/,
  /^\d{6,12}:[A-Za-z0-9_-]{30,}$/, // Telegram bot token
  /\bAKIA[0-9A-Z]{16}\b/,
];

export function looksLikeCredential(text: string): boolean {
  return credentialPatterns.some((pattern) => pattern.test(text));
}
