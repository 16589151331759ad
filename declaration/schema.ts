import { z } from "zod";
import { defaultRolloutLanes, defaultUpgradeBackups, reservedLabelPrefix } from "../names";
import { egressAllowProblem, normalizeEgressAllow } from "./egress";
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

const secretField = z
  .unknown()
  .transform((value, ctx): SecretValue => {
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
  })
  .meta({ type: "secret" });

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

// openclaw splits a reference at its first "/": routers name the model as the upstream's own provider/model.
const modelRef = z
  .string({ error: expected("a model reference provider/model, such as anthropic/claude-sonnet-4-5") })
  .regex(/^[a-z0-9][a-z0-9._-]*(\/[A-Za-z0-9._:-]+)+$/, "must be a model reference provider/model, such as anthropic/claude-sonnet-4-5");

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

const channel = z
  .strictObject({
    dmPolicy: dmPolicy.default("pairing").meta({ description: "who may start a direct conversation (pairing: each new user is approved once)" }),
    groupPolicy: z
      .enum(["open", "disabled", "allowlist"], { error: "must be one of open, disabled, allowlist" })
      .default("allowlist")
      .meta({ description: "which groups the bot answers in" }),
    allowFrom: allowFrom.optional().meta({ description: "users allowed besides those approved at run time (run-time approvals are kept)" }),
    token: secretField
      .optional()
      .meta({ description: "the channel's bot credential, from secure config; written to the gateway's credentials file, rotated without a restart" }),
  })
  .meta({ description: "a chat channel of the gateway" });
const telegram = channel
  .extend({
    apiRoot: z
      .url({ protocol: /^https?$/, error: "must be an http or https URL of a Bot API server, such as http://10.0.0.5:8081" })
      .optional()
      .meta({ default: "Telegram's own", description: "the Bot API server the channel talks to: a self-hosted one (`telegram-bot-api`)" }),
  })
  .meta({ description: "the Telegram channel of the gateway" });
const channels = z.strictObject({ telegram: telegram.optional(), discord: channel.optional(), slack: channel.optional() });
const modelKeys = z
  .record(z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, "provider names use a-z, 0-9 and -"), secretField)
  .optional()
  .meta({
    description:
      "model provider API keys (`anthropic: { secure: ... }`), written to the gateway's credentials file and rotated without a restart; a key for anything but a model provider (a web search key such as `brave`) is passed as `<NAME>_API_KEY`",
  });

/** USD per million tokens, as openclaw prices a model (`models.providers.*.models[].cost`). */
const pricePerMillion = z
  .number({ error: expected("US dollars per million tokens, such as 3") })
  .min(0, "must be 0 or more US dollars per million tokens")
  .meta({ type: "number" });

const providerModel = z.strictObject({
  id: z
    .string({ error: expected("the model's id at the provider, such as llama-3.1-8b") })
    .regex(/^[A-Za-z0-9._:-]+(\/[A-Za-z0-9._:-]+)*$/, "must be the model's id at the provider, such as llama-3.1-8b")
    .meta({ description: "the model's id at the provider; agents name it `<provider>/<id>`" }),
  cost: z
    .strictObject({
      input: pricePerMillion.meta({ description: "per million input tokens" }),
      output: pricePerMillion.meta({ description: "per million output tokens" }),
      cacheRead: pricePerMillion.default(0).meta({ description: "per million tokens read from the prompt cache" }),
      cacheWrite: pricePerMillion.default(0).meta({ description: "per million tokens written to the prompt cache" }),
    })
    .meta({ description: "its price in US dollars per million tokens: what `clawfleet usage` and budgets count" }),
  contextWindow: z.number().int().positive().optional().meta({ default: "openclaw's", description: "tokens the model takes in" }),
  maxTokens: z.number().int().positive().optional().meta({ default: "openclaw's", description: "most tokens the model answers with" }),
});

