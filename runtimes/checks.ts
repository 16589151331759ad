import type { RuntimeCheck } from "../declaration/parse";
import { dockerChecks } from "./docker/checks";
import { kubernetesChecks } from "./kubernetes/checks";

/** What each runtime cannot do exactly as declared, checked on its own hosts' tenants (pure: the CLI loads no provider for it). */
export const runtimeChecks: readonly RuntimeCheck[] = [...dockerChecks, ...kubernetesChecks];
