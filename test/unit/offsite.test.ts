import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { main } from "../../cli/main";
import type { HostRunner } from "../../cli/ops/host-shell";
import { describeAge, hideValues, keyPrefixOf, offsiteKeyOf, offsiteOf, parseListing, secretsPrelude, stackOfFile } from "../../cli/ops/offsite";
import { DeclarationError } from "../../declaration/errors";
import { parseFleet } from "../../declaration/parse";
import { SecretValue } from "../../declaration/secret";

const file = "stacks/Pulumi.test.yaml";
const recipient = "age146l5vqqaykf7gravrtfcwsmf6v0vjjnskt2m75l5xl3wxgrygcaset87d8";
const work = mkdtempSync(join(tmpdir(), "clawfleet-offsite-unit-"));
after(() => rmSync(work, { recursive: true, force: true }));

function offsite(overrides: Record<string, unknown> = {}, s3: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    s3: { endpoint: "https://s3.example.com", bucket: "fleet-backups", accessKeyId: new SecretValue("id"), secretAccessKey: new SecretValue("key"), ...s3 },
    ageRecipient: recipient,
    ...overrides,
  };
}

function raw(backups: unknown, hostBackups?: unknown): Record<string, unknown> {
  return {
    image: "ghcr.io/openclaw/openclaw:2026.9.6",
    hosts: {
      gw1: { stateRoot: "/srv/clawfleet", ports: { from: 18100, to: 18199 }, ...(hostBackups === undefined ? {} : { backups: hostBackups }) },
      gw2: { stateRoot: "/srv/clawfleet", ports: { from: 18100, to: 18199 }, ssh: { host: "gw2.example.ts.net", hostKey: `ssh-ed25519 ${"A".repeat(68)}` } },
    },
    tenants: { alice: { tier: "dedicated", host: "gw1" } },
    ...(backups === undefined ? {} : { backups }),
  };
}

function problems(value: Record<string, unknown>): string[] {
  try {
    parseFleet(file, value);
    return [];
  } catch (error) {
    assert.ok(error instanceof DeclarationError, String(error));
    return error.message.split("\n").slice(1);
  }
}