const modelProviders = z
  .record(
    z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, "provider names use a-z, 0-9 and -"),
    z.strictObject({
      baseUrl: z
        .string({ error: expected("the provider's API address, such as http://10.20.0.5:4000/v1") })
        .superRefine((text, ctx) => {
          let url: URL;
          try {
            url = new URL(text);
          } catch {
            ctx.addIssue({ code: "custom", message: "must be an http:// or https:// address, such as http://10.20.0.5:4000/v1" });
            return;
          }
          if (url.protocol !== "http:" && url.protocol !== "https:")
            ctx.addIssue({ code: "custom", message: "must be an http:// or https:// address, such as http://10.20.0.5:4000/v1" });
          else if (url.username !== "" || url.password !== "" || url.search !== "")
            ctx.addIssue({
              code: "custom",
              message: "must not carry a user, password or query, which would put a credential in the config; declare the key in modelKeys instead",
            });
        })
        .meta({ type: "URL", description: "the provider's API address (for an address in a private range, add it to `egress.allow`)" }),
      api: z
        .enum(["openai-completions", "openai-responses", "anthropic-messages"], {
          error: "must be one of openai-completions, openai-responses, anthropic-messages",
        })
        .default("openai-completions")
        .meta({ description: "the API it speaks: openai-completions for /v1/chat/completions servers (vLLM, LiteLLM, llama.cpp)" }),
      models: z.array(providerModel).min(1, "must list at least one model").meta({ description: "the models it serves, each with its price" }),
    }),
  )
  .optional()
  .meta({
    description:
      "OpenAI- or Anthropic-compatible model providers of your own (`models.providers` in openclaw), each with its models' prices; its key, when it needs one, is `modelKeys.<provider>`",
  });

const hostKeyRule =
  "the host's SSH public key as <type> <base64>, such as ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA...; print it on the host with: cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub";

const ssh = z.strictObject({
  host: dnsName.meta({ type: "host name", description: "the name or address the program reaches over SSH (usually the tailnet name)" }),
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a POSIX user name such as deploy")
    .default("root")
    .meta({ description: "root, or a user in the docker group with password-less sudo" }),
  port: z.number().int().min(1).max(65535).default(22).meta({ description: "the SSH port" }),
  privateKey: secretField.optional().meta({ default: "the ssh-agent", description: "private key for the command connections, from secure config" }),
  hostKey: z
    .string({ error: expected(hostKeyRule) })
    .regex(/^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]{32,}={0,2}$/, `must be ${hostKeyRule}`)
    .meta({
      description:
        "the host's SSH public key, `<type> <base64>` (`cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub`); every connection (Docker, commands, state moves) refuses any other",
    }),
});

const upgradeBackups = z
  .number()
  .int()
  .min(1, "must be at least 1: the backup taken right before an image change is the way back")
  .max(100, "must be at most 100")
  .default(defaultUpgradeBackups)
  .meta({ description: "backups kept of the state taken right before an image change replaces the gateway, 1-100; the oldest go first" });

/** Where `clawfleet backup --offsite` sends each gateway's archives, encrypted on its host first. */
const offsite = z
  .strictObject({
    s3: z
      .strictObject({
        endpoint: z
          .string({ error: expected("the S3 endpoint's URL, such as https://s3.eu-central-1.amazonaws.com") })
          .regex(
            /^https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?$/,
            "must be the S3 endpoint's URL with no path, such as https://s3.eu-central-1.amazonaws.com or http://127.0.0.1:9000; the bucket goes in bucket",
          )
          .meta({ type: "URL", description: "the S3-compatible endpoint the hosts upload to, path-style (`<endpoint>/<bucket>/<key>`)" }),
        bucket: z
          .string({ error: expected("an S3 bucket name, such as fleet-backups") })
          .regex(
            /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
            "must be an S3 bucket name: 3-63 characters from a-z, 0-9, '.' and '-', starting and ending with a letter or digit",
          )
          .meta({ description: "the bucket, created beforehand" }),
        prefix: z
          .string()
          .regex(/^([A-Za-z0-9._-]+\/)*$/, "must be folder names each ending in /, such as clawfleet/prod/, using only A-Z, a-z, 0-9, '.', '_' and '-'")
          .default("")
          .meta({ description: "key prefix; each gateway's copies go under `<prefix><container>/`" }),
        region: z
          .string()
          .regex(/^[a-z0-9-]{1,32}$/, "must be a region name such as eu-central-1 (a-z, 0-9 and -)")
          .default("us-east-1")
          .meta({ description: "the region the requests are signed for (SigV4)" }),
        accessKeyId: secretField.meta({ description: "the access key id, from secure config" }),
        secretAccessKey: secretField.meta({
          description:
            "the secret access key, from secure config; it reaches a host only on a command's standard input (with a schedule, each host keeps it root-only for its timer)",
        }),
      })
      .meta({ description: "the S3-compatible bucket that holds the copies" }),
    ageRecipient: z
      .string({ error: expected("an age public key (age1...), as age-keygen prints it") })
      .regex(/^age1[02-9ac-hj-np-z]{58}$/, "must be an age public key: age1 and 58 more characters, as age-keygen prints it (age-keygen -y <identity file>)")
      .meta({ type: "age recipient", description: "each archive is encrypted to it on its host before it leaves; keep the identity off the hosts" }),
    keep: z
      .number()
      .int("must be a whole number of copies, such as 7")
      .min(1, "must be at least 1: the newest copy is the one a restore needs")
      .max(1000, "must be at most 1000")
      .default(7)
      .meta({ description: "copies kept off the host per gateway, 1-1000; older ones are deleted after each upload" }),
    schedule: z
      .string({ error: expected("a systemd calendar expression, such as daily or *-*-* 03:00:00") })
      .regex(
        /^[A-Za-z0-9*:.,~/ -]{1,100}$/,
        "must be a systemd calendar expression such as daily, hourly or *-*-* 03:00:00 (systemd.time(7)), using only letters, digits, spaces and * : . , ~ / -",
      )
      .optional()
      .meta({
        type: "systemd calendar",
        description:
          "when set, each host backs up its gateways off the host on this schedule by itself: a systemd timer the deploy installs (see Off-host backups)",
      }),
  })
  .meta({ description: "off-host copies of the gateways' backups (see Off-host backups)" });

