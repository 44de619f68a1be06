import '../support/functionsCore';
import { randomUUID } from 'node:crypto';
import { HttpRequest, InvocationContext } from '@azure/functions';
import { collectionHandler, itemHandler } from '../../functions/recoveryKeys';
import { RateLimiter } from '../../shared/auth/rateLimit';
import { DEFAULT_KEY_READ_LIMIT_PER_MINUTE } from '../../shared/config';
import { READ, token, WRITE } from '../support/client';
import { keyBody } from '../support/fixtures';

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
  const context = () => new InvocationContext({ functionName: 'test', logHandler: () => undefined });
  const readKey = (id: string, bearer: string) =>
    itemHandler(
      new HttpRequest({
        method: 'GET',
        url: `http://127.0.0.1/v1.0/bitlocker/recoveryKeys/${id}?$select=key`,
        headers: { authorization: `Bearer ${bearer}` },
        params: { id },
      }),
      context(),
    );

  it(`answers the read after ${DEFAULT_KEY_READ_LIMIT_PER_MINUTE} in a minute with 429 and Retry-After, for that caller only`, async () => {
    const body = keyBody();
    const writer = await token({ roles: [WRITE] });
    await collectionHandler(
      new HttpRequest({
        method: 'PATCH',
        url: 'http://127.0.0.1/v1.0/bitlocker/recoveryKeys',
        headers: { authorization: `Bearer ${writer}`, 'content-type': 'application/json' },
        body: { string: JSON.stringify(body) },
      }),
      context(),
    );
    const greedy = await token({ roles: [READ], claims: { oid: randomUUID() } });
    for (let i = 0; i < DEFAULT_KEY_READ_LIMIT_PER_MINUTE; i += 20) {
      const batch = await Promise.all(Array.from({ length: 20 }, () => readKey(body.id!, greedy)));
      expect(batch.map((r) => r.status)).toEqual(Array(20).fill(200));
    }
    // The bucket refills at limit/60 per second while the loop runs, so a few more may pass; not many.
    let refused = await readKey(body.id!, greedy);
    for (let extra = 0; refused.status === 200 && extra < 10; extra++) refused = await readKey(body.id!, greedy);
    expect(refused.status).toBe(429);
    const headers = refused.headers as Record<string, string>;
    expect(Number(headers['Retry-After'])).toBeGreaterThanOrEqual(1);
    const json = JSON.parse(String(refused.body));
    expect(json.error.code).toBe('tooManyRequests');
    expect(String(refused.body)).not.toContain(body.key);
    const other = await token({ roles: [READ], claims: { oid: randomUUID() } });
    expect((await readKey(body.id!, other)).status).toBe(200);
  });
});