describe("declaring an off-host target", () => {
  it("takes a complete target with its defaults (no prefix, us-east-1, keep 7)", () => {
    const fleet = parseFleet(file, raw({ offsite: offsite() }));
    assert.equal(fleet.backups?.offsite?.s3.region, "us-east-1");
    assert.equal(fleet.backups?.offsite?.s3.prefix, "");
    assert.equal(fleet.backups?.offsite?.keep, 7);
  });

  it("names each wrong field and its fix", () => {
    const lines = problems(
      raw({
        offsite: offsite({ ageRecipient: "age1short", keep: 0 }, { endpoint: "https://s3.example.com/bucket", bucket: "Fleet_Backups", prefix: "prod" }),
      }),
    );
    assert.deepEqual(
      lines.map((l) => l.trim()),
      [
        `${file}: backups.offsite.s3.endpoint: must be the S3 endpoint's URL with no path, such as https://s3.eu-central-1.amazonaws.com or http://127.0.0.1:9000; the bucket goes in bucket`,
        `${file}: backups.offsite.s3.bucket: must be an S3 bucket name: 3-63 characters from a-z, 0-9, '.' and '-', starting and ending with a letter or digit`,
        `${file}: backups.offsite.s3.prefix: must be folder names each ending in /, such as clawfleet/prod/, using only A-Z, a-z, 0-9, '.', '_' and '-'`,
        `${file}: backups.offsite.ageRecipient: must be an age public key: age1 and 58 more characters, as age-keygen prints it (age-keygen -y <identity file>)`,
        `${file}: backups.offsite.keep: must be at least 1: the newest copy is the one a restore needs`,
      ],
    );
  });

  it("wants the credentials from secure config and says how to put them there", () => {
    const lines = problems(raw(undefined, { offsite: offsite({}, { secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" }) }));
    assert.deepEqual(
      lines.map((l) => l.trim()),
      [
        `${file}: hosts.gw1.backups.offsite.s3.secretAccessKey: is a secret in plain text; remove it from the file and run: pulumi config set --secret --path 'clawfleet:hosts.gw1.backups.offsite.s3.secretAccessKey' <value>`,
      ],
    );
  });

  it("uses a host's own target over the stack's, and the stack's for the other hosts", () => {
    const fleet = parseFleet(file, raw({ offsite: offsite() }, { offsite: offsite({ keep: 2 }, { prefix: "gw1/" }) }));
    const [gw1, gw2] = fleet.hosts;
    assert.ok(gw1 && gw2);
    assert.deepEqual([offsiteOf(fleet, gw1)?.path, offsiteOf(fleet, gw1)?.decl.keep], ["hosts.gw1.backups.offsite", 2]);
    assert.deepEqual([offsiteOf(fleet, gw2)?.path, offsiteOf(fleet, gw2)?.decl.keep], ["backups.offsite", 7]);
    const decl = offsiteOf(fleet, gw1)?.decl;
    assert.ok(decl);
    assert.equal(keyPrefixOf(decl, "clawfleet-tenant-alice"), "gw1/clawfleet-tenant-alice/");
    assert.equal(
      offsiteKeyOf(decl, "clawfleet-tenant-alice", "/srv/b/clawfleet-tenant-alice-2026-12-04T05-09-09.376+00-00-openclaw-backup.tar.gz"),
      "gw1/clawfleet-tenant-alice/clawfleet-tenant-alice-2026-12-04T05-09-09.376_00-00-openclaw-backup.tar.gz.age",
    );
    assert.equal(offsiteOf(parseFleet(file, raw(undefined)), gw2), undefined);
  });
});

describe("the bucket's copies", () => {
  const listing = (contents: string, truncated = false) =>
    `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><IsTruncated>${truncated}</IsTruncated>${contents}</ListBucketResult>`;
  const object = (key: string, at: string, size = 10) =>
    `<Contents><Key>${key}</Key><LastModified>${at}</LastModified><ETag>&#34;x&#34;</ETag><Size>${size}</Size></Contents>`;

  it("reads each key, its time and size from a ListObjectsV2 answer", () => {
    assert.deepEqual(parseListing(listing(object("p/a&amp;b.tar.gz.age", "2026-12-04T04:00:00.000Z", 42))), [
      { key: "p/a&b.tar.gz.age", lastModified: new Date("2026-12-04T04:00:00.000Z"), size: 42 },
    ]);
    assert.deepEqual(parseListing(listing("")), []);
  });

  it("refuses an answer that is not a listing, or one cut short", () => {
    assert.throws(() => parseListing("<Error><Code>NoSuchBucket</Code></Error>"), { message: /^the bucket's listing is not an S3 ListObjectsV2 answer: / });
    assert.throws(() => parseListing(listing(object("a", "2026-12-04T04:00:00Z"), true)), {
      message: "the bucket holds more than 1000 objects under this gateway's prefix; delete the ones clawfleet did not put there",
    });
  });

  // The host script against a curl that answers with `listing` and records each request.
  function prune(answer: string, keep: string): { code: number | null; stdout: string; stderr: string; requests: string[] } {
    const dir = mkdtempSync(join(work, "prune-"));
    writeFileSync(join(dir, "listing.xml"), answer);
    writeFileSync(
      join(dir, "curl"),
      [
        "#!/usr/bin/env bash",
        'if [ "$1" = --help ]; then echo " --aws-sigv4 <provider>"; exit 0; fi',
        "out='' method=GET url=''",
        'while [ "$#" -gt 0 ]; do',
        '  case "$1" in -o) out=$2; shift ;; -X) method=$2; shift ;; -K | -w | -H | --aws-sigv4 | --proto | --connect-timeout | --retry) shift ;; -*) ;; *) url=$1 ;; esac',
        "  shift",
        "done",
        `printf '%s %s\\n' "$method" "$url" >>"${dir}/requests"`,
        `if [ "$method" = GET ]; then cat "${dir}/listing.xml" >"$out"; else : >"$out"; fi`,
        "printf 200",
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    const script = readFileSync(join(__dirname, "..", "..", "scripts", "offsite-gateway.sh"), "utf8");
    const result = spawnSync("bash", ["-s", "--", "prune", "https://s3.example.com", "us-east-1", "b", "p/", keep], {
      input: secretsPrelude({ S3_ACCESS_KEY_ID: "id", S3_SECRET_ACCESS_KEY: "key" }) + script,
      encoding: "utf8",
      env: { ...process.env, PATH: `${dir}:${process.env["PATH"] ?? ""}` },
    });
    let requests: string[] = [];
    try {
      requests = readFileSync(join(dir, "requests"), "utf8").trim().split("\n");
    } catch {
      requests = [];
    }
    return { code: result.status, stdout: result.stdout, stderr: result.stderr, requests };
  }

  it("prunes on the host all but the newest `keep` encrypted archives of the prefix (by time, then key), and nothing else", () => {
    const at = (minute: number) => `2026-12-04T04:0${minute}:00.000Z`;
    const objects = [
      object("p/1.tar.gz.age", at(1)),
      object("p/3.tar.gz.age", at(3)),
      object("p/notes.txt", at(0)),
      object("p/2.tar.gz.age", at(2)),
      object("p/4.tar.gz.age", at(3)),
      object("p/a&amp;b.tar.gz.age", at(0)),
    ];
    // Line breaks inside the answer, as a server that indents its XML sends them.
    const answer = listing(objects.join("\n").replace(/<LastModified>/g, "\n  <LastModified>"));
    const pruned = prune(answer, "2");
    assert.equal(pruned.stderr, "");
    assert.equal(pruned.code, 0);
    assert.equal(pruned.stdout, "p/2.tar.gz.age\np/1.tar.gz.age\n");
    assert.deepEqual(pruned.requests, [
      "GET https://s3.example.com/b/?list-type=2&prefix=p%2F",
      "DELETE https://s3.example.com/b/p/2.tar.gz.age",
      "DELETE https://s3.example.com/b/p/1.tar.gz.age",
    ]);
    assert.deepEqual(prune(answer, "4"), { code: 0, stdout: "", stderr: "", requests: ["GET https://s3.example.com/b/?list-type=2&prefix=p%2F"] });
  });

  it("refuses to prune from a listing cut short, from an answer that is no listing, or with no copy to keep", () => {
    const cut = prune(listing(object("p/1.tar.gz.age", "2026-12-04T04:00:00Z"), true), "1");
    assert.deepEqual(
      [cut.code, cut.stderr],
      [1, "offsite-gateway: the bucket holds more than 1000 objects under p/; delete the ones clawfleet did not put there\n"],
    );
    assert.equal(cut.requests.length, 1);
    const other = prune("<Error><Code>NoSuchKey</Code></Error>", "1");
    assert.deepEqual([other.code, other.stderr], [1, "offsite-gateway: the bucket's listing is not an S3 ListObjectsV2 answer\n"]);
    assert.deepEqual(prune(listing(""), "0"), {
      code: 1,
      stdout: "",
      stderr: "offsite-gateway: keep must be a whole number of copies from 1, not 0\n",
      requests: [],
    });
  });

  it("says a copy's age in one unit", () => {
    assert.deepEqual([describeAge(30_000), describeAge(600_000), describeAge(5 * 3600_000), describeAge(3 * 86400_000)], ["30s", "10m", "5h", "3d"]);
  });
});

describe("credentials on their way to a host", () => {
  it("arrive as unexported shell variables before the script on stdin, whatever they hold", () => {
    const secret = `wJalr'XU"t$n\\F\`EMI/K7+=`;
    const script = `printf '%s|%s' "$S3_SECRET_ACCESS_KEY" "$(env | grep -c '^S3_' || true)"`;
    const result = spawnSync("bash", ["-s"], { input: secretsPrelude({ S3_ACCESS_KEY_ID: "AKID", S3_SECRET_ACCESS_KEY: secret }) + script, encoding: "utf8" });
    assert.equal(result.stdout, `${secret}|0`);
  });

  it("are taken out of any message the host sends back", () => {
    assert.equal(hideValues("HTTP 403 for user AKIDEXAMPLE:s3cr3t/key", ["AKIDEXAMPLE", "s3cr3t/key"]), "HTTP 403 for user [redacted]:[redacted]");
  });

  it("are refused by the host script when missing, before it does anything", () => {
    const script = readFileSync(join(__dirname, "..", "..", "scripts", "offsite-gateway.sh"), "utf8");
    const result = spawnSync("bash", ["-s", "--", "list", "https://s3.example.com", "us-east-1", "b", "p/"], { input: script, encoding: "utf8" });
    assert.equal(result.status, 1);
    assert.equal(result.stderr, "offsite-gateway: no S3 credentials came on stdin\n");
  });

  it("are read from the stack's Pulumi project: the folder above the stack file with a Pulumi.yaml", () => {
    const project = join(work, "project");
    mkdirSync(join(project, "stacks"), { recursive: true });
    writeFileSync(join(project, "Pulumi.yaml"), "name: clawfleet\n");
    assert.deepEqual(stackOfFile(join(project, "stacks", "Pulumi.prod.yaml")), { project, stack: "prod" });
    assert.equal(stackOfFile(join(project, "stacks", "prod.yaml")), undefined);
  });
});

describe("the off-host command lines", () => {
  const nothingRuns: HostRunner = {
    run: async (_host, argv) => assert.fail(`no host command expected, got ${argv.join(" ")}`),
    stream: async (_host, argv) => assert.fail(`no host command expected, got ${argv.join(" ")}`),
  };
  const stack = join(work, "Pulumi.cli.yaml");
  writeFileSync(
    stack,
    [
      "config:",
      "  clawfleet:image: ghcr.io/openclaw/openclaw:2026.9.6",
      "  clawfleet:hosts:",
      "    gw1: { stateRoot: /srv/clawfleet, ports: { from: 18100, to: 18199 } }",
      "  clawfleet:tenants:",
      "    alice: { tier: dedicated, host: gw1 }",
      "",
    ].join("\n"),
  );
  async function run(...argv: string[]): Promise<{ code: number; err: string }> {
    const err: string[] = [];
    const code = await main(
      argv,
      () => undefined,
      (t) => err.push(t),
      nothingRuns,
    );
    return { code, err: err.join("\n") };
  }

  it("backup without a tenant needs --offsite or --list", async () => {
    assert.deepEqual(await run("backup", stack), {
      code: 2,
      err: "clawfleet backup: name a tenant, or add --offsite to back up every gateway of the stack off its host",
    });
  });

  it("an off-host verb on a host without a target names the field to declare", async () => {
    assert.deepEqual(await run("backup", stack, "--offsite"), {
      code: 2,
      err: `clawfleet backup --offsite: host gw1 has no off-host target in ${stack}; declare clawfleet:backups.offsite (or hosts.gw1.backups.offsite) with s3 and ageRecipient`,
    });
  });

  it("restore --from-offsite needs an identity, and takes no archive beside it", async () => {
    assert.deepEqual(await run("restore", stack, "alice", "--from-offsite", "latest"), {
      code: 2,
      err: "clawfleet restore: --from-offsite needs --identity <file>, the age identity that decrypts the copies",
    });
    assert.deepEqual(await run("restore", stack, "alice", "/srv/a.tar.gz", "--from-offsite", "latest", "--identity", "id.txt"), {
      code: 2,
      err: "clawfleet restore: give an <archive> on the host or --from-offsite, not both",
    });
  });
});
