import '../support/functionsCore';
import { randomUUID } from 'node:crypto';
import type { HttpResponseInit } from '@azure/functions';
import { collectionHandler, itemHandler } from '../../functions/recoveryKeys';
import { RateLimiter } from '../../shared/auth/rateLimit';
import { callerKey } from '../../shared/auth/caller';
import { DEFAULT_KEY_READ_LIMIT_PER_MINUTE } from '../../shared/config';
import { READ, token, WRITE } from '../support/client';
import { keyBody } from '../support/fixtures';
import { bodyJson, bodyText, handlerRequest, quietContext } from '../support/inProcess';

const COLLECTION = '/v1.0/bitlocker/recoveryKeys';

// The service's bucket refills as the clock moves: frozen, the counts below are exact however long this
// machine takes over the reads. (The limiter reads Date.now when its first read builds it.)
beforeAll(() => {
  const frozen = Date.now();
  jest.spyOn(Date, 'now').mockReturnValue(frozen);
});
afterAll(() => jest.restoreAllMocks());
const context = () => quietContext('rateLimit.test');

/** A key read with `authorization` as the whole header, whatever its scheme. */
const readKeyAs = async (id: string, authorization: string): Promise<HttpResponseInit> =>
  await itemHandler(handlerRequest('GET', `${COLLECTION}/${id}?$select=key`, undefined, undefined, id, { authorization }), context());

/** A fresh key, escrowed in-process by a writer of its own. */
async function escrowedKey(): Promise<ReturnType<typeof keyBody>> {
  const body = keyBody();
  const writer = await token({ roles: [WRITE], claims: { oid: randomUUID() } });
  const response = await collectionHandler(handlerRequest('PATCH', COLLECTION, writer, body), context());
  expect(response.status).toBe(200);
  return body;
}

describe('the per-caller token bucket', () => {
  it('allows the limit at once, then one more per 60/limit seconds, and says when', () => {
    let now = 0;
    const limiter = new RateLimiter(6, () => now);
    for (let i = 0; i < 6; i++) expect(limiter.take('a')).toEqual({ allowed: true });
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterSeconds: 10 });
    now += 10_000;
    expect(limiter.take('a')).toEqual({ allowed: true });
    expect(limiter.take('a').allowed).toBe(false);
  });

  it('keeps callers apart', () => {
    const limiter = new RateLimiter(1, () => 0);
    expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('a').allowed).toBe(false);
    expect(limiter.take('b').allowed).toBe(true);
  });
});

describe('key reads are rate limited per caller', () => {
  const readKey = (id: string, bearer: string) => readKeyAs(id, `Bearer ${bearer}`);

  it(`answers the read after ${DEFAULT_KEY_READ_LIMIT_PER_MINUTE} in a minute with 429 and Retry-After, for that caller only`, async () => {
    const body = await escrowedKey();
    const greedy = await token({ roles: [READ], claims: { oid: randomUUID() } });
    for (let i = 0; i < DEFAULT_KEY_READ_LIMIT_PER_MINUTE; i += 20) {
      const batch = await Promise.all(Array.from({ length: 20 }, () => readKey(body.id!, greedy)));
      expect(batch.map((r) => r.status)).toEqual(Array(20).fill(200));
    }
    const refused = await readKey(body.id!, greedy);
    expect(refused.status).toBe(429);
    const headers = refused.headers as Record<string, string>;
    expect(Number(headers['Retry-After'])).toBeGreaterThanOrEqual(1);
    const json = bodyJson(refused);
    expect(json.error.code).toBe('tooManyRequests');
    expect(bodyText(refused)).not.toContain(body.key);
    const other = await token({ roles: [READ], claims: { oid: randomUUID() } });
    expect((await readKey(body.id!, other)).status).toBe(200);
  });
});

describe('the limit keys on the identity in the validated token, not on how the token is spelt', () => {
  it('callerKey is the lower-cased tenant and object id, whatever else the token says', () => {
    const oid = 'AbCdEf01-2345-6789-ABCD-EF0123456789';
    const tid = 'F0E1D2C3-0000-4000-8000-000000000000';
    expect(callerKey({ tid, oid, appId: 'x' })).toBe(`${tid}/${oid}`.toLowerCase());
    expect(callerKey({ tid: tid.toLowerCase(), oid: oid.toLowerCase(), appId: 'y' })).toBe(callerKey({ tid, oid }));
    expect(callerKey({ tid, oid })).not.toBe(callerKey({ tid: 'other', oid }));
  });

  it('Bearer/bearer/BEARER, extra spaces, a re-encoded signature and a second token of the same oid share one bucket', async () => {
    const body = await escrowedKey();
    const oid = randomUUID();
    const first = await token({ roles: [READ], claims: { oid } });
    const second = await token({ roles: [READ], claims: { oid: oid.toUpperCase() } });
    // The signature's last base64url character carries 4 unused bits: another spelling of the same bytes.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(first.slice(-1));
    const reencoded = first.slice(0, -1) + alphabet[(last & ~0xf) | ((last + 1) & 0xf)];
    expect(reencoded).not.toBe(first);
    const spellings = [
      `Bearer ${first}`,
      `bearer ${first}`,
      `BEARER ${first}`,
      `Bearer     ${first}`,
      `Bearer ${first}\t `,
      `Bearer ${reencoded}`,
      `Bearer ${second}`,
    ];
    const readAs = (authorization: string) => readKeyAs(body.id!, authorization);
    for (let i = 0; i < DEFAULT_KEY_READ_LIMIT_PER_MINUTE; i += 20) {
      const batch = await Promise.all(Array.from({ length: 20 }, (_, j) => readAs(spellings[(i + j) % spellings.length])));
      // Every spelling is accepted as the same valid token…
      expect(batch.map((r) => r.status)).toEqual(Array(20).fill(200));
    }
    // …and counted against the one caller: no spelling starts a fresh bucket.
    const after = [];
    for (const authorization of spellings) after.push((await readAs(authorization)).status);
    expect(after).toEqual(spellings.map(() => 429));
  });
});
