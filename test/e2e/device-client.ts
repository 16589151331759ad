import { execFileSync } from "node:child_process";

/**
 * A new browser-like device: connects to a gateway (GATEWAY_URL) from another address than loopback, so the gateway
 * asks for approval, as the Control UI does, signing the challenge with its own Ed25519 key (DEVICE_KEY, PEM; the v3
 * payload of openclaw's gateway-client device-auth) and the gateway token (GATEWAY_TOKEN). Runs with the gateway
 * image's Node, which has WebSocket. Prints the connect outcome as JSON.
 */
export const deviceClient = `
import crypto from "node:crypto";
const privateKey = crypto.createPrivateKey(process.env.DEVICE_KEY);
const raw = crypto.createPublicKey(privateKey).export({ type: "spki", format: "der" }).subarray(-32);
const deviceId = crypto.createHash("sha256").update(raw).digest("hex");
const client = { id: "openclaw-control-ui", version: "1.0.0", platform: "linux", mode: "webchat" };
const scopes = ["operator.read"];
const ws = new WebSocket(process.env.GATEWAY_URL, { headers: { origin: "http://127.0.0.1:18789" } });
const done = (outcome) => { console.log(JSON.stringify({ deviceId, ...outcome })); process.exit(0); };
ws.onmessage = (event) => {
  const msg = JSON.parse(event.data);
  if (msg.type === "event" && msg.event === "connect.challenge") {
    const { nonce, ts } = msg.payload;
    const payload = ["v3", deviceId, client.id, client.mode, "operator", scopes.join(","), String(ts), process.env.GATEWAY_TOKEN, nonce, "linux", ""].join("|");
    const signature = crypto.sign(null, Buffer.from(payload), privateKey).toString("base64url");
    ws.send(JSON.stringify({ type: "req", id: "connect", method: "connect", params: {
      minProtocol: 4, maxProtocol: 4, client, role: "operator", scopes, caps: [], auth: { token: process.env.GATEWAY_TOKEN },
      device: { id: deviceId, publicKey: raw.toString("base64url"), signature, signedAt: ts, nonce } } }));
  } else if (msg.type === "res" && msg.id === "connect") {
    done(msg.ok ? { ok: true } : { ok: false, code: msg.error?.details?.code, requestId: msg.error?.details?.requestId, message: msg.error?.message });
  }
};
ws.onclose = (event) => done({ ok: false, closed: event.code });
ws.onerror = () => undefined;
setTimeout(() => done({ ok: false, timeout: true }), 60000);
`;

/** What a device's connect attempt came to. */
export interface ConnectOutcome {
  readonly deviceId: string;
  readonly ok: boolean;
  readonly code?: string;
  readonly requestId?: string;
}

/**
 * Connects to a gateway as a device with this key (PEM), from a throw-away container of the gateway image on the given
 * Docker network (`host` for the machine's own network, from where a Kubernetes pod's address is reached).
 */
export function connectDevice(image: string, network: string, url: string, token: string, keyPem: string): ConnectOutcome {
  const output = execFileSync(
    "docker",
    [
      "run",
      "--rm",
      "--network",
      network,
      "-e",
      `GATEWAY_URL=${url}`,
      "-e",
      "GATEWAY_TOKEN",
      "-e",
      "DEVICE_KEY",
      "--entrypoint",
      "node",
      image,
      "--input-type=module",
      "-e",
      deviceClient,
    ],
    { encoding: "utf8", env: { ...process.env, GATEWAY_TOKEN: token, DEVICE_KEY: keyPem } },
  );
  return JSON.parse(output.trim().split("\n").pop() ?? "{}") as ConnectOutcome;
}

/**
 * The command that calls one function of the gateway's own pairing store inside its container, printing its result as
 * JSON on the last line (the module's file name carries a build hash, so it is found by the function's name).
 */
export function pairingStoreCommand(fn: string, args: unknown): string[] {
  const script = [
    `import { readdirSync } from "node:fs";`,
    `const dist = "/app/node_modules/openclaw/dist/";`,
    `let found;`,
    `for (const file of readdirSync(dist).filter((f) => f.startsWith("pairing-store-") && f.endsWith(".mjs"))) {`,
    `  found ??= Object.values(await import(dist + file)).find((f) => typeof f === "function" && f.name === ${JSON.stringify(fn)});`,
    `}`,
    `const args = ${JSON.stringify(args)};`,
    `console.log(JSON.stringify(await found(...args)));`,
  ].join("\n");
  return ["node", "--input-type=module", "-e", script];
}
