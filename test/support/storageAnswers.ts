import {
  createHttpHeaders,
  createPipelineRequest,
  RestError,
  type PipelineRequest,
  type PipelineResponse,
} from '@azure/core-rest-pipeline';

// Table Storage's answers as the storage call policy meets them, for the pure tests of shared/storage:
// the policy sits before the SDK's deserialisation, which throws a RestError carrying the response for
// any status other than 2xx (x-ms-error-code in its headers), and the Node HTTP client rejects with
// an AbortError when the try's signal fires and a RestError with a system code when no answer came.

/** A point read of one key record, as the Tables SDK sends it. */
export function storageRequest(): PipelineRequest {
  return createPipelineRequest({
    url: "https://escrow.table.core.windows.net/RecoveryKeys(PartitionKey='b0f1c0a2',RowKey='recoveryKey')",
    method: 'GET',
  });
}

/** What one try does with the request it is given: answers, fails, or hangs. */
export type Try = (request: PipelineRequest) => Promise<PipelineResponse>;

export function answer(request: PipelineRequest, status: number, headers: Record<string, string> = {}): PipelineResponse {
  return { request, status, headers: createHttpHeaders(headers) };
}

/** Answers 200. */
export const succeeds: Try = (request) => Promise.resolve(answer(request, 200));

/** Storage's answer `status` with its error code `code` and `headers` (e.g. Retry-After), as the SDK throws it. */
export function storageFailure(status: number, code: string, headers: Record<string, string> = {}, request = storageRequest()): RestError {
  return new RestError(`${code}: storage answered ${status}`, {
    statusCode: status,
    request,
    response: answer(request, status, { 'x-ms-error-code': code, ...headers }),
  });
}

/** Answers `status` with the storage error code `code` and `headers`, thrown as the SDK throws it. */
export const fails =
  (status: number, code: string, headers: Record<string, string> = {}): Try =>
  (request) =>
    Promise.reject(storageFailure(status, code, headers, request));

/** No HTTP answer at all: the connection was refused, reset, or the name did not resolve. */
export const unreachable =
  (code = 'ECONNREFUSED'): Try =>
  (request) =>
    Promise.reject(new RestError(`connect ${code} 10.0.0.4:443`, { code, request }));

/** The Node HTTP client's answer to an aborted request: not a RestError. */
function aborted(): Error {
  const error = new Error('The operation was aborted.');
  error.name = 'AbortError';
  return error;
}

/** Accepts the request and never answers: rejects only when the try's signal fires, as the HTTP client does. */
export const hangs: Try = (request) =>
  new Promise((_, reject) => {
    const signal = request.abortSignal;
    if (signal?.aborted) reject(aborted());
    signal?.addEventListener('abort', () => reject(aborted()), { once: true });
  });

/** Does what `then` does after `ms` (ms) of the (fake) clock, unless the try's signal fires first. */
export const after =
  (ms: number, then: Try): Try =>
  (request) =>
    Promise.race([hangs(request), new Promise<void>((resolve) => setTimeout(resolve, ms)).then(() => then(request))]);

/**
 * A fake `next` that plays `tries` in order (the last one again for any try beyond) and records when
 * each try was sent (ms of the fake clock since `startedAt`) and the abort signal it was sent with.
 */
export function scriptedNext(startedAt: number, ...tries: Try[]) {
  const sentAt: number[] = [];
  const signals: PipelineRequest['abortSignal'][] = [];
  const next = jest.fn((request: PipelineRequest) => {
    sentAt.push(Date.now() - startedAt);
    signals.push(request.abortSignal);
    return tries[Math.min(sentAt.length, tries.length) - 1](request);
  });
  return { next, sentAt, signals };
}
