import type { RuntimeCheck } from "../declaration/parse";
import { runtimeChecks as checks } from "../runtimes/checks";
import { dockerOps } from "../runtimes/docker/ops";
import type { RuntimeOps } from "../runtimes/ops";

/** The runtime the CLI's verbs and plan views speak to: the one index.ts deploys with. */
export const runtimeOps: RuntimeOps = dockerOps;

/** What that runtime cannot do exactly as declared: the CLI checks a stack file as the program does. */
export const runtimeChecks: readonly RuntimeCheck[] = checks;
