import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { openAudit } from '../shared/audit/scope';
import { authenticate, authorize, authorizeRequest } from '../shared/auth';
import { readJsonObject } from '../shared/http/body';
import { graphHandler } from '../shared/http/handler';
import { ALL_METHODS, dispatchByMethod } from '../shared/http/methods';
import { createdLocation, type RequestContext } from '../shared/http/requestContext';
import { jsonResponse } from '../shared/http/responses';
import { functionNameOf, REVEAL_GRANT_ROUTES } from '../shared/http/routes';
import { createRevealGrant, getRevealGrant, grantQueue } from '../shared/reveal/grants';
import { deviceCollection, grantEntity } from '../shared/reveal/representation';
import { parseRevealGrant } from '../shared/reveal/schema';
import { revealIdOf } from './revealRequests';

/** POST {route}: a time-boxed bulk reveal for a device group (BitLockerKey.Approve.All); 201. Audited as one grant. */
export async function postGrant(
  request: HttpRequest,
  requestContext: RequestContext,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authenticate(request, requestContext, context);
  const audit = openAudit(request, requestContext, caller, 'revealGrant');
  try {
    authorize(caller, 'grantBulkReveal');
    const grant = await createRevealGrant(caller, parseRevealGrant(await readJsonObject(request)), audit.source);
    return jsonResponse(requestContext, 201, grantEntity(requestContext, grant), {
      Location: createdLocation(request, requestContext, grant.id),
    });
  } catch (error) {
    throw await audit.recordFailure(error);
  }
}

/** GET {route}/{id}: the grant, to an approver or one of its grantees. */
export async function getGrant(
  request: HttpRequest,
  requestContext: RequestContext,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authorizeRequest(request, requestContext, context, 'readRevealRequests');
  return jsonResponse(requestContext, 200, grantEntity(requestContext, await getRevealGrant(caller, revealIdOf(request, 'reveal grant'))));
}

/** GET {route}/{id}/devices: the devices the grant covers, the queue an agent works through. */
export async function getQueue(
  request: HttpRequest,
  requestContext: RequestContext,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authorizeRequest(request, requestContext, context, 'readRevealRequests');
  const queue = (await grantQueue(caller, revealIdOf(request, 'reveal grant'))).map((device) => ({ ...device, recoveryKeys: [] }));
  return jsonResponse(requestContext, 200, deviceCollection(requestContext, 'revealGrants/devices', queue));
}

export const revealGrantsHandler = graphHandler(dispatchByMethod({ POST: postGrant }));
export const revealGrantHandler = graphHandler(dispatchByMethod({ GET: getGrant }));
export const grantQueueHandler = graphHandler(dispatchByMethod({ GET: getQueue }));

for (const route of REVEAL_GRANT_ROUTES) {
  const name = functionNameOf('revealGrants', route);
  app.http(name, { methods: ALL_METHODS, authLevel: 'anonymous', route, handler: revealGrantsHandler });
  app.http(`${name}-item`, { methods: ALL_METHODS, authLevel: 'anonymous', route: `${route}/{id}`, handler: revealGrantHandler });
  app.http(`${name}-devices`, { methods: ALL_METHODS, authLevel: 'anonymous', route: `${route}/{id}/devices`, handler: grantQueueHandler });
}
