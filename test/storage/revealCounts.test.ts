import { expect } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { countReveal } from '../../shared/alerts/revealCounts';

// The hourly count behind REVEAL_LIMIT_PER_HOUR and the unusual-reveal signals, on the run's Azurite,
// with the clock given to it (no waiting for an hour to pass).

const user = (): string => `${randomUUID()}/${randomUUID()}`;
const at = (iso: string): Date => new Date(iso);

it('counts a user per clock hour, says when the hour ends, and starts again in the next hour', async () => {
  const reader = user();
  const tallies = [];
  for (const time of ['2026-12-06T10:00:00.000Z', '2026-12-06T10:30:00.000Z', '2026-12-06T10:59:59.500Z'])
    tallies.push(await countReveal(reader, at(time), undefined, 30));
  expect(tallies.map(({ count, first, secondsLeftInHour }) => [count, first, secondsLeftInHour])).toEqual([
    [1, true, 3600],
    [2, false, 1800],
    [3, false, 1],
  ]);
  expect(await countReveal(reader, at('2026-12-06T11:00:00.000Z'), undefined, 30)).toMatchObject({ count: 1, first: false });
  // Another user is counted apart.
  expect(await countReveal(user(), at('2026-12-06T10:30:00.000Z'), undefined, 30)).toMatchObject({ count: 1, first: true });
});

it('says when a device scope is new for a user who has read before, and keeps only scopes of allowed reads', async () => {
  const reader = user();
  const time = at('2026-12-06T12:00:00.000Z');
  const newScopes = [];
  for (const scope of ['brazil', 'brazil', 'germany', undefined]) newScopes.push((await countReveal(reader, time, scope, 4)).newScope);
  // The first read has no history to be unusual against; a read with no scope label is never "outside".
  expect(newScopes).toEqual([false, false, true, false]);
  // Beyond the limit (count 5 of 4) a scope is not learned: the next allowed hour still finds it new.
  expect(await countReveal(reader, time, 'japan', 4)).toMatchObject({ count: 5, newScope: true });
  expect(await countReveal(reader, at('2026-12-06T13:00:00.000Z'), 'japan', 4)).toMatchObject({ count: 1, newScope: true });
});

it('loses no count when one user reads concurrently (the ETag race is retried)', async () => {
  const reader = user();
  const time = at('2026-12-06T14:00:00.000Z');
  const tallies = await Promise.all(Array.from({ length: 4 }, () => countReveal(reader, time, undefined, 30)));
  expect(tallies.map((tally) => tally.count).sort()).toEqual([1, 2, 3, 4]);
  expect(tallies.filter((tally) => tally.first)).toHaveLength(1);
});
