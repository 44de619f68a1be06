import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { queueIntuneRotation } from '../shared/alerts/intuneRotation';
import { openAudit } from '../shared/audit/scope';
import { authenticate, authorize } from '../shared/auth';
import { authorizeDeviceListing } from '../shared/auth/device/access';
import { limitKeyReads } from '../shared/auth/rateLimit';
import { readJsonObject } from '../shared/http/body';
import { graphHandler } from '../shared/http/handler';
import { ALL_METHODS, dispatchByMethod, refuseHead } from '../shared/http/methods';
import { preconditionsOf } from '../shared/http/preconditions';
import { createdLocation, isBeta, publicUrlOf, type RequestContext } from '../shared/http/requestContext';
import { COLLECTION_ROUTES, functionNameOf } from '../shared/http/routes';
import { emptyResponse, jsonResponse } from '../shared/http/responses';
import { continuationOf, nextLinkOf, parseItemSelect, parseListQuery } from '../shared/odata';
import type { StoredRecoveryKey } from '../shared/recoveryKeys/model';
import {
  type Audience,
  contextUrl,
  graphEntity,
  graphProperties,
  type KeyProperty,
  propertiesFor,
} from '../shared/recoveryKeys/representation';
import type { Caller } from '../shared/auth/caller';
import { Permission } from '../shared/auth/permissions';
import { parseRevealHeaders } from '../shared/recoveryKeys/revealReason';
import { permitReveal } from '../shared/reveal/permit';
import { requireRevealRule } from '../shared/reveal/policy';
import { keyNotFound } from '../shared/recoveryKeys/notFound';
import { holderVisibility } from '../shared/reveal/holders';
import { authorizeKeyRead } from '../shared/reveal/selfService';
import { ensureVisible, onlyVisible } from '../shared/reveal/scopes';
import { keyIdOf, parseRecoveryKeyBody } from '../shared/recoveryKeys/schema';
import * as keys from '../shared/recoveryKeys/service';
import { settings } from '../shared/config';

function entityResponse(
  requestContext: RequestContext,
  status: number,
  key: StoredRecoveryKey,
  password?: string,
  headers: Record<string, string> = {},
  select?: readonly KeyProperty[],
  audience: Audience = 'reader',
): HttpResponseInit {
  return jsonResponse(requestContext, status, graphEntity(requestContext, key, password, select, audience), { ETag: key.etag, ...headers });
}

/** The BitLocker roles, lower-cased as a caller's permissions are. */
const BITLOCKER_ROLES = Object.values(Permission)
  .filter((permission) => permission.startsWith('BitLockerKey.'))
  .map((permission) => permission.toLowerCase());

const audienceOf = (caller: Caller): Audience => {
  if (caller.device) return 'device';
  return BITLOCKER_ROLES.some((role) => caller.permissions.has(role)) ? 'reader' : 'owner';
};

/**
 * A reveal of a retired key still answers (an old disk image may need it), and says which key replaced it:
 * beside the @escrow.supersededBy annotation, a Link to the successor (RFC 5829 successor-version).
 */
function successorLink(request: HttpRequest, requestContext: RequestContext, key: StoredRecoveryKey): Record<string, string> {
  if (key.supersededBy === undefined) return {};
  const url = publicUrlOf(request, requestContext);
  const collection = url.pathname.replace(/\/[^/]*\/?$/, '');
  return { Link: `<${url.origin}${collection}/${key.supersededBy}>; rel="successor-version"` };
}

/** GET {collection}: one page of keys' metadata (never `key`), all of them, a device's, or by id or id prefix. */
export async function listKeys(
  request: HttpRequest,
  requestContext: RequestContext,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authenticate(request, requestContext, context);
  if (!caller.device) authorize(caller, 'readMetadata');
  const query = parseListQuery(request.query, isBeta(requestContext));
  authorizeDeviceListing(caller, query.filter);
  // A page token belongs to the filter it was issued for; it is refused under any other.
  const fingerprint = JSON.stringify(query.filter ?? null);
  const continuation = continuationOf(query.skipToken, fingerprint);
  const page = await keys.listRecoveryKeys(query.filter, query.top, continuation);
  const properties = query.select ?? propertiesFor(false);
  const body: Record<string, unknown> = {
    '@odata.context': contextUrl(requestContext, query.select, false),
    // A scoped user (REVEAL_SCOPES) sees only their devices' keys: a page may come back shorter, its nextLink as it was.
    value: (await onlyVisible(caller, page.items)).map((key) => graphProperties(key, properties, undefined, audienceOf(caller))),
  };
  const nextLink = nextLinkOf(publicUrlOf(request, requestContext), fingerprint, page.continuation);
  if (nextLink !== undefined) body['@odata.nextLink'] = nextLink;
  return jsonResponse(requestContext, 200, body);
}

/**
 * GET {collection}/{id}: the key's metadata (BitLockerKey.ReadBasic.All and up), or with `$select=key`
 * its recovery password (BitLockerKey.Read.All only), which is audited, allowed or refused.
 */
