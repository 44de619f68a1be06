import type { PipelineRequest } from '@azure/core-rest-pipeline';
import { DEFAULT_STORAGE_CALL_LIMITS, type StorageCallLimits } from '../../../shared/storage/callLimits';
import { storageCallPolicy } from '../../../shared/storage/callPolicy';
import { storageFailureOf, type StorageFailure } from '../../../shared/storage/failure';
import { outsideStorageDeadline, withStorageBudget } from '../../../shared/storage/requestDeadline';
import { StorageError, toStorageError, type StorageErrorKind } from '../../../shared/storage/storageError';
import { after, fails, hangs, scriptedNext, storageRequest, succeeds, unreachable, type Try } from '../../support/storageAnswers';

// The retry policy of every storage call, driven with a fake `next` on a fake clock (as core-rest-pipeline
// tests its retryPolicy and throttlingRetryPolicy): which answers are tried again, when each try is sent,
// when the call ends, and what its failure becomes. The jitter is pinned to its low end, so the backoff
// before try 2, 3, 4 … is 100, 200, 400 … ms; no test depends on this machine's speed.

// The policy sleeps with node:timers/promises, which Jest's fake timers leave alone; routed to the
// global setTimeout, which they replace, so that the policy's waits run on the fake clock too.
jest.mock('node:timers/promises', () => ({
  setTimeout: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
}));

const T0 = Date.parse('2026-03-02T09:00:00Z');
const CALL = 'GET RecoveryKeys(entity)';

beforeEach(() => {
  jest.useFakeTimers({ now: T0 });
  jest.spyOn(Math, 'random').mockReturnValue(0);
});
afterEach(() => {
  jest.useRealTimers();
  jest.restoreAllMocks();
});

/** What a call came to: its answer, or what its failure becomes and what the policy noted for the log. */
interface CallOutcome {
  status?: number;
  kind?: StorageErrorKind;
  retryAfterSeconds?: number;
  failure?: StorageFailure;
  /** The name of what was thrown that is no storage failure (the caller's own abort). */
  thrown?: string;
  /** When each try was sent, ms after the call started. */
  sentAt: number[];
  endedAt: number;
}

/** The error the last call failed with, for the assertions on its message. */
let lastError: unknown;

/** Starts a call that plays `tries`; the outcome settles as the fake clock is run. */
function startCall(tries: Try[], limits?: StorageCallLimits, request: PipelineRequest = storageRequest()): Promise<CallOutcome> {
  const started = Date.now();
  const { next, sentAt } = scriptedNext(started, ...tries);
  const ended = (outcome: Omit<CallOutcome, 'sentAt' | 'endedAt'>): CallOutcome => ({ ...outcome, sentAt, endedAt: Date.now() - started });
  return storageCallPolicy(limits)
    .sendRequest(request, next)
    .then(
      (response) => ended({ status: response.status }),
      (error: unknown) => {
        lastError = error;
        const storage = toStorageError(error);
        if (!(storage instanceof StorageError)) return ended({ thrown: (error as Error).name, failure: storageFailureOf(error) });
        return ended({ kind: storage.kind, retryAfterSeconds: storage.retryAfterSeconds, failure: storageFailureOf(error) });
      },
    );
}

/** One call, the fake clock run until nothing is left to do. */
async function call(tries: Try[], limits?: StorageCallLimits, request?: PipelineRequest): Promise<CallOutcome> {
  const outcome = startCall(tries, limits, request);
  await jest.runAllTimersAsync();
  return outcome;
}

const httpDate = (ms: number): string => new Date(ms).toUTCString();

/** A call whose last try timed out (nothing sent at all when `sentAt` is empty): storage unavailable, come back in 10 s. */
const timedOut = (tries: number, sentAt: number[], endedAt: number): CallOutcome => ({
  kind: 'unavailable',
  retryAfterSeconds: 10,
  failure: { call: CALL, code: 'ETIMEDOUT', status: undefined, tries, ms: endedAt },
  sentAt,
  endedAt,
});

