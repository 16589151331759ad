import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import fc from "fast-check";
import { fastPathSdkVersion, registrationPath, runUnderMocks } from "../../cli/mock-run";
import { engineConfigOf, project } from "../../cli/plan";
import { renderPlanJson } from "../../cli/plan-output";
import { parseFleet } from "../../declaration/parse";
import type { RawDeclaration } from "../../declaration/raw";
import { SecretValue } from "../../declaration/secret";
import { readStackFile } from "../../declaration/stack-file";
import { mutate, mutation, pathsOf } from "../declaration-arbitraries";

/*
 * The plan registers resources through cli/mock-register.ts, a faster copy of what the SDK's
 * registerResource does under mocks. These tests hold the copy to the SDK: the same program
 * registered both ways (CLAWFLEET_REGISTRATION=sdk is the SDK's own) gives the same
 * plan --json, byte for byte. test/cli/registration.test.ts does the same through the CLI.
 */

const repo = join(__dirname, "..", "..");
const programPath = require.resolve("../../index");
type Registration = "fast" | "sdk";
type ProgramExports = { tenants: Record<string, { token: pulumi.Output<string> }> };

/** What `plan --json` prints for a program run under the mocks with the given registration path. */
async function planJson(stack: string, config: { config: Record<string, string>; secretKeys: string[] }, registration: Registration, program: () => unknown) {
  const { resources, outputs, sdkRegistrations } = await runUnderMocks({ project, stack, ...config, registration, program });
  return { json: renderPlanJson({ stack, resources, outputs }), count: resources.length, sdkRegistrations };
}

/** The program (index.ts) evaluated afresh for this run, then `more` with its exports. */
function fleetProgram(more?: (exports: ProgramExports) => void): () => unknown {
  return () => {
    delete require.cache[programPath];
    const exports = require(programPath) as ProgramExports;
    more?.(exports);
    return exports;
  };
}

/** Plans both ways and requires the same JSON; returns the fast path's plan. */
async function assertSamePlan(what: string, stack: string, config: ReturnType<typeof engineConfigOf>, program: () => unknown) {
  const fast = await planJson(stack, config, "fast", program);
  const sdk = await planJson(stack, config, "sdk", program);
  assert.equal(fast.json, sdk.json, `${what}: the fast registration path and the SDK's own differ`);
  assert.equal(sdk.sdkRegistrations, sdk.count, what);
  return fast;
}

const example = (stack: string) => readStackFile(`stacks/Pulumi.${stack}.yaml`, readFileSync(join(repo, "stacks", `Pulumi.${stack}.yaml`), "utf8"));

