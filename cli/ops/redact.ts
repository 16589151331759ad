import { gateway } from "../../components/render/config";

/** A value shorter than this is not treated as a secret: replacing "1" or "true" everywhere would garble the output. */
const shortestSecret = 8;

/** Names of environment variables whose values never reach the CLI's output, besides the declared secrets. */
const secretNamePattern = /(TOKEN|SECRET|PASSWORD|API_KEY|PRIVATE_KEY)$/;

/**
 * Replaces every secret value in a line with `[redacted NAME]`. Secrets are read from the
 * container's own environment: the gateway token, the declared model keys and channel
 * tokens, and anything else whose name says it is a credential.
 */
export class Redactor {
  private readonly secrets: readonly { readonly name: string; readonly value: string }[];

  constructor(env: readonly string[], declaredNames: readonly string[]) {
    const secretNames = new Set([gateway.tokenEnv, ...declaredNames]);
    const secrets: { name: string; value: string }[] = [];
    for (const entry of env) {
      const at = entry.indexOf("=");
      if (at <= 0) continue;
      const name = entry.slice(0, at);
      const value = entry.slice(at + 1);
      if ((secretNames.has(name) || secretNamePattern.test(name)) && value.length >= shortestSecret) secrets.push({ name, value });
    }
    // The longest first, so a secret that contains another is replaced whole.
    this.secrets = secrets.sort((a, b) => b.value.length - a.value.length);
  }

  /** How many distinct secret values this redactor hides. */
  get size(): number {
    return this.secrets.length;
  }

  redact(line: string): string {
    let result = line;
    for (const { name, value } of this.secrets) {
      if (result.includes(value)) result = result.split(value).join(`[redacted ${name}]`);
    }
    return result;
  }
}
