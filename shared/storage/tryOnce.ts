import { RestError, type PipelineRequest, type PipelineResponse, type SendRequest } from '@azure/core-rest-pipeline';

/** What one try came back with: a response, a storage failure (a RestError, with the response if there was one), or both. */
export interface TryOutcome {
  response?: PipelineResponse;
  /** Set when the try failed; a RestError thrown over an HTTP response carries that response too. */
  error?: RestError;
}

function timedOut(request: PipelineRequest, timeoutMs: number): TryOutcome {
  return { error: new RestError(`Storage did not answer within ${Math.max(0, timeoutMs)} ms.`, { code: 'ETIMEDOUT', request }) };
}

/**
 * One try of `request`, cut short after `timeoutMs` (ms, to the end of the response body). A timeout is
 * a RestError with code ETIMEDOUT and no status, like a network failure; with no time left (≤ 0) the
 * request is not sent at all. Throws what is not a storage answer (the caller's own abort, a
 * configuration error), which is not to be retried.
 */
export async function tryOnce(request: PipelineRequest, next: SendRequest, timeoutMs: number): Promise<TryOutcome> {
  if (timeoutMs <= 0) return timedOut(request, timeoutMs);
  const callerSignal = request.abortSignal;
  const controller = new AbortController();
  let timerFired = false;
  const timer = setTimeout(() => {
    timerFired = true;
    controller.abort();
  }, timeoutMs);
  const onCallerAbort = (): void => controller.abort();
  if (callerSignal?.aborted) controller.abort();
  callerSignal?.addEventListener('abort', onCallerAbort);
  // The signal is per try: the HTTP client destroys the connection when it fires, body included.
  request.abortSignal = controller.signal;
  try {
    return { response: await next(request) };
  } catch (error) {
    if (timerFired && !callerSignal?.aborted) return timedOut(request, timeoutMs);
    if (error instanceof RestError) return { error, response: error.response };
    throw error;
  } finally {
    clearTimeout(timer);
    callerSignal?.removeEventListener('abort', onCallerAbort);
    request.abortSignal = callerSignal;
  }
}