describe("the plan's fast registration path", () => {
  it("was written against the installed @pulumi/pulumi", () => {
    const installed = (JSON.parse(readFileSync(require.resolve("@pulumi/pulumi/package.json"), "utf8")) as { version: string }).version;
    assert.equal(
      installed,
      fastPathSdkVersion,
      `@pulumi/pulumi ${installed} is installed, but the plan's fast registration path copies ${fastPathSdkVersion}: ` +
        "re-read cli/mock-register.ts and cli/mock-run.ts against the new SDK's runtime/resource.js, runtime/rpc.js, runtime/mocks.js, " +
        "runtime/dependsOn.js and output.js, run this test, then set fastPathSdkVersion",
    );
  });

  it("is taken only with that SDK version, unless CLAWFLEET_REGISTRATION=sdk; an unknown value is refused naming the variable", () => {
    assert.equal(registrationPath({}, fastPathSdkVersion), "fast");
    assert.equal(registrationPath({ CLAWFLEET_REGISTRATION: "fast" }, fastPathSdkVersion), "fast");
    assert.equal(registrationPath({ CLAWFLEET_REGISTRATION: "sdk" }, fastPathSdkVersion), "sdk");
    assert.equal(registrationPath({}, "3.271.0"), "sdk");
    assert.equal(registrationPath({ CLAWFLEET_REGISTRATION: "fast" }, "3.271.0"), "sdk");
    for (const chosen of ["quick", "", "SDK"]) {
      assert.throws(() => registrationPath({ CLAWFLEET_REGISTRATION: chosen }, fastPathSdkVersion), {
        message: `CLAWFLEET_REGISTRATION=${JSON.stringify(chosen)} is not a registration path; use fast or sdk (or leave it unset)`,
      });
    }
  });

  it("plans the example stacks exactly as the SDK's own registration does", async () => {
    for (const stack of ["dev", "prod"]) {
      const plan = await assertSamePlan(stack, stack, engineConfigOf(example(stack)), fleetProgram());
      assert.ok(plan.count > 30, stack);
      // Every registration the program makes is one the fast path covers (no option only the SDK handles).
      assert.equal(plan.sdkRegistrations, 0, `${stack}: registrations that went the SDK's way`);
    }
  });

  it("names resources at any depth as the engine does, and so do the parent, dependsOn and provider URNs pointing at them", async () => {
    const program = () => {
      const outer = new Box("clawfleet:test:Outer", "o", {});
      const middle = new Box("clawfleet:test:Middle", "m", { parent: outer });
      const provider = new command.Provider("p", {}, { parent: middle });
      const first = new command.local.Command("d", { create: "true" }, { parent: middle });
      const inner = new Box("clawfleet:test:Inner", "i", { parent: middle });
      const deep = new Box("clawfleet:test:Deep", "x", { parent: inner, providers: [provider] });
      new command.local.Command("c", { create: pulumi.interpolate`echo ${first.stdout}` }, { parent: inner, provider, dependsOn: [first] });
      // Its provider comes from its parent's providers, and it depends on a component: each of that component's children.
      new command.local.Command("e", { create: "true" }, { parent: deep, dependsOn: [inner] });
    };
    const base = "urn:pulumi:test::clawfleet::clawfleet:test:Outer";
    const middle = `${base}$clawfleet:test:Middle`;
    const inner = `${middle}$clawfleet:test:Inner`;
    const plans: Record<string, string> = {};
    for (const registration of ["fast", "sdk"] as const) {
      const { resources, outputs } = await runUnderMocks({ project, stack: "test", config: {}, secretKeys: [], registration, program });
      plans[registration] = renderPlanJson({ stack: "test", resources, outputs });
      const byName = new Map(resources.map((r) => [r.name, r]));
      assert.deepEqual(
        resources.map((r) => [r.urn, r.parent]),
        [
          [`${base}::o`, undefined],
          [`${middle}::m`, `${base}::o`],
          [`${middle}$pulumi:providers:command::p`, `${middle}::m`],
          [`${middle}$command:local:Command::d`, `${middle}::m`],
          [`${inner}::i`, `${middle}::m`],
          [`${inner}$clawfleet:test:Deep::x`, `${inner}::i`],
          [`${inner}$command:local:Command::c`, `${inner}::i`],
          [`${inner}$clawfleet:test:Deep$command:local:Command::e`, `${inner}$clawfleet:test:Deep::x`],
        ],
        registration,
      );
      const provider = `${middle}$pulumi:providers:command::p::p-id`;
      assert.deepEqual(byName.get("c")?.options.dependsOn, [`${middle}$command:local:Command::d`], registration);
      assert.deepEqual(byName.get("c")?.options.propertyDependencies, { create: [`${middle}$command:local:Command::d`] }, registration);
      assert.equal(byName.get("c")?.options.provider, provider, registration);
      assert.equal(byName.get("e")?.options.provider, provider, registration);
      assert.deepEqual(byName.get("e")?.options.dependsOn, [`${inner}$command:local:Command::c`], registration);
    }
    assert.equal(plans["fast"], plans["sdk"]);
  });

  it("plans generated fleets, with components nested beside them, exactly as the SDK's own registration does", async () => {
    // Fixed seeds: the same fleets on every run, so a difference can be reproduced.
    const fleets = generatedFleets(5, 20261203);
    const trees = fc.sample(nestedTree, { numRuns: fleets.length + 12, seed: 20261204 });
    let planned = 0;
    let bySdk = 0;
    for (const [index, tree] of trees.entries()) {
      const fleet = fleets[index];
      const nested = ({ tenants }: ProgramExports) =>
        buildTree(
          tree,
          Object.values(tenants).map((tenant) => tenant.token),
        );
      const plan =
        fleet === undefined
          ? await assertSamePlan(`tree ${index}`, "generated", { config: {}, secretKeys: [] }, () => nested({ tenants: {} }))
          : await assertSamePlan(`fleet ${index} (${fleet.what})`, "generated", engineConfigOf(fleet.raw), fleetProgram(nested));
      planned += plan.count;
      bySdk += plan.sdkRegistrations;
    }
    assert.ok(planned > 300, `only ${planned} resources planned`);
    // Registrations with an option only the SDK handles go its way amid the fast path's.
    assert.ok(bySdk > 0 && bySdk < planned / 4, `${bySdk} of ${planned} registrations went the SDK's way`);
  });
});

