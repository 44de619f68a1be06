import { randomBytes } from 'node:crypto';
import { keyringFrom } from '../../shared/crypto/envelope';
import { GraphError } from '../../shared/errors/graphError';
import { refusal } from '../support/refusal';
import { decodeSkipToken, encodeSkipToken, MAX_SKIP_TOKEN_LENGTH, sealSkipToken, type SkipTokenState } from '../../shared/odata/skipToken';

const INVALID = 'The $skiptoken is invalid or was altered; start again from the first page.';
const QUERY = "deviceId eq '2d7b3c6a-8f0e-4b1d-9a53-0c2e7f1d4b6e'";

/** What the storage SDK's encodeContinuationToken produces. */
const continuationOf = (fields: unknown): string => Buffer.from(JSON.stringify(fields)).toString('base64');

const CONTINUATION = continuationOf({ nextPartitionKey: '1!48!MmQ3YjNjNmEtOGYwZS00YjFk', nextRowKey: '1!16!cmVjb3ZlcnlLZXk-' });

const newKey = (): string => randomBytes(32).toString('base64');
/** The service's keyring; the longest key version name there can be, for the length bound. */
const LONGEST = 'v'.repeat(64);
const RING = keyringFrom({ v1: newKey(), [LONGEST]: newKey() }, 'v1');
const encode = (state: SkipTokenState, ring = RING): string => encodeSkipToken(state, ring);
const decode = (token: string, query: string, ring = RING): SkipTokenState => decodeSkipToken(token, query, ring);

/**
 * A token sealed with the service's key around any continuation, shape or not: what only a leaked key
 * could make. Lets the tests show the continuation is validated even when the seal holds.
 */
const forge = (continuation: string, query = QUERY): string => sealSkipToken(query, continuation, RING);

function expectInvalid(token: string, query = QUERY): void {
  expect(refusal(() => decode(token, query)).message).toBe(INVALID);
}

/** Continuations the SDK never produces; none may reach storage. */
const BAD_CONTINUATIONS: [string, string][] = [
  ['empty', ''],
  ['not base64', 'not base64!'],
  ['base64 without its padding', continuationOf({ nextPartitionKey: 'ab' }).replace(/=+$/, '')],
  ['base64url instead of base64', Buffer.from('{"nextPartitionKey":"??>"}').toString('base64url')],
  ['base64 with spare bits set', continuationOf({ nextPartitionKey: 'ab' }).replace(/Q==$/, 'R==')],
  ['base64 of text that is not JSON', Buffer.from('hello').toString('base64')],
  ['JSON null', continuationOf(null)],
  ['a JSON array', continuationOf(['a', 'b'])],
  ['a JSON string', continuationOf('nextPartitionKey')],
  ['an object without nextPartitionKey', continuationOf({ nextRowKey: 'a' })],
  ['an empty nextPartitionKey', continuationOf({ nextPartitionKey: '' })],
  ['a numeric nextPartitionKey', continuationOf({ nextPartitionKey: 5 })],
  ['an object nextRowKey', continuationOf({ nextPartitionKey: 'a', nextRowKey: { $ne: null } })],
  ['an extra field', continuationOf({ nextPartitionKey: 'a', nextRowKey: 'b', nextTableName: 'Secrets' })],
  ['a __proto__ field', Buffer.from('{"nextPartitionKey":"a","__proto__":{"x":1}}').toString('base64')],
  ['an escaped control character in a key', continuationOf({ nextPartitionKey: 'a\u0000b' })],
  ['a non-ASCII key', continuationOf({ nextPartitionKey: 'caf\u00e9' })],
  ['a raw newline in the JSON', Buffer.from('{"nextPartitionKey":\n"a"}').toString('base64')],
  ['JSON of 1025 bytes', continuationOf({ nextPartitionKey: 'p'.repeat(500), nextRowKey: 'r'.repeat(486) })],
];

describe('encodeSkipToken and decodeSkipToken', () => {
  it('round-trips the query and the continuation', () => {
    const token = encode({ query: QUERY, continuation: CONTINUATION });
    expect(decode(token, QUERY)).toEqual({ query: QUERY, continuation: CONTINUATION });
  });

  it('round-trips a continuation without nextRowKey, which the SDK leaves out when storage sends none', () => {
    const continuation = continuationOf({ nextPartitionKey: '2d7b3c6a' });
    expect(decode(encode({ query: '', continuation }), '')).toEqual({ query: '', continuation });
  });

  it('round-trips a continuation of exactly 1 KiB of JSON within the length bound', () => {
    const continuation = continuationOf({ nextPartitionKey: 'p'.repeat(500), nextRowKey: 'r'.repeat(485) });
    expect(Buffer.from(continuation, 'base64').length).toBe(1024);
    const longestRing = keyringFrom(Object.fromEntries([...RING.keys].map(([v, k]) => [v, k.toString('base64')])), LONGEST);
    const token = encode({ query: 'q'.repeat(10_000), continuation }, longestRing);
    expect(token.length).toBeLessThanOrEqual(MAX_SKIP_TOKEN_LENGTH);
    expect(decode(token, 'q'.repeat(10_000)).continuation).toBe(continuation);
  });

  it('makes a URL-safe base64url token that reveals neither the query nor where the list goes on', () => {
    const token = encode({ query: QUERY, continuation: CONTINUATION });
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    const bytes = Buffer.from(token, 'base64url').toString('latin1');
    for (const clear of [
      'deviceId',
      CONTINUATION,
      'nextPartitionKey',
      '1!48!MmQ3YjNjNmEtOGYwZS00YjFk',
      Buffer.from(CONTINUATION, 'base64').toString(),
    ]) {
      expect(bytes).not.toContain(clear);
    }
    // Sealed afresh each time: two pages at the same place do not even look alike.
    expect(encode({ query: QUERY, continuation: CONTINUATION })).not.toBe(token);
  });

  it('gives different tokens for different queries on the same continuation', () => {
    expect(encode({ query: 'a', continuation: CONTINUATION })).not.toBe(encode({ query: 'b', continuation: CONTINUATION }));
  });

  it('bounds tokens to 2 KiB', () => {
    expect(MAX_SKIP_TOKEN_LENGTH).toBe(2048);
  });
});

