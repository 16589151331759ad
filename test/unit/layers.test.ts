import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";

// The program's layers (README, Layout): how a gateway runs stays behind components/runtime.ts (the seam the components call, in their words), Docker in runtimes/docker/, Kubernetes in runtimes/kubernetes/.

const repo = resolve(__dirname, "..", "..");
/**
 * Where the runtimes are picked: runtimes/select.ts for the program (index.ts calls it), runtimes/checks.ts for their
 * declaration checks, cli/runtime.ts for the CLI (which must not load the program's providers).
 */
const wiringPoints = ["runtimes/select.ts", "runtimes/checks.ts", "cli/runtime.ts"];
/** The packages each runtime uses: only its own folder (and the wiring points) may import them. */
const runtimePackages: Readonly<Record<string, readonly string[]>> = {
  docker: ["@pulumi/docker", "@pulumi/command"],
  kubernetes: ["@pulumi/kubernetes", "@pulumi/command"],
};

function programFiles(): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(join(repo, dir)).flatMap((entry) => {
      const path = `${dir}/${entry}`;
      if (statSync(join(repo, path)).isDirectory()) return walk(path);
      return path.endsWith(".ts") ? [path] : [];
    });
  return ["index.ts", "names.ts", ...["declaration", "components", "runtimes", "cli"].flatMap(walk)];
}

interface Import {
  /** A package name, or a repository path (`components/facts.ts`) for a relative import. */
  readonly target: string;
  readonly typeOnly: boolean;
}

