import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { offsiteOf, type OffsiteTarget } from "../../declaration/backups";
import type { Fleet, Host, OffsiteDecl } from "../../declaration/schema";
import { redactCredentials } from "../../declaration/secret";
import { manualBackupDirOf, stateRootOf } from "../../names";
import { secretsPrelude } from "../../runtimes/shell";
import { createBackup, lastLine, restore, scriptPath, sharedRestoreRefusal, type RestoreOptions } from "./backup";
import { OpsError } from "./errors";
import type { Writers } from "./gateway-verbs";
import { unreachableError, withProgress, type HostRunner } from "./host-shell";
import { hostStateOf, type TenantTarget } from "./targets";

export { offsiteOf, secretsPrelude, type OffsiteTarget };

/** The host-side script that encrypts, uploads, lists, deletes and downloads off-host copies. */
export const offsiteScript = "offsite-gateway.sh";

/** Seconds one upload or download may take on its host: an archive of several GB takes minutes to move. */
const transferTimeoutSeconds = 3600;

export interface S3Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** The Pulumi project folder of a stack file (the nearest folder above it with a Pulumi.yaml) and the stack's name. */
export function stackOfFile(stackFile: string): { readonly project: string; readonly stack: string } | undefined {
  const stack = /^Pulumi\.([A-Za-z0-9._-]+)\.yaml$/.exec(basename(stackFile))?.[1];
  if (stack === undefined) return undefined;
  for (let dir = dirname(resolve(stackFile)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, "Pulumi.yaml"))) return { project: dir, stack };
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * The S3 credentials, decrypted the way `pulumi up` decrypts them: `pulumi config get` in the
 * stack's project, with this process's environment (PULUMI_CONFIG_PASSPHRASE, the backend login).
 * The values come back on a pipe and are never printed.
 */
export async function resolveS3Credentials(stackFile: string, target: OffsiteTarget, env: NodeJS.ProcessEnv): Promise<S3Credentials> {
  const located = stackOfFile(stackFile);
  const path = `${target.path}.s3`;
  if (located === undefined) {
    throw new OpsError(
      `cannot read the secrets at ${path} of ${stackFile}: it is not a stack file Pulumi.<stack>.yaml inside a Pulumi project (no Pulumi.yaml above it)`,
    );
  }
  const answer = await new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
    execFile(
      "pulumi",
      ["config", "get", "--path", `clawfleet:${path}`, "--json", "--stack", located.stack],
      { cwd: located.project, env, timeout: 120_000, maxBuffer: 1024 * 1024 },
      (error, stdout, stderr) => done({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr }),
    );
  });
  const fail = (why: string): never => {
    throw new OpsError(
      `cannot read the secrets at ${path} of ${stackFile} with pulumi config get: ${why}; log in to the stack's backend and set PULUMI_CONFIG_PASSPHRASE (or the stack's secrets provider) as for pulumi up`,
    );
  };
  if (answer.code !== 0) fail(redactCredentials(lastLine(answer.stderr)) || `exit ${answer.code}`);
  let value: unknown;
  try {
    value = (JSON.parse(answer.stdout) as { objectValue?: unknown }).objectValue;
  } catch {
    fail("its answer is not JSON");
  }
  const record = value as Record<string, unknown> | undefined;
  const accessKeyId = record?.["accessKeyId"];
  const secretAccessKey = record?.["secretAccessKey"];
  if (typeof accessKeyId !== "string" || typeof secretAccessKey !== "string" || accessKeyId === "" || secretAccessKey === "") {
    return fail("accessKeyId and secretAccessKey are not both set there");
  }
  return { accessKeyId, secretAccessKey };
}

/** `text` with each of the given values, and anything that looks like a credential, replaced. */
export function hideValues(text: string, values: readonly string[]): string {
  let result = text;
  for (const value of values) if (value.length >= 4) result = result.split(value).join("[redacted]");
  return redactCredentials(result);
}

/** Where a gateway's copies go in the bucket: `<prefix><container>/`. */
export function keyPrefixOf(decl: OffsiteDecl, container: string): string {
  return `${decl.s3.prefix}${container}/`;
}

