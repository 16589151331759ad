import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PlannedResource } from "../../cli/mock-run";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Deployer } from "../e2e/standin/deployer";
import { DeploymentError, Engine, PartialCreateError, type ResourceProvider } from "../e2e/standin/engine";

// Each rule of the engine stand-in (test/e2e/standin/engine.ts, E1-E10) against an in-memory provider.

const type = "test:index/thing:Thing";

/** An in-memory provider: objects by id, a log of calls, `replace` fields force a new object. */
class Things implements ResourceProvider {
  readonly log: string[] = [];
  readonly objects = new Map<string, Record<string, unknown>>();
  /** Names whose create fails; "partial" creates the object first. */
  readonly failing = new Map<string, "plain" | "partial">();
  /** Read-back normalisation: what the "provider" stores for a value. */
  normalise: (inputs: Record<string, unknown>) => Record<string, unknown> = (inputs) => inputs;
  private next = 0;

  diff(olds: Record<string, unknown>, news: Record<string, unknown>) {
    const changed = Object.keys(news).filter((key) => JSON.stringify(olds[key]) !== JSON.stringify(news[key]));
    return { changed, replaces: changed.filter((key) => key === "replace") };
  }

  async create(inputs: Record<string, unknown>) {
    const name = String(inputs["name"]);
    const failure = this.failing.get(name);
    if (failure === "plain") throw new Error(`create ${name} failed`);
    const id = `${name}#${(this.next += 1)}`;
    this.log.push(`create ${name}`);
    const outputs = this.normalise(inputs);
    this.objects.set(id, outputs);
    if (failure === "partial") throw new PartialCreateError(`create ${name} never got healthy`, id, outputs);
    return Promise.resolve({ id, outputs });
  }

  update(id: string, _olds: Record<string, unknown>, news: Record<string, unknown>) {
    this.log.push(`update ${String(news["name"])}`);
    this.objects.set(id, news);
    return Promise.resolve(news);
  }

  delete(id: string, outputs: Record<string, unknown>) {
    this.log.push(`delete ${String(outputs["name"])}`);
    this.objects.delete(id);
    return Promise.resolve();
  }

  read(id: string) {
    return Promise.resolve(this.objects.get(id));
  }
}

function thing(name: string, inputs: Record<string, unknown> = {}, options: Partial<PlannedResource["options"]> = {}): PlannedResource {
  return {
    urn: `urn:pulumi:s::p::${type}::${name}`,
    type,
    name,
    parent: undefined,
    custom: true,
    inputs: { name, ...inputs },
    revealedInputs: { name, ...inputs },
    secretInputs: [],
    options: {
      dependsOn: [],
      propertyDependencies: {},
      provider: undefined,
      protect: false,
      retainOnDelete: false,
      deleteBeforeReplace: false,
      replaceOnChanges: [],
      ignoreChanges: [],
      additionalSecretOutputs: [],
      ...options,
    },
  };
}

const urnOf = (name: string) => `urn:pulumi:s::p::${type}::${name}`;

function setup() {
  const things = new Things();
  return { things, engine: new Engine({ [type]: things }) };
}

