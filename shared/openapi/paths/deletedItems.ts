import { jsonResponseObject, responseHeaders } from '../headers';
import type { OperationSpec, PathForm } from '../operation';
import { pathItem } from '../pathItem';
import { ref } from '../reference';
import { DELETED_ITEMS_TAG } from '../tags';
import type { PathItemObject } from '../types';

// directory/deletedItems: the deleted keys' list ({route}/{cast}), one deleted key ({route}/{id}) and
// its restore ({route}/{id}/restore): functions/deletedItems.ts.

const DELETED_ENTITY = ref('schemas', 'deletedBitlockerRecoveryKeyEntity');

const DELETED_COLLECTION_OPERATIONS: readonly OperationSpec[] = [
  {
    method: 'get',
    action: 'listDeletedRecoveryKeys',
    summary: 'List deleted recovery keys',
    description: 'Keys deleted within DELETED_KEY_RETENTION_DAYS (default 90), with deletedDateTime; never key. Follow @odata.nextLink.',
    permission: 'readMetadata',
    parameters: ['deletedTop', 'skipToken'],
    success: { 200: jsonResponseObject('A page of deleted keys.', ref('schemas', 'deletedBitlockerRecoveryKeyCollection')) },
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
    success: { 200: jsonResponseObject('The deleted key.', DELETED_ENTITY, 'ETag') },
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
    success: { 200: jsonResponseObject('The restored key, without key.', ref('schemas', 'bitlockerRecoveryKeyEntity'), 'ETag') },
    errors: [404, 412],
  },
];

/** For each deletedItems route as registered: `{route}/{cast}` (the list), `{route}/{id}` and `{route}/{id}/restore`. */
export function deletedItemsPaths(routes: readonly string[], cast: string): [string, PathItemObject][] {
  return routes.flatMap((route) => {
    const form = (path: string): PathForm => ({ route, path: `/${route}${path}`, tag: DELETED_ITEMS_TAG });
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
