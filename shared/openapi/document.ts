import { revealSchemas } from './revealSchemas';
import { revealPaths } from './paths/reveal';
import { coverageSchemas } from './coverageSchemas';
import { directoryAuditSchemas } from './auditSchemas';
import { deletedItemSchemas } from './deletedItemSchemas';
import { errorResponses, GRAPH_ERROR_SCHEMA } from './errors';
import { HEADERS } from './headers';
import { keyIdParameter, PARAMETERS } from './parameters';
import { coveragePaths } from './paths/coverage';
import { deletedItemsPaths } from './paths/deletedItems';
import { keysAwaitingRotationPaths } from './paths/keysAwaitingRotation';
import { directoryAuditPaths } from './paths/directoryAudits';
import { HEALTH_PATH } from './paths/health';
import { OPENAPI_DOCUMENT_PATH } from './paths/openApiDocument';
import { recoveryKeyPaths } from './paths/recoveryKeys';
import { recoveryKeySchemas } from './recoveryKeySchemas';
import { SECURITY, SECURITY_SCHEMES } from './security';
import { TAGS } from './tags';
import type { OpenApiDocument, SchemaObject } from './types';

// The OpenAPI 3.0.3 description of the whole API, for Azure API Management's import and for clients,
// assembled from its parts. Paths come from the routes the functions register, properties from the
// joi schema that validates bodies, permissions from the permission matrix: nothing in these modules
// is a second copy of those. (The directoryAudit shape is the exception: no validation schema exists
// to derive it from.)

/** The routes as the functions register them (shared/http/routes.ts), which the document's paths follow. */
export interface DocumentOptions {
  /** The recovery-key collection routes as registered; each also has an item route `{route}/{id}`. */
  readonly collectionRoutes: readonly string[];
  /** The routes of GET auditLogs/directoryAudits as registered. */
  readonly auditRoutes: readonly string[];
  /** The directory/deletedItems routes as registered; each has `/{cast}`, `/{id}` and `/{id}/restore` below it. */
  readonly deletedItemsRoutes: readonly string[];
  /** The type-cast segment of the deleted keys' list, `microsoft.graph.bitlockerRecoveryKey`. */
  readonly deletedKeysCast: string;
  /** The device-status routes as registered; each has its item `/{deviceId}` only. */
  readonly deviceStatusRoutes: readonly string[];
  /** The coverage-report routes as registered. */
  readonly coverageRoutes: readonly string[];
  /** The reveal-request, bulk-grant and my-devices routes as registered (shared/http/routes.ts). */
  readonly revealRequestRoutes: readonly string[];
  readonly revealGrantRoutes: readonly string[];
  readonly myDevicesRoutes: readonly string[];
  /** The keys-awaiting-rotation routes as registered. */
  readonly awaitingRotationRoutes: readonly string[];
}

const DESCRIPTION = [
  "A BitLocker recovery-key escrow service speaking Microsoft Graph's bitlockerRecoveryKey API.",
  'Every path works with and without /v1.0 or /beta, under both /bitlocker/recoveryKeys (the write path devices use) and ' +
    "Graph's /informationProtection/bitlocker/recoveryKeys, so the Graph SDKs work with a base URL of {server}/v1.0.",
  "Every error has Graph's shape (components/schemas/graphError) and every response a request-id header.",
].join('\n\n');

/**
 * The document without `servers`, which depends on where it is served from (see withServer). Throws
 * SchemaDerivationError (joiSchema.ts) when the joi schema and the document's hints have drifted apart.
 */
export function buildOpenApiDocument({
  collectionRoutes,
  auditRoutes,
  deletedItemsRoutes,
  deletedKeysCast,
  deviceStatusRoutes,
  coverageRoutes,
  revealRequestRoutes,
  revealGrantRoutes,
  myDevicesRoutes,
  awaitingRotationRoutes,
}: DocumentOptions): OpenApiDocument {
  const schemas: Record<string, SchemaObject> = {
    ...recoveryKeySchemas(),
    ...deletedItemSchemas(),
    ...directoryAuditSchemas(),
    ...coverageSchemas(),
    ...revealSchemas(),
    graphError: GRAPH_ERROR_SCHEMA,
  };
  return {
    openapi: '3.0.3',
    info: { title: 'BitLocker recovery-key escrow', version: '1.0', description: DESCRIPTION },
    tags: TAGS,
    paths: Object.fromEntries([
      ...recoveryKeyPaths(collectionRoutes),
      ...deletedItemsPaths(deletedItemsRoutes, deletedKeysCast),
      ...directoryAuditPaths(auditRoutes),
      ...coveragePaths(deviceStatusRoutes, coverageRoutes),
      ...revealPaths(revealRequestRoutes, revealGrantRoutes, myDevicesRoutes),
      ...keysAwaitingRotationPaths(awaitingRotationRoutes),
      OPENAPI_DOCUMENT_PATH,
      HEALTH_PATH,
    ]),
    components: {
      schemas,
      responses: errorResponses(),
      parameters: { ...PARAMETERS, keyId: keyIdParameter(schemas) },
      headers: HEADERS,
      securitySchemes: SECURITY_SCHEMES,
    },
    security: SECURITY,
  };
}
