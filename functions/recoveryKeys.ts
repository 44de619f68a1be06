import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import type { Activity, AuditSource } from '../shared/audit/model';
import { type AuditTarget, auditSourceOf, runAudited } from '../shared/audit/recorder';
import { authenticate, authorize, authorizeRequest, type Caller } from '../shared/auth';
import { limitKeyReads } from '../shared/auth/rateLimit';
import { readJsonObject } from '../shared/http/body';
import { methodNotAllowed } from '../shared/http/graphError';
import { type GraphOperation, graphHandler } from '../shared/http/handler';
import { ALL_METHODS } from '../shared/http/methods';
import { preconditionsOf } from '../shared/http/preconditions';
import type { RequestContext } from '../shared/http/requestContext';
import { emptyResponse, jsonResponse } from '../shared/http/responses';
import { decodeSkipToken, encodeSkipToken, parseItemSelect, parseListQuery } from '../shared/odata';
import type { StoredRecoveryKey } from '../shared/recoveryKeys/model';
import { COLLECTION_CONTEXT, graphEntity, graphProperties, propertiesFor } from '../shared/recoveryKeys/representation';
import { parseRevealHeaders } from '../shared/recoveryKeys/revealReason';
import { normalizeGuid, parseKeyIdSegment, parseRecoveryKeyInput } from '../shared/recoveryKeys/schema';
import * as keys from '../shared/recoveryKeys/service';
import { settings } from '../shared/config';
import { keyring } from '../shared/crypto/keyring';

function entityResponse(
  rc: RequestContext,
  status: number,
  key: StoredRecoveryKey,
  password?: string,
  headers: Record<string, string> = {},
): HttpResponseInit {
  return jsonResponse(rc, status, graphEntity(rc, key, password), { ETag: key.etag, ...headers });
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
  const caller = await authenticate(request, rc, context);
  if (!parseItemSelect(request.query).includeKey) {
    authorize(caller, 'readMetadata');
    return entityResponse(rc, 200, await keys.getRecoveryKey(itemId(request)));
  }
  return underAudit(request, rc, caller, 'read', async (source) => {
    authorize(caller, 'readKey');
    // Checked before the rate limit: a malformed read costs the caller no read.
    parseRevealHeaders(request.headers, settings().requireRevealReason);
    limitKeyReads(caller);
    const { stored, key } = await keys.readRecoveryPassword(itemId(request), source);
    return entityResponse(rc, 200, stored, key);
  });
};

const patch = (withId: boolean): GraphOperation =>
  auditedWrite('update', async (request, rc, source, target) => {
    const id = withId ? itemId(request) : undefined;
    const input = parseRecoveryKeyInput(await readJsonObject(request), id);
    Object.assign(target, { keyId: id ?? input.id, deviceId: input.deviceId });
    const { stored, key } = await keys.upsertRecoveryKey(id, input, preconditionsOf(request), source);
    return entityResponse(rc, 200, stored, key);
  });

const postKey = auditedWrite('add', async (request, rc, source, target) => {
  const input = parseRecoveryKeyInput(await readJsonObject(request));
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

type MethodTable = Partial<Record<string, GraphOperation>>;

function dispatch(methods: MethodTable): GraphOperation {
  const allowed = Object.keys(methods);
  return (request, rc, context) => {
    const operation = methods[request.method.toUpperCase()];
    if (!operation) throw methodNotAllowed(request.method, allowed);
    return operation(request, rc, context);
  };
}

export const collectionHandler = graphHandler(dispatch({ GET: listKeys, PATCH: patch(false), POST: postKey }));
export const itemHandler = graphHandler(dispatch({ GET: getKey, PATCH: patch(true), DELETE: deleteKey }));

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
