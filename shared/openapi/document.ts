import { SUPPORTED_AUDIT_FILTERS } from '../audit/query';
import { type Operation, permissionsFor } from '../auth/permissions';
import { MAX_BODY_BYTES } from '../http/body';
import { HEALTH_ROUTE, OPENAPI_ROUTE } from '../http/routes';
import { DEFAULT_PAGE_SIZE, ITEM_SELECTABLE_PROPERTIES, MAX_TOP, SELECTABLE_PROPERTIES } from '../odata/listQuery';
import {
  MAX_REVEAL_REASON_TEXT,
  MAX_REVEAL_TICKET,
  REVEAL_REASON_CODES,
  REVEAL_REASON_HEADER,
  REVEAL_TICKET_HEADER,
} from '../recoveryKeys/revealReasonCodes';
import { ODATA_TYPE } from '../recoveryKeys/schema';
import { directoryAuditSchemas } from './auditSchemas';
import { deletedItemSchemas } from './deletedItemSchemas';
import { EXAMPLE_KEY_ID, EXAMPLE_RECOVERY_PASSWORD, keyIdParameterSchema, recoveryKeySchemas } from './recoveryKeySchemas';
import { type ErrorStatus, errorRefs, errorResponses, GRAPH_ERROR_SCHEMA, HEADERS, jsonResponse, responseHeaders } from './responses';
import { ref } from './reference';
import type {
  HttpMethodName,
  OpenApiDocument,
  OperationExtensions,
  OperationObject,
  ParameterObject,
  PathItemObject,
  Reference,
  RequestBodyObject,
  ResponseObject,
  SchemaObject,
} from './types';

// The OpenAPI 3.0.3 description of the whole API, for Azure API Management's import and for clients.
// Paths come from the routes the functions register, properties from the joi schema that validates
// bodies, permissions from the permission matrix: nothing here is a second copy of those. (The
// directoryAudit shape is the exception: no validation schema exists to derive it from.)

/** Where the document is served (registered by functions/openapi.ts, without a route prefix). */

/** GET /health: see functions/health.ts. */

export interface DocumentOptions {
  /** The recovery-key collection routes as registered; each also has an item route `{route}/{id}`. */
  readonly collectionRoutes: readonly string[];
  /** The routes of GET auditLogs/directoryAudits as registered. */
  readonly auditRoutes: readonly string[];
  /** The directory/deletedItems routes as registered; each has `/{cast}`, `/{id}` and `/{id}/restore` below it. */
  readonly deletedItemsRoutes: readonly string[];
  /** The type-cast segment of the deleted keys' list, `microsoft.graph.bitlockerRecoveryKey`. */
  readonly deletedKeysCast: string;
}

const SECURITY_SCHEME = 'entraId';
const TAG = 'bitlockerRecoveryKey';
const AUDIT_TAG = 'directoryAudit';
const DELETED_TAG = 'deletedItems';
const METADATA_TAG = 'openapi';

function selectParameter(selectable: readonly string[], description: string): ParameterObject {
  return {
    name: '$select',
    in: 'query',
    description: `${description} Comma-separated; names are case-sensitive.`,
    style: 'form',
    explode: false,
    schema: { type: 'array', items: { type: 'string', enum: [...selectable] } },
  };
}

