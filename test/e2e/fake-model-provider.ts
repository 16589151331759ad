import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/*
 * An OpenAI-compatible model provider of the suite's own: POST /v1/chat/completions answers every request with
 * the same short reply and fixed token counts, streamed (server-sent events, usage in the last chunk, as OpenAI
 * sends it with stream_options.include_usage) or not; GET /v1/models lists the one model. Each request is kept
 * with the API key it came with, so a test can compare what the gateway recorded with what was served.
 */

/** Token counts every answer reports (OpenAI's `usage` object). */
export interface FakeUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
}

export interface FakeRequest {
  readonly method: string;
  readonly path: string;
  /** The bearer token it came with, or undefined. */
  readonly apiKey: string | undefined;
  readonly body: Record<string, unknown> | undefined;
}

export interface FakeModelProvider {
  /** `http://<address>:<port>/v1`, what a provider's baseUrl is set to. */
  readonly baseUrl: string;
  readonly port: number;
  /** Every request so far, oldest first. */
  readonly requests: readonly FakeRequest[];
  /** Chat completions answered so far. */
  readonly completions: number;
  readonly usage: FakeUsage;
  close(): Promise<void>;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => (text += chunk));
    request.on("end", () => resolve(text));
    request.on("error", reject);
  });
}

function sendJson(response: ServerResponse, status: number, value: unknown): void {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(value));
}

/**
 * Starts the provider on `address` (a port of the system's choosing unless `port` is given). `reply` is the
 * assistant's text; `usage` the token counts each answer reports.
 */
export async function startFakeModelProvider(options: {
  address: string;
  port?: number;
  model: string;
  usage: FakeUsage;
  reply?: string;
}): Promise<FakeModelProvider> {
  const requests: FakeRequest[] = [];
  const reply = options.reply ?? "pong";
  let completions = 0;
  const usage = {
    prompt_tokens: options.usage.promptTokens,
    completion_tokens: options.usage.completionTokens,
    total_tokens: options.usage.promptTokens + options.usage.completionTokens,
  };
  const server: Server = createServer((request, response) => {
    void (async () => {
      const text = await readBody(request);
      const path = new URL(request.url ?? "/", "http://fake").pathname;
      let body: Record<string, unknown> | undefined;
      try {
        body = text === "" ? undefined : (JSON.parse(text) as Record<string, unknown>);
      } catch {
        body = undefined;
      }
      const auth = request.headers.authorization;
      requests.push({ method: request.method ?? "", path, apiKey: auth?.startsWith("Bearer ") ? auth.slice(7) : undefined, body });
      if (request.method === "GET" && path.endsWith("/models")) {
        sendJson(response, 200, { object: "list", data: [{ id: options.model, object: "model", created: 0, owned_by: "fake" }] });
        return;
      }
      if (request.method !== "POST" || !path.endsWith("/chat/completions")) {
        sendJson(response, 404, { error: { message: `no ${request.method ?? ""} ${path} here`, type: "invalid_request_error" } });
        return;
      }
      completions += 1;
      const id = `chatcmpl-fake-${completions}`;
      const created = Math.floor(Date.now() / 1000);
      const model = typeof body?.["model"] === "string" ? body["model"] : options.model;
      if (body?.["stream"] !== true) {
        sendJson(response, 200, {
          id,
          object: "chat.completion",
          created,
          model,
          choices: [{ index: 0, message: { role: "assistant", content: reply }, finish_reason: "stop" }],
          usage,
        });
        return;
      }
      response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
      const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
        response.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices, ...extra })}\n\n`);
      chunk([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }]);
      chunk([{ index: 0, delta: { content: reply }, finish_reason: null }]);
      chunk([{ index: 0, delta: {}, finish_reason: "stop" }]);
      chunk([], { usage });
      response.end("data: [DONE]\n\n");
    })().catch((error: unknown) => {
      if (!response.headersSent) sendJson(response, 500, { error: { message: String(error) } });
      else response.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.address, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://${options.address}:${port}/v1`,
    port,
    requests,
    get completions() {
      return completions;
    },
    usage: options.usage,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
