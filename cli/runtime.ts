import { dockerOps } from "../runtimes/docker/ops";
import type { RuntimeOps } from "../runtimes/ops";

/** The runtime the CLI's verbs and plan views speak to: the one index.ts deploys with. */
export const runtimeOps: RuntimeOps = dockerOps;