const PARAMETERS = {
  filter: {
    name: '$filter',
    in: 'query',
    description:
      "One of: deviceId eq '{guid}' (Graph's), id eq '{guid}', startswith(id,'{hex prefix}') (the first characters of " +
      'the key ID shown on the recovery screen). Anything else is a 400 that says what is supported.',
    schema: { type: 'string' },
    example: "deviceId eq '1cf1b1b6-7a54-4c2e-9e4b-8f3a2d1c0b9a'",
  },
  auditFilter: {
    name: '$filter',
    in: 'query',
    description: `${SUPPORTED_AUDIT_FILTERS}. Anything else is a 400.`,
    schema: { type: 'string' },
    example: "activityDisplayName eq 'Read BitLocker key' and activityDateTime ge 2026-11-01T00:00:00Z",
  },
  top: {
    name: '$top',
    in: 'query',
    description: 'Page size; in digits.',
    schema: { type: 'integer', minimum: 1, maximum: MAX_TOP, default: DEFAULT_PAGE_SIZE },
  },
  listSelect: selectParameter(SELECTABLE_PROPERTIES, 'Properties to return; key cannot be selected on the list.'),
  itemSelect: selectParameter(
    ITEM_SELECTABLE_PROPERTIES,
    `Properties to return; key returns the recovery password and needs ${permissionsFor.readKey.join(' or ')} (the read is audited first).`,
  ),
  deletedTop: {
    name: '$top',
    in: 'query',
    description: 'Page size; in digits. The only other option is $skiptoken.',
    schema: { type: 'integer', minimum: 1, maximum: MAX_TOP, default: DEFAULT_PAGE_SIZE },
  },
  skipToken: {
    name: '$skiptoken',
    in: 'query',
    description: 'Opaque; take it from @odata.nextLink together with the filter it was issued for.',
    schema: { type: 'string', minLength: 1 },
  },
  clientRequestId: {
    name: 'client-request-id',
    in: 'header',
    description: 'Echoed in the response and in innerError of an error; printable ASCII, at most 128 characters.',
    schema: { type: 'string', maxLength: 128 },
  },
  revealReason: {
    name: REVEAL_REASON_HEADER,
    in: 'header',
    description:
      `Why the key is read (with $select=key): one of the codes, optionally followed by ':' and at most ${MAX_REVEAL_REASON_TEXT} printable ASCII characters, ` +
      "e.g. lostPin:user locked out after a BIOS update. Recorded in the read's audit entry (additionalDetails RevealReason). " +
      'Malformed: 400. Required when the service runs with REQUIRE_REVEAL_REASON=true (else a 400 that lists the codes).',
    schema: { type: 'string', pattern: `^(${REVEAL_REASON_CODES.join('|')})(:[\\x20-\\x7e]{0,${MAX_REVEAL_REASON_TEXT}})?$` },
    example: 'lostPin:user locked out after a BIOS update',
  },
  revealTicket: {
    name: REVEAL_TICKET_HEADER,
    in: 'header',
    description: `The helpdesk ticket the key is read for (with $select=key); printable ASCII, at most ${MAX_REVEAL_TICKET} characters. Recorded in the read's audit entry (additionalDetails RevealTicket).`,
    schema: { type: 'string', maxLength: MAX_REVEAL_TICKET, pattern: '^[\\x20-\\x7e]*$' },
    example: 'INC0012345',
  },
  ifMatch: {
    name: 'If-Match',
    in: 'header',
    description: 'An ETag: apply only if the stored version matches (else 412). *: only if the key exists.',
    schema: { type: 'string' },
  },
  ifNoneMatch: {
    name: 'If-None-Match',
    in: 'header',
    description: '*: apply only if the key does not exist yet (else 412).',
    schema: { type: 'string', enum: ['*'] },
  },
} satisfies Record<string, ParameterObject>;

type ParameterName = keyof typeof PARAMETERS | 'keyId';

interface OperationSpec {
  readonly method: HttpMethodName;
  /** The operationId's stem; the path form is appended, since API Management wants them unique. */
  readonly action: string;
  readonly summary: string;
  readonly description: string;
  readonly permission: Operation;
  readonly parameters?: readonly ParameterName[];
  readonly body?: true;
  readonly success: Readonly<Record<string, ResponseObject>>;
  readonly errors?: readonly ErrorStatus[];
  readonly extensions?: OperationExtensions;
}

const COMMON_ERRORS: readonly ErrorStatus[] = [400, 401, 403, 429, 500, 503];
const BODY_ERRORS: readonly ErrorStatus[] = [413, 415];

const ENTITY = ref('schemas', 'bitlockerRecoveryKeyEntity');
const STORED = jsonResponse('The stored key; key only if the request body carried it (echoed), never a stored password.', ENTITY, 'ETag');

/** Both PATCHes upsert: the collection's with the body's id (or a new one), the item's with the URL's. */
const UPSERT = {
  method: 'patch',
  permission: 'writeKey',
  parameters: ['ifMatch', 'ifNoneMatch'],
  body: true,
  success: { 200: STORED },
  errors: [...BODY_ERRORS, 409, 412],
} as const satisfies Partial<OperationSpec>;

const COLLECTION_OPERATIONS: readonly OperationSpec[] = [
  {
    method: 'get',
    action: 'listRecoveryKeys',
    summary: 'List recovery keys',
    description: 'Pages of keys, never with key. Server-driven paging: follow @odata.nextLink.',
    permission: 'readMetadata',
    parameters: ['filter', 'top', 'listSelect', 'skipToken'],
    success: { 200: jsonResponse('A page of keys.', ref('schemas', 'bitlockerRecoveryKeyCollection')) },
  },
  {
    ...UPSERT,
    action: 'escrowRecoveryKey',
    summary: 'Escrow a recovery key',
    description:
      'With id in the body: an upsert of that key (a key other than the stored one is a 409). Without id: a new key with a server-generated id.',
  },
  {
    method: 'post',
    action: 'createRecoveryKey',
    summary: 'Create a recovery key',
    description: 'Creates the key; 409 if one with this id exists. Without id, the server generates one.',
    permission: 'writeKey',
    body: true,
    success: { 201: jsonResponse('Created; key as the request sent it.', ENTITY, 'ETag', 'Location') },
    errors: [...BODY_ERRORS, 409],
  },
];

