import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { graphHandler } from '../shared/http/handler';
import { ALL_METHODS, dispatchByMethod } from '../shared/http/methods';
import type { RequestContext } from '../shared/http/requestContext';
import { jsonResponse } from '../shared/http/responses';
import {
  AWAITING_ROTATION_ROUTES,
  COLLECTION_ROUTES,
  COVERAGE_REPORT_ROUTES,
  MY_DEVICES_ROUTES,
  REVEAL_GRANT_ROUTES,
  REVEAL_REQUEST_ROUTES,
  DELETED_ITEMS_ROUTES,
  DELETED_KEYS_CAST,
  DEVICE_STATUS_ROUTES,
  DIRECTORY_AUDITS_ROUTES,
  OPENAPI_ROUTE,
} from '../shared/http/routes';
import { buildOpenApiDocument } from '../shared/openapi/document';
import { withServer } from '../shared/openapi/servers';
import type { OpenApiDocument } from '../shared/openapi/types';

// Built on first request rather than at load: a drift between joi and the document's hints then
// fails this one function (as a Graph-shaped 500) instead of the whole app's startup.
let document: OpenApiDocument | undefined;

/**
 * GET /openapi.json, no token: 200 with the OpenAPI 3.0.3 document (shared/openapi/document.ts) as
 * `application/json`, its `servers` naming PUBLIC_BASE_URL or else the request's own origin, so that
 * Azure API Management importing from this URL targets this backend. HEAD answers the same without
 * the body; other methods are a 405.
 */
export function getOpenApiDocument(_request: HttpRequest, requestContext: RequestContext): Promise<HttpResponseInit> {
  document ??= buildOpenApiDocument({
    collectionRoutes: COLLECTION_ROUTES,
    auditRoutes: DIRECTORY_AUDITS_ROUTES,
    deletedItemsRoutes: DELETED_ITEMS_ROUTES,
    deletedKeysCast: DELETED_KEYS_CAST,
    deviceStatusRoutes: DEVICE_STATUS_ROUTES,
    coverageRoutes: COVERAGE_REPORT_ROUTES,
    revealRequestRoutes: REVEAL_REQUEST_ROUTES,
    revealGrantRoutes: REVEAL_GRANT_ROUTES,
    myDevicesRoutes: MY_DEVICES_ROUTES,
    awaitingRotationRoutes: AWAITING_ROTATION_ROUTES,
  });
  return Promise.resolve(
    jsonResponse(requestContext, 200, withServer(document, requestContext.publicBase), {
      'Content-Type': 'application/json; charset=utf-8',
    }),
  );
}

export const openApiHandler = graphHandler(dispatchByMethod({ GET: getOpenApiDocument }));

app.http('openapi', { methods: ALL_METHODS, authLevel: 'anonymous', route: OPENAPI_ROUTE, handler: openApiHandler });
