import { HEALTH_ROUTE } from '../../http/routes';
import { errorRefs } from '../errors';
import { jsonResponseObject } from '../headers';
import { UNSUPPORTED_METHODS } from '../pathItem';
import { ref } from '../reference';
import { METADATA_TAG } from '../tags';
import type { PathItemObject } from '../types';

// GET /health: the readiness probe (functions/health.ts), served without a token.

/** The `[path, PathItemObject]` entry of the health probe. */
export const HEALTH_PATH: [string, PathItemObject] = [
  `/${HEALTH_ROUTE}`,
  {
    description: UNSUPPORTED_METHODS,
    get: {
      operationId: 'getHealth',
      summary: 'Whether this instance can serve: storage and the encryption keyring answer',
      description:
        'Needs no token. 200 when both answer; 503 (serviceNotAvailable) naming the failing dependency otherwise. ' +
        'At most one storage request; the result is shared for a few seconds per instance.',
      tags: [METADATA_TAG],
      security: [],
      parameters: [ref('parameters', 'clientRequestId')],
      responses: {
        200: jsonResponseObject('Healthy.', {
          type: 'object',
          properties: {
            status: { type: 'string', enum: ['healthy'] },
            checks: { type: 'object', properties: { storage: { type: 'string' }, keyring: { type: 'string' }, auth: { type: 'string' } } },
          },
        }),
        ...errorRefs([500, 503]),
      },
    },
  },
];
