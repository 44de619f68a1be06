import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { authorizeRequest } from '../shared/auth';
import { graphHandler } from '../shared/http/handler';
import { ALL_METHODS, dispatchByMethod } from '../shared/http/methods';
import { publicUrlOf, type RequestContext } from '../shared/http/requestContext';
import { AWAITING_ROTATION_ROUTES, functionNameOf } from '../shared/http/routes';
import { jsonResponse } from '../shared/http/responses';
import { continuationOf, nextLinkOf, parsePageQuery } from '../shared/odata';
import { graphProperties, propertiesFor } from '../shared/recoveryKeys/representation';
import { listAwaitingRotation } from '../shared/recoveryKeys/rotation';
import { onlyVisible } from '../shared/reveal/scopes';

/** The query a page token of this list is issued for: there is one list, unfiltered. */
const FINGERPRINT = 'keysAwaitingRotation';

/**
 * GET {route}: the keys disclosed by a reveal and not yet superseded by a successor, longest waiting first
 * (BitLockerKey.ReadBasic.All and up): each key's metadata and annotations (who revealed it, when), never
 * a password; $top and @odata.nextLink. A device that never rotates stays at the top.
 */
export async function listKeysAwaitingRotation(
  request: HttpRequest,
  requestContext: RequestContext,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authorizeRequest(request, requestContext, context, 'readMetadata');
  const { top, skipToken } = parsePageQuery(request.query, 'when listing keys awaiting rotation');
  const page = await listAwaitingRotation(top, continuationOf(skipToken, FINGERPRINT));
  const body: Record<string, unknown> = {
    '@odata.context': `${requestContext.serviceRoot}/$metadata#Collection(microsoft.graph.bitlockerRecoveryKey)`,
    // A scoped user (REVEAL_SCOPES) sees only their devices' keys: a page may come back shorter.
    value: (await onlyVisible(caller, page.items)).map((key) => graphProperties(key, propertiesFor(false))),
  };
  const nextLink = nextLinkOf(publicUrlOf(request, requestContext), FINGERPRINT, page.continuation);
  if (nextLink !== undefined) body['@odata.nextLink'] = nextLink;
  return jsonResponse(requestContext, 200, body);
}

export const keysAwaitingRotationHandler = graphHandler(dispatchByMethod({ GET: listKeysAwaitingRotation }));

for (const route of AWAITING_ROTATION_ROUTES) {
  app.http(functionNameOf('keysAwaitingRotation', route), {
    methods: ALL_METHODS,
    authLevel: 'anonymous',
    route,
    handler: keysAwaitingRotationHandler,
  });
}
