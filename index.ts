import { deployFleet } from "./components/fleet";
import { loadFleetForPulumi } from "./declaration/pulumi-config";
import { dockerChecks } from "./runtimes/docker/checks";
import { dockerRuntime } from "./runtimes/docker/runtime";

/** Per tenant: tier, host, port, loopback and tailnet URLs, and the gateway token (secret). */
export const tenants = deployFleet(loadFleetForPulumi(dockerChecks), () => dockerRuntime);