export async function getKey(request: HttpRequest, requestContext: RequestContext, context: InvocationContext): Promise<HttpResponseInit> {
  const caller = await authenticate(request, requestContext, context);
  const { includeKey, select, deviceId } = parseItemSelect(request.query, isBeta(requestContext));
  if (!includeKey) {
    authorize(caller, 'readMetadata');
    const id = keyIdOf(request);
    const key = await ensureVisible(caller, await keys.getRecoveryKey(id, deviceId, holderVisibility(caller, 'metadata')), () =>
      keyNotFound(id, deviceId),
    );
    return entityResponse(requestContext, 200, key, undefined, {}, select);
  }
  refuseHead(request.method, 'read a recovery key');
  const audit = openAudit(request, requestContext, caller, 'read');
  try {
    // BitLockerKey.Read.All, or a self-service user whose ownership of the device is checked once the key is read.
    authorizeKeyRead(caller, audit.source.revealReason);
    // Checked before the rate limit: a malformed read costs the caller no read.
    parseRevealHeaders(request.headers, settings().requireRevealReason);
    limitKeyReads(caller);
    await requireRevealRule(caller);
    // A key the caller may not see (REVEAL_SCOPES, self-service) is answered as a missing one.
    const id = keyIdOf(request);
    const absent = () => keyNotFound(id, deviceId);
    const { stored, key } = await keys.readRecoveryPassword(id, audit.source, {
      deviceId,
      visible: holderVisibility(caller, 'reveal'),
      permit: (key) => permitReveal({ caller, key, request, source: audit.source, absent }),
      scope: audit,
    });
    await queueIntuneRotation(stored, audit.source);
    return entityResponse(requestContext, 200, stored, key, successorLink(request, requestContext, stored), select, audienceOf(caller));
  } catch (error) {
    throw await audit.recordFailure(error);
  }
}

/**
 * PATCH {collection} (the key named by the body's `id`, or a new id) and PATCH {collection}/{id}:
 * escrows the key, or changes its metadata (BitLockerKey.ReadWrite.All, or the key's own device).
 * Audited, allowed or refused.
 */
export async function patchKey(
  request: HttpRequest,
  requestContext: RequestContext,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authenticate(request, requestContext, context);
  const audit = openAudit(request, requestContext, caller, 'update');
  try {
    authorize(caller, 'writeKey');
    const id = request.params.id === undefined ? undefined : keyIdOf(request);
    const { input, etag, replaces } = parseRecoveryKeyBody(await readJsonObject(request), id);
    audit.target({ keyId: id ?? input.id, deviceId: input.deviceId });
    const { stored, key } = await keys.upsertRecoveryKey(id, input, preconditionsOf(request, etag), audit.source, replaces);
    return entityResponse(requestContext, 200, stored, key, {}, undefined, audienceOf(caller));
  } catch (error) {
    throw await audit.recordFailure(error);
  }
}

/** POST {collection}: creates a key (201 with Location); 409 if its id exists. Audited, allowed or refused. */
export async function createKey(
  request: HttpRequest,
  requestContext: RequestContext,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authenticate(request, requestContext, context);
  const audit = openAudit(request, requestContext, caller, 'add');
  try {
    authorize(caller, 'writeKey');
    // @odata.etag is read and ignored here, as If-Match is: a POST creates, so there is no stored version to match.
    const { input, replaces } = parseRecoveryKeyBody(await readJsonObject(request));
    audit.target({ keyId: input.id, deviceId: input.deviceId });
    const { stored, key } = await keys.createRecoveryKey(input, audit.source, replaces);
    const headers = { Location: createdLocation(request, requestContext, stored.id) };
    return entityResponse(requestContext, 201, stored, key, headers, undefined, audienceOf(caller));
  } catch (error) {
    throw await audit.recordFailure(error);
  }
}

/**
 * DELETE {collection}/{id}: a soft delete (204); the key goes to directory/deletedItems. A writer deletes any
 * key; a device only its own, once superseded by a successor. Audited, allowed or refused.
 */
export async function deleteKey(
  request: HttpRequest,
  requestContext: RequestContext,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authenticate(request, requestContext, context);
  const audit = openAudit(request, requestContext, caller, 'delete');
  try {
    authorize(caller, 'deleteKey');
    await keys.deleteRecoveryKey(keyIdOf(request), preconditionsOf(request), audit.source);
    return emptyResponse(requestContext, 204);
  } catch (error) {
    throw await audit.recordFailure(error);
  }
}

export const collectionHandler = graphHandler(dispatchByMethod({ GET: listKeys, PATCH: patchKey, POST: createKey }));
export const itemHandler = graphHandler(dispatchByMethod({ GET: getKey, PATCH: patchKey, DELETE: deleteKey }));

for (const route of COLLECTION_ROUTES) {
  const name = functionNameOf('recoveryKeys', route);
  app.http(name, { methods: ALL_METHODS, authLevel: 'anonymous', route, handler: collectionHandler });
  app.http(`${name}-item`, { methods: ALL_METHODS, authLevel: 'anonymous', route: `${route}/{id}`, handler: itemHandler });
}
