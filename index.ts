import { deployFleet } from "./components/fleet";
import { loadFleetForPulumi } from "./declaration/pulumi-config";
import { runtimeChecks, runtimeOf } from "./runtimes/select";

/** Per tenant: tier, host, port, loopback and tailnet URLs, and the gateway token (secret). */
export const tenants = deployFleet(loadFleetForPulumi(runtimeChecks), runtimeOf);