/** Backups of a stack or a host; a host's `offsite` replaces the stack's. */
export const backupsSchema = z.strictObject({ offsite: offsite.optional() }).meta({ description: "backups that leave the host (see Off-host backups)" });

/** Metrics of a stack's or a host's gateways; a host's `observability` replaces the stack's. */
export const observabilitySchema = z
  .strictObject({
    prometheus: z.boolean().default(false).meta({
      description:
        "list the gateways in `clawfleet targets` for Prometheus; their config names no plugin, as the gateway refuses to start with one it does not hold (see Metrics)",
    }),
  })
  .meta({ description: "Prometheus metrics of the gateways (see Metrics)" });

/** An address range a gateway may reach although it lies in a blocked range; names are refused (iptables would resolve them once). */
const egressAllow = z
  .array(
    z
      .string({ error: expected("an IPv4 address or range, such as 10.20.0.0/16") })
      .superRefine((text, ctx) => {
        const problem = egressAllowProblem(text);
        if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
      })
      .transform(normalizeEgressAllow),
  )
  .meta({ type: "list of IPv4 address or range" });

/** An OCI runtime registered with the host's Docker daemon (`--add-runtime` or daemon.json `runtimes`). */
const isolation = z
  .string({ error: expected("the name of an OCI runtime the host's Docker daemon knows, such as runsc") })
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/,
    "must be the name of an OCI runtime the host's Docker daemon knows, such as runsc (docker info --format '{{json .Runtimes}}' lists them)",
  );

/** A Kubernetes object name segment (RFC 1123 label): namespaces, storage classes. */
const dnsLabel = (what: string) =>
  z
    .string({ error: expected(`${what}, such as clawfleet`) })
    .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, `must be ${what}: 1-63 characters from a-z, 0-9 and -, starting and ending with a letter or digit`);

/** Where a Kubernetes host's gateways run: a cluster (kubeconfig and context), a namespace in it, and their volumes. */
const kubernetesPlacement = z.strictObject({
  kubeconfig: absolutePath
    .optional()
    .meta({ type: "absolute path", default: "`KUBECONFIG`, else ~/.kube/config", description: "the kubeconfig file that reaches the cluster" }),
  context: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9@:._/-]{0,252}$/, "must be the name of a context in the kubeconfig (kubectl config get-contexts lists them)")
    .optional()
    .meta({ default: "the kubeconfig's current context", description: "the kubeconfig context of the cluster" }),
  namespace: dnsLabel("a Kubernetes namespace name").meta({
    type: "namespace name",
    description: "the namespace of the host's gateways; created when missing, and kept when the host is removed (it holds their volumes)",
  }),
  storageClass: dnsLabel("a StorageClass name")
    .optional()
    .meta({ type: "StorageClass name", default: "the cluster's default class", description: "the class of each gateway's state volume (ReadWriteOnce)" }),
  storageGb: z
    .number({ error: expected("a size in GB, such as 10") })
    .int("must be a whole number of GB, such as 10")
    .min(1, "must be at least 1 GB")
    .max(16384, "must be at most 16384 GB")
    .default(10)
    .meta({ description: "size of each gateway's state volume in GiB; a volume is never shrunk or replaced for it" }),
});

