import { LostRace, retryLostRaces } from '../../../shared/storage/retryLostRaces';
import { StorageError } from '../../../shared/storage/storageError';

// The one loop for writes that lose a race with another writer: each attempt reads and writes again,
// a fixed number of times at most; what an attempt throws ends it at once.

const raced = (n: number) => new LostRace(new StorageError('versionMoved', `lost race ${n}`, 'The recovery key'));

/** An attempt that answers `script[i]` on its (i+1)th call (a LostRace, a value, or an Error to throw), recording the numbers it was called with. */
function scripted<T>(script: readonly (T | LostRace | Error)[]) {
  const calls: number[] = [];
  const attempt = (attemptNumber: number): Promise<T | LostRace> => {
    calls.push(attemptNumber);
    const step = script[calls.length - 1];
    return step instanceof Error ? Promise.reject(step) : Promise.resolve(step);
  };
  return { attempt, calls };
}

const unexpected = (): never => {
  throw new Error('exhausted was called');
};

describe('retryLostRaces', () => {
  test('the first answer that is not a lost race is the answer', async () => {
    const { attempt, calls } = scripted<string>(['written']);
    await expect(retryLostRaces(5, attempt, unexpected)).resolves.toBe('written');
    expect(calls).toEqual([1]);
  });

  test('a lost race is attempted again, numbered, until one wins', async () => {
    const { attempt, calls } = scripted<string>([raced(1), raced(2), 'written']);
    await expect(retryLostRaces(5, attempt, unexpected)).resolves.toBe('written');
    expect(calls).toEqual([1, 2, 3]);
  });

  test('after maxAttempts lost races the answer is exhausted(last race), and no further attempt is made', async () => {
    const races = [raced(1), raced(2), raced(3)];
    const { attempt, calls } = scripted<string>([...races, 'never reached']);
    const seen: LostRace[] = [];
    const answer = await retryLostRaces(3, attempt, (last) => {
      seen.push(last);
      return 'gave up';
    });
    expect({ answer, calls, seen }).toEqual({ answer: 'gave up', calls: [1, 2, 3], seen: [races[2]] });
    expect(seen[0]).toBe(races[2]);
  });

  test('exhausted may throw, and the caller sees what it threw', async () => {
    const { attempt } = scripted<string>([raced(1), raced(2)]);
    await expect(
      retryLostRaces(2, attempt, (last) => {
        throw last.error;
      }),
    ).rejects.toMatchObject({ kind: 'versionMoved', message: 'lost race 2' });
  });

  test('an error thrown by an attempt ends the loop at once, lost races before it or not', async () => {
    const refused = new Error('412: the client pinned the version');
    const { attempt, calls } = scripted<string>([raced(1), refused, 'never reached']);
    await expect(retryLostRaces(5, attempt, unexpected)).rejects.toBe(refused);
    expect(calls).toEqual([1, 2]);
  });
});