/** A component that registers its outputs, as the program's do. */
class Box extends pulumi.ComponentResource {
  constructor(type: string, name: string, opts: pulumi.ComponentResourceOptions) {
    super(type, name, {}, opts);
    this.registerOutputs({});
  }
}

/** A copy of a declaration that keeps its secure values (structuredClone would make them plain objects). */
function copyOf<T>(value: T): T {
  if (value instanceof SecretValue || typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map(copyOf) as T;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, copyOf(item)])) as T;
}

/**
 * Declarations that parse: an example stack with some of its tenants, copies of them under new
 * ids, then up to two of the fuzz test's changes, kept when the result still parses.
 */
function generatedFleets(count: number, seed: number): { raw: RawDeclaration; what: string }[] {
  const candidate = fc.record({
    stack: fc.constantFrom("dev", "prod"),
    keep: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
    copies: fc.array(fc.tuple(fc.nat(), fc.stringMatching(/^[a-z][a-z0-9]{2,7}$/)), { maxLength: 6 }),
    changes: fc.array(fc.tuple(fc.nat(), mutation), { maxLength: 2 }),
  });
  const found: { raw: RawDeclaration; what: string }[] = [];
  for (const { stack, keep, copies, changes } of fc.sample(candidate, { numRuns: 200, seed })) {
    const raw = copyOf(example(stack));
    const tenants = raw["tenants"] as Record<string, Record<string, unknown>>;
    const templates = example(stack)["tenants"] as Record<string, Record<string, unknown>>;
    const ids = Object.keys(tenants);
    ids.forEach((id, index) => {
      if (keep[index] === false) delete tenants[id];
    });
    for (const [pick, id] of copies) {
      if (id in tenants) continue;
      // A copy of one of the example's tenants, its port left to the allocation.
      const template = copyOf(templates[ids[pick % ids.length] as string] as Record<string, unknown>);
      delete template["port"];
      tenants[id] = template;
    }
    const unchanged = copyOf(raw);
    for (const [index, change] of changes) {
      const live = pathsOf(raw);
      const path = live[index % live.length];
      if (path !== undefined) mutate(raw, path, change);
    }
    const parsed = [raw, unchanged].find((declaration) => {
      try {
        parseFleet("generated.yaml", declaration);
        return true;
      } catch {
        return false;
      }
    });
    if (parsed === undefined) continue;
    found.push({ raw: parsed, what: `${stack}, tenants ${Object.keys((parsed["tenants"] ?? {}) as object).join(" ")}` });
    if (found.length === count) break;
  }
  assert.equal(found.length, count, "enough generated declarations parse");
  return found;
}

type TreeNode =
  | {
      readonly kind: "component";
      readonly level: number;
      readonly providers: number | undefined;
      readonly aliased: boolean;
      readonly children: readonly TreeNode[];
    }
  | { readonly kind: "provider" }
  | {
      readonly kind: "command";
      readonly dependsOn: readonly number[];
      readonly provider: number | undefined;
      readonly input: number | undefined;
      readonly token: number | undefined;
      readonly protect: boolean;
      readonly retainOnDelete: boolean;
      readonly deleteBeforeReplace: boolean;
      readonly replaceOnChanges: boolean;
      readonly sdkOnly: "customTimeouts" | "aliases" | "deletedWith" | undefined;
    };

const optionalIndex = fc.option(fc.nat(), { nil: undefined });

