import { RestError } from '@azure/core-rest-pipeline';
import { retryDelayMs } from '../../../shared/storage/retryDecision';
import type { TryOutcome } from '../../../shared/storage/tryOnce';
import { answer, storageFailure, storageRequest } from '../../support/storageAnswers';

// Which outcomes of a try are worth another and after how long. The jitter is Math.random's; it is pinned
// here to its ends, so the backoff's range is asserted exactly. Whether the wait fits the call's budget is
// the policy's to judge (callPolicy.test.ts).

const NOW = Date.parse('2026-03-02T09:00:00Z');

beforeEach(() => jest.useFakeTimers({ now: NOW }));
afterEach(() => {
  jest.useRealTimers();
  jest.restoreAllMocks();
});

/** A try that failed with `status` (undefined: no answer at all), as tryOnce reports it. */
function failed(status: number | undefined, headers: Record<string, string> = {}): TryOutcome {
  if (status === undefined) return { error: new RestError('connect ECONNREFUSED', { code: 'ECONNREFUSED', request: storageRequest() }) };
  const error = storageFailure(status, 'AnyCode', headers);
  return { error, response: error.response };
}

/** The waits before tries 2 to 6 with the jitter at `random`. */
function waits(outcome: TryOutcome, random: number): (number | undefined)[] {
  jest.spyOn(Math, 'random').mockReturnValue(random);
  return [0, 1, 2, 3, 4].map((retry) => retryDelayMs(outcome, retry));
}

describe('retryDelayMs: whether and when to try again', () => {
  test.each([
    ['no answer at all (refused, reset, timed out)', undefined],
    ['408', 408],
    ['500', 500],
    ['502', 502],
    ['504', 504],
  ])('%s is retried after an exponential backoff of half to full 200 ms × 2^retry, at most 1 s', (_, status) => {
    const outcome = failed(status);
    const longest = waits(outcome, 0.999_999).map((ms) => ms !== undefined && Math.round(ms));
    expect({ shortest: waits(outcome, 0), longest }).toEqual({
      shortest: [100, 200, 400, 500, 500],
      longest: [200, 400, 800, 1_000, 1_000],
    });
  });

  test('a throttling answer (429, 503) without Retry-After waits the backoff', () => {
    expect([waits(failed(429), 0), waits(failed(503), 0)]).toEqual([
      [100, 200, 400, 500, 500],
      [100, 200, 400, 500, 500],
    ]);
  });

  test("a throttling answer waits never less than the storage's Retry-After, and never less than the backoff", () => {
    expect(waits(failed(503, { 'retry-after': '2' }), 0)).toEqual([2_000, 2_000, 2_000, 2_000, 2_000]);
    expect(waits(failed(429, { 'retry-after-ms': '300' }), 0)).toEqual([300, 300, 400, 500, 500]);
    expect(waits(failed(503, { 'retry-after': 'Mon, 02 Mar 2026 09:00:45 GMT' }), 0)).toEqual(Array(5).fill(45_000));
    // However long: it is the policy that refuses a wait beyond the call's budget.
    expect(retryDelayMs(failed(429, { 'retry-after': '3600' }), 0)).toBe(3_600_000);
  });

  test.each([
    ['success', { response: answer(storageRequest(), 200) }],
    ['204 No Content', { response: answer(storageRequest(), 204) }],
    ['400 (a request storage will never take)', failed(400)],
    ['401 (our credentials)', failed(401)],
    ['403 (our credentials)', failed(403)],
    ['404 (the entity is not there)', failed(404)],
    ['409 (the entity is there already)', failed(409)],
    ['412 (another version)', failed(412)],
    ['501', failed(501)],
  ] as [string, TryOutcome][])('%s is final: an answer the caller acts on', (_, outcome) => {
    expect(waits(outcome, 0)).toEqual(Array(5).fill(undefined));
  });

  test('a failure that is no RestError (the caller aborted, a bug) is never retried', () => {
    const abort = Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' });
    // tryOnce throws such errors rather than reporting them; the decision still refuses them.
    expect(retryDelayMs({ error: abort }, 0)).toBeUndefined();
  });
});