const ITEM_OPERATIONS: readonly OperationSpec[] = [
  {
    method: 'get',
    action: 'getRecoveryKey',
    summary: 'Get a recovery key',
    description: `The key's properties; key only with $select=key, which needs ${permissionsFor.readKey.join(' or ')}.`,
    permission: 'readMetadata',
    parameters: ['itemSelect', 'revealReason', 'revealTicket'],
    success: { 200: jsonResponse('The key (with key only when selected).', ENTITY, 'ETag') },
    errors: [400, 404],
    extensions: { 'x-key-permissions': [...permissionsFor.readKey] },
  },
  {
    ...UPSERT,
    action: 'upsertRecoveryKey',
    summary: 'Create or update a recovery key',
    description:
      "Upsert: merges the given properties, or creates the key if absent. A body id other than the URL's is a 400. " +
      'A key other than the stored one is a 409: a recovery password never changes under its key ID.',
  },
  {
    method: 'delete',
    action: 'deleteRecoveryKey',
    summary: 'Delete a recovery key',
    description:
      'A soft delete; audited. The key leaves every read and list and is kept for DELETED_KEY_RETENTION_DAYS (default 90), ' +
      'restorable at directory/deletedItems/{id}/restore. Writing to its id meanwhile is a 409.',
    permission: 'deleteKey',
    parameters: ['ifMatch'],
    success: { 204: { description: 'Deleted.', headers: responseHeaders() } },
    errors: [404, 412],
  },
];

const AUDIT_OPERATIONS: readonly OperationSpec[] = [
  {
    method: 'get',
    action: 'listDirectoryAudits',
    summary: 'List directory audits',
    description: 'Every write, delete and key read of a recovery key, allowed or refused; newest first. Follow @odata.nextLink.',
    permission: 'readAudit',
    parameters: ['auditFilter', 'top', 'skipToken'],
    success: { 200: jsonResponse('A page of audit records.', ref('schemas', 'directoryAuditCollection')) },
  },
];

const DELETED_ENTITY = ref('schemas', 'deletedBitlockerRecoveryKeyEntity');

const DELETED_COLLECTION_OPERATIONS: readonly OperationSpec[] = [
  {
    method: 'get',
    action: 'listDeletedRecoveryKeys',
    summary: 'List deleted recovery keys',
    description: 'Keys deleted within DELETED_KEY_RETENTION_DAYS (default 90), with deletedDateTime; never key. Follow @odata.nextLink.',
    permission: 'readMetadata',
    parameters: ['deletedTop', 'skipToken'],
    success: { 200: jsonResponse('A page of deleted keys.', ref('schemas', 'deletedBitlockerRecoveryKeyCollection')) },
  },
];

const DELETED_ITEM_OPERATIONS: readonly OperationSpec[] = [
  {
    method: 'get',
    action: 'getDeletedRecoveryKey',
    summary: 'Get a deleted recovery key',
    description:
      "A deleted key's properties and deletedDateTime; never key. 404 if it is not deleted, or was purged, or its retention ended.",
    permission: 'readMetadata',
    success: { 200: jsonResponse('The deleted key.', DELETED_ENTITY, 'ETag') },
    errors: [404],
  },
  {
    method: 'delete',
    action: 'purgeDeletedRecoveryKey',
    summary: 'Purge a deleted recovery key',
    description: 'Deletes the key and its password for good; audited. Needs its own app role: ReadWrite.All does not imply it.',
    permission: 'purgeKey',
    parameters: ['ifMatch'],
    success: { 204: { description: 'Purged.', headers: responseHeaders() } },
    errors: [404, 412],
  },
];

const RESTORE_OPERATIONS: readonly OperationSpec[] = [
  {
    method: 'post',
    action: 'restoreDeletedRecoveryKey',
    summary: 'Restore a deleted recovery key',
    description: 'The key is live again with its password, in its device list again; audited. The answer carries no key.',
    permission: 'restoreKey',
    parameters: ['ifMatch'],
    success: { 200: jsonResponse('The restored key, without key.', ENTITY, 'ETag') },
    errors: [404, 412],
  },
];

const UNSUPPORTED_METHODS = 'Methods not listed here are answered 405 (components/responses/methodNotAllowed) with an Allow header.';

