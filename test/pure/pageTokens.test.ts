import { expect } from '@jest/globals';
import { resumeOf, tokenOf, type Resume } from '../../shared/recoveryKeys/pageTokens';

// The continuations of the index walks: what a page hands out is what the next page reads back, and
// nothing else is taken (a client's $skiptoken is untrusted).

const storage = Buffer.from(JSON.stringify({ nextPartitionKey: 'd-1', nextRowKey: 'k-9' })).toString('base64');

it.each<Resume>([
  { kind: 'after', partitionKey: 'device-1', rowKey: 'key-1' },
  { kind: 'after', partitionKey: 'key-7' },
  // An empty page with storage's continuation, within one device: the next page goes on from it, not from the same spot.
  { kind: 'after', partitionKey: 'device-1', rowKey: 'key-1', storage },
  { kind: 'after', partitionKey: 'device-1', storage },
  { kind: 'walk', partitionKey: 'device-1' },
  { kind: 'walk', partitionKey: '', storage },
])('%o reads back as itself', (resume) => {
  expect(resumeOf(tokenOf(resume))).toEqual(resume);
});

it('a start has no token, and no token is a start', () => {
  expect(tokenOf({ kind: 'start' })).toBeUndefined();
  expect(resumeOf(undefined)).toEqual({ kind: 'start' });
});

const raw = (nextPartitionKey: string, position: unknown) =>
  Buffer.from(JSON.stringify({ nextPartitionKey, nextRowKey: JSON.stringify(position) })).toString('base64');

it.each([
  ['a walk of three', raw('~walk', ['device-1', storage, 'x'])],
  ['four in an after', raw('~afterEntry', ['device-1', 'key-1', storage, 'x'])],
  ['a partition that is not text', raw('~afterEntry', [7, 'key-1'])],
  ["storage's own token", storage],
  ['not base64 JSON', 'bm90IGpzb24'],
])('%s is the 400 of a bad $skiptoken', (_, token) => {
  expect(() => resumeOf(token)).toThrow(expect.objectContaining({ status: 400 }));
});
