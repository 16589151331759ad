import { gateway } from "../../components/render/config";

/** A value shorter than this is not treated as a secret: replacing "1" or "true" everywhere would garble the output. */
const shortestSecret = 8;

/**
 * Characters of a secret, in a row, that count as the secret showing. A secret split over two
 * lines, wrapped or cut shows at least this much of itself on one side (a 48-character token
 * split anywhere leaves 24 on one line), and twelve characters of a random token do not turn up
 * in ordinary text.
 */
const revealingRun = 12;

/** Names of environment variables whose values never reach the CLI's output, besides the declared secrets. */
const secretNamePattern = /(TOKEN|SECRET|PASSWORD|API_KEY|PRIVATE_KEY)$/;

/** Terminal escape sequences: CSI (colours, cursor, screen clear) and OSC (window title, links), ended by BEL or ST. */
const escapeSequence = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[@-Z\\-_]/g;
/** Control characters left after the sequences are gone (tab stays). */
const controlCharacter = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g;

/**
 * Makes text that outsiders control (a sender's display name, a log line) safe for a terminal:
 * escape sequences are removed and any other control character is shown as `\xNN`, so nothing
 * can clear the screen, move the cursor, overwrite a line or set the window title.
 */
export function terminalSafe(text: string): string {
  return text.replace(escapeSequence, "").replace(controlCharacter, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** The middle of a value's base64 text that stays the same wherever the value sits in a longer encoded text. */
function base64Middles(value: string): string[] {
  const bytes = Buffer.from(value);
  return [0, 1, 2].flatMap((offset) => {
    const text = Buffer.concat([Buffer.alloc(offset), bytes]).toString("base64");
    // Characters touched by the filler in front or the padding behind depend on the neighbours.
    const middle = text.slice(Math.ceil((offset * 4) / 3) + 1, text.length - 4);
    return middle.length >= revealingRun ? [middle, middle.replace(/\+/g, "-").replace(/\//g, "_")] : [];
  });
}

/** Every shape a secret takes in a log: itself, URL- and JSON-escaped, hex and base64 (any case: matching ignores it). */
function shapesOf(value: string): string[] {
  const shapes = [value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1), Buffer.from(value).toString("hex"), ...base64Middles(value)];
  return [...new Set(shapes.map((s) => s.toLowerCase()))];
}

/**
 * Replaces every secret in a line with `[redacted NAME]`, after making the line safe for a
 * terminal. Secrets are read from the container's own environment: the gateway token, the
 * declared model keys and channel tokens, and anything else whose name says it is a
 * credential. A secret is found in any case, URL- or JSON-escaped, hex or base64 encoded, with
 * escape sequences inside it, and in part: any run of 12 of its characters (a token split over
 * two lines or cut short), or the whole of a shorter one.
 */
export class Redactor {
  /** Runs of each secret's shapes that reveal it, by run length, each naming its variable. */
  private readonly runs = new Map<number, Map<string, string>>();
  private readonly count: number;

  constructor(env: readonly string[], declaredNames: readonly string[]) {
    const secretNames = new Set([gateway.tokenEnv, ...declaredNames]);
    const values = new Map<string, string>();
    for (const entry of env) {
      const at = entry.indexOf("=");
      if (at <= 0) continue;
      const name = entry.slice(0, at);
      const value = entry.slice(at + 1);
      if ((secretNames.has(name) || secretNamePattern.test(name)) && value.length >= shortestSecret && !values.has(value)) values.set(value, name);
    }
    this.count = values.size;
    for (const [value, name] of values) {
      for (const shape of shapesOf(value)) {
        const length = Math.min(revealingRun, shape.length);
        const table = this.runs.get(length) ?? new Map<string, string>();
        this.runs.set(length, table);
        for (let i = 0; i + length <= shape.length; i++) if (!table.has(shape.slice(i, i + length))) table.set(shape.slice(i, i + length), name);
      }
    }
  }

  /** How many distinct secret values this redactor hides. */
  get size(): number {
    return this.count;
  }

  redact(line: string): string {
    const safe = terminalSafe(line);
    if (this.runs.size === 0) return safe;
    const lower = safe.toLowerCase();
    // Mark every character inside a revealing run, with the variable it belongs to.
    const owner: (string | undefined)[] = new Array<string | undefined>(safe.length);
    for (const [length, table] of this.runs) {
      for (let i = 0; i + length <= lower.length; i++) {
        const name = table.get(lower.slice(i, i + length));
        if (name !== undefined) for (let j = i; j < i + length; j++) owner[j] ??= name;
      }
    }
    let result = "";
    for (let i = 0; i < safe.length;) {
      const name = owner[i];
      if (name === undefined) {
        result += safe[i];
        i += 1;
        continue;
      }
      while (i < safe.length && owner[i] === name) i += 1;
      result += `[redacted ${name}]`;
    }
    return result;
  }
}
