import { app } from '@azure/functions';
import { type GraphOperation, graphHandler } from '../shared/http/handler';
import { ALL_METHODS, dispatchByMethod } from '../shared/http/methods';
import { jsonResponse } from '../shared/http/responses';
import { COLLECTION_ROUTES, DELETED_ITEMS_ROUTES, DELETED_KEYS_CAST, DIRECTORY_AUDITS_ROUTES, OPENAPI_ROUTE } from '../shared/http/routes';
import { buildOpenApiDocument } from '../shared/openapi/document';
import { withServer } from '../shared/openapi/servers';
import type { OpenApiDocument } from '../shared/openapi/types';

// Built on first request rather than at load: a drift between joi and the document's hints then
// fails this one function (as a Graph-shaped 500) instead of the whole app's startup.
let document: OpenApiDocument | undefined;

const getOpenApiDocument: GraphOperation = (_request, rc) => {
  document ??= buildOpenApiDocument({
    collectionRoutes: COLLECTION_ROUTES,
    auditRoutes: DIRECTORY_AUDITS_ROUTES,
    deletedItemsRoutes: DELETED_ITEMS_ROUTES,
    deletedKeysCast: DELETED_KEYS_CAST,
  });
  // PUBLIC_BASE_URL, or else the request's own origin, so that API Management importing from this URL targets this backend.
  const body = withServer(document, rc.publicBase);
  return Promise.resolve(jsonResponse(rc, 200, body, { 'Content-Type': 'application/json; charset=utf-8' }));
};

export const openApiHandler = graphHandler(dispatchByMethod({ GET: getOpenApiDocument }));

app.http('openapi', { methods: ALL_METHODS, authLevel: 'anonymous', route: OPENAPI_ROUTE, handler: openApiHandler });
