// The two ways a diff is printed: text for a terminal, Markdown for a pull-request comment.
import type { Effect, FleetDiff } from "./compare";

const effectTitles: Record<Effect, string> = { added: "Added", changed: "Changed in place", replaced: "Replaced (gateway restarts)", removed: "Removed" };

export function renderDiffText(diff: FleetDiff): string {
  const lines = [`stack ${diff.stack}: ${summaryLine(diff)}`];
  for (const effect of ["added", "changed", "replaced", "removed"] as const) {
    const tenants = diff.tenants.filter((t) => t.effect === effect);
    const hosts = diff.hosts.filter((h) => h.effect === effect);
    if (tenants.length + hosts.length === 0) continue;
    lines.push("", `${effectTitles[effect]}:`);
    for (const h of hosts) lines.push(`  host ${h.id}${h.fields.length > 0 ? `: ${h.fields.join(", ")}` : ""}`);
    for (const t of tenants) lines.push(`  ${t.id} (${t.tier} on ${t.host})${t.fields.length > 0 ? `: ${t.fields.join(", ")}` : ""}`);
  }
  const warnings = [...diff.hosts, ...diff.tenants].flatMap((c) => c.warnings);
  if (warnings.length > 0) lines.push("", "Warnings:", ...warnings.map((w) => `  ! ${w}`));
  return `${lines.join("\n")}\n`;
}

function summaryLine(diff: FleetDiff): string {
  const count = (effect: Effect) => diff.tenants.filter((t) => t.effect === effect).length;
  if (diff.tenants.length + diff.hosts.length === 0) return "no changes";
  return `${count("added")} added, ${count("changed")} changed, ${count("replaced")} replaced, ${count("removed")} removed tenants; ${diff.hosts.length} hosts changed`;
}

/**
 * Text for a Markdown line or table cell: HTML and Markdown punctuation are escaped, so a
 * name in a stack file cannot open a tag, a comment or a link in the pull-request comment.
 */
export function markdownText(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replace(/[\\`*_[\]|!#~]/g, (char) => `\\${char}`)
    .replace(/[\r\n]+/g, " ");
}

/** A code span that no backtick, pipe or line break in `text` can close early. */
export function markdownCode(text: string): string {
  const flat = text.replace(/[\r\n]+/g, " ").replaceAll("|", "\\|");
  const longest = Math.max(0, ...[...flat.matchAll(/`+/g)].map((run) => run[0].length));
  const fence = "`".repeat(longest + 1);
  const pad = flat.startsWith("`") || flat.endsWith("`") ? " " : "";
  return `${fence}${pad}${flat}${pad}${fence}`;
}

export function renderDiffMarkdown(diff: FleetDiff): string {
  const codes = (fields: readonly string[]) => fields.map(markdownCode).join(", ");
  const lines = [`### clawfleet: stack ${markdownCode(diff.stack)}`, "", summaryLine(diff)];
  for (const effect of ["added", "changed", "replaced", "removed"] as const) {
    const rows = [
      ...diff.hosts.filter((h) => h.effect === effect).map((h) => `| host ${markdownCode(h.id)} | | | ${codes(h.fields)} |`),
      ...diff.tenants
        .filter((t) => t.effect === effect)
        .map((t) => `| ${markdownCode(t.id)} | ${markdownText(t.tier)} | ${markdownText(t.host)} | ${codes(t.fields)} |`),
    ];
    if (rows.length === 0) continue;
    lines.push("", `#### ${effectTitles[effect]}`, "", "| tenant | tier | host | fields |", "| --- | --- | --- | --- |", ...rows);
  }
  const warnings = [...diff.hosts, ...diff.tenants].flatMap((c) => c.warnings);
  if (warnings.length > 0) lines.push("", ...warnings.map((w) => `> :warning: ${markdownText(w)}`));
  return `${lines.join("\n")}\n`;
}
