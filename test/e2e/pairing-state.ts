import assert from "node:assert/strict";
import { dockerExec, type DockerEndpoint } from "./docker-api";

/** A command that runs one SQL statement on a gateway's state database inside its container (node:sqlite). */
function sql(statement: string): string[] {
  const method = statement.startsWith("SELECT") ? "all" : "run";
  return [
    "node",
    "-e",
    `const {DatabaseSync}=require('node:sqlite');const db=new DatabaseSync('/state/state/openclaw.sqlite');` +
      `console.log(JSON.stringify(db.prepare(${JSON.stringify(statement)}).${method}()))`,
  ];
}

/**
 * Adds a Telegram DM allowlist entry, as approving a pairing at run time does, to a gateway's own state. Right after a
 * gateway came back from a power loss, one insert exited 1 with no output: it is tried again for up to a minute, and a
 * failure says what the last try printed.
 */
export async function addApproval(container: string, entry: string, endpoint?: DockerEndpoint): Promise<void> {
  const statement = sql(
    `INSERT OR REPLACE INTO channel_pairing_allow_entries (channel_key, account_id, entry, sort_order, updated_at) VALUES ('telegram', 'default', '${entry}', 0, ${Date.now()})`,
  );
  let last = { code: -1, output: "" };
  const deadline = Date.now() + 60_000;
  for (;;) {
    last = await dockerExec(container, statement, [], endpoint).catch((error: unknown) => ({ code: -1, output: String(error) }));
    if (last.code === 0 || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  assert.equal(last.code, 0, `adding approval ${entry} to ${container}: exit ${last.code}: ${last.output || "(no output)"}`);
}

/** The DM allowlist entries in a gateway's state, sorted. */
export async function approvals(container: string, endpoint?: DockerEndpoint): Promise<string[]> {
  const rows = await dockerExec(container, sql("SELECT entry FROM channel_pairing_allow_entries ORDER BY entry"), [], endpoint);
  assert.equal(rows.code, 0, rows.output);
  return (JSON.parse(rows.output.slice(rows.output.indexOf("["))) as { entry: string }[]).map((r) => r.entry);
}
