import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/*
 * A Telegram Bot API server of the suite's own (what a channel's `apiRoot` names): `getMe` answers with a bot,
 * `getUpdates` holds a long poll for up to 2 s and answers with no updates, and every other method succeeds. A
 * gateway's Telegram channel then runs as it does against Telegram, without the internet; each method called is
 * kept, with the bot token it came with.
 */

export interface FakeTelegram {
  /** `http://<address>:<port>`, what `apiRoot` is set to. */
  readonly apiRoot: string;
  /** Every call so far, oldest first. */
  readonly calls: readonly { readonly token: string; readonly method: string }[];
  close(): Promise<void>;
}

export async function startFakeTelegram(address: string): Promise<FakeTelegram> {
  const calls: { token: string; method: string }[] = [];
  const polls = new Set<NodeJS.Timeout>();
  const server: Server = createServer((request, response) => {
    const match = /^\/bot([^/]+)\/(\w+)/.exec(request.url ?? "");
    request.resume();
    const answer = (result: unknown) => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ ok: true, result }));
    };
    if (match === null) {
      response.writeHead(404, { "content-type": "application/json" });
      response.end(JSON.stringify({ ok: false, error_code: 404, description: "Not Found" }));
      return;
    }
    const [, token = "", method = ""] = match;
    calls.push({ token, method });
    if (method === "getMe") {
      answer({ id: Number(token.split(":")[0]) || 1, is_bot: true, first_name: "clawfleet e2e", username: "clawfleet_e2e_bot", can_join_groups: true });
    } else if (method === "getUpdates") {
      const poll = setTimeout(() => {
        polls.delete(poll);
        if (!response.destroyed) answer([]);
      }, 2000);
      polls.add(poll);
      response.on("close", () => {
        clearTimeout(poll);
        polls.delete(poll);
      });
    } else if (method === "getMyCommands") {
      answer([]);
    } else if (method === "getWebhookInfo") {
      answer({ url: "", has_custom_certificate: false, pending_update_count: 0 });
    } else {
      answer(true);
    }
  });
  server.listen(0, address);
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    apiRoot: `http://${address}:${port}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        for (const poll of polls) clearTimeout(poll);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
