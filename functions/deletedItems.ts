import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { openAudit } from '../shared/audit/scope';
import { authenticate, authorize, authorizeRequest } from '../shared/auth';
import { graphHandler } from '../shared/http/handler';
import { ALL_METHODS, dispatchByMethod } from '../shared/http/methods';
import { preconditionsOf } from '../shared/http/preconditions';
import { publicUrlOf, type RequestContext } from '../shared/http/requestContext';
import { DELETED_ITEMS_ROUTES, DELETED_KEYS_CAST, functionNameOf } from '../shared/http/routes';
import { emptyResponse, jsonResponse } from '../shared/http/responses';
import { continuationOf, nextLinkOf, parsePageQuery, refuseQueryOptions } from '../shared/odata';
import * as deleted from '../shared/recoveryKeys/deletedKeys';
import {
  DELETED_COLLECTION_CONTEXT,
  DELETED_PROPERTIES,
  deletedEntity,
  deletedProperties,
  graphEntity,
} from '../shared/recoveryKeys/representation';
import { keyIdOf } from '../shared/recoveryKeys/schema';
import { ensureVisible, onlyVisible } from '../shared/reveal/scopes';

// Deleted recovery keys in Graph's directory/deletedItems shapes (Entra ID's recycle bin): list and
// read (metadata and deletedDateTime, never the key), restore, purge. A key gets here through
// DELETE {collection}/{id} and stays DELETED_KEY_RETENTION_DAYS (shared/recoveryKeys/deletedKeys.ts).

/** Every page token of this list belongs to it alone. */
const FINGERPRINT = JSON.stringify({ deletedItems: 'bitlockerRecoveryKey' });

/** GET directory/deletedItems/microsoft.graph.bitlockerRecoveryKey: one page of deleted keys, metadata and deletedDateTime. */
export async function listDeleted(
  request: HttpRequest,
  requestContext: RequestContext,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authorizeRequest(request, requestContext, context, 'readMetadata');
  const query = parsePageQuery(request.query, 'when listing deleted recovery keys');
  const continuation = continuationOf(query.skipToken, FINGERPRINT);
  const page = await deleted.listDeletedKeys(query.top, continuation);
  const nextLink = nextLinkOf(publicUrlOf(request, requestContext), FINGERPRINT, page.continuation);
  return jsonResponse(requestContext, 200, {
    '@odata.context': `${requestContext.serviceRoot}/$metadata#${DELETED_COLLECTION_CONTEXT}`,
    // A scoped user (REVEAL_SCOPES) sees only their devices' deleted keys, as in the live list.
    value: (await onlyVisible(caller, page.items)).map(deletedProperties),
    ...(nextLink !== undefined && { '@odata.nextLink': nextLink }),
  });
}

/** GET directory/deletedItems/{id}: one deleted key, with its ETag. */
export async function getDeleted(
  request: HttpRequest,
  requestContext: RequestContext,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authorizeRequest(request, requestContext, context, 'readMetadata');
  refuseQueryOptions(request.query, 'when reading a deleted recovery key', DELETED_PROPERTIES);
  const id = keyIdOf(request);
  const key = await ensureVisible(caller, await deleted.getDeletedKey(id), () => deleted.deletedKeyNotFound(id));
  return jsonResponse(requestContext, 200, deletedEntity(requestContext, key), { ETag: key.etag });
}

/** POST directory/deletedItems/{id}/restore: the live key again, without `key` (BitLockerKey.ReadWrite.All). Audited, allowed or refused. */
export async function restoreDeleted(
  request: HttpRequest,
  requestContext: RequestContext,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authenticate(request, requestContext, context);
  const audit = openAudit(request, requestContext, caller, 'restore');
  try {
    authorize(caller, 'restoreKey');
    const restored = await deleted.restoreDeletedKey(keyIdOf(request), preconditionsOf(request), audit.source);
    return jsonResponse(requestContext, 200, graphEntity(requestContext, restored), { ETag: restored.etag });
  } catch (error) {
    throw await audit.recordFailure(error);
  }
}

/** DELETE directory/deletedItems/{id}: the key and its password gone for good (BitLockerKey.Purge.All only). Audited, allowed or refused. */
export async function purgeDeleted(
  request: HttpRequest,
  requestContext: RequestContext,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authenticate(request, requestContext, context);
  const audit = openAudit(request, requestContext, caller, 'purge');
  try {
    authorize(caller, 'purgeKey');
    await deleted.purgeDeletedKey(keyIdOf(request), preconditionsOf(request), audit.source);
    return emptyResponse(requestContext, 204);
  } catch (error) {
    throw await audit.recordFailure(error);
  }
}

export const deletedCollectionHandler = graphHandler(dispatchByMethod({ GET: listDeleted }));
export const deletedItemHandler = graphHandler(dispatchByMethod({ GET: getDeleted, DELETE: purgeDeleted }));
export const restoreHandler = graphHandler(dispatchByMethod({ POST: restoreDeleted }));

for (const route of DELETED_ITEMS_ROUTES) {
  const name = functionNameOf('deletedItems', route);
  const register = (suffix: string, path: string, handler: ReturnType<typeof graphHandler>): void => {
    app.http(`${name}${suffix}`, { methods: ALL_METHODS, authLevel: 'anonymous', route: `${route}/${path}`, handler });
  };
  register('-keys', DELETED_KEYS_CAST, deletedCollectionHandler);
  register('-item', '{id}', deletedItemHandler);
  register('-restore', '{id}/restore', restoreHandler);
}