describe("engine stand-in", () => {
  it("E1: runs each step after the resources it depends on", async () => {
    const { things, engine } = setup();
    await engine.apply([thing("c", {}, { dependsOn: [urnOf("b")] }), thing("b", {}, { dependsOn: [urnOf("a")] }), thing("a")]);
    assert.deepEqual(things.log, ["create a", "create b", "create c"]);
  });

  it("E2: deletes removed resources after every create and update, dependents first", async () => {
    const { things, engine } = setup();
    await engine.apply([thing("base"), thing("user", {}, { dependsOn: [urnOf("base")] }), thing("keep", { v: 1 })]);
    things.log.length = 0;
    await engine.apply([thing("keep", { v: 2 }), thing("new")]);
    assert.deepEqual(things.log, ["update keep", "create new", "delete user", "delete base"]);
  });

  it("E3: diffs against what the provider read back, so a normalised field differs on every run", async () => {
    const { things, engine } = setup();
    things.normalise = (inputs) => ({ ...inputs, cpus: inputs["cpus"] === "1" ? "1.0" : inputs["cpus"] });
    await engine.apply([thing("a", { cpus: "1" })]);
    assert.deepEqual(
      engine.plan([thing("a", { cpus: "1" })]).map((s) => [s.name, s.op, s.changed]),
      [["a", "update", ["cpus"]]],
    );
    assert.deepEqual(
      engine.plan([thing("a", { cpus: "1.0" })]).map((s) => s.op),
      ["same"],
    );
  });

  it("E4: replaces create-first, the old copy deleted at the end; deleteBeforeReplace deletes first", async () => {
    const { things, engine } = setup();
    await engine.apply([thing("a", { replace: 1 }), thing("b", { replace: 1 }, { deleteBeforeReplace: true })]);
    things.log.length = 0;
    await engine.apply([thing("a", { replace: 2 }), thing("later", {}, { dependsOn: [urnOf("a")] })]);
    assert.deepEqual(things.log.slice(0, 2), ["create a", "create later"]);
    assert.deepEqual(things.log.slice(2).sort(), ["delete a", "delete b"], "the old a and the removed b go in the delete phase");
    things.log.length = 0;
    await engine.apply([
      thing("a", { replace: 2 }),
      thing("later", {}, { dependsOn: [urnOf("a")] }),
      thing("b", { replace: 2 }, { deleteBeforeReplace: true }),
    ]);
    assert.deepEqual(things.log, ["create b"], "b was removed last run; it is simply created");
    things.log.length = 0;
    await engine.apply([
      thing("a", { replace: 2 }),
      thing("later", {}, { dependsOn: [urnOf("a")] }),
      thing("b", { replace: 3 }, { deleteBeforeReplace: true }),
    ]);
    assert.deepEqual(things.log, ["delete b", "create b"]);
  });

  it("E4: a create-first replacement whose create fails leaves the old resource in state, untouched", async () => {
    const { things, engine } = setup();
    await engine.apply([thing("a", { replace: 1 })]);
    const old = engine.state.get(urnOf("a"));
    things.failing.set("a", "plain");
    await assert.rejects(engine.apply([thing("a", { replace: 2 })]), DeploymentError);
    assert.equal(engine.state.get(urnOf("a")), old);
    assert.ok(!things.log.includes("delete a"));
  });

  it("E5: before a delete-first replacement, deletes dependents whose input from it would force their replacement", async () => {
    const { things, engine } = setup();
    const program = (version: number) => [
      thing("net", { replace: version }, { deleteBeforeReplace: true }),
      thing("box", { replace: "net-id" }, { dependsOn: [urnOf("net")], propertyDependencies: { replace: [urnOf("net")] } }),
      thing("watcher", { other: "net-id" }, { dependsOn: [urnOf("net")], propertyDependencies: { other: [urnOf("net")] } }),
      thing("after", {}, { dependsOn: [urnOf("net")] }),
    ];
    await engine.apply(program(1));
    things.log.length = 0;
    await engine.apply(program(2));
    assert.deepEqual(things.log.slice(0, 3), ["delete box", "delete net", "create net"], "box goes first; watcher and after stay");
    assert.deepEqual(
      engine.events
        .slice(-4)
        .map((e) => `${e.name} ${e.op}`)
        .sort(),
      ["after same", "box replace", "net replace", "watcher update"],
      "a dependent deleted first shows as replaced",
    );
    assert.ok(things.log.includes("create box"));
    assert.ok(things.log.includes("update watcher"), "watcher sees the new id as an ordinary change");
    assert.ok(!things.log.includes("delete after"));
  });

  it("E5: a chain of dependents is deleted from the far end: what depends on a dependent goes before it", async () => {
    const { things, engine } = setup();
    const program = (version: number) => [
      thing("net", { replace: version }, { deleteBeforeReplace: true }),
      thing("box", { replace: "net-id" }, { dependsOn: [urnOf("net")], propertyDependencies: { replace: [urnOf("net")] } }),
      thing("lid", { replace: "box-id" }, { dependsOn: [urnOf("box")], propertyDependencies: { replace: [urnOf("box")] } }),
    ];
    await engine.apply(program(1));
    things.log.length = 0;
    await engine.apply(program(2));
    assert.deepEqual(things.log.slice(0, 4), ["delete lid", "delete box", "delete net", "create net"]);
  });

  it("E6: replaceOnChanges makes a listed change (or any, with *) a replacement", async () => {
    const { things, engine } = setup();
    await engine.apply([thing("a", { v: 1 }, { replaceOnChanges: ["v"] }), thing("b", { w: 1 }, { replaceOnChanges: ["*"] })]);
    things.log.length = 0;
    const steps = engine.plan([thing("a", { v: 2 }, { replaceOnChanges: ["v"] }), thing("b", { w: 2 }, { replaceOnChanges: ["*"] })]);
    assert.deepEqual(
      steps.map((s) => s.op),
      ["replace", "replace"],
    );
  });

  it("E7: a changed provider alone replaces nothing: the resource stays where it was and takes the new provider", async () => {
    const { engine } = setup();
    const provider = (host: string): PlannedResource => ({
      ...thing(host),
      urn: `urn:pulumi:s::p::pulumi:providers:test::${host}`,
      type: "pulumi:providers:test",
      revealedInputs: { host },
    });
    const on = (host: string) => thing("a", { v: 1 }, { provider: `urn:pulumi:s::p::pulumi:providers:test::${host}::${host}-id` });
    await engine.apply([provider("h1"), on("h1")]);
    const id = engine.state.get(urnOf("a"))?.id;
    const events = await engine.apply([provider("h2"), on("h2")]);
    assert.deepEqual(
      events.map((e) => [e.name, e.op]),
      [
        ["h2", "create"],
        ["a", "same"],
        ["h1", "delete"],
      ],
    );
    assert.equal(engine.state.get(urnOf("a"))?.id, id, "the object is the one on h1");
    assert.equal(engine.state.get(urnOf("a"))?.provider?.urn, "urn:pulumi:s::p::pulumi:providers:test::h2");
  });

  it("E8: starts no step after a failure; a partly created object stays in state and is updated next run", async () => {
    const { things, engine } = setup();
    things.failing.set("bad", "partial");
    await assert.rejects(
      engine.apply([thing("bad"), thing("next", {}, { dependsOn: [urnOf("bad")] }), thing("gone-later")]),
      (error: unknown) => error instanceof DeploymentError && error.message === "create bad never got healthy",
    );
    assert.ok(!things.log.includes("create next"));
    assert.deepEqual(engine.state.get(urnOf("bad"))?.initErrors, ["create bad never got healthy"]);
    things.failing.clear();
    things.log.length = 0;
    await engine.apply([thing("bad"), thing("next", {}, { dependsOn: [urnOf("bad")] }), thing("gone-later")]);
    assert.deepEqual(things.log, ["update bad", "create next"], "an update, which checks nothing");

    things.failing.set("plain", "plain");
    await assert.rejects(engine.apply([thing("bad"), thing("next", {}, { dependsOn: [urnOf("bad")] }), thing("plain")]), DeploymentError);
    assert.equal(engine.state.get(urnOf("plain")), undefined, "a create that made nothing leaves nothing");
    assert.ok(engine.state.has(urnOf("gone-later")), "no deletes after a failure");
  });

  it("E9: retainOnDelete drops the resource from state without deleting it", async () => {
    const { things, engine } = setup();
    await engine.apply([thing("kept", {}, { retainOnDelete: true })]);
    const events = await engine.apply([]);
    assert.deepEqual(
      events.map((e) => e.op),
      ["retain"],
    );
    assert.equal(things.objects.size, 1);
    assert.equal(engine.state.size, 0);
  });

  it("E10: refresh stores what the provider reads and drops what is gone", async () => {
    const { things, engine } = setup();
    await engine.apply([thing("a", { v: 1 }), thing("b")]);
    const [aId, aObject] = [...things.objects.entries()].find(([, o]) => o["name"] === "a") ?? [];
    things.objects.set(String(aId), { ...aObject, v: 9 });
    things.objects.delete([...things.objects.keys()].find((id) => id.startsWith("b#")) ?? "");
    const drift = await engine.refresh();
    assert.deepEqual(
      drift.map((d) => [d.name, d.fields]),
      [
        ["a", ["v"]],
        ["b", ["(gone)"]],
      ],
    );
    assert.deepEqual(
      engine.plan([thing("a", { v: 1 }), thing("b")]).map((s) => s.op),
      ["update", "create"],
    );
  });
});

