import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import type { Activity, AuditSource } from '../shared/audit/model';
import { type AuditTarget, auditSourceOf, runAudited } from '../shared/audit/recorder';
import { authenticate, authorize, authorizeRequest, type Caller } from '../shared/auth';
import { limitKeyReads } from '../shared/auth/rateLimit';
import { readJsonObject } from '../shared/http/body';
import { type GraphOperation, graphHandler } from '../shared/http/handler';
import { ALL_METHODS, dispatchByMethod, refuseHead } from '../shared/http/methods';
import { preconditionsOf } from '../shared/http/preconditions';
import { isBeta, type RequestContext } from '../shared/http/requestContext';
import { emptyResponse, jsonResponse } from '../shared/http/responses';
import { decodeSkipToken, encodeSkipToken, nextLinkFor, parseItemSelect, parseListQuery } from '../shared/odata';
import type { StoredRecoveryKey } from '../shared/recoveryKeys/model';
import { contextUrl, graphEntity, graphProperties, type KeyProperty, propertiesFor } from '../shared/recoveryKeys/representation';
import { normalizeGuid, parseKeyIdSegment, parseRecoveryKeyBody } from '../shared/recoveryKeys/schema';
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

/**
 * Runs a write or a key read of an authenticated caller under audit. Unauthenticated requests (401)
 * are not audited: they carry no identity, and anyone could flood the trail with them; they are in the log.
 */
function underAudit<T>(
  request: HttpRequest,
  rc: RequestContext,
  caller: Caller,
  activity: Activity,
  work: (source: AuditSource, target: AuditTarget) => Promise<T>,
): Promise<T> {
  const source = auditSourceOf(request, rc, caller);
  const target: AuditTarget = { keyId: normalizeGuid(request.params.id ?? '') };
  return runAudited(source, activity, target, () => work(source, target));
}

/** A write: authenticated, audited, and allowed only with the write permission. */
const auditedWrite =
  (activity: Activity, work: (request: HttpRequest, rc: RequestContext, source: AuditSource, target: AuditTarget) => Promise<HttpResponseInit>): GraphOperation =>
  async (request, rc, context) => {
    const caller = await authenticate(request, rc, context);
    return underAudit(request, rc, caller, activity, (source, target) => {
      authorize(caller, 'writeKey');
      return work(request, rc, source, target);
    });
  };

const listKeys: GraphOperation = async (request, rc, context) => {
  await authorizeRequest(request, rc, context, 'readMetadata');
  const query = parseListQuery(request.query, isBeta(rc));
  // A page token belongs to the filter it was issued for; it is refused under any other.
  const fingerprint = JSON.stringify(query.filter ?? null);
  const continuation = query.skipToken ? decodeSkipToken(query.skipToken, fingerprint).continuation : undefined;
  const page = await keys.listRecoveryKeys(query.filter, query.top, continuation);
  const properties = query.select ?? propertiesFor(false);
  const body: Record<string, unknown> = {
    '@odata.context': contextUrl(rc, query.select, false),
    value: page.items.map((key) => graphProperties(key, properties)),
  };
  if (page.continuation !== undefined) {
    body['@odata.nextLink'] = nextLinkFor(request.url, encodeSkipToken({ query: fingerprint, continuation: page.continuation }));
  }
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
  const collection = new URL(request.url);
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

/** The seed's path and Graph's, each without a version prefix and under /v1.0 and /beta. */
export const COLLECTION_ROUTES: readonly string[] = ['', 'v1.0/', 'beta/'].flatMap((version) =>
  ['bitlocker/recoveryKeys', 'informationProtection/bitlocker/recoveryKeys'].map((path) => version + path),
);

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
