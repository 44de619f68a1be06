import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { type AuditedWork, auditedOperation, underAudit } from '../shared/audit/auditedOperation';
import type { Activity } from '../shared/audit/model';
import { authenticate, authorize } from '../shared/auth';
import { authorizeDeviceListing } from '../shared/auth/device/access';
import { limitKeyReads } from '../shared/auth/rateLimit';
import { readJsonObject } from '../shared/http/body';
import { type GraphOperation, graphHandler } from '../shared/http/handler';
import { ALL_METHODS, dispatchByMethod, refuseHead } from '../shared/http/methods';
import { preconditionsOf } from '../shared/http/preconditions';
import { isBeta, publicUrlOf, type RequestContext } from '../shared/http/requestContext';
import { COLLECTION_ROUTES } from '../shared/http/routes';
import { emptyResponse, jsonResponse } from '../shared/http/responses';
import { decodeSkipToken, nextLinkOf, parseItemSelect, parseListQuery } from '../shared/odata';
import type { StoredRecoveryKey } from '../shared/recoveryKeys/model';
import { contextUrl, graphEntity, graphProperties, type KeyProperty, propertiesFor } from '../shared/recoveryKeys/representation';
import { parseRevealHeaders } from '../shared/recoveryKeys/revealReason';
import { parseKeyIdSegment, parseRecoveryKeyBody } from '../shared/recoveryKeys/schema';
import * as keys from '../shared/recoveryKeys/service';
import { settings } from '../shared/config';
import { keyring } from '../shared/crypto/keyring';

function entityResponse(
  rc: RequestContext,
  status: number,
  key: StoredRecoveryKey,
  password?: string,
  headers: Record<string, string> = {},
  select?: readonly KeyProperty[],
): HttpResponseInit {
  return jsonResponse(rc, status, graphEntity(rc, key, password, select), { ETag: key.etag, ...headers });
}

const itemId = (request: HttpRequest): string => parseKeyIdSegment(request.params.id ?? '');

/** A write: authenticated, audited, and allowed only with the write permission. */
const auditedWrite = (activity: Activity, work: AuditedWork): GraphOperation =>
  auditedOperation(activity, activity === 'delete' ? 'deleteKey' : 'writeKey', work);

const listKeys: GraphOperation = async (request, rc, context) => {
  const caller = await authenticate(request, rc, context);
  if (!caller.device) authorize(caller, 'readMetadata');
  const query = parseListQuery(request.query, isBeta(rc));
  authorizeDeviceListing(caller, query.filter);
  // A page token belongs to the filter it was issued for; it is refused under any other.
  const fingerprint = JSON.stringify(query.filter ?? null);
  const continuation = query.skipToken ? decodeSkipToken(query.skipToken, fingerprint).continuation : undefined;
  const page = await keys.listRecoveryKeys(query.filter, query.top, continuation);
  const properties = query.select ?? propertiesFor(false);
  const body: Record<string, unknown> = {
    '@odata.context': contextUrl(rc, query.select, false),
    value: page.items.map((key) => graphProperties(key, properties)),
  };
  const nextLink = nextLinkOf(publicUrlOf(request, rc), fingerprint, page.continuation);
  if (nextLink !== undefined) body['@odata.nextLink'] = nextLink;
  return jsonResponse(rc, 200, body);
};

const getKey: GraphOperation = async (request, rc, context) => {
  const caller = await authenticate(request, rc, context);
  const { includeKey, select } = parseItemSelect(request.query, isBeta(rc));
  if (includeKey) refuseHead(request.method, 'read a recovery key');
  if (!includeKey) {
    authorize(caller, 'readMetadata');
    return entityResponse(rc, 200, await keys.getRecoveryKey(itemId(request)), undefined, {}, select);
  }
  return underAudit(request, rc, caller, 'read', async (source) => {
    authorize(caller, 'readKey');
    // Checked before the rate limit: a malformed read costs the caller no read.
    parseRevealHeaders(request.headers, settings().requireRevealReason);
    limitKeyReads(caller);
    const { stored, key } = await keys.readRecoveryPassword(itemId(request), source);
    return entityResponse(rc, 200, stored, key, {}, select);
  });
};

const patch = (withId: boolean): GraphOperation =>
  auditedWrite('update', async (request, rc, source, target) => {
    const id = withId ? itemId(request) : undefined;
    const { input, etag } = parseRecoveryKeyBody(await readJsonObject(request), id);
    Object.assign(target, { keyId: id ?? input.id, deviceId: input.deviceId });
    const { stored, key } = await keys.upsertRecoveryKey(id, input, preconditionsOf(request, etag), source);
    return entityResponse(rc, 200, stored, key);
  });

const postKey = auditedWrite('add', async (request, rc, source, target) => {
  // @odata.etag is read and ignored here, as If-Match is: a POST creates, so there is no stored version to match.
  const { input } = parseRecoveryKeyBody(await readJsonObject(request));
  Object.assign(target, { keyId: input.id, deviceId: input.deviceId });
  const { stored, key } = await keys.createRecoveryKey(input, source);
  const collection = publicUrlOf(request, rc);
  const location = `${collection.origin}${collection.pathname.replace(/\/+$/, '')}/${stored.id}`;
  return entityResponse(rc, 201, stored, key, { Location: location });
});

const deleteKey = auditedWrite('delete', async (request, rc, source, target) => {
  const deleted = await keys.deleteRecoveryKey(itemId(request), preconditionsOf(request), source);
  target.deviceId = deleted.deviceId;
  return emptyResponse(rc, 204);
});

export const collectionHandler = graphHandler(dispatchByMethod({ GET: listKeys, PATCH: patch(false), POST: postKey }));
export const itemHandler = graphHandler(dispatchByMethod({ GET: getKey, PATCH: patch(true), DELETE: deleteKey }));

for (const route of COLLECTION_ROUTES) {
  const name = `recoveryKeys-${route.replace(/[^A-Za-z0-9]+/g, '-')}`;
  app.http(name, { methods: ALL_METHODS, authLevel: 'anonymous', route, handler: collectionHandler });
  app.http(`${name}-item`, { methods: ALL_METHODS, authLevel: 'anonymous', route: `${route}/{id}`, handler: itemHandler });
}

// A malformed setting or a missing or malformed ENCRYPTION_KEYS stops the app here, as it loads, with
// a message that names the setting: never a service that stores plain text, nor one that fails only
// at its first request.
settings();
keyring();
