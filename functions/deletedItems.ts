import { app, type HttpRequest } from '@azure/functions';
import { auditedOperation } from '../shared/audit/auditedOperation';
import { authorizeRequest } from '../shared/auth';
import { type GraphOperation, graphHandler } from '../shared/http/handler';
import { ALL_METHODS, dispatchByMethod } from '../shared/http/methods';
import { preconditionsOf } from '../shared/http/preconditions';
import { publicUrlOf } from '../shared/http/requestContext';
import { DELETED_ITEMS_ROUTES, DELETED_KEYS_CAST } from '../shared/http/routes';
import { emptyResponse, jsonResponse } from '../shared/http/responses';
import { decodeSkipToken, nextLinkOf, parsePageQuery } from '../shared/odata';
import { singleOptions } from '../shared/odata/listQuery';
import * as deleted from '../shared/recoveryKeys/deletedKeys';
import { DELETED_COLLECTION_CONTEXT, deletedEntity, deletedProperties, graphEntity } from '../shared/recoveryKeys/representation';
import { parseKeyIdSegment } from '../shared/recoveryKeys/schema';

// Deleted recovery keys in Graph's directory/deletedItems shapes (Entra ID's recycle bin): list and
// read (metadata and deletedDateTime, never the key), restore, purge. A key gets here through
// DELETE {collection}/{id} and stays DELETED_KEY_RETENTION_DAYS (shared/recoveryKeys/deletedKeys.ts).

const itemId = (request: HttpRequest): string => parseKeyIdSegment(request.params.id ?? '');

/** Every page token of this list belongs to it alone. */
const FINGERPRINT = JSON.stringify({ deletedItems: 'bitlockerRecoveryKey' });

const listDeleted: GraphOperation = async (request, rc, context) => {
  await authorizeRequest(request, rc, context, 'readMetadata');
  const query = parsePageQuery(request.query, 'when listing deleted recovery keys');
  const continuation = query.skipToken ? decodeSkipToken(query.skipToken, FINGERPRINT).continuation : undefined;
  const page = await deleted.listDeletedKeys(query.top, continuation);
  const nextLink = nextLinkOf(publicUrlOf(request, rc), FINGERPRINT, page.continuation);
  return jsonResponse(rc, 200, {
    '@odata.context': `${rc.serviceRoot}/$metadata#${DELETED_COLLECTION_CONTEXT}`,
    value: page.items.map(deletedProperties),
    ...(nextLink !== undefined && { '@odata.nextLink': nextLink }),
  });
};

const getDeleted: GraphOperation = async (request, rc, context) => {
  await authorizeRequest(request, rc, context, 'readMetadata');
  singleOptions(request.query, [], 'when reading a deleted recovery key');
  const key = await deleted.getDeletedKey(itemId(request));
  return jsonResponse(rc, 200, deletedEntity(rc, key), { ETag: key.etag });
};

const restore = auditedOperation('restore', 'restoreKey', async (request, rc, source, target) => {
  const restored = await deleted.restoreDeletedKey(itemId(request), preconditionsOf(request), source);
  target.deviceId = restored.deviceId;
  return jsonResponse(rc, 200, graphEntity(rc, restored), { ETag: restored.etag });
});

const purge = auditedOperation('purge', 'purgeKey', async (request, rc, source, target) => {
  const purged = await deleted.purgeDeletedKey(itemId(request), preconditionsOf(request), source);
  target.deviceId = purged.deviceId;
  return emptyResponse(rc, 204);
});

export const deletedCollectionHandler = graphHandler(dispatchByMethod({ GET: listDeleted }));
export const deletedItemHandler = graphHandler(dispatchByMethod({ GET: getDeleted, DELETE: purge }));
export const restoreHandler = graphHandler(dispatchByMethod({ POST: restore }));

for (const route of DELETED_ITEMS_ROUTES) {
  const name = `deletedItems-${route.replace(/[^A-Za-z0-9]+/g, '-')}`;
  const register = (suffix: string, path: string, handler: ReturnType<typeof graphHandler>): void => {
    app.http(`${name}${suffix}`, { methods: ALL_METHODS, authLevel: 'anonymous', route: `${route}/${path}`, handler });
  };
  register('-keys', DELETED_KEYS_CAST, deletedCollectionHandler);
  register('-item', '{id}', deletedItemHandler);
  register('-restore', '{id}/restore', restoreHandler);
}