/** Components nested to any depth, with providers, commands depending on earlier resources, taking their outputs and the fleet's tokens. */
const nestedTree: fc.Arbitrary<TreeNode> = fc.letrec<{ node: TreeNode; component: TreeNode }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", maxDepth: 5 },
    fc.record({
      kind: fc.constant("command" as const),
      dependsOn: fc.array(fc.nat(), { maxLength: 2 }),
      provider: optionalIndex,
      input: optionalIndex,
      token: optionalIndex,
      protect: fc.boolean(),
      retainOnDelete: fc.boolean(),
      deleteBeforeReplace: fc.boolean(),
      replaceOnChanges: fc.boolean(),
      sdkOnly: fc.constantFrom(undefined, undefined, undefined, "customTimeouts" as const, "aliases" as const, "deletedWith" as const),
    }),
    fc.constant({ kind: "provider" as const }),
    tie("component"),
  ),
  component: fc.record({
    kind: fc.constant("component" as const),
    level: fc.nat(2),
    providers: fc.option(fc.nat(), { nil: undefined, freq: 4 }),
    aliased: fc.boolean(),
    children: fc.array(tie("node"), { minLength: 1, maxLength: 4 }),
  }),
})).component;

/** Registers a tree under two fixed levels of components, so its commands sit three or more levels down. */
function buildTree(root: TreeNode, tokens: readonly pulumi.Output<string>[]): void {
  const providers: command.Provider[] = [];
  const commands: command.local.Command[] = [];
  /** Every resource made so far with the components that enclose it (a resource depending on its own ancestor would wait for itself). */
  const made: { resource: pulumi.Resource; ancestors: ReadonlySet<pulumi.Resource> }[] = [];
  let count = 0;
  const pick = <T>(list: readonly T[], index: number | undefined): T | undefined =>
    index === undefined || list.length === 0 ? undefined : list[index % list.length];
  const visit = (node: TreeNode, parent: pulumi.Resource, ancestors: ReadonlySet<pulumi.Resource>) => {
    const name = `nest-${count++}`;
    const opts = { parent };
    if (node.kind === "provider") {
      const provider = new command.Provider(name, {}, opts);
      providers.push(provider);
      made.push({ resource: provider, ancestors });
    } else if (node.kind === "component") {
      const provider = pick(providers, node.providers);
      const component = new Box(`clawfleet:nested:Level${node.level}`, name, {
        ...opts,
        ...(provider === undefined ? {} : { providers: [provider] }),
        ...(node.aliased ? { aliases: [{ name: `${name}-before` }] } : {}),
      });
      made.push({ resource: component, ancestors });
      const inside = new Set([...ancestors, component]);
      for (const child of node.children) visit(child, component, inside);
    } else {
      const candidates = made.filter((entry) => !ancestors.has(entry.resource)).map((entry) => entry.resource);
      const input = pick(commands, node.input);
      const token = pick(tokens, node.token);
      const provider = pick(providers, node.provider);
      const deletedWith = node.sdkOnly === "deletedWith" ? pick(commands, 0) : undefined;
      const created = new command.local.Command(
        name,
        {
          create: input === undefined ? `echo ${name}` : pulumi.interpolate`echo ${input.stdout}`,
          ...(token === undefined ? {} : { environment: { TOKEN: token } }),
        },
        {
          ...opts,
          dependsOn: node.dependsOn.flatMap((index) => pick(candidates, index) ?? []),
          ...(provider === undefined ? {} : { provider }),
          protect: node.protect,
          retainOnDelete: node.retainOnDelete,
          deleteBeforeReplace: node.deleteBeforeReplace,
          ...(node.replaceOnChanges ? { replaceOnChanges: ["create"], ignoreChanges: ["environment"] } : {}),
          ...(node.sdkOnly === "customTimeouts" ? { customTimeouts: { create: "2m" } } : {}),
          ...(node.sdkOnly === "aliases" ? { aliases: [{ name: `${name}-before` }] } : {}),
          ...(deletedWith === undefined ? {} : { deletedWith }),
        },
      );
      commands.push(created);
      made.push({ resource: created, ancestors });
    }
  };
  const outer = new Box("clawfleet:nested:Outer", "nest-outer", {});
  const middle = new Box("clawfleet:nested:Middle", "nest-middle", { parent: outer });
  visit(root, middle, new Set([outer, middle]));
}