/** A call that ended with its first try's failure, at once: nothing waited for, nothing tried again. */
const endedAtFirstTry = (
  outcome: Pick<CallOutcome, 'kind' | 'retryAfterSeconds' | 'thrown'>,
  code: string,
  status: number,
): CallOutcome => ({
  ...outcome,
  failure: { call: CALL, code, status, tries: 1, ms: 0 },
  sentAt: [0],
  endedAt: 0,
});

describe('storageCallPolicy: what is tried again', () => {
  test('an answer at the first try is passed on at once', async () => {
    expect(await call([succeeds])).toEqual({ status: 200, sentAt: [0], endedAt: 0 });
  });

  test('a 500 is tried again after the backoff, and an answer then ends the call', async () => {
    expect(await call([fails(500, 'InternalError'), fails(500, 'InternalError'), succeeds])).toEqual({
      status: 200,
      sentAt: [0, 100, 300],
      endedAt: 300,
    });
  });

  test('the backoff is jittered: half to full of its ceiling', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0.5);
    expect((await call([fails(500, 'InternalError'), fails(500, 'InternalError'), succeeds])).sentAt).toEqual([0, 150, 450]);
  });

  test.each([
    [408, 'OperationTimedOut'],
    [500, 'InternalError'],
    [502, 'BadGateway'],
    [504, 'GatewayTimeout'],
  ])('%i is tried three times at most, then the storage is unavailable (come back in 10 s)', async (status, code) => {
    expect(await call([fails(status, code)])).toEqual({
      kind: 'unavailable',
      retryAfterSeconds: 10,
      failure: { call: CALL, code, status, tries: 3, ms: 300 },
      sentAt: [0, 100, 300],
      endedAt: 300,
    });
  });

  test.each(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND'])('no answer at all (%s) is tried three times at most', async (code) => {
    expect(await call([unreachable(code)])).toEqual({
      kind: 'unavailable',
      retryAfterSeconds: 10,
      failure: { call: CALL, code, status: undefined, tries: 3, ms: 300 },
      sentAt: [0, 100, 300],
      endedAt: 300,
    });
  });

  test.each([
    [404, 'ResourceNotFound', 'gone', undefined],
    [409, 'EntityAlreadyExists', 'exists', undefined],
    [412, 'UpdateConditionNotSatisfied', 'versionMoved', undefined],
    [401, 'InvalidAuthenticationInfo', 'denied', 10],
    [403, 'AuthorizationPermissionMismatch', 'denied', 10],
  ] as [number, string, StorageErrorKind, number | undefined][])(
    '%i (%s) is an answer, not a fault: one try, and the call is %s',
    async (status, code, kind, retryAfterSeconds) => {
      expect(await call([fails(status, code), succeeds])).toEqual(endedAtFirstTry({ kind, retryAfterSeconds }, code, status));
    },
  );

  test('a 400 is not tried again and surfaces as it is: a request storage will never take is a bug', async () => {
    expect(await call([fails(400, 'InvalidInput'), succeeds])).toEqual(endedAtFirstTry({ thrown: 'RestError' }, 'InvalidInput', 400));
  });
});