describe("deployer: outputs the program reads from a host's read-back", () => {
  it("runs a new or changed read-back first, as the engine creates it before what waits for its output, and takes an unchanged one from state", async () => {
    const dir = mkdtempSync(join(tmpdir(), "clawfleet-known-"));
    try {
      const runs = join(dir, "runs");
      const deployer = new Deployer("s", process.env, () => undefined);
      const readback = (text: string): PlannedResource => {
        const inputs = { create: `echo run >>${runs}; echo ${text}`, interpreter: ["/bin/sh", "-c"] };
        return {
          ...thing("h-readback"),
          type: "command:local:Command",
          urn: "urn:pulumi:s::p::command:local:Command::h-readback",
          inputs,
          revealedInputs: inputs,
        };
      };
      const runCount = () => readFileSync(runs, "utf8").split("\n").filter(Boolean).length;
      assert.deepEqual(await deployer.knownOutputs([readback("one")]), { "h-readback": { stdout: "one" } });
      assert.equal(runCount(), 1);
      await deployer.engine.apply([readback("one")]);
      assert.equal(runCount(), 2, "the apply runs it as the engine would");
      assert.deepEqual(await deployer.knownOutputs([readback("one")]), { "h-readback": { stdout: "one" } });
      assert.equal(runCount(), 2, "unchanged: from state, not run");
      assert.deepEqual(await deployer.knownOutputs([readback("two")]), { "h-readback": { stdout: "two" } });
      assert.equal(runCount(), 3);
      assert.deepEqual(await deployer.knownOutputs([thing("a")]), {}, "only read-backs");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
