import { app } from '@azure/functions';
import { listAuditEvents } from '../shared/audit/store';
import { parseAuditListQuery } from '../shared/audit/query';
import { directoryAudit } from '../shared/audit/representation';
import { authorizeRequest } from '../shared/auth';
import { type GraphOperation, graphHandler } from '../shared/http/handler';
import { ALL_METHODS, dispatchByMethod } from '../shared/http/methods';
import { isBeta, publicUrlOf } from '../shared/http/requestContext';
import { DIRECTORY_AUDITS_ROUTES, functionNameOf } from '../shared/http/routes';
import { jsonResponse } from '../shared/http/responses';
import { continuationOf, nextLinkOf } from '../shared/odata';

const listDirectoryAudits: GraphOperation = async (request, requestContext, context) => {
  await authorizeRequest(request, requestContext, context, 'readAudit');
  const query = parseAuditListQuery(request.query, isBeta(requestContext));
  const fingerprint = JSON.stringify({ audit: query.filter });
  const continuation = continuationOf(query.skipToken, fingerprint);
  const page = await listAuditEvents(query.filter, query.top, continuation);
  const body: Record<string, unknown> = {
    '@odata.context': `${requestContext.serviceRoot}/$metadata#auditLogs/directoryAudits`,
    value: page.items.map(directoryAudit),
  };
  if (page.continuation !== undefined) {
    body['@odata.nextLink'] = nextLinkOf(publicUrlOf(request, requestContext), fingerprint, page.continuation);
  }
  return jsonResponse(requestContext, 200, body);
};

export const directoryAuditsHandler = graphHandler(dispatchByMethod({ GET: listDirectoryAudits }));

for (const route of DIRECTORY_AUDITS_ROUTES) {
  app.http(functionNameOf('directoryAudits', route), {
    methods: ALL_METHODS,
    authLevel: 'anonymous',
    route,
    handler: directoryAuditsHandler,
  });
}
