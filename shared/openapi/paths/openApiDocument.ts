import { OPENAPI_ROUTE } from '../../http/routes';
import { errorRefs } from '../errors';
import { jsonResponseObject } from '../headers';
import { UNSUPPORTED_METHODS, withHead } from '../pathItem';
import { ref } from '../reference';
import { METADATA_TAG } from '../tags';
import type { PathItemObject } from '../types';

// GET /openapi.json: this document (functions/openapi.ts), served without a token and without a route prefix.

/** The `[path, PathItemObject]` entry of the document itself. */
export const OPENAPI_DOCUMENT_PATH: [string, PathItemObject] = [
  `/${OPENAPI_ROUTE}`,
  withHead({
    description: UNSUPPORTED_METHODS,
    get: {
      operationId: 'getOpenApiDocument',
      summary: 'This OpenAPI document',
      description: 'Needs no token. servers[0] is the origin the request was sent to.',
      tags: [METADATA_TAG],
      security: [],
      parameters: [ref('parameters', 'clientRequestId')],
      responses: {
        200: jsonResponseObject('The OpenAPI 3.0.3 document.', { type: 'object' }),
        ...errorRefs([500]),
      },
    },
  }),
];
