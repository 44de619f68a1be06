import { storageRetryAfterMs } from '../../../shared/storage/retryAfter';
import { answer, storageRequest } from '../../support/storageAnswers';

// The wait a throttling storage asks for, in every form Azure sends it (the same forms core-rest-pipeline's
// throttlingRetryStrategy reads): ms in retry-after-ms or x-ms-retry-after-ms, seconds or an HTTP date in
// Retry-After. The clock is fake, so a date is a fixed distance away.

const NOW = Date.parse('2026-03-02T09:00:00Z');

beforeEach(() => jest.useFakeTimers({ now: NOW }));
afterEach(() => jest.useRealTimers());

const asked = (status: number, headers: Record<string, string>) => storageRetryAfterMs(answer(storageRequest(), status, headers));

describe('storageRetryAfterMs: the wait a throttling answer asks for', () => {
  test.each([
    ['retry-after-ms', { 'retry-after-ms': '1500' }, 1_500],
    ['x-ms-retry-after-ms', { 'x-ms-retry-after-ms': '250' }, 250],
    ['Retry-After in seconds', { 'retry-after': '3' }, 3_000],
    ['Retry-After with spaces around', { 'retry-after': ' 7 ' }, 7_000],
    ['Retry-After: 0', { 'retry-after': '0' }, 0],
    ['Retry-After as an HTTP date 90 s ahead', { 'retry-after': 'Mon, 02 Mar 2026 09:01:30 GMT' }, 90_000],
    ['Retry-After as an HTTP date gone by (no wait, never a negative one)', { 'retry-after': 'Mon, 02 Mar 2026 08:59:00 GMT' }, 0],
    ['retry-after-ms before Retry-After', { 'retry-after-ms': '400', 'retry-after': '9' }, 400],
    ['retry-after-ms before x-ms-retry-after-ms', { 'retry-after-ms': '400', 'x-ms-retry-after-ms': '800' }, 400],
    ['an unreadable ms header falls through to Retry-After', { 'retry-after-ms': 'soon', 'retry-after': '2' }, 2_000],
    ['a negative ms header falls through to Retry-After', { 'x-ms-retry-after-ms': '-5', 'retry-after': '2' }, 2_000],
  ])('%s', (_, headers, ms) => {
    expect([asked(429, headers), asked(503, headers)]).toEqual([ms, ms]);
  });

  test.each([
    ['no header', {}],
    ['an unreadable Retry-After', { 'retry-after': 'in a while' }],
    ['an empty Retry-After', { 'retry-after': '  ' }],
  ])('nothing with %s', (_, headers) => {
    expect(asked(429, headers)).toBeUndefined();
  });

  test('only a throttling answer (429, 503) asks for a wait', () => {
    const headers = { 'retry-after': '3', 'retry-after-ms': '3000' };
    expect([200, 408, 500, 502, 504, 404].map((status) => asked(status, headers))).toEqual(Array(6).fill(undefined));
    expect(storageRetryAfterMs(undefined)).toBeUndefined();
  });
});
