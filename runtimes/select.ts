import type { Host } from "../declaration/schema";
import type { Runtime } from "../components/runtime";
import { dockerRuntime } from "./docker/runtime";
import { kubernetesRuntime } from "./kubernetes/runtime";

export { runtimeChecks } from "./checks";

/** The runtime of a host: Kubernetes when it declares a `kubernetes` placement, Docker otherwise. */
export function runtimeOf(host: Host): Runtime {
  return host.kubernetes === undefined ? dockerRuntime : kubernetesRuntime;
}