describe("storageCallPolicy: a throttling storage's Retry-After", () => {
  test.each([
    ['Retry-After in seconds', { 'retry-after': '1' }, 1_000],
    ['retry-after-ms', { 'retry-after-ms': '1500' }, 1_500],
    ['x-ms-retry-after-ms', { 'x-ms-retry-after-ms': '700' }, 700],
    ['Retry-After as an HTTP date', { 'retry-after': httpDate(T0 + 2_000) }, 2_000],
  ])('%s is waited before the next try', async (_, headers, waitMs) => {
    expect(await call([fails(503, 'ServerBusy', headers), succeeds])).toEqual({ status: 200, sentAt: [0, waitMs], endedAt: waitMs });
  });

  test('a storage throttling every try ends the call as throttled, passing its Retry-After on (rounded up to seconds)', async () => {
    expect(await call([fails(429, 'TooManyRequests', { 'retry-after-ms': '1500' })])).toEqual({
      kind: 'throttled',
      retryAfterSeconds: 2,
      failure: { call: CALL, code: 'TooManyRequests', status: 429, tries: 3, ms: 3_000 },
      sentAt: [0, 1_500, 3_000],
      endedAt: 3_000,
    });
  });

  test('a Retry-After longer than the budget is not waited: the caller is told to come back then', async () => {
    expect(await call([fails(503, 'ServerBusy', { 'retry-after': '30' }), succeeds])).toEqual(
      endedAtFirstTry({ kind: 'throttled', retryAfterSeconds: 30 }, 'ServerBusy', 503),
    );
  });

  test('a wait is taken only if a try of 300 ms still fits after it, to the millisecond', async () => {
    const fits = await call([fails(503, 'ServerBusy', { 'retry-after-ms': '3700' }), succeeds]);
    expect(fits).toEqual({ status: 200, sentAt: [0, 3_700], endedAt: 3_700 });
    const tooLong = await call([fails(503, 'ServerBusy', { 'retry-after-ms': '3701' }), succeeds]);
    expect(tooLong).toEqual(endedAtFirstTry({ kind: 'throttled', retryAfterSeconds: 4 }, 'ServerBusy', 503));
  });

  test('throttling without a Retry-After waits the backoff and asks the caller for 5 s', async () => {
    expect(await call([fails(503, 'ServerBusy')])).toEqual({
      kind: 'throttled',
      retryAfterSeconds: 5,
      failure: { call: CALL, code: 'ServerBusy', status: 503, tries: 3, ms: 300 },
      sentAt: [0, 100, 300],
      endedAt: 300,
    });
  });
});

describe('storageCallPolicy: the per-try timeout and the call budget', () => {
  test('a storage that never answers: each try is cut at 2 s, and the call ends at its 4 s budget', async () => {
    expect(await call([hangs])).toEqual(timedOut(2, [0, 2_100], 4_000));
    // The second try had only what was left of the budget.
    expect((lastError as Error).message).toBe('Storage did not answer within 1900 ms.');
  });

  test('a try slower than the timeout is abandoned for a fresh one, which may answer', async () => {
    expect(await call([after(2_500, succeeds), succeeds])).toEqual({ status: 200, sentAt: [0, 2_100], endedAt: 2_100 });
  });

  test('a slow answer within the timeout is waited for', async () => {
    expect(await call([after(1_999, succeeds)])).toEqual({ status: 200, sentAt: [0], endedAt: 1_999 });
  });

  test('the try in flight at the deadline is cut short there', async () => {
    // 0–1700 a 500, backoff 100; 1800–3500 a 500, backoff 200 (3500 + 200 + 300 fits); the third try has 300 ms.
    const limits = { ...DEFAULT_STORAGE_CALL_LIMITS, maxTries: 10 };
    expect(await call([after(1_700, fails(500, 'InternalError'))], limits)).toEqual(timedOut(3, [0, 1_800, 3_700], 4_000));
    expect((lastError as Error).message).toBe('Storage did not answer within 300 ms.');
  });

  test('no retry starts that could not have 300 ms before the deadline', async () => {
    // 0–1800 a 500, backoff 100; 1900–3700 a 500: 3700 + 200 + 300 is past 4000, so that answer is the last.
    const limits = { ...DEFAULT_STORAGE_CALL_LIMITS, maxTries: 10 };
    expect(await call([after(1_800, fails(500, 'InternalError'))], limits)).toEqual({
      kind: 'unavailable',
      retryAfterSeconds: 10,
      failure: { call: CALL, code: 'InternalError', status: 500, tries: 2, ms: 3_700 },
      sentAt: [0, 1_900],
      endedAt: 3_700,
    });
  });

  test('limits passed to the policy replace the defaults: five tries of 500 ms', async () => {
    const limits = { tryTimeoutMs: 500, callBudgetMs: 10_000, maxTries: 5 };
    expect(await call([hangs], limits)).toEqual(timedOut(5, [0, 600, 1_300, 2_200, 3_200], 3_700));
  });
});