/** The ports a Kubernetes host's gateways' Services listen on when the host declares none. */
export const kubernetesDefaultPorts = { from: 18100, to: 18999 } as const;

export const hostSchema = z.strictObject({
  ssh: ssh
    .optional()
    .meta({ default: "this machine", description: "how to reach the host; omit it to run on this machine (local Docker socket, local shell)" }),
  kubernetes: kubernetesPlacement.optional().meta({
    default: "none: a Docker host",
    description:
      "run the host's gateways on a Kubernetes cluster instead of Docker: one StatefulSet, volume, Secret and Service per gateway (see Kubernetes hosts); no ssh or stateRoot then",
  }),
  stateRoot: stateRoot.optional().meta({
    type: "absolute path",
    default: "required on a Docker host; none on a Kubernetes host (each gateway keeps its state in a volume of its own)",
    description: "root of all gateway state on the host, created 0700: `<stateRoot>/users/<id>`, `<stateRoot>/shared`, `<stateRoot>/backups`",
  }),
  ports: z
    .strictObject({
      from: port.meta({ type: "port", description: "1024-65535" }),
      to: port.meta({ type: "port", description: "1024-65535, at least from" }),
    })
    .refine((r) => r.from <= r.to, { message: "must not be less than from; the range is inclusive, such as { from: 18100, to: 18999 }", path: ["to"] })
    .optional()
    .meta({
      default: "required on a Docker host; 18100-18999 on a Kubernetes host",
      description:
        "ports for dedicated gateways, inclusive: published on 127.0.0.1 of a Docker host; on a Kubernetes host, each gateway's Service port (and its local port under `kubectl port-forward`)",
    }),
  shared: z
    .strictObject({
      port: port.meta({ type: "port", description: "the shared gateway's host port; no dedicated tenant may use it" }),
      model: modelRef.optional().meta({
        type: "model reference",
        description: "its agents' default model, provider/model (through a router: openrouter/anthropic/claude-sonnet-4-5); see Models",
      }),
      memoryMb: memoryMb.default(2048).meta({ description: "container memory limit in MB (at least 512)" }),
      upgradeBackups,
      channels: channels.optional().meta({ description: "its chat channels; bindings route their chats to agents" }),
      modelKeys,
      modelProviders,
    })
    .optional()
    .meta({ description: "the host's shared-tier gateway; shared tenants need it" }),
  tailscale: z
    .strictObject({
      serve: z.boolean().default(false).meta({ description: "publish each gateway with Tailscale Serve on the tailnet (never the internet)" }),
      dnsName: dnsName.optional().meta({ type: "host name", default: "`ssh.host`, when a `.ts.net` name", description: "the host's MagicDNS name" }),
      tailnet: dnsName.optional().meta({
        type: "domain",
        default: "none",
        description: "a Kubernetes host's tailnet domain (example.ts.net): each gateway is published at https://<gateway>.<tailnet>/",
      }),
    })
    .default({ serve: false })
    .meta({ description: "publishing the host's gateways on the tailnet" }),
  memoryMb: z
    .number()
    .int()
    .positive()
    .optional()
    .meta({ default: "no budget", description: "memory budget for all gateways on the host, in MB; over-commit is an error" }),
  egress: z
    .strictObject({
      blockPrivate: z
        .boolean()
        .default(true)
        .meta({ description: "keep every gateway from opening connections to private, link-local and 100.64.0.0/10 addresses; see Egress" }),
      allow: egressAllow.default([]).meta({
        description: "address ranges inside those a gateway may reach anyway, such as an internal model proxy (10.20.0.5); addresses, not names",
      }),
    })
    .default({ blockPrivate: true, allow: [] })
    .meta({ description: "what the host's gateways may connect to, enforced by host firewall rules (DOCKER-USER); see Egress" }),
  isolation: isolation.optional().meta({
    type: "OCI runtime name",
    default: "the daemon's default (runc)",
    description: "the OCI runtime the host's gateways run under, such as runsc (gVisor) or kata; register it with the daemon first (see Isolation)",
  }),
  backups: backupsSchema.optional().meta({ default: "the stack's `backups`", description: "this host's off-host backups, over the stack's" }),
  observability: observabilitySchema
    .optional()
    .meta({ default: "the stack's `observability`", description: "this host's gateways' metrics, over the stack's" }),
  rollout: z
    .strictObject({
      canary: z.string().optional().meta({
        type: "tenant id",
        default: "the first dedicated tenant by id",
        description: "the dedicated tenant of this host whose gateway goes first; the image preflight tries a new image on a copy of its state",
      }),
      lanes: z
        .number()
        .int()
        .min(1, "must be at least 1: one gateway at a time after the canary")
        .max(16, "must be at most 16")
        .default(defaultRolloutLanes)
        .meta({ description: "gateways replaced at the same time after the canary, 1-16; on a small host 1 keeps each tenant's pause to one restart" }),
      preflight: z.enum(["canary", "all"]).optional().meta({
        default: "canary",
        description:
          "the state a new image is tried on before any gateway changes: a copy of the canary's (or the shared gateway's), or with all a copy of every gateway's on the host, one after the other",
      }),
    })
    .default({ lanes: defaultRolloutLanes })
    .meta({ description: "the order in which the host's gateways are created or replaced, each waiting until the one before it in its lane is healthy" }),
});

