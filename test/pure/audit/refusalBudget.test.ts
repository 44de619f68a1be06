import type { Caller } from '../../../shared/auth/caller';
import { sumRefusals, type AuditEvent } from '../../../shared/audit/model';
import { afterFailedMerge, refusalWindowOf, summaryEvent, withRefusal, type Pending } from '../../../shared/audit/refusalBudget';

// The refusal budget's decisions, apart from the storage they feed: which window (caller and UTC minute)
// a refusal counts in, what a window's summary counts, the one summary row every instance adds into, and
// what a failed merge leaves pending and for how long. The times are the events' own, so no clock is
// needed; the path through storage (the first refusals written one by one, the timed merges) is
// test/storage/refusalFlood.test.ts's, against Azurite.

const TID = '72F988BF-86F1-41AF-91AB-2D7CD011DB47';
const OID = '4A1D0C5E-8B2F-4E61-9C3D-7F0E2A6B1D90';
const MINUTE = Date.parse('2026-03-02T09:00:00Z') / 60_000;

const caller = (claims: Partial<Caller> = {}): Caller => ({ tid: TID, oid: OID, delegated: false, permissions: new Set(), ...claims });

function refusal(at: string, claims: Partial<Caller> = {}, resultReason = '403 authorization_error: Missing role.'): AuditEvent {
  return {
    id: `refusal-${at}`,
    activity: 'read',
    at: new Date(at),
    result: 'failure',
    resultReason,
    keyId: 'b0f1c0a2-5f3e-4a7b-9c1d-2e3f4a5b6c7d',
    source: { caller: caller(claims), requestId: `request-${at}` },
  };
}

const READ_403 = 'Read BitLocker key: 403 authorization_error';

describe('refusalWindowOf: per caller and UTC minute', () => {
  test('one identity is one caller however its ids are spelt, and a minute runs from :00.000 to :59.999', () => {
    const windows = [
      refusal('2026-03-02T09:00:00.000Z'),
      refusal('2026-03-02T09:00:59.999Z', { tid: TID.toLowerCase(), oid: OID.toLowerCase() }),
      refusal('2026-03-02T09:01:00.000Z', { appId: 'another client app' }),
    ].map(refusalWindowOf);
    const one = `${TID}/${OID}`.toLowerCase();
    expect(windows).toEqual([
      { caller: one, minute: MINUTE },
      { caller: one, minute: MINUTE },
      { caller: one, minute: MINUTE + 1 },
    ]);
  });

  test('another object id, another tenant, or a device is another caller', () => {
    const callers = [
      refusal('2026-03-02T09:00:00Z', { oid: '00000000-0000-0000-0000-000000000001' }),
      refusal('2026-03-02T09:00:00Z', { tid: '00000000-0000-0000-0000-0000000000aa' }),
      refusal('2026-03-02T09:00:00Z', { oid: undefined, appId: 'Some-App' }),
      refusal('2026-03-02T09:00:00Z', { oid: undefined, device: { deviceId: 'D3V1CE' } as Caller['device'] }),
    ].map((event) => refusalWindowOf(event).caller);
    expect(callers).toEqual([
      `${TID.toLowerCase()}/00000000-0000-0000-0000-000000000001`,
      `00000000-0000-0000-0000-0000000000aa/${OID.toLowerCase()}`,
      `${TID.toLowerCase()}/some-app`,
      'device/d3v1ce',
    ]);
  });
});

describe("withRefusal: what a window's summary counts", () => {
  test('each refusal adds one, tallied by activity and status, between the first and the last time', () => {
    const first = refusal('2026-03-02T09:00:10Z');
    const second = refusal('2026-03-02T09:00:20Z', {}, '403 authorization_error: Not this key.');
    const third = { ...refusal('2026-03-02T09:00:30Z', {}, '404 itemNotFound: No such key.'), activity: 'update' as const };
    const pending = [first, second, third].reduce<Pending | undefined>(withRefusal, undefined);
    expect(pending).toEqual({
      counts: {
        count: 3,
        tally: { [READ_403]: 2, 'Update BitLocker key: 404 itemNotFound': 1 },
        first: first.at,
        last: third.at,
      },
      latest: third,
      tries: 0,
    });
  });

  test("refusals counted out of their time order (requests in flight at once) keep the window's first and last", () => {
    const late = refusal('2026-03-02T09:00:50Z');
    const early = refusal('2026-03-02T09:00:05Z');
    expect(withRefusal(withRefusal(undefined, late), early).counts).toEqual({
      count: 2,
      tally: { [READ_403]: 2 },
      first: early.at,
      last: late.at,
    });
  });

  test('a reason without a status is tallied as other', () => {
    expect(withRefusal(undefined, refusal('2026-03-02T09:00:00Z', {}, 'refused')).counts.tally).toEqual({
      'Read BitLocker key: other': 1,
    });
  });

  test('the merges already failed stay counted when more refusals come', () => {
    const failedTwice: Pending = { ...withRefusal(undefined, refusal('2026-03-02T09:00:01Z')), tries: 2 };
    expect(withRefusal(failedTwice, refusal('2026-03-02T09:00:02Z')).tries).toBe(2);
  });
});