describe("storageCallPolicy: the caller's abort", () => {
  test("the caller's abort during a try ends the call with it at once, no retry and no storage failure", async () => {
    const caller = new AbortController();
    const request = storageRequest();
    request.abortSignal = caller.signal;
    setTimeout(() => caller.abort(), 500);
    expect(await call([hangs], undefined, request)).toEqual({ thrown: 'AbortError', failure: undefined, sentAt: [0], endedAt: 500 });
  });

  test('a caller gone away gets no further try after a retryable failure', async () => {
    const caller = new AbortController();
    const request = storageRequest();
    request.abortSignal = caller.signal;
    const failsAsCallerLeaves: Try = (sent) => {
      caller.abort();
      return fails(500, 'InternalError')(sent);
    };
    expect(await call([failsAsCallerLeaves, succeeds], undefined, request)).toEqual({
      kind: 'unavailable',
      retryAfterSeconds: 10,
      failure: { call: CALL, code: 'InternalError', status: 500, tries: 1, ms: 0 },
      sentAt: [0],
      endedAt: 0,
    });
  });
});

describe("storageCallPolicy: the request's storage deadline (requestDeadline.ts)", () => {
  test("a request's deadline ends its call before the call's own budget", async () => {
    const outcome = withStorageBudget(1_000, () => startCall([hangs]));
    await jest.runAllTimersAsync();
    expect(await outcome).toEqual(timedOut(1, [0], 1_000));
  });

  test('a later call of the same request has only what is left; with nothing left, nothing is sent', async () => {
    const outcomes = withStorageBudget(1_000, async () => {
      const first = await startCall([after(600, fails(500, 'InternalError')), hangs]);
      const second = await startCall([succeeds]);
      return [first, second];
    });
    await jest.runAllTimersAsync();
    const [first, second] = await outcomes;
    // 0–600 a 500, backoff 100; 700–1000 cut at the deadline; the second call starts at 1000.
    expect(first).toEqual(timedOut(2, [0, 700], 1_000));
    expect(second).toEqual(timedOut(1, [], 0));
    expect((lastError as Error).message).toBe('Storage did not answer within 0 ms.');
  });

  test('calls of one request in flight at once share one deadline', async () => {
    const outcomes = withStorageBudget(1_000, () => Promise.all([startCall([hangs]), startCall([hangs])]));
    await jest.runAllTimersAsync();
    expect(await outcomes).toEqual([timedOut(1, [0], 1_000), timedOut(1, [0], 1_000)]);
  });

  test("the deadline counts from the request's first storage call, not from the request's start", async () => {
    const outcome = withStorageBudget(1_000, async () => {
      // The request's own work (token checks, body parsing) on a busy machine.
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      return startCall([after(900, succeeds)]);
    });
    await jest.runAllTimersAsync();
    expect(await outcome).toEqual({ status: 200, sentAt: [0], endedAt: 900 });
  });

  test("work a request starts and does not wait for keeps each call's own budget", async () => {
    const outcomes = withStorageBudget(1_000, async () => {
      const inRequest = await startCall([hangs]);
      const afterwards = await outsideStorageDeadline(() => startCall([hangs]));
      return [inRequest, afterwards];
    });
    await jest.runAllTimersAsync();
    const [inRequest, afterwards] = await outcomes;
    expect(inRequest).toEqual(timedOut(1, [0], 1_000));
    expect(afterwards).toEqual(timedOut(2, [0, 2_100], 4_000));
  });
});
