import * as pulumi from "@pulumi/pulumi";
import type { OffsiteDecl } from "../../declaration/schema";
import { manualBackupRootOf, offsiteJobDirOf } from "../../names";
import { asRoot, fail, inlineScript, script, secretsPrelude } from "../shell";
import { gatewayLabel, hostLabel, stackLabel } from "./names";
import { hostScript, hostScriptFiles, operatorScript, operatorScriptFiles } from "./scripts";

export interface OffsiteScheduleArgs {
  readonly hostId: string;
  /** `<project>/<stack>`, as the gateways' stack label holds it. */
  readonly stack: string;
  readonly stateRoot: string;
  readonly offsite: OffsiteDecl & { readonly schedule: string };
}

/** Where systemd reads the units an administrator installs. */
const systemdUnitsDir = "/etc/systemd/system";

/** The systemd units' name (`.timer`, `.service`) of a stack's scheduled off-host backup: one per stack on a host. */
export function offsiteUnitOf(stack: string): string {
  return `clawfleet-offsite-${stack.replace(/[^A-Za-z0-9_.-]/g, "-")}`;
}

/** Installs (again: unchanged files stay as they are) the timer that backs up the host's gateways off it (runtimes/docker/scripts/offsite-schedule.sh). */
export function renderOffsiteSchedule({ hostId, stack, stateRoot, offsite }: OffsiteScheduleArgs): string {
  const { s3 } = offsite;
  return inlineScript("offsite-schedule", script(asRoot, fail, hostScript(hostScriptFiles.offsiteSchedule)), [
    "install",
    offsiteUnitOf(stack),
    offsiteJobDirOf(stateRoot),
    systemdUnitsDir,
    hostId,
    stack,
    offsite.schedule,
    s3.endpoint,
    s3.region,
    s3.bucket,
    s3.prefix,
    offsite.ageRecipient,
    offsite.keep,
    manualBackupRootOf(stateRoot),
    stackLabel,
    hostLabel,
    gatewayLabel,
    hostScript(hostScriptFiles.offsiteJob),
    operatorScript(operatorScriptFiles.backup),
    operatorScript(operatorScriptFiles.offsite),
  ]);
}

/** Removes the timer, its service and the job's folder with its credentials; the archives it made stay. */
export function renderOffsiteUnschedule({ stack, stateRoot }: Pick<OffsiteScheduleArgs, "stack" | "stateRoot">): string {
  return inlineScript("offsite-schedule", script(asRoot, fail, hostScript(hostScriptFiles.offsiteSchedule)), [
    "remove",
    offsiteUnitOf(stack),
    offsiteJobDirOf(stateRoot),
    systemdUnitsDir,
  ]);
}

/** The S3 credentials as the job's folder keeps them: shell assignments, a secret in the plan and the state. */
export function offsiteCredentials(offsite: OffsiteDecl): pulumi.Output<string> {
  return pulumi.secret(secretsPrelude({ S3_ACCESS_KEY_ID: offsite.s3.accessKeyId.value, S3_SECRET_ACCESS_KEY: offsite.s3.secretAccessKey.value }));
}
