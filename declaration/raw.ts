/** The clawfleet namespace's values as read from a stack file or the Pulumi engine, before validation. */
import { SecretValue } from "./secret";

/** The config namespace of the project; keys are `clawfleet:<name>`. */
export const namespace = "clawfleet";

/** Raw namespace values (`image`, `hosts`, ...) as they came from the stack, secrets wrapped. */
export type RawDeclaration = Record<string, unknown>;

/** A map (not a list, null or secret): the shape that holds settings. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof SecretValue);
}
