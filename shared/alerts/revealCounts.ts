import { serviceUnavailable } from '../errors/graphError';
import { REVEAL_COUNT_ROW, TABLES } from '../storage/layout';
import { storageCall } from '../storage/storageCall';
import { isStorageError } from '../storage/storageError';
import { tableClient } from '../storage/tables';

// Each user's key reads, counted in Table Storage so that every instance counts against one limit: a
// per-instance count (as the per-minute token bucket is) multiplies the limit by the instance count,
// and a scale-out is exactly when someone pulling keys in bulk would get more of them.
//
// Layout: RevealCounts  PartitionKey = the user (callerKey, '/' as ':'), RowKey = REVEAL_COUNT_ROW, one
// row per user: `hour` (the clock hour counted, `YYYY-MM-DDTHH` UTC), `count` (reads in it, refused ones
// too), `firstRevealDateTime`, `scopes` (JSON: the scope labels of devices read before, newest last).
// A partition per user: no hot partition (one user's reads are a few a minute at most; a partition takes
// thousands a second). One point read and one conditional write per read (two transactions), no row per
// hour to clean up. The hour is a fixed clock window: a user may read the limit at 10:59 and again at
// 11:00; over any sliding hour that is at most twice the limit, and every read is audited anyway.

/** Scope labels kept per user; the oldest goes first. */
const MAX_SCOPES = 100;
/** Conditional writes lost to the same user's concurrent reads before the read is refused (503). */
const MAX_ATTEMPTS = 5;

interface CountEntity {
  hour: string;
  count: number;
  firstRevealDateTime: string;
  scopes: string;
}

export interface RevealTally {
  /** This user's key reads in the current clock hour, this one included (refused ones too). */
  count: number;
  /** No earlier read by this user was ever counted. */
  first: boolean;
  /** The device's scope label is new for this user, who has read keys before (false without a label). */
  newScope: boolean;
  /** Seconds until the current clock hour ends (at least 1). */
  secondsLeftInHour: number;
}

const hourOf = (now: Date): string => now.toISOString().slice(0, 13);
const partitionOf = (userKey: string): string => userKey.replace(/\//g, ':');

function scopesOf(entity: CountEntity | undefined): string[] {
  if (entity === undefined) return [];
  try {
    const parsed = JSON.parse(entity.scopes) as unknown;
    return Array.isArray(parsed) ? parsed.filter((scope): scope is string => typeof scope === 'string') : [];
  } catch {
    return [];
  }
}

async function readCount(userKey: string): Promise<(CountEntity & { etag: string }) | undefined> {
  const table = await tableClient(TABLES.revealCounts);
  try {
    return await storageCall(() => table.getEntity<CountEntity>(partitionOf(userKey), REVEAL_COUNT_ROW), 'The reveal count');
  } catch (error) {
    if (isStorageError(error, 'gone')) return undefined;
    throw error;
  }
}

/**
 * Counts one key read by `userKey` at `now`, of a device labelled `scope` (if known), against `limit`:
 * a read beyond the limit is counted (the first one beyond is what raises the limit alert) but adds no
 * scope. Concurrent reads of the same user race on the row's ETag; the loser counts again.
 */
export async function countReveal(userKey: string, now: Date, scope: string | undefined, limit: number): Promise<RevealTally> {
  const table = await tableClient(TABLES.revealCounts);
  const hour = hourOf(now);
  const nextHour = Date.parse(`${hour}:00:00.000Z`) + 3_600_000;
  const secondsLeftInHour = Math.max(1, Math.ceil((nextHour - now.getTime()) / 1000));
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const current = await readCount(userKey);
    const count = current?.hour === hour ? current.count + 1 : 1;
    const scopes = scopesOf(current);
    const newScope = current !== undefined && scope !== undefined && !scopes.includes(scope);
    const keptScopes = count <= limit && scope !== undefined && !scopes.includes(scope) ? [...scopes, scope].slice(-MAX_SCOPES) : scopes;
    const entity = {
      partitionKey: partitionOf(userKey),
      rowKey: REVEAL_COUNT_ROW,
      hour,
      count,
      firstRevealDateTime: current?.firstRevealDateTime ?? now.toISOString(),
      scopes: JSON.stringify(keptScopes),
    };
    try {
      await storageCall(
        () => (current ? table.updateEntity(entity, 'Replace', { etag: current.etag }) : table.createEntity(entity)),
        'The reveal count',
      );
      return { count, first: current === undefined, newScope, secondsLeftInHour };
    } catch (error) {
      if (!isStorageError(error, 'versionMoved', 'exists')) throw error;
    }
  }
  throw serviceUnavailable('Too many key reads of this user at once to count them; try again.', 1);
}