describe('decodeSkipToken refuses what it did not issue for this query', () => {
  const token = encode({ query: QUERY, continuation: CONTINUATION });

  it('rejects a token issued for another filter', () => {
    expectInvalid(token, "deviceId eq '00000000-0000-0000-0000-000000000000'");
  });

  it('rejects a token when the query differs only in case', () => {
    expectInvalid(token, QUERY.toUpperCase());
  });

  it('rejects a token with any one character changed', () => {
    for (let at = 0; at < token.length; at++) {
      const changed = token[at] === 'A' ? 'B' : 'A';
      expectInvalid(token.slice(0, at) + changed + token.slice(at + 1));
    }
  });

  it.each([1, 2, 4, 22, 40])('rejects a token with its last %i characters cut off', (cut) => {
    expectInvalid(token.slice(0, -cut));
  });

  it('rejects a token with its first character cut off', () => {
    expectInvalid(token.slice(1));
  });

  it('rejects a token with characters appended', () => {
    expectInvalid(`${token}A`);
    expectInvalid(`${token}AAAA`);
  });

  it('rejects a token of the earlier, unsealed format (version 1: the continuation in clear, an unkeyed check)', () => {
    const check = Buffer.alloc(16);
    expectInvalid(Buffer.concat([Buffer.from([1]), Buffer.from(CONTINUATION, 'latin1'), check]).toString('base64url'));
    const sealed = Buffer.from(token, 'base64url');
    sealed[0] = 1;
    expectInvalid(sealed.toString('base64url'));
  });

  it('rejects a token sealed under a key the service does not have, or no longer has', () => {
    const elsewhere = keyringFrom({ v1: newKey() }, 'v1');
    expectInvalid(encode({ query: QUERY, continuation: CONTINUATION }, elsewhere));
    const retired = keyringFrom({ old: newKey() }, 'old');
    expectInvalid(encode({ query: QUERY, continuation: CONTINUATION }, retired));
  });

  it('reads a token sealed under a key version still in the ring after the active one changed (a rotation)', () => {
    const before = encode({ query: QUERY, continuation: CONTINUATION });
    const rotated = keyringFrom(Object.fromEntries([...RING.keys].map(([v, k]) => [v, k.toString('base64')])), LONGEST);
    expect(decode(before, QUERY, rotated)).toEqual({ query: QUERY, continuation: CONTINUATION });
  });

  it('rejects base64 padding, standard-alphabet characters and whitespace', () => {
    expectInvalid(`${token}=`);
    expectInvalid(token.replace(/[-_]/g, '+'));
    expectInvalid(` ${token}`);
    expectInvalid(`${token}\n`);
  });

  it.each([
    ['empty', ''],
    ['one character', 'A'],
    [
      'a version, a key version and a tag only',
      Buffer.concat([Buffer.from([2, 2]), Buffer.from('v1'), Buffer.alloc(28, 1)]).toString('base64url'),
    ],
    ['a NUL byte', `${token.slice(0, 10)}\u0000${token.slice(10)}`],
    ['non-ASCII letters', 'ÄÖÜ'],
    ['Arabic-Indic digits', '١٢٣٤'],
    ['a JSON object', '{"nextPartitionKey":"a"}'],
    ['a bare storage continuation', CONTINUATION],
  ])('rejects a token that is %s', (_case, value) => {
    expectInvalid(value);
  });

  it('rejects an over-long token before decoding it', () => {
    expectInvalid('A'.repeat(MAX_SKIP_TOKEN_LENGTH + 1));
    expectInvalid('A'.repeat(5_000_000));
  });

  it('accepts a token sealed with its key around any continuation of the SDK shape (only the service can make one)', () => {
    const continuation = continuationOf({ nextPartitionKey: 'ffffffff', nextRowKey: 'recoveryKey' });
    expect(decode(forge(continuation), QUERY)).toEqual({ query: QUERY, continuation });
  });

  it.each(BAD_CONTINUATIONS)('rejects a token sealed with its key around a continuation that is %s', (_case, continuation) => {
    expectInvalid(forge(continuation));
  });
});

describe('encodeSkipToken', () => {
  it.each(BAD_CONTINUATIONS)('refuses, as a defect rather than a client error, a continuation that is %s', (_case, continuation) => {
    let thrown: unknown;
    try {
      encode({ query: QUERY, continuation });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect(thrown).not.toBeInstanceOf(GraphError);
  });
});