/** Every static import, re-export and require of a file. */
function importsOf(file: string, text: string): Import[] {
  const found: Import[] = [];
  const pattern = /(?:^|\n)\s*(import|export)\s+(type\s+)?[^;]*?\bfrom\s+"([^"]+)"|\brequire\("([^"]+)"\)|\bimport\("([^"]+)"\)|(?:^|\n)\s*import\s+"([^"]+)"/g;
  for (const match of text.matchAll(pattern)) {
    const specifier = match[3] ?? match[4] ?? match[5] ?? match[6] ?? "";
    const target = specifier.startsWith(".") ? relative(repo, resolve(repo, dirname(file), specifier)).replaceAll("\\", "/") : specifier;
    const withExtension = specifier.startsWith(".") && !target.endsWith(".ts") ? resolveTs(target) : target;
    found.push({ target: withExtension, typeOnly: match[2] !== undefined });
  }
  return found;
}

function resolveTs(path: string): string {
  for (const candidate of [`${path}.ts`, `${path}/index.ts`]) {
    try {
      if (statSync(join(repo, candidate)).isFile()) return candidate;
    } catch {
      // Not this one.
    }
  }
  return path;
}

const files = programFiles();
const imports = new Map(files.map((file) => [file, importsOf(file, readFileSync(join(repo, file), "utf8"))]));
const isDocker = (file: string) => file.startsWith("runtimes/docker/");
/** The runtime whose folder holds `file`: `docker` for runtimes/docker/gateway.ts; none for runtimes/shell.ts. */
const runtimeFolderOf = (file: string) => /^runtimes\/([^/]+)\//.exec(file)?.[1];
const isPackage = (target: string, name: string) => target === name || target.startsWith(`${name}/`);

describe("layers", () => {
  it("finds the program's imports", () => {
    assert.ok(imports.get("index.ts")?.some((i) => i.target === "runtimes/select.ts"));
    assert.ok(imports.get("runtimes/select.ts")?.some((i) => i.target === "runtimes/docker/runtime.ts"));
    assert.ok(imports.get("runtimes/select.ts")?.some((i) => i.target === "runtimes/kubernetes/runtime.ts"));
    assert.ok(imports.get("runtimes/docker/gateway.ts")?.some((i) => i.target === "@pulumi/docker"));
    assert.ok(imports.get("runtimes/kubernetes/gateway.ts")?.some((i) => i.target === "@pulumi/kubernetes"));
    assert.ok(imports.get("cli/runtime.ts")?.some((i) => i.target === "runtimes/docker/ops.ts"));
  });

  it("keeps each runtime and its packages in its own folder, reached only from the wiring points", () => {
    const leaks = files.flatMap((file) => {
      if (wiringPoints.includes(file)) return [];
      const own = runtimeFolderOf(file);
      return (imports.get(file) ?? [])
        .filter((i) => {
          const folder = runtimeFolderOf(i.target);
          const owners = Object.keys(runtimePackages).filter((runtime) => runtimePackages[runtime]?.some((name) => isPackage(i.target, name)));
          return (folder !== undefined && folder !== own) || (owners.length > 0 && (own === undefined || !owners.includes(own)));
        })
        .map((i) => `${file} imports ${i.target}`);
    });
    assert.deepEqual(leaks, []);
  });

  it("lets runtimes read only names, the declaration and the components' spec and fact types", () => {
    const allowed = (i: Import) =>
      !i.target.includes("/") ||
      i.target.startsWith("@") ||
      i.target.startsWith("node:") ||
      i.target === "names.ts" ||
      i.target.startsWith("runtimes/") ||
      (i.target.startsWith("declaration/") && i.typeOnly) ||
      (["components/gateway-spec.ts", "components/facts.ts", "components/runtime.ts"].includes(i.target) && i.typeOnly);
    const leaks = files
      .filter((file) => file.startsWith("runtimes/"))
      .flatMap((file) => (imports.get(file) ?? []).filter((i) => !allowed(i)).map((i) => `${file} imports ${i.target}${i.typeOnly ? " (types)" : ""}`));
    assert.deepEqual(leaks, []);
  });

  it("never imports back up: the declaration and names know no components, runtimes or CLI; the components know no runtime; the program knows no CLI", () => {
    const above: [(file: string) => boolean, string[]][] = [
      [(file) => file === "names.ts" || file.startsWith("declaration/"), ["components/", "runtimes/", "cli/", "index.ts"]],
      [(file) => file.startsWith("components/"), ["runtimes/", "cli/", "index.ts"]],
      [(file) => file.startsWith("runtimes/"), ["cli/", "index.ts"]],
    ];
    const leaks = files.flatMap((file) =>
      above.flatMap(([applies, forbidden]) =>
        applies(file)
          ? (imports.get(file) ?? []).filter((i) => forbidden.some((prefix) => i.target.startsWith(prefix))).map((i) => `${file} imports ${i.target}`)
          : [],
      ),
    );
    assert.deepEqual(leaks, []);
  });

  it("runs no docker command outside runtimes/docker/", () => {
    const command = /\bdocker (inspect|exec|logs|ps|stats|run|rm|stop|start|version|image|pull|load|update|network|volume)\b/;
    const leaks = files
      .filter((file) => !isDocker(file))
      .flatMap((file) =>
        readFileSync(join(repo, file), "utf8")
          .split("\n")
          .map((line, index) => ({ line, at: `${file}:${index + 1}` }))
          .filter(({ line }) => !/^\s*(\/\/|\*|\/\*\*)/.test(line) && command.test(line))
          .map(({ at }) => at),
      );
    assert.deepEqual(leaks, []);
  });

  it("keeps Pulumi and the providers out of what the CLI's verbs load from the runtime (loading Pulumi alone takes over a second)", () => {
    const loaded = new Set<string>();
    const visit = (file: string): void => {
      if (loaded.has(file)) return;
      loaded.add(file);
      for (const { target, typeOnly } of imports.get(file) ?? []) {
        if (typeOnly) continue;
        if (imports.has(target)) visit(target);
        else loaded.add(target);
      }
    };
    visit("cli/runtime.ts");
    assert.ok(loaded.has("runtimes/docker/ops.ts"));
    const pulumi = [...loaded].filter((target) => target.startsWith("@pulumi/"));
    assert.deepEqual(pulumi, []);
  });

  // Type-only imports are erased before anything runs, so only value imports can form a cycle.
  it("has no import cycle", () => {
    const cycles: string[] = [];
    const state = new Map<string, "visiting" | "done">();
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === "done") return;
      if (state.get(file) === "visiting") {
        cycles.push([...path.slice(path.indexOf(file)), file].join(" -> "));
        return;
      }
      state.set(file, "visiting");
      for (const { target, typeOnly } of imports.get(file) ?? []) if (!typeOnly && imports.has(target)) visit(target, [...path, file]);
      state.set(file, "done");
    };
    for (const file of files) visit(file, []);
    assert.deepEqual(cycles, []);
  });
});
