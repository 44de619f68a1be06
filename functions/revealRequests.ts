import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { openAudit } from '../shared/audit/scope';
import { authenticate, authorize, authorizeRequest } from '../shared/auth';
import { badRequest } from '../shared/errors/graphError';
import { readJsonObject } from '../shared/http/body';
import { graphHandler } from '../shared/http/handler';
import { ALL_METHODS, dispatchByMethod } from '../shared/http/methods';
import { createdLocation, type RequestContext } from '../shared/http/requestContext';
import { jsonResponse } from '../shared/http/responses';
import { functionNameOf, REVEAL_REQUEST_ROUTES } from '../shared/http/routes';
import { requestCollection, requestEntity } from '../shared/reveal/representation';
import { createRevealRequest, decideRevealRequest, getRevealRequest, listRevealRequests } from '../shared/reveal/requests';
import { parseRevealRequest } from '../shared/reveal/schema';
import { normalizeGuid } from '../shared/text/normalizeGuid';
import { escapeNonPrintableAscii } from '../shared/text/quoteClientText';

/** The route's `{id}` (a reveal request's or grant's), normalized; 400 if it is not a GUID. */
export function revealIdOf(request: HttpRequest, what: string): string {
  const segment = request.params.id ?? '';
  const id = normalizeGuid(segment);
  if (!id) throw badRequest(`'${escapeNonPrintableAscii(segment.slice(0, 64))}' is not a valid ${what} id (a GUID).`);
  return id;
}

/** POST {route}: asks for a key read to be approved (BitLockerKey.Read.All); 201 pending, with Location. Audited. */
export async function postRequest(
  request: HttpRequest,
  requestContext: RequestContext,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authenticate(request, requestContext, context);
  const audit = openAudit(request, requestContext, caller, 'revealRequest');
  try {
    authorize(caller, 'requestReveal');
    const input = parseRevealRequest(await readJsonObject(request));
    audit.target({ keyId: input.keyId });
    const created = await createRevealRequest(caller, input, audit.source);
    return jsonResponse(requestContext, 201, requestEntity(requestContext, created), {
      Location: createdLocation(request, requestContext, created.id),
    });
  } catch (error) {
    throw await audit.recordFailure(error);
  }
}

/** GET {route}: an approver's pending requests, or a reader's own. */
export async function listRequests(
  request: HttpRequest,
  requestContext: RequestContext,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authorizeRequest(request, requestContext, context, 'readRevealRequests');
  return jsonResponse(requestContext, 200, requestCollection(requestContext, await listRevealRequests(caller)));
}

/** GET {route}/{id}: one request of the caller's tenant, their own or (for an approver) any. */
export async function getRequest(
  request: HttpRequest,
  requestContext: RequestContext,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authorizeRequest(request, requestContext, context, 'readRevealRequests');
  const found = await getRevealRequest(caller, revealIdOf(request, 'reveal request'));
  return jsonResponse(requestContext, 200, requestEntity(requestContext, found));
}

/** POST {route}/{id}/approve and /deny (BitLockerKey.Approve.All, not the requester). Audited. */
const decide =
  (decision: 'approved' | 'denied') =>
  async (request: HttpRequest, requestContext: RequestContext, context: InvocationContext): Promise<HttpResponseInit> => {
    const caller = await authenticate(request, requestContext, context);
    const audit = openAudit(request, requestContext, caller, 'revealDecision');
    try {
      authorize(caller, 'decideReveal');
      const id = revealIdOf(request, 'reveal request');
      // The route's {id} is the request's, not a key's: the record names the key once the request is found.
      audit.target({ keyId: undefined });
      audit.source.reveal = { approvalId: id };
      const decided = await decideRevealRequest(caller, id, decision, audit.source, (target) => audit.target(target));
      return jsonResponse(requestContext, 200, requestEntity(requestContext, decided));
    } catch (error) {
      throw await audit.recordFailure(error);
    }
  };

export const revealRequestsHandler = graphHandler(dispatchByMethod({ GET: listRequests, POST: postRequest }));
export const revealRequestHandler = graphHandler(dispatchByMethod({ GET: getRequest }));
export const approveHandler = graphHandler(dispatchByMethod({ POST: decide('approved') }));
export const denyHandler = graphHandler(dispatchByMethod({ POST: decide('denied') }));

for (const route of REVEAL_REQUEST_ROUTES) {
  const name = functionNameOf('revealRequests', route);
  app.http(name, { methods: ALL_METHODS, authLevel: 'anonymous', route, handler: revealRequestsHandler });
  app.http(`${name}-item`, { methods: ALL_METHODS, authLevel: 'anonymous', route: `${route}/{id}`, handler: revealRequestHandler });
  app.http(`${name}-approve`, { methods: ALL_METHODS, authLevel: 'anonymous', route: `${route}/{id}/approve`, handler: approveHandler });
  app.http(`${name}-deny`, { methods: ALL_METHODS, authLevel: 'anonymous', route: `${route}/{id}/deny`, handler: denyHandler });
}