const REQUEST_BODY: RequestBodyObject = {
  required: true,
  description: `JSON (Content-Type: application/json), at most ${MAX_BODY_BYTES} bytes.`,
  content: {
    'application/json': {
      schema: ref('schemas', 'bitlockerRecoveryKeyInput'),
      example: {
        '@odata.type': ODATA_TYPE,
        id: EXAMPLE_KEY_ID,
        deviceId: '1cf1b1b6-7a54-4c2e-9e4b-8f3a2d1c0b9a',
        volumeType: 1,
        key: EXAMPLE_RECOVERY_PASSWORD,
      },
    },
  },
};

/** `v1.0/bitlocker/recoveryKeys` as `v1_0_bitlocker_recoveryKeys`: API Management's operation names allow no dots. */
const slug = (route: string): string =>
  route
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .join('_');

/** Where operations are documented: `route` names them (an item is named by its collection), `path` is the URL. */
interface PathForm {
  readonly route: string;
  readonly path: string;
  readonly tag: string;
}

function operation(spec: OperationSpec, form: PathForm): OperationObject {
  const permissions = permissionsFor[spec.permission];
  return {
    operationId: `${spec.action}_${slug(form.route)}`,
    summary: `${spec.summary} (${form.path})`,
    description: `${spec.description}\n\nPermission: ${permissions.length > 1 ? 'one of ' : ''}${permissions.join(', ')}.`,
    tags: [form.tag],
    parameters: [...(spec.parameters ?? []), 'clientRequestId'].map((name) => ref('parameters', name)),
    ...(spec.body && { requestBody: REQUEST_BODY }),
    responses: { ...spec.success, ...errorRefs([...COMMON_ERRORS, ...(spec.errors ?? [])]) },
    'x-permissions': [...permissions],
    ...spec.extensions,
  };
}

/**
 * The HEAD of a path that has a GET (shared/http/methods.ts dispatchByMethod): GET's status codes and
 * headers, no body. `$select=key` is refused on HEAD.
 */
function withHead(item: PathItemObject): PathItemObject {
  const get = item.get;
  if (!get) return item;
  const responses = Object.fromEntries(
    Object.entries(get.responses).map(([status, response]): [string, ResponseObject | Reference] => {
      if ('$ref' in response) return [status, response];
      const { content: _body, ...headersOnly } = response;
      return [status, headersOnly];
    }),
  );
  return {
    ...item,
    head: {
      ...get,
      operationId: get.operationId.replace(/^[^_]+/, '$&Head'),
      summary: `HEAD: ${get.summary}`,
      description: `The GET's status and headers (ETag, Content-Type, Content-Length, request-id) without its body. $select=key is a 400 on HEAD: only a GET reads a key.\n\n${get.description ?? ''}`,
      responses,
    },
  };
}

function pathItem(form: PathForm, specs: readonly OperationSpec[]): [string, PathItemObject] {
  return [
    form.path,
    withHead({ description: UNSUPPORTED_METHODS, ...Object.fromEntries(specs.map((spec) => [spec.method, operation(spec, form)])) }),
  ];
}

function recoveryKeyPaths(collectionRoutes: readonly string[]): [string, PathItemObject][] {
  return collectionRoutes.flatMap((route) => {
    const [collection, collectionItem] = pathItem({ route, path: `/${route}`, tag: TAG }, COLLECTION_OPERATIONS);
    const [item, keyItem] = pathItem({ route, path: `/${route}/{id}`, tag: TAG }, ITEM_OPERATIONS);
    return [
      [collection, collectionItem],
      [item, { ...keyItem, parameters: [ref('parameters', 'keyId')] }],
    ];
  });
}

function deletedItemsPaths(routes: readonly string[], cast: string): [string, PathItemObject][] {
  return routes.flatMap((route) => {
    const form = (path: string): PathForm => ({ route, path: `/${route}${path}`, tag: DELETED_TAG });
    const [item, itemPath] = pathItem(form('/{id}'), DELETED_ITEM_OPERATIONS);
    const [restore, restorePath] = pathItem(form('/{id}/restore'), RESTORE_OPERATIONS);
    const withId = { parameters: [ref('parameters', 'keyId')] };
    return [
      pathItem(form(`/${cast}`), DELETED_COLLECTION_OPERATIONS),
      [item, { ...itemPath, ...withId }],
      [restore, { ...restorePath, ...withId }],
    ];
  });
}

const auditPaths = (auditRoutes: readonly string[]): [string, PathItemObject][] =>
  auditRoutes.map((route) => pathItem({ route, path: `/${route}`, tag: AUDIT_TAG }, AUDIT_OPERATIONS));

