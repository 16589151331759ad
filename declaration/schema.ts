import { z } from "zod";
import { dockerCpus, reservedLabelPrefix } from "../names";
import { systemDirectoryProblem } from "./machines";
import { SecretValue, looksLikeCredential } from "./secret";

/**
 * The declaration a stack makes under the `clawfleet` config namespace.
 * Every object is strict: an unknown key is a typo and an error.
 */

/** OpenClaw's agent id pattern; ids also name directories, containers and shell words. */
export const idPattern = /^[a-z0-9_][a-z0-9_-]{0,63}$/;
export const idRule = "use 1-64 characters from a-z, 0-9, _ and -, starting with a letter, digit or _";

/** Orders ids by code point, the same on every machine (unlike localeCompare). */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Placeholder a secret-field message uses for the field's own config path. */
export const pathToken = "{path}";

/** A field's type message that says "is required" when the field is missing rather than wrong. */
function expected(what: string): (issue: { input?: unknown }) => string {
  return ({ input }) => {
    if (input === undefined) return `is required: ${what}`;
    if (typeof input === "string" && looksLikeCredential(input)) return `must be ${what}, not a value that looks like a credential`;
    if (typeof input === "string") return `must be ${what}, not the string ${JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}...` : input)}`;
    return `must be ${what}`;
  };
}

const secretField = z.unknown().transform((value, ctx): SecretValue => {
  if (value instanceof SecretValue) return value;
  if (typeof value === "string") {
    ctx.addIssue({
      code: "custom",
      message: `is a secret in plain text; remove it from the file and run: pulumi config set --secret --path 'clawfleet:${pathToken}' <value>`,
    });
  } else {
    ctx.addIssue({ code: "custom", message: `must be a secret set with: pulumi config set --secret --path 'clawfleet:${pathToken}' <value>` });
  }
  return z.NEVER;
});

const port = z
  .number({ error: expected("a port number (an integer from 1024 to 65535)") })
  .int("must be a port number (an integer from 1024 to 65535)")
  .min(1024, "must be a port number from 1024 to 65535 (ports below 1024 need root on the host)")
  .max(65535, "must be a port number from 1024 to 65535");

const absolutePath = z
  .string({ error: expected("an absolute path such as /data/clawfleet") })
  .regex(/^\/[A-Za-z0-9._/-]*$/, "must be an absolute path such as /data/clawfleet, using only A-Z, a-z, 0-9, '.', '_', '-' and '/'")
  .refine((p) => p.replace(/\/+$/, "") !== "", "must not be / itself; use a directory such as /data/clawfleet")
  .refine((p) => !p.split("/").some((part) => part === ".." || part === "."), "must not contain . or .. segments; write the path out in full");

/** A host's state root: an absolute path that is no system or shared directory. */
const stateRoot = absolutePath.superRefine((path, ctx) => {
  // A path absolutePath refuses already has its line.
  if (!absolutePath.safeParse(path).success) return;
  const problem = systemDirectoryProblem(path);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
});

const modelRef = z
  .string({ error: expected("a model reference provider/model, such as anthropic/claude-sonnet-4-5") })
  .regex(/^[a-z0-9][a-z0-9._-]*\/[A-Za-z0-9._:-]+$/, "must be a model reference provider/model, such as anthropic/claude-sonnet-4-5");

const dnsName = z
  .string()
  .regex(
    /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/,
    "must be a host name or IPv4 address, such as gw1.example.ts.net",
  );

/** 1 TiB: more than any gateway host here has; a larger number is a typo (GB for MB). */
export const maxMemoryMb = 1048576;

const memoryMb = z
  .number({ error: "must be a number of megabytes, such as 1536" })
  .int("must be a whole number of megabytes, such as 1536")
  .min(512, "must be at least 512 (the gateway needs about 700 MB of memory)")
  .max(maxMemoryMb, `must be at most ${maxMemoryMb} (1 TiB); the value is in megabytes, such as 1536`);

const labelKey = /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/;
const labels = z.record(
  z
    .string()
    .regex(labelKey, "is not a label name; label names use 1-64 characters from a-z, 0-9, '.', '_' and '-', starting and ending with a letter or digit")
    .refine(
      (key) => !key.startsWith(reservedLabelPrefix),
      `is a label clawfleet sets itself (${reservedLabelPrefix}*: managed, tenant, tier, host); rename the label`,
    ),
  z.string({ error: expected("a label value (text)") }).max(256),
);

const dmPolicy = z.enum(["pairing", "allowlist", "open", "disabled"], {
  error: "must be one of pairing, allowlist, open, disabled",
});
const allowFrom = z.array(z.union([z.string().regex(/^[A-Za-z0-9@._+:-]{1,128}$/, "must be a user id or handle"), z.number().int()]));

/** Chat channels clawfleet configures, with the credential each one takes from secure config. */
export const channelCredentials = {
  telegram: { field: "botToken", env: "TELEGRAM_BOT_TOKEN" },
  discord: { field: "token", env: "DISCORD_BOT_TOKEN" },
  slack: { field: "botToken", env: "SLACK_BOT_TOKEN" },
} as const;
export type ChannelName = keyof typeof channelCredentials;

const channel = z.strictObject({
  /** Who may start a direct conversation. Default: pairing (each new user is approved once). */
  dmPolicy: dmPolicy.default("pairing"),
  /** Which groups the bot answers in. Default: allowlist. */
  groupPolicy: z.enum(["open", "disabled", "allowlist"], { error: "must be one of open, disabled, allowlist" }).default("allowlist"),
  /** Users allowed in addition to those approved at run time (run-time approvals are kept). */
  allowFrom: allowFrom.optional(),
  /** The channel's bot credential, from secure config. */
  token: secretField.optional(),
});
const channels = z.strictObject({ telegram: channel.optional(), discord: channel.optional(), slack: channel.optional() });

const hostKeyRule =
  "the host's SSH public key as <type> <base64>, such as ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA...; print it on the host with: cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub";

const ssh = z.strictObject({
  /** Host name or address the program reaches over SSH (usually the tailnet name). */
  host: dnsName,
  /** SSH user; needs to be root or have password-less sudo. Default: root. */
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a POSIX user name such as deploy")
    .default("root"),
  /** SSH port. Default: 22. */
  port: z.number().int().min(1).max(65535).default(22),
  /** Private key for the command connection, from secure config. */
  privateKey: secretField.optional(),
  /**
   * The host's SSH public key, `<type> <base64>`: every connection (Docker, commands, state moves)
   * checks the host against it and refuses any other.
   */
  hostKey: z
    .string({ error: expected(hostKeyRule) })
    .regex(/^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]{32,}={0,2}$/, `must be ${hostKeyRule}`),
});

export const hostSchema = z.strictObject({
  /** Omit to run on this machine (local Docker socket, local shell). */
  ssh: ssh.optional(),
  /** Root of all tenant state on the host: `<stateRoot>/users/<id>`, `<stateRoot>/shared`. */
  stateRoot,
  /** Host ports for dedicated gateways, inclusive. */
  ports: z
    .strictObject({ from: port, to: port })
    .refine((r) => r.from <= r.to, { message: "must not be less than from; the range is inclusive, such as { from: 18100, to: 18999 }", path: ["to"] }),
  /** The shared-tier gateway on this host. */
  shared: z
    .strictObject({
      port,
      model: modelRef.optional(),
      memoryMb: memoryMb.default(2048),
      channels: channels.optional(),
      modelKeys: z.record(z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, "provider names use a-z, 0-9 and -"), secretField).optional(),
    })
    .optional(),
  /** Tailscale Serve: publish each gateway on the tailnet (never the internet). */
  tailscale: z
    .strictObject({
      serve: z.boolean().default(false),
      /** The host's MagicDNS name; defaults to `ssh.host` when that is a `.ts.net` name. */
      dnsName: dnsName.optional(),
    })
    .default({ serve: false }),
  /** Memory budget for all gateways on the host, in MB; over-commit is an error. */
  memoryMb: z.number().int().positive().optional(),
});

const binding = z.strictObject({
  channel: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, "must be a channel name such as telegram"),
  accountId: z.string().min(1).max(128).optional(),
  peer: z
    .strictObject({
      kind: z.enum(["direct", "group", "channel"], { error: "must be direct, group or channel" }),
      id: z.union([z.string().min(1).max(128), z.number().int()]).transform(String),
    })
    .optional(),
  guildId: z.string().min(1).max(128).optional(),
  teamId: z.string().min(1).max(128).optional(),
  comment: z.string().max(256).optional(),
});

const tenantCommon = {
  /** The host (a key of `hosts`) this tenant runs on. */
  host: z.string({ error: expected("the name of a host declared under hosts") }),
  /** Display name of the tenant's agent. Default: the tenant id. */
  name: z.string().min(1).max(64).optional(),
  /** Default model, provider/model. */
  model: modelRef.optional(),
  labels: labels.optional(),
  /**
   * Deletes the tenant's state on the next deploy (its gateway is removed first).
   * `confirm` must repeat the tenant id. Without it, state is always kept.
   */
  purge: z.strictObject({ confirm: z.string() }).optional(),
};

export const dedicatedTenantSchema = z.strictObject({
  tier: z.literal("dedicated"),
  ...tenantCommon,
  /** Host port on 127.0.0.1; default derived from the tenant id (see README, Ports). */
  port: port.optional(),
  /** Container memory limit in MB. Default: 1536. */
  memoryMb: memoryMb.default(1536),
  /** CPU limit in cores. Default: 1. */
  cpus: z
    .number({ error: "must be a number of CPU cores, such as 1 or 1.5" })
    .positive("must be a number of CPU cores above 0, such as 1 or 1.5")
    .max(64, "must be at most 64 CPU cores")
    .refine((cpus) => Number(dockerCpus(cpus)) === cpus, {
      error: (issue) => `cannot be given to Docker exactly (it reads back as ${dockerCpus(Number(issue.input))}); use a value such as 0.5, 1 or 1.25`,
    })
    .default(1),
  /** Process limit inside the container. Default: 512. */
  pidsLimit: z.number().int().min(64).max(65536).default(512),
  channels: channels.optional(),
  /** Model provider API keys (`anthropic: {secure: ...}`), passed as `<PROVIDER>_API_KEY`. */
  modelKeys: z.record(z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, "provider names use a-z, 0-9 and -"), secretField).optional(),
  /** Change this value to rotate the gateway token on purpose; nothing else rotates it. */
  rotation: z.string().min(1).max(64).optional(),
  /**
   * The host this tenant ran on before a change of `host`. The next deploy stops the old
   * gateway and copies its state to the new host before the new gateway starts. Remove it
   * once the move has been deployed.
   */
  movedFrom: z.string().optional(),
  /**
   * The id this tenant had before it was renamed. The next deploy stops the old gateway and
   * copies its state to the new id's directory before the new gateway starts; the old
   * directory is renamed aside and kept. Remove it once the rename has been deployed.
   */
  renamedFrom: z.string().regex(idPattern, `must be the tenant's old id; ${idRule}`).optional(),
});

