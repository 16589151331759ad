import { compareIds, type Fleet, type Host, type SharedTenant } from "../../declaration/schema";
import { OpsError } from "./errors";
import { hostGateways } from "./targets";

/** Where the diagnostics-prometheus plugin serves its text metrics, behind the gateway's own auth. */
export const metricsPath = "/api/diagnostics/prometheus";

/** Where the file_sd list tells an operator to keep each gateway's token, one file per gateway. */
export const tokenDir = "/etc/prometheus/clawfleet";

/** One entry of a Prometheus file_sd list. */
export interface FileSdEntry {
  readonly targets: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
}

/** A host's gateways are listed when its `observability` (or, when it has none, the stack's) turns prometheus on. */
export function prometheusOn(fleet: Fleet, host: Host): boolean {
  return (host.observability ?? fleet.observability)?.prometheus === true;
}

/**
 * The file_sd list of every gateway on a host that declares prometheus: its tailnet name and port over HTTPS when the
 * host publishes it on the tailnet; else on a Docker host 127.0.0.1 and its published port (the only address it is
 * published on, so a Prometheus on that host), and on a Kubernetes host its Service's cluster name and port (a
 * Prometheus in the cluster). Labels say whose it is; `gateway` names the container, whose token file is
 * `<tokenDir>/<gateway>.token`.
 */
export function prometheusTargets(fleet: Fleet, stack: string): FileSdEntry[] {
  const entries: FileSdEntry[] = [];
  for (const host of [...fleet.hosts].sort((a, b) => compareIds(a.id, b.id))) {
    if (!prometheusOn(fleet, host)) continue;
    for (const { spec, tenant } of hostGateways(fleet, host)) {
      const tenants =
        tenant ??
        fleet.tenants
          .filter((t): t is SharedTenant => t.tier === "shared" && t.host === host.id)
          .map((t) => t.id)
          .sort(compareIds)
          .join(",");
      const tailnet = spec.tailnetName;
      entries.push({
        targets: [
          tailnet !== undefined
            ? `${tailnet}:${spec.tailnetPort ?? spec.port}`
            : host.kubernetes !== undefined
              ? `${spec.name}.${host.kubernetes.namespace}.svc:${spec.port}`
              : `127.0.0.1:${spec.port}`,
        ],
        labels: {
          __scheme__: tailnet === undefined ? "http" : "https",
          __metrics_path__: metricsPath,
          tenant: tenants,
          host: host.id,
          tier: spec.tier,
          stack,
          gateway: spec.name,
        },
      });
    }
  }
  return entries;
}

/** The list as the file Prometheus reads: two-space JSON and a trailing newline. */
export function renderFileSd(entries: readonly FileSdEntry[]): string {
  return `${JSON.stringify(entries, null, 2)}\n`;
}

/**
 * What the operator must know beside the list: each gateway has its own token, which the list never holds, so each is
 * scraped by a job of its own with the token in a root-only file; where to read the token; which hosts publish only on
 * 127.0.0.1; and that the plugin itself is not in the image.
 */
export function targetsNotes(fleet: Fleet, entries: readonly FileSdEntry[]): string[] {
  const local = fleet.hosts
    .filter((h) => prometheusOn(fleet, h) && !h.tailscale.serve)
    .map((h) => h.id)
    .sort(compareIds);
  return [
    `${entries.length} gateway${entries.length === 1 ? "" : "s"} listed; the list holds no token.`,
    `Each gateway has its own token: scrape each with a job of its own that keeps \`gateway="<gateway>"\` and sets`,
    `  authorization: { credentials_file: ${tokenDir}/<gateway>.token }   (a file only Prometheus can read, 0600)`,
    `The tokens are in \`pulumi stack output tenants --show-secrets\`, which prints every token in clear: run it where no one`,
    `watches and write each into its file without echoing it.`,
    ...(local.length === 0
      ? []
      : [
          `Host${local.length === 1 ? "" : "s"} ${local.join(", ")} publish${local.length === 1 ? "es" : ""} gateways on 127.0.0.1 only: scrape them from a Prometheus on that host, or set tailscale.serve.`,
        ]),
    `The gateways answer ${metricsPath} only once the diagnostics-prometheus plugin (from ClawHub) is in the image; clawfleet does not install it.`,
  ];
}

/** The error when no host declares prometheus. */
export function noPrometheusError(stack: string): OpsError {
  return new OpsError(
    `clawfleet targets: no host in ${stack} declares observability.prometheus; set clawfleet:observability.prometheus (or hosts.<id>.observability.prometheus) to true`,
  );
}
