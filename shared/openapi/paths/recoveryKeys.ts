import { MAX_BODY_BYTES } from '../../http/body';
import { permissionsFor } from '../../auth/permissions';
import { ODATA_TYPE } from '../../recoveryKeys/schema';
import { jsonResponseObject, responseHeaders } from '../headers';
import { BODY_ERRORS, type OperationSpec } from '../operation';
import { pathItem } from '../pathItem';
import { EXAMPLE_KEY_ID, EXAMPLE_RECOVERY_PASSWORD } from '../recoveryKeySchemas';
import { ref } from '../reference';
import { RECOVERY_KEY_TAG } from '../tags';
import type { PathItemObject, RequestBodyObject } from '../types';

// The recovery-key collection ({route}) and its items ({route}/{id}): functions/recoveryKeys.ts.

const ENTITY = ref('schemas', 'bitlockerRecoveryKeyEntity');
const STORED = jsonResponseObject(
  'The stored key; key only if the request body carried it (echoed), never a stored password.',
  ENTITY,
  'ETag',
);

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

/** Both PATCHes upsert: the collection's with the body's id (or a new one), the item's with the URL's. */
const UPSERT = {
  method: 'patch',
  permission: 'writeKey',
  parameters: ['ifMatch', 'ifNoneMatch'],
  requestBody: REQUEST_BODY,
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
    success: { 200: jsonResponseObject('A page of keys.', ref('schemas', 'bitlockerRecoveryKeyCollection')) },
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
    requestBody: REQUEST_BODY,
    success: { 201: jsonResponseObject('Created; key as the request sent it.', ENTITY, 'ETag', 'Location') },
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
    parameters: ['itemSelect', 'itemDeviceId', 'revealReason', 'revealTicket'],
    success: { 200: jsonResponseObject('The key (with key only when selected).', ENTITY, 'ETag') },
    errors: [400, 404, 409],
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

/** For each collection route as registered: its collection path and its item path `{route}/{id}`. */
export function recoveryKeyPaths(collectionRoutes: readonly string[]): [string, PathItemObject][] {
  return collectionRoutes.flatMap((route) => {
    const [collection, collectionItem] = pathItem({ route, path: `/${route}`, tag: RECOVERY_KEY_TAG }, COLLECTION_OPERATIONS);
    const [item, keyItem] = pathItem({ route, path: `/${route}/{id}`, tag: RECOVERY_KEY_TAG }, ITEM_OPERATIONS);
    return [
      [collection, collectionItem],
      [item, { ...keyItem, parameters: [ref('parameters', 'keyId')] }],
    ];
  });
}
