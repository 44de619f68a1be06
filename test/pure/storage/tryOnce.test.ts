import { RestError } from '@azure/core-rest-pipeline';
import { tryOnce, type TryOutcome } from '../../../shared/storage/tryOnce';
import { after, answer, fails, hangs, scriptedNext, storageRequest, succeeds, unreachable } from '../../support/storageAnswers';

// One try of a storage request: what came back (an answer, a storage failure, or a timeout standing for
// the answer that never came), on a fake clock, so that the per-try timeout is the only time there is.

const T0 = Date.parse('2026-03-02T09:00:00Z');

beforeEach(() => jest.useFakeTimers({ now: T0 }));
afterEach(() => jest.useRealTimers());

/** The outcome of one try and when (ms after T0) it was known; fake timers run until nothing is left. */
async function settle(outcome: Promise<TryOutcome>): Promise<{ outcome?: TryOutcome; thrown?: unknown; at: number }> {
  const settled = outcome.then(
    (value) => ({ outcome: value, at: Date.now() - T0 }),
    (thrown: unknown) => ({ thrown, at: Date.now() - T0 }),
  );
  await jest.runAllTimersAsync();
  return settled;
}

/** A timeout's RestError as plain fields, for one deep equality. */
const timeoutOf = (outcome: TryOutcome | undefined) => ({
  name: outcome?.error?.name,
  code: outcome?.error?.code,
  statusCode: outcome?.error?.statusCode,
  message: outcome?.error?.message,
  response: outcome?.response,
});

describe('tryOnce: what one try came back with', () => {
  test('an answer is the outcome, and no timer is left behind', async () => {
    const request = storageRequest();
    const { next } = scriptedNext(T0, succeeds);
    const { outcome, at } = await settle(tryOnce(request, next, 2_000));
    expect(outcome).toStrictEqual({ response: answer(request, 200) });
    expect(at).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  test("a storage failure over an HTTP answer keeps both the RestError and the answer's status and code", async () => {
    const request = storageRequest();
    const { next } = scriptedNext(T0, fails(503, 'ServerBusy', { 'retry-after': '1' }));
    const { outcome } = await settle(tryOnce(request, next, 2_000));
    expect(outcome?.error).toBeInstanceOf(RestError);
    expect(outcome?.response).toBe(outcome?.error?.response);
    expect({
      status: outcome?.response?.status,
      code: outcome?.response?.headers.get('x-ms-error-code'),
      retryAfter: outcome?.response?.headers.get('retry-after'),
    }).toEqual({ status: 503, code: 'ServerBusy', retryAfter: '1' });
  });

  test('a failure with no answer at all is a RestError with its system code and no response', async () => {
    const request = storageRequest();
    const { next } = scriptedNext(T0, unreachable('ECONNRESET'));
    const { outcome } = await settle(tryOnce(request, next, 2_000));
    expect({ code: outcome?.error?.code, statusCode: outcome?.error?.statusCode, response: outcome?.response }).toStrictEqual({
      code: 'ECONNRESET',
      statusCode: undefined,
      response: undefined,
    });
  });

  test('a storage that never answers is cut off at the timeout: the try is aborted and times out as ETIMEDOUT', async () => {
    const request = storageRequest();
    const { next, signals } = scriptedNext(T0, hangs);
    const { outcome, at } = await settle(tryOnce(request, next, 2_000));
    expect(at).toBe(2_000);
    expect(timeoutOf(outcome)).toStrictEqual({
      name: 'RestError',
      code: 'ETIMEDOUT',
      statusCode: undefined,
      message: 'Storage did not answer within 2000 ms.',
      response: undefined,
    });
    // The signal the HTTP client was given is what destroyed the connection.
    expect(signals[0]?.aborted).toBe(true);
  });

  test('an answer that comes in time is taken, one that would come later is not waited for', async () => {
    const inTime = await settle(tryOnce(storageRequest(), scriptedNext(T0, after(1_999, succeeds)).next, 2_000));
    expect({ status: inTime.outcome?.response?.status, at: inTime.at }).toEqual({ status: 200, at: 1_999 });

    jest.setSystemTime(T0);
    const late = await settle(tryOnce(storageRequest(), scriptedNext(T0, after(2_001, succeeds)).next, 2_000));
    expect({ code: late.outcome?.error?.code, at: late.at }).toEqual({ code: 'ETIMEDOUT', at: 2_000 });
  });

  test.each([0, -250])('with no time left (%i ms) the request is not sent at all', async (timeoutMs) => {
    const request = storageRequest();
    const { next } = scriptedNext(T0, succeeds);
    const { outcome, at } = await settle(tryOnce(request, next, timeoutMs));
    expect(next).not.toHaveBeenCalled();
    expect(timeoutOf(outcome)).toStrictEqual({
      name: 'RestError',
      code: 'ETIMEDOUT',
      statusCode: undefined,
      message: 'Storage did not answer within 0 ms.',
      response: undefined,
    });
    expect(at).toBe(0);
  });

  test("the caller's own abort is not a storage outcome: it is thrown at once, not turned into a timeout", async () => {
    const caller = new AbortController();
    const request = storageRequest();
    request.abortSignal = caller.signal;
    const { next } = scriptedNext(T0, hangs);
    setTimeout(() => caller.abort(), 500);
    const { thrown, outcome, at } = await settle(tryOnce(request, next, 2_000));
    expect({ outcome, name: (thrown as Error).name, at }).toEqual({ outcome: undefined, name: 'AbortError', at: 500 });
  });

  test("a caller's signal aborted before the try aborts the try's own signal at once", async () => {
    const caller = new AbortController();
    caller.abort();
    const request = storageRequest();
    request.abortSignal = caller.signal;
    const { next, signals } = scriptedNext(T0, hangs);
    const { thrown, at } = await settle(tryOnce(request, next, 2_000));
    expect(signals[0]).not.toBe(caller.signal);
    expect({ name: (thrown as Error).name, at, sentAborted: signals[0]?.aborted }).toEqual({
      name: 'AbortError',
      at: 0,
      sentAborted: true,
    });
  });

  test("after the try the request carries the caller's signal again, whatever the outcome", async () => {
    const caller = new AbortController();
    for (const behaviour of [succeeds, fails(500, 'InternalError'), hangs]) {
      const request = storageRequest();
      request.abortSignal = caller.signal;
      await settle(tryOnce(request, scriptedNext(T0, behaviour).next, 2_000));
      expect(request.abortSignal).toBe(caller.signal);
    }
    const bare = storageRequest();
    await settle(tryOnce(bare, scriptedNext(T0, succeeds).next, 2_000));
    expect(bare.abortSignal).toBeUndefined();
  });

  test('what is not a storage answer (a bug, a configuration error) is thrown as it is', async () => {
    const bug = new TypeError('Cannot read properties of undefined');
    const { thrown } = await settle(tryOnce(storageRequest(), () => Promise.reject(bug), 2_000));
    expect(thrown).toBe(bug);
  });
});