/**
 * The key of an archive's copy: `<prefix><container>/<archive name>.age`, any character of the name
 * outside A-Z, a-z, 0-9, '.', '_' and '-' (openclaw's names hold a '+') made '_', so that no S3
 * implementation reads the key differently from how it was signed.
 */
export function offsiteKeyOf(decl: OffsiteDecl, container: string, archive: string): string {
  return `${keyPrefixOf(decl, container)}${basename(archive).replace(/[^A-Za-z0-9._-]/g, "_")}.age`;
}

export interface OffsiteObject {
  readonly key: string;
  readonly lastModified: Date;
  readonly size: number;
}

function xmlText(text: string): string {
  return text.replace(/&(lt|gt|quot|apos|amp|#[0-9]+);/g, (_, entity: string) => {
    if (entity.startsWith("#")) return String.fromCodePoint(Number(entity.slice(1)));
    return { lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" }[entity] ?? "";
  });
}

/** The objects of an S3 ListObjectsV2 answer; an answer cut short (more than 1000 keys) is an error. */
export function parseListing(xml: string): OffsiteObject[] {
  if (!/<ListBucketResult[\s>]/.test(xml)) throw new OpsError(`the bucket's listing is not an S3 ListObjectsV2 answer: ${JSON.stringify(xml.slice(0, 120))}`);
  if (/<IsTruncated>\s*true\s*<\/IsTruncated>/.test(xml)) {
    throw new OpsError("the bucket holds more than 1000 objects under this gateway's prefix; delete the ones clawfleet did not put there");
  }
  const objects: OffsiteObject[] = [];
  for (const [, body = ""] of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
    const field = (name: string) => xmlText(new RegExp(`<${name}>([^<]*)</${name}>`).exec(body)?.[1] ?? "");
    objects.push({ key: field("Key"), lastModified: new Date(field("LastModified")), size: Number(field("Size")) });
  }
  return objects;
}

/** Newest first: by upload time, then by key (archive names start with their time). */
export function newestFirst(objects: readonly OffsiteObject[]): OffsiteObject[] {
  return [...objects].sort((a, b) => b.lastModified.getTime() - a.lastModified.getTime() || (a.key < b.key ? 1 : a.key > b.key ? -1 : 0));
}

/** One gateway of the stack per container (a shared gateway serves several tenants), in tenant order. */
export function gatewaysOf(targets: readonly TenantTarget[]): TenantTarget[] {
  const seen = new Set<string>();
  return targets.filter((t) => !seen.has(t.container) && seen.add(t.container));
}

/** Runs the offsite script on the gateway's host with the credentials on stdin. */
async function runOffsite(
  runner: HostRunner,
  target: TenantTarget,
  offsite: OffsiteTarget,
  credentials: S3Credentials,
  args: readonly string[],
  extra: Readonly<Record<string, string>> = {},
): Promise<string> {
  const { s3 } = offsite.decl;
  const script = readFileSync(scriptPath(offsiteScript), "utf8");
  const stdin = secretsPrelude({ S3_ACCESS_KEY_ID: credentials.accessKeyId, S3_SECRET_ACCESS_KEY: credentials.secretAccessKey, ...extra }) + script;
  const argv = ["bash", "-s", "--", args[0] ?? "", s3.endpoint, s3.region, s3.bucket, ...args.slice(1)];
  const result = await runner.run(target.host, argv, { root: true, stdin, timeoutSeconds: transferTimeoutSeconds });
  const unreachable = unreachableError(target.host, result);
  if (unreachable !== undefined) throw unreachable;
  const hidden = [credentials.accessKeyId, credentials.secretAccessKey, ...Object.values(extra)];
  if (result.code !== 0) {
    const reason = lastLine(result.stderr).replace(/^offsite-gateway: /, "");
    throw new OpsError(`off-host copy of ${target.container} on host ${target.host.id}: ${hideValues(reason, hidden)}`);
  }
  return result.stdout;
}

async function listCopies(runner: HostRunner, target: TenantTarget, offsite: OffsiteTarget, credentials: S3Credentials): Promise<OffsiteObject[]> {
  const prefix = keyPrefixOf(offsite.decl, target.container);
  return parseListing(await runOffsite(runner, target, offsite, credentials, ["list", prefix]));
}

/** What an off-host verb needs for one host: its target, or an error naming the field to declare. */
export function requireOffsite(fleet: Fleet, host: Host, stackFile: string, verb: string): OffsiteTarget {
  hostStateOf(verb, host, stackFile);
  const offsite = offsiteOf(fleet, host);
  if (offsite === undefined) {
    throw new OpsError(
      `clawfleet ${verb}: host ${host.id} has no off-host target in ${stackFile}; declare clawfleet:backups.offsite (or hosts.${host.id}.backups.offsite) with s3 and ageRecipient`,
      2,
    );
  }
  return offsite;
}

/** Credentials per declared target, each read once. */
class CredentialCache {
  private readonly known = new Map<string, Promise<S3Credentials>>();
  constructor(
    private readonly stackFile: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}
  get(target: OffsiteTarget): Promise<S3Credentials> {
    let found = this.known.get(target.path);
    if (found === undefined) {
      found = resolveS3Credentials(this.stackFile, target, this.env);
      this.known.set(target.path, found);
    }
    return found;
  }
}

/**
 * Backs up each gateway on its host, encrypts the archive there to the declared age recipient,
 * uploads it, then deletes its copies beyond `keep` (the host script's `prune`, which the scheduled
 * job runs too). One gateway after the other; a failure stops at that gateway. Prints
 * `<container> <key>` per upload.
 */
export async function offsiteBackup(
  runner: HostRunner,
  fleet: Fleet,
  targets: readonly TenantTarget[],
  stackFile: string,
  env: NodeJS.ProcessEnv,
  io: Writers,
): Promise<number> {
  const credentials = new CredentialCache(stackFile, env);
  const gateways = gatewaysOf(targets);
  for (const target of gateways) requireOffsite(fleet, target.host, stackFile, "backup --offsite");
  for (const target of gateways) {
    const offsite = requireOffsite(fleet, target.host, stackFile, "backup --offsite");
    const keys = await credentials.get(offsite);
    const archive = await createBackup(runner, target, stackFile, undefined, io);
    const key = offsiteKeyOf(offsite.decl, target.container, archive);
    io.err(
      `clawfleet: encrypting ${archive} on host ${target.host.id} to ${offsite.decl.ageRecipient} and uploading it to ${offsite.decl.s3.endpoint}/${offsite.decl.s3.bucket}/${key}`,
    );
    await withProgress(io.err, `still uploading ${key}`, runOffsite(runner, target, offsite, keys, ["put", key, offsite.decl.ageRecipient, archive]));
    const deleted = (await runOffsite(runner, target, offsite, keys, ["prune", keyPrefixOf(offsite.decl, target.container), String(offsite.decl.keep)]))
      .split("\n")
      .filter((line) => line !== "");
    if (deleted.length > 0) {
      io.err(
        `clawfleet: deleted ${deleted.length} older off-host cop${deleted.length === 1 ? "y" : "ies"} of ${target.container} (keep: ${offsite.decl.keep}): ${deleted.join(", ")}`,
      );
    }
    io.out(`${target.container} ${key}`);
  }
  io.err(`clawfleet: ${gateways.length} gateway${gateways.length === 1 ? "" : "s"} copied off their hosts, encrypted`);
  return 0;
}

/** Age of a copy as people say it: 40s, 12m, 5h, 3d. */
export function describeAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** Per gateway: how many copies are off the host, the newest one and its age. */
export async function offsiteList(
  runner: HostRunner,
  fleet: Fleet,
  targets: readonly TenantTarget[],
  stackFile: string,
  env: NodeJS.ProcessEnv,
  now: Date,
  json: boolean,
  io: Writers,
): Promise<number> {
  const credentials = new CredentialCache(stackFile, env);
  const rows: { gateway: string; host: string; copies: number; newest: string | null; newestAt: string | null; ageSeconds: number | null }[] = [];
  for (const target of gatewaysOf(targets)) {
    const offsite = requireOffsite(fleet, target.host, stackFile, "backup --list");
    const copies = newestFirst(await listCopies(runner, target, offsite, await credentials.get(offsite)));
    const newest = copies[0];
    rows.push({
      gateway: target.container,
      host: target.host.id,
      copies: copies.length,
      newest: newest?.key ?? null,
      newestAt: newest?.lastModified.toISOString() ?? null,
      ageSeconds: newest === undefined ? null : Math.max(0, Math.floor((now.getTime() - newest.lastModified.getTime()) / 1000)),
    });
  }
  if (json) {
    io.out(JSON.stringify({ gateways: rows }, null, 2));
    return 0;
  }
  const table = [
    ["GATEWAY", "HOST", "COPIES", "NEWEST AGE", "NEWEST"],
    ...rows.map((r) => [r.gateway, r.host, String(r.copies), r.ageSeconds === null ? "-" : describeAge(r.ageSeconds * 1000), r.newest ?? "(none)"]),
  ];
  const widths = table[0]?.map((_, i) => Math.max(...table.map((row) => (row[i] ?? "").length))) ?? [];
  io.out(table.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  ")).join("\n"));
  return 0;
}

/** An age identity file as the operator gave it: read here, sent to the host on stdin for one decryption. */
export function readIdentity(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new OpsError(`clawfleet restore: --identity ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`, 2);
  }
  if (!/^AGE-SECRET-KEY-1[0-9A-Z]+$/m.test(text)) {
    throw new OpsError(`clawfleet restore: --identity ${file} holds no age identity (an AGE-SECRET-KEY-1... line, as age-keygen writes it)`, 2);
  }
  return text;
}

/**
 * Restores a gateway from an off-host copy: the copy is downloaded and decrypted on the
 * tenant's host (the identity reaches it on stdin, never its disk), then goes through the same
 * checked restore as an archive on the host, and the decrypted archive is deleted after it.
 */
export async function offsiteRestore(
  runner: HostRunner,
  fleet: Fleet,
  target: TenantTarget,
  stackFile: string,
  from: string,
  identityFile: string,
  options: RestoreOptions,
  sharedPeers: readonly string[],
  env: NodeJS.ProcessEnv,
  io: Writers,
): Promise<number> {
  const identity = readIdentity(identityFile);
  const offsite = requireOffsite(fleet, target.host, stackFile, "restore --from-offsite");
  const prefix = keyPrefixOf(offsite.decl, target.container);
  if (from !== "latest" && !(/^[A-Za-z0-9._/-]+\.tar\.gz\.age$/.test(from) && from.startsWith(offsite.decl.s3.prefix) && !from.split("/").includes(".."))) {
    throw new OpsError(
      `clawfleet restore: --from-offsite ${JSON.stringify(from)} is not a key of an off-host copy under ${offsite.decl.s3.prefix || "the bucket"}; give latest, or a key as backup --list prints it (such as ${prefix}<archive>.tar.gz.age)`,
      2,
    );
  }
  if (target.tier === "shared" && !options.wholeGateway) throw sharedRestoreRefusal(target, sharedPeers);
  const credentials = await resolveS3Credentials(stackFile, offsite, env);
  let key = from;
  if (from === "latest") {
    const newest = newestFirst(await listCopies(runner, target, offsite, credentials)).find((o) => o.key.endsWith(".tar.gz.age"));
    if (newest === undefined)
      throw new OpsError(
        `there is no off-host copy of ${target.container} under ${offsite.decl.s3.bucket}/${prefix}; make one with: clawfleet backup ${stackFile} ${target.id} --offsite`,
      );
    key = newest.key;
  }
  const folder = manualBackupDirOf(stateRootOf(target.host), target.container);
  io.err(`clawfleet: downloading ${key} to host ${target.host.id} and decrypting it there into ${folder}`);
  const out = await withProgress(
    io.err,
    `still downloading ${key}`,
    runOffsite(runner, target, offsite, credentials, ["get", key, folder], { AGE_IDENTITY: identity }),
  );
  const archive = lastLine(out);
  try {
    return await restore(runner, target, stackFile, archive, options, sharedPeers, io);
  } finally {
    await runner.run(target.host, ["rm", "-f", "--", archive], { root: true });
  }
}
