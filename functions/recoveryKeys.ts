import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { authorize, authorizeRequest } from '../shared/auth';
import { readJsonObject } from '../shared/http/body';
import { methodNotAllowed } from '../shared/http/graphError';
import { type GraphOperation, graphHandler } from '../shared/http/handler';
import { ALL_METHODS } from '../shared/http/methods';
import { preconditionsOf } from '../shared/http/preconditions';
import type { RequestContext } from '../shared/http/requestContext';
import { emptyResponse, jsonResponse } from '../shared/http/responses';
import { decodeSkipToken, encodeSkipToken, parseItemSelect, parseListQuery } from '../shared/odata';
import type { StoredRecoveryKey } from '../shared/recoveryKeys/model';
import {
  COLLECTION_CONTEXT,
  graphEntity,
  graphProperties,
  type KeyProperty,
  propertiesFor,
} from '../shared/recoveryKeys/representation';
import { parseKeyIdSegment, parseRecoveryKeyInput } from '../shared/recoveryKeys/schema';
import * as keys from '../shared/recoveryKeys/service';

function entityResponse(
  rc: RequestContext,
  status: number,
  key: StoredRecoveryKey,
  properties: readonly KeyProperty[],
  headers: Record<string, string> = {},
): HttpResponseInit {
  return jsonResponse(rc, status, graphEntity(rc, key, properties), { ETag: key.etag, ...headers });
}

const itemId = (request: HttpRequest): string => parseKeyIdSegment(request.params.id ?? '');

const listKeys: GraphOperation = async (request, rc, context) => {
  await authorizeRequest(request, rc, context, 'readMetadata');
  const query = parseListQuery(request.query);
  // A page token belongs to the filter it was issued for; it is refused under any other.
  const fingerprint = JSON.stringify(query.filter ?? null);
  const continuation = query.skipToken ? decodeSkipToken(query.skipToken, fingerprint).continuation : undefined;
  const page = await keys.listRecoveryKeys(query.filter, query.top, continuation);
  const properties = query.select ?? propertiesFor(false);
  const body: Record<string, unknown> = {
    '@odata.context': `${rc.serviceRoot}/$metadata#${COLLECTION_CONTEXT}${query.select ? `(${query.select.join(',')})` : ''}`,
    value: page.items.map((key) => graphProperties(key, properties)),
  };
  if (page.continuation !== undefined) {
    const next = new URL(request.url);
    next.searchParams.set('$skiptoken', encodeSkipToken({ query: fingerprint, continuation: page.continuation }));
    body['@odata.nextLink'] = next.toString();
  }
  return jsonResponse(rc, 200, body);
};

const getKey: GraphOperation = async (request, rc, context) => {
  const caller = await authorizeRequest(request, rc, context, 'readMetadata');
  const id = itemId(request);
  const { includeKey } = parseItemSelect(request.query);
  if (includeKey) authorize(caller, 'readKey');
  return entityResponse(rc, 200, await keys.getRecoveryKey(id), propertiesFor(includeKey));
};

const patchCollection: GraphOperation = async (request, rc, context) => {
  await authorizeRequest(request, rc, context, 'writeKey');
  const input = parseRecoveryKeyInput(await readJsonObject(request));
  const { key } = await keys.upsertRecoveryKey(undefined, input, preconditionsOf(request));
  return entityResponse(rc, 200, key, propertiesFor(true));
};

const patchItem: GraphOperation = async (request, rc, context) => {
  await authorizeRequest(request, rc, context, 'writeKey');
  const id = itemId(request);
  const input = parseRecoveryKeyInput(await readJsonObject(request), id);
  const { key } = await keys.upsertRecoveryKey(id, input, preconditionsOf(request));
  return entityResponse(rc, 200, key, propertiesFor(true));
};

const postKey: GraphOperation = async (request, rc, context) => {
  await authorizeRequest(request, rc, context, 'writeKey');
  const key = await keys.createRecoveryKey(parseRecoveryKeyInput(await readJsonObject(request)));
  const collection = new URL(request.url);
  const location = `${collection.origin}${collection.pathname.replace(/\/+$/, '')}/${key.id}`;
  return entityResponse(rc, 201, key, propertiesFor(true), { Location: location });
};

const deleteKey: GraphOperation = async (request, rc, context) => {
  await authorizeRequest(request, rc, context, 'writeKey');
  await keys.deleteRecoveryKey(itemId(request), preconditionsOf(request));
  return emptyResponse(rc, 204);
};

type MethodTable = Partial<Record<string, GraphOperation>>;

function dispatch(methods: MethodTable): GraphOperation {
  const allowed = Object.keys(methods);
  return (request, rc, context) => {
    const operation = methods[request.method.toUpperCase()];
    if (!operation) throw methodNotAllowed(request.method, allowed);
    return operation(request, rc, context);
  };
}

export const collectionHandler = graphHandler(dispatch({ GET: listKeys, PATCH: patchCollection, POST: postKey }));
export const itemHandler = graphHandler(dispatch({ GET: getKey, PATCH: patchItem, DELETE: deleteKey }));

/** The seed's path and Graph's, each without a version prefix and under /v1.0 and /beta. */
export const COLLECTION_ROUTES: readonly string[] = ['', 'v1.0/', 'beta/'].flatMap((version) =>
  ['bitlocker/recoveryKeys', 'informationProtection/bitlocker/recoveryKeys'].map((path) => version + path),
);

for (const route of COLLECTION_ROUTES) {
  const name = `recoveryKeys-${route.replace(/[^A-Za-z0-9]+/g, '-')}`;
  app.http(name, { methods: ALL_METHODS, authLevel: 'anonymous', route, handler: collectionHandler });
  app.http(`${name}-item`, { methods: ALL_METHODS, authLevel: 'anonymous', route: `${route}/{id}`, handler: itemHandler });
}
