import { channelCredentials, type ChannelName, type ChannelsDecl, type ModelProvidersDecl } from "../declaration/schema";
import { gatewayRoutes } from "../declaration/gateway-routes";
import { keyInFile } from "../declaration/routes";
import type { SecretValue } from "../declaration/secret";
import { modelKeyEnv } from "./render/config";

/**
 * A gateway's credentials: model keys and channel tokens. They go into its credentials file
 * (gateway.secretsFile), which its config references, so a rotation needs no restart; the model keys that openclaw's
 * config has no place for stay in its environment (keyInFile).
 */
export interface GatewaySecrets {
  /** The credentials file's content, as its JSON pointers (modelKeyPointer, channelTokenPointer) read it. */
  readonly file: { readonly modelKeys: Readonly<Record<string, string>>; readonly channels: Readonly<Record<string, string>> };
  /** Variable name -> value. */
  readonly env: Readonly<Record<string, string>>;
}

export function gatewaySecretsOf(
  modelKeys: Readonly<Record<string, SecretValue>> | undefined,
  providers: ModelProvidersDecl | undefined,
  channels: ChannelsDecl | undefined,
): GatewaySecrets {
  const fileKeys: Record<string, string> = {};
  const env: Record<string, string> = {};
  for (const name of Object.keys(modelKeys ?? {}).sort()) {
    const key = modelKeys?.[name];
    if (key === undefined) continue;
    if (keyInFile(name, providers, gatewayRoutes)) fileKeys[name] = key.value;
    else env[modelKeyEnv(name)] = key.value;
  }
  const tokens: Record<string, string> = {};
  for (const name of Object.keys(channelCredentials) as ChannelName[]) {
    const token = channels?.[name]?.token;
    if (token !== undefined) tokens[name] = token.value;
  }
  return { file: { modelKeys: fileKeys, channels: tokens }, env };
}