const OPENAPI_PATH: PathItemObject = withHead({
  description: UNSUPPORTED_METHODS,
  get: {
    operationId: 'getOpenApiDocument',
    summary: 'This OpenAPI document',
    description: 'Needs no token. servers[0] is the origin the request was sent to.',
    tags: [METADATA_TAG],
    security: [],
    parameters: [ref('parameters', 'clientRequestId')],
    responses: {
      200: jsonResponse('The OpenAPI 3.0.3 document.', { type: 'object' }),
      ...errorRefs([500]),
    },
  },
});

const HEALTH_PATH: PathItemObject = {
  description: UNSUPPORTED_METHODS,
  get: {
    operationId: 'getHealth',
    summary: 'Whether this instance can serve: storage and the encryption keyring answer',
    description:
      'Needs no token. 200 when both answer; 503 (serviceNotAvailable) naming the failing dependency otherwise. ' +
      'At most one storage request; the result is shared for a few seconds per instance.',
    tags: [METADATA_TAG],
    security: [],
    parameters: [ref('parameters', 'clientRequestId')],
    responses: {
      200: jsonResponse('Healthy.', {
        type: 'object',
        properties: {
          status: { type: 'string', enum: ['healthy'] },
          checks: { type: 'object', properties: { storage: { type: 'string' }, keyring: { type: 'string' }, auth: { type: 'string' } } },
        },
      }),
      ...errorRefs([500, 503]),
    },
  },
};

function keyIdParameter(schemas: Record<string, SchemaObject>): ParameterObject {
  return {
    name: 'id',
    in: 'path',
    required: true,
    description: 'The recovery key ID; a GUID in any case, with or without braces (a malformed one is a 400).',
    schema: keyIdParameterSchema(schemas),
    example: EXAMPLE_KEY_ID,
  };
}

const DESCRIPTION = [
  "A BitLocker recovery-key escrow service speaking Microsoft Graph's bitlockerRecoveryKey API.",
  'Every path works with and without /v1.0 or /beta, under both /bitlocker/recoveryKeys (the write path devices use) and ' +
    "Graph's /informationProtection/bitlocker/recoveryKeys, so the Graph SDKs work with a base URL of {server}/v1.0.",
  "Every error has Graph's shape (components/schemas/graphError) and every response a request-id header.",
].join('\n\n');

/** The document without `servers`, which depends on where it is served from (see withServer). */
export function buildOpenApiDocument({
  collectionRoutes,
  auditRoutes,
  deletedItemsRoutes,
  deletedKeysCast,
}: DocumentOptions): OpenApiDocument {
  const schemas: Record<string, SchemaObject> = {
    ...recoveryKeySchemas(),
    ...deletedItemSchemas(),
    ...directoryAuditSchemas(),
    graphError: GRAPH_ERROR_SCHEMA,
  };
  return {
    openapi: '3.0.3',
    info: { title: 'BitLocker recovery-key escrow', version: '1.0', description: DESCRIPTION },
    tags: [
      { name: TAG, description: 'microsoft.graph.bitlockerRecoveryKey' },
      { name: DELETED_TAG, description: 'Deleted recovery keys (directory/deletedItems): list, read, restore, purge.' },
      { name: AUDIT_TAG, description: 'microsoft.graph.directoryAudit: the audit trail of recovery-key operations.' },
      { name: METADATA_TAG, description: 'This description of the API, and the health probe.' },
    ],
    paths: Object.fromEntries([
      ...recoveryKeyPaths(collectionRoutes),
      ...deletedItemsPaths(deletedItemsRoutes, deletedKeysCast),
      ...auditPaths(auditRoutes),
      [`/${OPENAPI_ROUTE}`, OPENAPI_PATH],
      [`/${HEALTH_ROUTE}`, HEALTH_PATH],
    ]),
    components: {
      schemas,
      responses: errorResponses(),
      parameters: { ...PARAMETERS, keyId: keyIdParameter(schemas) },
      headers: HEADERS,
      securitySchemes: {
        [SECURITY_SCHEME]: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'An Entra ID access token for this API (RS256). Permissions come from roles (application) or scp (delegated); ' +
            "each operation's x-permissions lists those that allow it (any one suffices).",
        },
      },
    },
    security: [{ [SECURITY_SCHEME]: [] }],
  };
}

/** The document with `servers` set to one origin, e.g. `https://escrow.example.net`, so an import from its URL targets that host. */
export function withServer(document: OpenApiDocument, origin: string): OpenApiDocument {
  const { openapi, info, servers: _servers, ...rest } = document;
  return { openapi, info, servers: [{ url: origin }], ...rest };
}
