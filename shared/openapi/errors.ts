import { MAX_BODY_BYTES } from '../http/body';
import type { GraphErrorCode } from '../errors/graphError';
import { type HeaderName, responseHeaders } from './headers';
import { ref } from './reference';
import type { Reference, ResponseObject, SchemaObject } from './types';

// Graph's error body (components/schemas/graphError) and one reusable response per error status
// (components/responses, named by Graph's error code), which operations refer to by status.

/** Microsoft Graph's error JSON, as shared/http/responses.ts renders every error. */
export const GRAPH_ERROR_SCHEMA: SchemaObject = {
  type: 'object',
  description: "Microsoft Graph's error shape; every error of this API has it.",
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'innerError'],
      properties: {
        code: { type: 'string' },
        message: { type: 'string', description: 'What was wrong, for a person to read; never internals.' },
        innerError: {
          type: 'object',
          required: ['date', 'request-id'],
          properties: {
            date: { type: 'string', description: 'UTC, without fraction or zone, as Graph writes it: 2026-11-28T09:45:12' },
            'request-id': { type: 'string', format: 'uuid' },
            'client-request-id': { type: 'string' },
          },
        },
      },
    },
  },
};

interface ErrorSpec {
  readonly code: GraphErrorCode;
  readonly description: string;
  readonly headers?: readonly HeaderName[];
}

/** The error statuses this API answers, each with its Graph code, what it means here, and its extra headers. */
export const ERRORS = {
  400: {
    code: 'badRequest',
    description: 'Invalid JSON, an invalid or unknown property, a malformed id in the URL, or an unsupported query option.',
  },
  401: {
    code: 'InvalidAuthenticationToken',
    description: 'No token, or a malformed, expired, wrongly signed or wrongly addressed one.',
    headers: ['WWW-Authenticate'],
  },
  403: { code: 'authorization_error', description: 'A valid token without the permission the operation needs.' },
  404: { code: 'itemNotFound', description: 'No recovery key with this id.' },
  405: { code: 'methodNotAllowed', description: 'A method the path does not support.', headers: ['Allow'] },
  409: {
    code: 'conflict',
    description:
      'POST of an id that exists, a key other than the stored one for an existing id (a recovery password never changes under its key ID), ' +
      'or a write to the id of a deleted key (restore or purge it first).',
  },
  412: { code: 'preconditionFailed', description: 'If-Match or If-None-Match not satisfied.' },
  413: { code: 'requestEntityTooLarge', description: `The body is over ${MAX_BODY_BYTES} bytes.` },
  415: { code: 'unsupportedMediaType', description: 'The body was not sent with Content-Type: application/json.' },
  429: { code: 'tooManyRequests', description: 'Throttled.', headers: ['Retry-After'] },
  500: { code: 'generalException', description: 'An unexpected error; quote the request-id when reporting it.' },
  503: { code: 'serviceNotAvailable', description: 'Storage is unreachable; nothing was half-written.', headers: ['Retry-After'] },
} as const satisfies Record<number, ErrorSpec>;

/** An HTTP status this API answers with an error. */
export type ErrorStatus = keyof typeof ERRORS;

const EXAMPLE_REQUEST_ID = '0f8fad5b-d9cb-469f-a165-70867728950e';

function errorResponse({ code, description, headers = [] }: ErrorSpec): ResponseObject {
  const example = {
    error: { code, message: description, innerError: { date: '2026-11-28T09:45:12', 'request-id': EXAMPLE_REQUEST_ID } },
  };
  return {
    description: `${code}: ${description}`,
    headers: responseHeaders(...headers),
    content: { 'application/json': { schema: ref('schemas', 'graphError'), example } },
  };
}

/** components/responses: one per error, named by its Graph code. */
export function errorResponses(): Record<string, ResponseObject> {
  return Object.fromEntries(Object.values(ERRORS).map((spec) => [spec.code, errorResponse(spec)]));
}

/** An operation's error responses by status, each a reference to its component. */
export function errorRefs(statuses: readonly ErrorStatus[]): Record<string, Reference> {
  return Object.fromEntries(statuses.map((status) => [String(status), ref('responses', ERRORS[status].code)]));
}