const binding = z.strictObject({
  channel: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,31}$/, "must be a channel name such as telegram")
    .meta({ description: "the channel the chat is on, such as telegram" }),
  accountId: z.string().min(1).max(128).optional().meta({ default: "any", description: "the channel account (bot) it came in on" }),
  peer: z
    .strictObject({
      kind: z.enum(["direct", "group", "channel"], { error: "must be direct, group or channel" }).meta({ description: "what the id names" }),
      id: z
        .union([z.string().min(1).max(128), z.number().int()])
        .transform(String)
        .meta({ type: "string or integer", description: "the user, group or channel id on the channel" }),
    })
    .optional()
    .meta({ default: "every chat", description: "one conversation" }),
  guildId: z.string().min(1).max(128).optional().meta({ default: "any", description: "Discord server" }),
  teamId: z.string().min(1).max(128).optional().meta({ default: "any", description: "Slack workspace" }),
  comment: z.string().max(256).optional().meta({ description: "for the reader; not sent to the gateway" }),
});

const tenantCommon = {
  host: z
    .string({ error: expected("the name of a host declared under hosts") })
    .meta({ type: "host id", description: "the host it runs on; must be declared, and a shared tenant's host needs `shared`" }),
  name: z.string().min(1).max(64).optional().meta({ default: "the tenant id", description: "display name of the tenant's agent" }),
  model: modelRef
    .optional()
    .meta({ type: "model reference", description: "default model, provider/model (a shared tenant's default: the shared gateway's); see Models" }),
  labels: labels.optional().meta({ description: "Docker labels on the container; `clawfleet.*` is reserved" }),
  stateLimitMb: z
    .number({ error: "must be a size in MB, such as 1024" })
    .int("must be a whole number of MB, such as 1024")
    .min(1, "must be at least 1 MB")
    .optional()
    .meta({
      default: "no limit",
      description:
        "size in MB the tenant's state directory (a shared tenant's: its workspace) should stay under; `status` shows the size against it, `doctor` and `watch` report it when over; nothing is cut off",
    }),
  budget: z
    .strictObject({
      usdPerMonth: z
        .number({ error: expected("a number of US dollars, such as 25") })
        .positive("must be more than 0 US dollars a month, such as 25; remove budget for no budget")
        .max(1000000, "must be at most 1000000 US dollars a month")
        .meta({ type: "number", description: "US dollars of estimated model cost per calendar month (UTC)" }),
      enforce: z
        .boolean({ error: expected("true or false") })
        .default(false)
        .meta({
          description:
            "at the budget, `watch` stops the gateway's chat channels (credentials and pairings kept) and starts them again once the month's spend is under it (the next month); dedicated tenants only",
        }),
    })
    .optional()
    .meta({
      default: "no budget",
      description:
        "the tenant's monthly spend, from its gateway's own cost estimate (`clawfleet usage`); `usage` shows the month's spend against it, `watch` alerts once at 80% and once at 100% of it; nothing is cut off unless `enforce` is true",
    }),
  purge: z
    .strictObject({ confirm: z.string().meta({ description: "must repeat the tenant id" }) })
    .optional()
    .meta({ description: "deletes the tenant's state on the next deploy (its gateway is removed first); without it, state is always kept" }),
};

