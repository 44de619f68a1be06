// The service's routes, as Azure Functions route templates (host.json sets routePrefix to "", so they are
// Graph's paths). A leaf: the functions register them and the OpenAPI document describes them, and
// neither imports the other for it.

/** Graph's path forms: without a version prefix (the seed's), and under /v1.0 and /beta. */
const VERSION_PREFIXES: readonly string[] = ['', 'v1.0/', 'beta/'];

/** The recovery-key collection: the seed's path and Graph's, under each version prefix; `{route}/{id}` is the item. */
export const COLLECTION_ROUTES: readonly string[] = VERSION_PREFIXES.flatMap((version) =>
  ['bitlocker/recoveryKeys', 'informationProtection/bitlocker/recoveryKeys'].map((path) => version + path),
);

/** Where the keys live, under each version prefix: the seed's path and Graph's; the resources this service adds sit beside them. */
const BITLOCKER_PATHS: readonly string[] = VERSION_PREFIXES.flatMap((version) =>
  ['bitlocker', 'informationProtection/bitlocker'].map((path) => version + path),
);

/** A device's BitLocker status (what its disks carry): `{route}/{deviceId}`. */
export const DEVICE_STATUS_ROUTES: readonly string[] = BITLOCKER_PATHS.map((path) => `${path}/deviceStatuses`);

/** Reveal requests (two-person approval): `{route}`, `{route}/{id}`, `{route}/{id}/approve`, `{route}/{id}/deny`. */
export const REVEAL_REQUEST_ROUTES: readonly string[] = BITLOCKER_PATHS.map((path) => `${path}/revealRequests`);

/** Bulk reveal grants (mass recovery): `{route}`, `{route}/{id}`, `{route}/{id}/devices` (the queue). */
export const REVEAL_GRANT_ROUTES: readonly string[] = BITLOCKER_PATHS.map((path) => `${path}/revealGrants`);

/** The signed-in user's own devices and their keys' metadata (self-service). */
export const MY_DEVICES_ROUTES: readonly string[] = BITLOCKER_PATHS.map((path) => `${path}/myDevices`);

/** The latest escrow coverage report. */
export const COVERAGE_REPORT_ROUTES: readonly string[] = BITLOCKER_PATHS.map((path) => `${path}/coverageReport`);

/** The keys disclosed and not yet superseded, longest waiting first (shared/recoveryKeys/rotation.ts). */
export const AWAITING_ROTATION_ROUTES: readonly string[] = BITLOCKER_PATHS.map((path) => `${path}/keysAwaitingRotation`);

/** Graph's audit trail: GET /auditLogs/directoryAudits. */
export const DIRECTORY_AUDITS_ROUTES: readonly string[] = VERSION_PREFIXES.map((version) => `${version}auditLogs/directoryAudits`);

/** Graph's deleted items (Entra ID's recycle bin): `{route}/{id}`, `{route}/{id}/restore`, `{route}/{cast}`. */
export const DELETED_ITEMS_ROUTES: readonly string[] = VERSION_PREFIXES.map((version) => `${version}directory/deletedItems`);

/** The type-cast segment of the deleted-keys list; a literal, so it takes precedence over `{id}` in the host's routing. */
export const DELETED_KEYS_CAST = 'microsoft.graph.bitlockerRecoveryKey';

/** The OpenAPI document of this API. */
export const OPENAPI_ROUTE = 'openapi.json';

/** The platform health probe. */
export const HEALTH_ROUTE = 'health';

/** A function's name for one of its routes: Functions names are unique and take no `/`, `.` or `{`. */
export const functionNameOf = (resource: string, route: string): string => `${resource}-${route.replace(/[^A-Za-z0-9]+/g, '-')}`;
