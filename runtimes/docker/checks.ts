import type { Problem } from "../../declaration/errors";
import type { RuntimeCheck } from "../../declaration/parse";
import { dockerCpus } from "./names";

/**
 * A CPU limit the Docker provider reads back as another number (see dockerCpus) would replace the gateway on every
 * deploy, since cpus forces a new container: refused, naming what it would become.
 */
const exactCpus: RuntimeCheck = (tenants, hosts) =>
  tenants.flatMap((tenant): Problem[] =>
    tenant.tier === "dedicated" && hosts.get(tenant.host)?.kubernetes === undefined && Number(dockerCpus(tenant.cpus)) !== tenant.cpus
      ? [
          {
            // Tenant ids are plain words, so the path needs no quoting.
            path: `tenants.${tenant.id}.cpus`,
            message: `cannot be given to Docker exactly (it reads back as ${dockerCpus(tenant.cpus)}); use a value such as 0.5, 1 or 1.25`,
          },
        ]
      : [],
  );

/** What the Docker runtime cannot do exactly as declared: the wiring passes these to parseFleet. */
export const dockerChecks: readonly RuntimeCheck[] = [exactCpus];
