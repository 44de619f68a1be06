// The one error type, a leaf: any layer refuses a request by throwing it, and shared/http/handler.ts renders it
// as Graph's error JSON in one place (responses.ts errorResponse).

export type GraphErrorCode =
  | 'badRequest'
  | 'InvalidAuthenticationToken'
  | 'authorization_error'
  | 'itemNotFound'
  | 'methodNotAllowed'
  | 'conflict'
  | 'preconditionFailed'
  | 'requestEntityTooLarge'
  | 'unsupportedMediaType'
  | 'tooManyRequests'
  | 'serviceNotAvailable'
  | 'generalException';

export class GraphError extends Error {
  override name = 'GraphError';
  /** What the log line of this error should add (never sent to the client): e.g. the storage call behind a 503. */
  logDetails?: Readonly<Record<string, unknown>>;
  /** A 503 the service chose (e.g. a required alert not delivered) rather than an outage of its storage: audited like any refusal. */
  decided?: true;
  /** What really refused a request answered as if its object were absent (asIfAbsent): the audit trail records this, not the answer. */
  auditedAs?: GraphError;

  constructor(
    readonly status: number,
    readonly code: GraphErrorCode,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

export const badRequest = (message: string): GraphError => new GraphError(400, 'badRequest', message);

export const unauthorized = (message: string): GraphError =>
  new GraphError(401, 'InvalidAuthenticationToken', message, { 'WWW-Authenticate': 'Bearer' });

export const forbidden = (message: string): GraphError => new GraphError(403, 'authorization_error', message);

export const notFound = (message: string): GraphError => new GraphError(404, 'itemNotFound', message);

export const methodNotAllowed = (method: string, allowed: readonly string[]): GraphError =>
  new GraphError(405, 'methodNotAllowed', `${method} is not supported here; use ${allowed.join(', ')}.`, {
    Allow: allowed.join(', '),
  });

/**
 * A refusal of an object the caller may not know exists (another device's key for a device, a key
 * outside a scoped reader's REVEAL_SCOPES, a key of a device a self-service user does not own):
 * answered exactly as `absent`, the answer the same request gets when there is no such object, so
 * that the answer says nothing of its existence; the audit trail records `refusal`, the real reason.
 */
export const asIfAbsent = (absent: GraphError, refusal: GraphError): GraphError => Object.assign(absent, { auditedAs: refusal });

export const conflict = (message: string): GraphError => new GraphError(409, 'conflict', message);

export const preconditionFailed = (message: string): GraphError => new GraphError(412, 'preconditionFailed', message);

export const serviceUnavailable = (message: string, retryAfterSeconds = 5): GraphError =>
  new GraphError(503, 'serviceNotAvailable', message, { 'Retry-After': String(retryAfterSeconds) });

/** A 503 that is the service's decision, not an outage of the storage the audit trail lives in: it is audited. */
export const unavailableByDecision = (message: string, retryAfterSeconds: number): GraphError =>
  Object.assign(serviceUnavailable(message, retryAfterSeconds), { decided: true as const });

export const tooManyRequests = (message: string, retryAfterSeconds: number): GraphError =>
  new GraphError(429, 'tooManyRequests', message, { 'Retry-After': String(retryAfterSeconds) });
