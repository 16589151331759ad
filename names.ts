/** Names, layout, timing and provider facts that the program, its commands and the CLI share: one home for each. */

/**
 * Pulumi type tokens of clawfleet's components. Each is part of the URN of the component and
 * of every child under it: renaming one makes `pulumi up` replace all of them.
 */
export const componentType = {
  gatewayHost: "clawfleet:index:GatewayHost",
  dedicatedUser: "clawfleet:index:DedicatedUser",
  sharedBinding: "clawfleet:index:SharedBinding",
  tenantPurge: "clawfleet:index:TenantPurge",
} as const;

/**
 * Roles of a component's children; a child is named `<component name>-<role>` (childName), and
 * the name is part of its URN, so a changed role replaces the resource.
 */
export const childRole = {
  // A gateway's resources.
  token: "token",
  state: "state",
  move: "move",
  config: "config",
  claim: "claim",
  network: "network",
  backup: "backup",
  backups: "backups",
  container: "container",
  limits: "limits",
  ready: "ready",
  serve: "serve",
  egress: "egress",
  secrets: "secrets",
  // A host's: its Docker provider, its preparation, what its daemon stores for a gateway container, the image
  // preflight, the schedule of its off-host backups and its shared gateway (`shared-<gateway role>`).
  docker: "docker",
  // A Kubernetes host's provider and namespace, and a Kubernetes gateway's StatefulSet and Service.
  kubernetes: "kubernetes",
  namespace: "namespace",
  statefulset: "statefulset",
  service: "service",
  prepare: "prepare",
  readback: "readback",
  preflight: "preflight",
  offsite: "offsite",
  shared: "shared",
  // A shared tenant's workspace; a purged tenant's purge command.
  workspace: "workspace",
  purge: "purge",
} as const;

/** The name of a component's child: `<component name>-<role>`. */
export function childName(component: string, role: string): string {
  return `${component}-${role}`;
}

/** Docker container (and network) name of a dedicated tenant's gateway. */
export function dedicatedContainerName(tenantId: string): string {
  return `clawfleet-tenant-${tenantId}`;
}

/** Docker container (and network) name of a host's shared gateway: one per host id, so a renamed host never collides with itself. */
export function sharedContainerName(hostId: string): string {
  return `clawfleet-shared-${hostId}`;
}

/**
 * Folders below a host's stateRoot: `users/<id>` per dedicated tenant, `shared` for the shared
 * gateway (its tenants' workspaces in `shared/workspaces/<id>`), `backups/<container>` (taken before
 * an image change), `backups/manual/<container>` (taken by `clawfleet backup`), `secrets/<container>` (the
 * gateway's credentials file, outside its state so that no backup holds it), and `.clawfleet` for clawfleet's own
 * work (the image preflight).
 */
export const stateLayout = {
  users: "users",
  shared: "shared",
  workspaces: "workspaces",
  backups: "backups",
  manualBackups: "manual",
  secrets: "secrets",
  offsite: "offsite",
  work: ".clawfleet",
} as const;

/** A host as the state paths below see it: a Docker host declares its state root; a Kubernetes host has none. */
interface StateHost {
  readonly id: string;
  readonly stateRoot?: string | undefined;
  readonly kubernetes?: { readonly namespace: string } | undefined;
}

/** A Docker host's state root; a Kubernetes host has none (each gateway keeps its state in a volume of its own). */
export function stateRootOf(host: StateHost): string {
  if (host.stateRoot === undefined) {
    throw new Error(`host ${host.id} has no stateRoot: it runs on Kubernetes, where each gateway keeps its state in a volume of its own`);
  }
  return host.stateRoot;
}

/** The Secret holding a Kubernetes gateway's token and credentials: `<gateway>-secrets`. */
export function secretNameOf(gateway: string): string {
  return `${gateway}-secrets`;
}

/** The PersistentVolumeClaim holding a Kubernetes gateway's state: `<gateway>-state`. */
export function stateClaimOf(gateway: string): string {
  return `${gateway}-state`;
}

/** Beside each archive taken before an image change: the image the gateway ran when it was taken, for the way back. */
export const previousImageSuffix = ".image";

/** The PersistentVolumeClaim holding a Kubernetes gateway's backups taken before an image change: `<gateway>-backups`. */
export function backupClaimOf(gateway: string): string {
  return `${gateway}-backups`;
}

/**
 * Where a tenant's state lives, in the host's own terms: a directory below a Docker host's state root, or on a
 * Kubernetes host the gateway's volume (`<namespace>/<claim>`, a shared tenant's workspace folder in it).
 */
export function tenantStateOf(host: StateHost, tier: "dedicated" | "shared", tenantId: string): string {
  if (host.kubernetes === undefined) return tenantStateDir(stateRootOf(host), tier, tenantId);
  const claim = `${host.kubernetes.namespace}/${stateClaimOf(tier === "dedicated" ? dedicatedContainerName(tenantId) : sharedContainerName(host.id))}`;
  return tier === "dedicated" ? claim : `${claim}:${stateLayout.workspaces}/${tenantId}`;
}

