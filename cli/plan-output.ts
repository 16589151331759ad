import type { ComponentFacts } from "../components/facts";
import { componentType } from "../names";
import type { PlannedResource } from "./mock-run";
import type { Plan } from "./plan";
import { describeResource } from "./runtime";

/** `--json`: every registered resource; secrets print as "[secret]". With `facts`, what each component stated about itself. */
export function renderPlanJson(plan: Plan, facts?: readonly ComponentFacts[]): string {
  const resources = plan.resources.map(({ urn, type, name, parent, inputs, options }) => ({ urn, type, name, parent: parent ?? null, inputs, options }));
  return `${JSON.stringify(facts === undefined ? { stack: plan.stack, resources } : { stack: plan.stack, resources, facts }, null, 2)}\n`;
}

const shortTypes: Record<string, string> = {
  [componentType.gatewayHost]: "host",
  [componentType.dedicatedUser]: "dedicated tenant",
  [componentType.sharedBinding]: "shared tenant",
};

/** `docker:index/container:Container` -> `docker:Container`; providers stay as they are. */
function shortType(type: string): string {
  return (
    shortTypes[type] ??
    type
      .replace(/^([a-z]+):(?:index\/[A-Za-z]+|[a-z]+\/[A-Za-z]+):([A-Za-z]+)$/, "$1:$2")
      .replace(/^command:local:/, "command:local ")
      .replace(/^command:remote:/, "command:remote ")
  );
}

/** What a reader wants to see of a resource on one line: what it does (as its component states it), then the runtime's notes. */
function summary(resource: PlannedResource, said: string | undefined): string {
  const notes = [...(said === undefined ? [] : [said]), ...(describeResource(resource) ?? [])];
  if (resource.options.retainOnDelete) notes.push("kept on delete");
  if (resource.options.deleteBeforeReplace) notes.push("delete before replace");
  if (resource.secretInputs.length > 0) notes.push(`secret: ${resource.secretInputs.join(", ")}`);
  if (resource.options.additionalSecretOutputs.length > 0) notes.push(`secret output: ${[...new Set(resource.options.additionalSecretOutputs)].join(", ")}`);
  return notes.length === 0 ? "" : `  (${notes.join("; ")})`;
}

/** The default output: components with their children as a tree, each child described by what its component states it does. */
export function renderPlanTree(plan: Plan, facts: readonly ComponentFacts[] = []): string {
  const factsOf = new Map(facts.map((f) => [`${f.type}::${f.name}`, f]));
  const children = new Map<string, PlannedResource[]>();
  const roots: PlannedResource[] = [];
  for (const resource of plan.resources) {
    if (resource.parent === undefined || resource.parent.endsWith("::pulumi:pulumi:Stack")) roots.push(resource);
    else children.set(resource.parent, [...(children.get(resource.parent) ?? []), resource]);
  }
  const custom = plan.resources.filter((r) => r.custom).length;
  const lines = [`stack ${plan.stack}: ${custom} resources in ${roots.length} components`];
  const walk = (resource: PlannedResource, stated: ComponentFacts | undefined, prefix: string, last: boolean, depth: number): void => {
    const label = shortType(resource.type);
    const branch = depth === 0 ? "" : last ? "└─ " : "├─ ";
    lines.push(`${prefix}${branch}${label} ${resource.name}${summary(resource, stated?.summaries?.[resource.name])}`);
    const kids = children.get(resource.urn) ?? [];
    const nextPrefix = depth === 0 ? "" : `${prefix}${last ? "   " : "│  "}`;
    kids.forEach((kid, index) => walk(kid, stated, nextPrefix, index === kids.length - 1, depth + 1));
  };
  for (const root of roots) walk(root, factsOf.get(`${root.type}::${root.name}`), "", true, 0);
  return `${lines.join("\n")}\n`;
}
