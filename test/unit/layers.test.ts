import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";

// The program's layers (README, Layout): how a gateway runs stays behind runtimes/runtime.ts, Docker in runtimes/docker/.

const repo = resolve(__dirname, "..", "..");
/** The one place that picks the runtime. */
const wiringPoint = "index.ts";
const dockerPackages = ["@pulumi/docker", "@pulumi/command"];

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
  const pattern = /(?:^|\n)\s*(import|export)\s+(type\s+)?[^;]*?\bfrom\s+"([^"]+)"|\brequire\("([^"]+)"\)|\bimport\("([^"]+)"\)/g;
  for (const match of text.matchAll(pattern)) {
    const specifier = match[3] ?? match[4] ?? match[5] ?? "";
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
const isPackage = (target: string, name: string) => target === name || target.startsWith(`${name}/`);

describe("layers", () => {
  it("finds the program's imports", () => {
    assert.ok(imports.get("index.ts")?.some((i) => i.target === "runtimes/docker/runtime.ts"));
    assert.ok(imports.get("runtimes/docker/gateway.ts")?.some((i) => i.target === "@pulumi/docker"));
  });

  it("keeps Docker and host commands in runtimes/docker/, reached only from the wiring point", () => {
    const leaks = files.flatMap((file) =>
      isDocker(file) || file === wiringPoint
        ? []
        : (imports.get(file) ?? [])
            .filter((i) => isDocker(i.target) || dockerPackages.some((name) => isPackage(i.target, name)))
            .map((i) => `${file} imports ${i.target}`),
    );
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
      (["components/gateway-spec.ts", "components/facts.ts"].includes(i.target) && i.typeOnly);
    const leaks = files
      .filter((file) => file.startsWith("runtimes/"))
      .flatMap((file) => (imports.get(file) ?? []).filter((i) => !allowed(i)).map((i) => `${file} imports ${i.target}${i.typeOnly ? " (types)" : ""}`));
    assert.deepEqual(leaks, []);
  });

  it("never imports back up: the declaration and names know no components, runtimes or CLI; the program knows no CLI", () => {
    const above: [(file: string) => boolean, string[]][] = [
      [(file) => file === "names.ts" || file.startsWith("declaration/"), ["components/", "runtimes/", "cli/", "index.ts"]],
      [(file) => file.startsWith("components/") || file.startsWith("runtimes/"), ["cli/", "index.ts"]],
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