/** Where a host's shared gateway keeps its state, in the host's own terms (tenantStateOf). */
export function sharedStateOf(host: StateHost): string {
  return host.kubernetes === undefined ? sharedStateDir(stateRootOf(host)) : `${host.kubernetes.namespace}/${stateClaimOf(sharedContainerName(host.id))}`;
}

/** A dedicated tenant's state directory on its host. */
export function dedicatedStateDir(stateRoot: string, tenantId: string): string {
  return `${stateRoot}/${stateLayout.users}/${tenantId}`;
}

/** The shared gateway's state directory on its host. */
export function sharedStateDir(stateRoot: string): string {
  return `${stateRoot}/${stateLayout.shared}`;
}

/** Where a tenant's state lives on its host: its own directory, or its workspace in the shared gateway. */
export function tenantStateDir(stateRoot: string, tier: "dedicated" | "shared", tenantId: string): string {
  return tier === "dedicated" ? dedicatedStateDir(stateRoot, tenantId) : `${sharedStateDir(stateRoot)}/${stateLayout.workspaces}/${tenantId}`;
}

/** Where a host keeps gateway backups: one folder per gateway container below it, for the backups taken before an image change. */
export function backupRootOf(stateRoot: string): string {
  return `${stateRoot}/${stateLayout.backups}`;
}

/** Where a gateway's backups taken before an image change go (and the rollback finds them): `<stateRoot>/backups/<container>`. */
export function upgradeBackupDirOf(stateRoot: string, container: string): string {
  return `${backupRootOf(stateRoot)}/${container}`;
}

/**
 * Where `clawfleet backup` puts a gateway's archives by default: `<stateRoot>/backups/manual/<container>`,
 * apart from the ones taken before an image change, so that rotation never deletes them.
 */
export function manualBackupDirOf(stateRoot: string, container: string): string {
  return `${manualBackupRootOf(stateRoot)}/${container}`;
}

/** The folder holding every gateway's `clawfleet backup` folder: `<stateRoot>/backups/manual`. */
export function manualBackupRootOf(stateRoot: string): string {
  return `${backupRootOf(stateRoot)}/${stateLayout.manualBackups}`;
}

/** Where the scheduled off-host backup keeps its job, its settings and its S3 credentials (root's, 0700): `<stateRoot>/offsite`. */
export function offsiteJobDirOf(stateRoot: string): string {
  return `${stateRoot}/${stateLayout.offsite}`;
}

/** Where a gateway's credentials file lives on its host: `<stateRoot>/secrets/<container>`, mounted read-only into it. */
export function secretsDirOf(stateRoot: string, container: string): string {
  return `${stateRoot}/${stateLayout.secrets}/${container}`;
}

/** clawfleet's own working folder on a host (the image preflight's copy of state). */
export function workDirOf(stateRoot: string): string {
  return `${stateRoot}/${stateLayout.work}`;
}

/** Label naming a dedicated gateway's tenant, beside the tenant's own labels. */
export const tenantLabel = "clawfleet.tenant";
/** Label naming a gateway's tier. */
export const tierLabel = "clawfleet.tier";
/** The prefix of every label clawfleet sets; a tenant's own labels may not use it. */
export const reservedLabelPrefix = "clawfleet.";

/** Seconds Docker waits after SIGTERM before it kills the gateway (it needs about 2). */
export const stopTimeoutSeconds = 30;

/** Seconds chats pause while a gateway container is replaced, as the diff tells reviewers: stop plus cold start, 28-29 s in bench/results.md. */
export const replacementPauseSeconds = 30;

/** Gateways of a host replaced at the same time after its canary, unless the host declares rollout.lanes. */
export const defaultRolloutLanes = 2;

/** Backups kept per gateway of the state taken right before an image change, unless it declares upgradeBackups. */
export const defaultUpgradeBackups = 3;

/** Seconds after a gateway starts during which failed health checks do not count (it needs 10-25 s, more when busy). */
export const healthStartPeriodSeconds = 120;

/** Seconds a new gateway has to report healthy before the deploy stops (start is 10-25 s; far more on a loaded host). */
export const healthGateSeconds = 300;

/** The `clawfleet.gateway` label value of a dedicated tenant's or a host's shared gateway. */
export function gatewayIdentity(kind: "tenant" | "shared", id: string): string {
  return `${kind}/${id}`;
}

/**
 * Address ranges no gateway reaches unless its declaration allows them (`egress.allow`): private networks,
 * link-local (the cloud metadata address 169.254.169.254) and the shared address space Tailscale numbers its
 * nodes from, so a gateway cannot reach the host's LAN, its cloud's metadata or the tailnet through the host.
 */
export const egressBlockedRanges = [
  { cidr: "10.0.0.0/8", what: "private network" },
  { cidr: "172.16.0.0/12", what: "private network" },
  { cidr: "192.168.0.0/16", what: "private network" },
  { cidr: "169.254.0.0/16", what: "link-local, cloud metadata 169.254.169.254" },
  { cidr: "100.64.0.0/10", what: "shared address space, Tailscale's 100.x addresses" },
] as const;
