import { badRequest } from '../errors/graphError';
import { INVALID_SKIP_TOKEN_MESSAGE } from '../odata/skipToken';

// Continuations of the index walks over many partitions (deviceIndex.ts listAllPage, deletedIndex.ts), in
// the storage SDK's shape, which shared/odata/skipToken.ts checks: base64 of JSON {nextPartitionKey,
// nextRowKey}. A walk says where to go on in a token of its own, never storage's bare continuation:
// it may stop where storage did not (a page cut to bound its record checks, the end of one device's
// partition), and storage's continuation is only valid with the query that gave it, which the token
// names. nextPartitionKey is a marker no table uses ('~…', above every id), nextRowKey the position.

/** Where an index walk goes on from. */
export type Resume =
  | { kind: 'start' }
  /**
   * After the entry with these keys (a device's partition key; for a one-row-a-partition index, the row's
   * partition key alone), at storage's continuation `storage` of that query if it gave one and no entry.
   */
  | { kind: 'after'; partitionKey: string; rowKey?: string; storage?: string }
  /** The walk over the partitions after `partitionKey`, at storage's continuation `storage` (from its start if absent). */
  | { kind: 'walk'; partitionKey: string; storage?: string };

const MARKERS = { after: '~afterEntry', walk: '~walk' } as const;

const encode = (nextPartitionKey: string, position: unknown): string =>
  Buffer.from(JSON.stringify({ nextPartitionKey, nextRowKey: JSON.stringify(position) })).toString('base64');

/** The continuation of `resume` (undefined for a walk at its start). */
export function tokenOf(resume: Resume): string | undefined {
  switch (resume.kind) {
    case 'start':
      return undefined;
    case 'after':
      return encode(MARKERS.after, [resume.partitionKey, resume.rowKey ?? null, ...(resume.storage !== undefined ? [resume.storage] : [])]);
    case 'walk':
      return encode(MARKERS.walk, [resume.partitionKey, resume.storage ?? null]);
  }
}

const isText = (value: unknown): value is string => typeof value === 'string';

/**
 * What a continuation says (a page's `$skiptoken`, already checked by shared/odata/skipToken.ts); a start
 * without one. One that is not a walk's (a page token of an earlier version, or a forged one) is the 400
 * of any bad `$skiptoken`: the walk never hands storage a continuation it did not make.
 */
export function resumeOf(continuation: string | undefined): Resume {
  if (continuation === undefined) return { kind: 'start' };
  try {
    const { nextPartitionKey, nextRowKey } = JSON.parse(Buffer.from(continuation, 'base64').toString('latin1')) as Record<string, unknown>;
    const position: unknown = isText(nextRowKey) ? JSON.parse(nextRowKey) : undefined;
    if (Array.isArray(position) && (position.length === 2 || position.length === 3) && isText(position[0])) {
      const [partitionKey, second, third] = position as [string, unknown, unknown];
      if (nextPartitionKey === MARKERS.after)
        return { kind: 'after', partitionKey, ...(isText(second) && { rowKey: second }), ...(isText(third) && { storage: third }) };
      if (nextPartitionKey === MARKERS.walk && position.length === 2)
        return { kind: 'walk', partitionKey, ...(isText(second) && { storage: second }) };
    }
  } catch {
    // Not a walk's token: see above.
  }
  throw badRequest(INVALID_SKIP_TOKEN_MESSAGE);
}
