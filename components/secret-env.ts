import { channelCredentials, type ChannelName, type ChannelsDecl } from "../declaration/schema";
import type { SecretValue } from "../declaration/secret";
import { modelKeyEnv } from "./render/config";

/**
 * What a gateway's secrets file holds: model keys and channel tokens by the name its config refers to them with
 * (`ANTHROPIC_API_KEY`, `TELEGRAM_BOT_TOKEN`).
 */
export function secretsOf(modelKeys: Readonly<Record<string, SecretValue>> | undefined, channels: ChannelsDecl | undefined): Record<string, string> {
  const secrets: Record<string, string> = {};
  for (const [provider, key] of Object.entries(modelKeys ?? {})) secrets[modelKeyEnv(provider)] = key.value;
  for (const name of Object.keys(channelCredentials) as ChannelName[]) {
    const token = channels?.[name]?.token;
    if (token !== undefined) secrets[channelCredentials[name].env] = token.value;
  }
  return secrets;
}
