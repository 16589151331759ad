import { channelCredentials, type ChannelName, type ChannelsDecl } from "../declaration/schema";
import type { SecretValue } from "../declaration/secret";
import { modelKeyEnv } from "./render/config";

/** Environment variables a gateway reads its credentials from: model keys and channel tokens. */
export function secretEnvOf(modelKeys: Readonly<Record<string, SecretValue>> | undefined, channels: ChannelsDecl | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [provider, key] of Object.entries(modelKeys ?? {})) env[modelKeyEnv(provider)] = key.value;
  for (const name of Object.keys(channelCredentials) as ChannelName[]) {
    const token = channels?.[name]?.token;
    if (token !== undefined) env[channelCredentials[name].env] = token.value;
  }
  return env;
}