export const sharedTenantSchema = z.strictObject({
  tier: z.literal("shared"),
  ...tenantCommon,
  /** Routing rules that send matching conversations to this tenant's agent. */
  bindings: z.array(binding).default([]),
});

/** The tiers a tenant may declare; parseFleet words the error for anything else itself. */
export const tierSchema = z.enum(["dedicated", "shared"]);

export type HostDecl = z.output<typeof hostSchema>;
export type DedicatedTenantDecl = z.output<typeof dedicatedTenantSchema>;
export type SharedTenantDecl = z.output<typeof sharedTenantSchema>;
export type ChannelsDecl = z.output<typeof channels>;
export type BindingDecl = z.output<typeof binding>;

/** A host after validation, with its name. */
export interface Host extends HostDecl {
  readonly id: string;
}

/** A dedicated tenant after validation, with its id and its final host port. */
export interface DedicatedTenant extends Omit<DedicatedTenantDecl, "port"> {
  readonly id: string;
  readonly port: number;
  /** True when the port was derived from the id rather than pinned. */
  readonly portDerived: boolean;
}

export interface SharedTenant extends SharedTenantDecl {
  readonly id: string;
}

export type Tenant = DedicatedTenant | SharedTenant;

/** A tenant whose state is to be deleted: it runs nothing any more. */
export interface PurgedTenant {
  readonly id: string;
  readonly tier: "dedicated" | "shared";
  readonly host: string;
}

/** The validated declaration of one stack: what everything below the boundary takes. */
export interface Fleet {
  readonly image: string;
  readonly hosts: readonly Host[];
  readonly tenants: readonly Tenant[];
  readonly purged: readonly PurgedTenant[];
}

export const imageSchema = z
  .string({ error: expected("a gateway image reference, such as ghcr.io/openclaw/openclaw:2026.9.6") })
  .regex(
    /^[a-z0-9][a-z0-9._\-/:@]*[a-zA-Z0-9]$/,
    "must be an image reference such as ghcr.io/openclaw/openclaw:2026.9.6 (lower-case name, then :tag or @digest)",
  )
  .refine((ref) => /[:@]/.test(ref.split("/").pop() ?? ""), "must pin a tag or digest (for example :2026.9.6); an untagged image moves under you");