describe('summaryEvent: the one row every instance adds into', () => {
  test('its id and time are fixed by the caller and the minute alone; the latest refusal gives its reason and source', () => {
    const events = [refusal('2026-03-02T09:00:07Z'), refusal('2026-03-02T09:00:41Z', {}, '403 authorization_error: Not this key.')];
    const pending = events.reduce<Pending | undefined>(withRefusal, undefined)!;
    const window = refusalWindowOf(events[0]);
    expect(summaryEvent(window, pending)).toEqual({
      // Pinned: instances running different versions of the service must still name the same row.
      id: '4247f796-1b76-8514-237a-661fd90b9d1f',
      activity: 'refusals',
      at: new Date('2026-03-02T09:00:00Z'),
      result: 'failure',
      resultReason:
        'Refusals of this caller beyond 10 in this minute, counted instead of recorded one by one. ' +
        'The latest: 403 authorization_error: Not this key.',
      source: events[1].source,
      refusals: pending.counts,
    });
  });

  test('another minute or another caller is another row; the same pair always the same one', () => {
    const pending = withRefusal(undefined, refusal('2026-03-02T09:00:07Z'));
    const idOf = (at: string, claims: Partial<Caller> = {}) => summaryEvent(refusalWindowOf(refusal(at, claims)), pending).id;
    const ids = [
      idOf('2026-03-02T09:00:07Z'),
      idOf('2026-03-02T09:00:59Z', { oid: OID.toLowerCase() }),
      idOf('2026-03-02T09:01:00Z'),
      idOf('2026-03-02T09:00:07Z', { oid: '00000000-0000-0000-0000-000000000001' }),
    ];
    expect(ids[0]).toBe(ids[1]);
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });
});

describe('afterFailedMerge: counts kept while storage is unavailable, then given up', () => {
  test('a merge failing every time is tried again after 5, 10, 15 and 20 s, then its counts are given up', () => {
    const steps: ({ tries: number; delayMs: number } | undefined)[] = [];
    let pending: Pending | undefined = withRefusal(undefined, refusal('2026-03-02T09:00:07Z'));
    while (pending) {
      const retry = afterFailedMerge(pending, undefined);
      steps.push(retry && { tries: retry.pending.tries, delayMs: retry.delayMs });
      pending = retry?.pending;
    }
    expect(steps).toEqual([
      { tries: 1, delayMs: 5_000 },
      { tries: 2, delayMs: 10_000 },
      { tries: 3, delayMs: 15_000 },
      { tries: 4, delayMs: 20_000 },
      undefined,
    ]);
  });

  test('the counts of a failed merge join those counted since, under the newer latest refusal', () => {
    const failedEvents = [refusal('2026-03-02T09:00:07Z'), refusal('2026-03-02T09:00:08Z')];
    const failed = failedEvents.reduce<Pending | undefined>(withRefusal, undefined)!;
    const newer = refusal('2026-03-02T09:00:09Z', {}, '404 itemNotFound: No such key.');
    const since = withRefusal(undefined, newer);
    expect(afterFailedMerge(failed, since)).toEqual({
      pending: {
        counts: {
          count: 3,
          tally: { [READ_403]: 2, 'Read BitLocker key: 404 itemNotFound': 1 },
          first: failedEvents[0].at,
          last: newer.at,
        },
        latest: newer,
        tries: 1,
      },
      delayMs: 5_000,
    });
  });

  test('a failed merge loses nothing it was given: its counts come back whole', () => {
    const failed = withRefusal(undefined, refusal('2026-03-02T09:00:07Z'));
    expect(afterFailedMerge(failed, undefined)).toEqual({ pending: { ...failed, tries: 1 }, delayMs: 5_000 });
  });
});

describe('sumRefusals: two counts of one caller and minute as one (every instance adds into one row)', () => {
  test('counts add, tallies join by key, and the span covers both', () => {
    const a = { count: 4, tally: { [READ_403]: 4 }, first: new Date('2026-03-02T09:00:10Z'), last: new Date('2026-03-02T09:00:20Z') };
    const b = {
      count: 3,
      tally: { [READ_403]: 1, 'Delete BitLocker key: 403 authorization_error': 2 },
      first: new Date('2026-03-02T09:00:05Z'),
      last: new Date('2026-03-02T09:00:15Z'),
    };
    const expected = {
      count: 7,
      tally: { [READ_403]: 5, 'Delete BitLocker key: 403 authorization_error': 2 },
      first: b.first,
      last: a.last,
    };
    expect([sumRefusals(a, b), sumRefusals(b, a)]).toEqual([expected, expected]);
    // Neither operand is changed: a requeued count may still be read by the merge that failed.
    expect(a.tally).toEqual({ [READ_403]: 4 });
  });
});
