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
