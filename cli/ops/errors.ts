/** An error a day-2 verb reports as one line (`clawfleet: <message>`) and exit code 1. */
export class OpsError extends Error {
  constructor(
    message: string,
    /** Exit code for the CLI: 1 for a failure, 2 for a usage error. */
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
    this.name = "OpsError";
  }
}
