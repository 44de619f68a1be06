import { ref } from './reference';
import type { HeaderObject, Reference, ResponseObject, SchemaObject } from './types';

// components/headers: the response headers this service sends, and the JSON response that carries
// the two every response has (request-id, client-request-id) plus any named.

/** components/headers, by header name. */
export const HEADERS = {
  'request-id': {
    description: 'A GUID identifying this request; the same as innerError.request-id of an error.',
    schema: { type: 'string', format: 'uuid' },
  },
  'client-request-id': { description: "The client's client-request-id, echoed when it sent one.", schema: { type: 'string' } },
  ETag: { description: "The stored version; send it back in If-Match. Equals the body's @odata.etag.", schema: { type: 'string' } },
  Location: { description: 'The URL of the created key.', schema: { type: 'string', format: 'uri' } },
  'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 0 } },
  'WWW-Authenticate': { description: 'Bearer', schema: { type: 'string' } },
  Allow: { description: 'The methods the path supports.', schema: { type: 'string' } },
} satisfies Record<string, HeaderObject>;

/** A response header of HEADERS. */
export type HeaderName = keyof typeof HEADERS;

/** Response headers by reference; request-id and client-request-id accompany every response. */
export function responseHeaders(...names: readonly HeaderName[]): Record<string, Reference> {
  const all: readonly HeaderName[] = ['request-id', 'client-request-id', ...names];
  return Object.fromEntries(all.map((name) => [name, ref('headers', name)]));
}

/** The OpenAPI description of a JSON response: `schema` as its body, the correlation headers and any others named. */
export function jsonResponseObject(
  description: string,
  schema: SchemaObject | Reference,
  ...headers: readonly HeaderName[]
): ResponseObject {
  return { description, headers: responseHeaders(...headers), content: { 'application/json': { schema } } };
}