export const dedicatedTenantSchema = z.strictObject({
  tier: z.literal("dedicated"),
  ...tenantCommon,
  port: port.optional().meta({ type: "port", default: "derived from the id (see Ports)", description: "host port on 127.0.0.1" }),
  memoryMb: memoryMb.default(1536).meta({ description: "container memory limit in MB (at least 512)" }),
  upgradeBackups,
  cpus: z
    .number({ error: "must be a number of CPU cores, such as 1 or 1.5" })
    .positive("must be a number of CPU cores above 0, such as 1 or 1.5")
    .max(64, "must be at most 64 CPU cores")
    .default(1)
    .meta({ description: "CPU limit in cores, such as 0.5 or 1.5" }),
  pidsLimit: z.number().int().min(64).max(65536).default(512).meta({ description: "process limit inside the container, 64-65536" }),
  channels: channels.optional().meta({ description: "the gateway's chat channels" }),
  modelKeys,
  modelProviders,
  egress: z
    .strictObject({
      blockPrivate: z.boolean().optional().meta({ default: "the host's", description: "`false` lets this gateway reach private and link-local addresses" }),
      allow: egressAllow.optional().meta({ default: "none", description: "address ranges this gateway may reach besides the host's `egress.allow`" }),
    })
    .optional()
    .meta({ default: "the host's", description: "this gateway's own egress policy, over the host's" }),
  isolation: isolation
    .optional()
    .meta({ type: "OCI runtime name", default: "the host's", description: "the OCI runtime this gateway runs under, over the host's" }),
  rotation: z.string().min(1).max(64).optional().meta({ description: "change it to rotate the gateway token on purpose; nothing else rotates it" }),
  movedFrom: z.string().optional().meta({
    type: "host id",
    description: "the host it ran on before a change of host: the next deploy stops the old gateway and copies its state over first; remove it once deployed",
  }),
  renamedFrom: z.string().regex(idPattern, `must be the tenant's old id; ${idRule}`).optional().meta({
    type: "tenant id",
    description:
      "the id it had before a rename: the next deploy copies the old id's state over (the old directory is renamed aside and kept); remove it once deployed",
  }),
});

export const sharedTenantSchema = z.strictObject({
  tier: z.literal("shared"),
  ...tenantCommon,
  bindings: z
    .array(binding)
    .default([])
    .meta({ description: "routing rules that send matching chats of the shared gateway to this tenant's agent (OpenClaw's match shape)" }),
});

/** The tiers a tenant may declare; parseFleet words the error for anything else itself. */
export const tierSchema = z
  .enum(["dedicated", "shared"])
  .meta({ description: "dedicated: its own gateway container; shared: an agent in the host's shared gateway" });

export type HostDecl = z.output<typeof hostSchema>;
export type DedicatedTenantDecl = z.output<typeof dedicatedTenantSchema>;
export type SharedTenantDecl = z.output<typeof sharedTenantSchema>;
export type ChannelsDecl = z.output<typeof channels>;
export type BindingDecl = z.output<typeof binding>;
export type ModelProvidersDecl = z.output<typeof modelProviders>;
export type BackupsDecl = z.output<typeof backupsSchema>;
export type OffsiteDecl = z.output<typeof offsite>;
export type ObservabilityDecl = z.output<typeof observabilitySchema>;

/** A host after validation, with its name and its ports (a Kubernetes host's default range when it declares none). */
export interface Host extends Omit<HostDecl, "ports"> {
  readonly id: string;
  readonly ports: { readonly from: number; readonly to: number };
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
  /** The stack's `backups` (a host's own `backups` replaces it for that host). */
  readonly backups?: BackupsDecl;
  /** The stack's `observability` (a host's own replaces it for that host). */
  readonly observability?: ObservabilityDecl;
}

export const imageSchema = z
  .string({ error: expected("a gateway image reference, such as ghcr.io/openclaw/openclaw:2026.9.6") })
  .regex(
    /^[a-z0-9][a-z0-9._\-/:@]*[a-zA-Z0-9]$/,
    "must be an image reference such as ghcr.io/openclaw/openclaw:2026.9.6 (lower-case name, then :tag or @digest)",
  )
  .refine((ref) => /[:@]/.test(ref.split("/").pop() ?? ""), "must pin a tag or digest (for example :2026.9.6); an untagged image moves under you")
  .meta({ type: "image reference", description: "the gateway image, pinned to a tag or digest" });
