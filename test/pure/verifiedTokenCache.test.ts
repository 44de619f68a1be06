import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JWTPayload } from 'jose';
import { mintDevelopmentToken } from '../../shared/auth/developmentToken';
import { TokenVerifier } from '../../shared/auth/tokens';
import { CLOCK_TOLERANCE_SECONDS } from '../../shared/auth/verificationSettings';
import type { AuthSettings } from '../../shared/config';
import { GraphError } from '../../shared/errors/graphError';
import { sign, signingKey, startJwksServer, type JwksServer, type SigningKey } from '../support/jwks';

// The verified-token cache of TokenVerifier (shared/auth/verifiedTokenCache.ts): a repeated token is not
// verified again, and a cached verdict ends with the token's exp and with the key set that reached it.

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT_ID = '5e3c6b1a-0f4d-4c8e-9b2a-7d1e3f5a9c0b';
const OID = '9f3a1c2e-4b5d-4e6f-8a7b-0c1d2e3f4a5b';
const READ = ['BitLockerKey.Read.All'];

const bearer = (token: string): string => `Bearer ${token}`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A clock the test moves by hand; it starts at the real time, so that freshly minted tokens are current. */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let offset = 0;
  return { now: () => Date.now() + offset, advance: (ms) => void (offset += ms) };
}

async function refusalOf(verifier: TokenVerifier, token: string): Promise<GraphError> {
  const error = await verifier.verify(bearer(token)).then(
    () => {
      throw new Error('expected a refusal, but the token was accepted');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GraphError);
  expect((error as GraphError).status).toBe(401);
  return error as GraphError;
}

describe('local mode', () => {
  let stateDir: string;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'escrow-token-cache-'));
  });
  afterAll(() => rm(stateDir, { recursive: true, force: true }));

  it('does not verify a token again when the same token comes back', async () => {
    const verifier = new TokenVerifier({ mode: 'local' }, stateDir);
    const token = await mintDevelopmentToken(stateDir, { roles: READ });
    const first = await verifier.verify(bearer(token));
    const second = await verifier.verify(`bearer  ${token}`);
    expect(verifier.verifications).toBe(1);
    expect(second).toEqual(first);
    expect(second.permissions).toEqual(new Set(['bitlockerkey.read.all']));
  });

  it('verifies each different token', async () => {
    const verifier = new TokenVerifier({ mode: 'local' }, stateDir);
    await verifier.verify(bearer(await mintDevelopmentToken(stateDir, { roles: READ })));
    await verifier.verify(bearer(await mintDevelopmentToken(stateDir, { roles: READ })));
    expect(verifier.verifications).toBe(2);
  });

  it('keeps no verdict past the token exp, and refuses the token once jose does', async () => {
    const clock = manualClock();
    const verifier = new TokenVerifier({ mode: 'local' }, stateDir, {}, { now: clock.now });
    const token = await mintDevelopmentToken(stateDir, { roles: READ, expiresIn: 60 });
    await verifier.verify(bearer(token));
    await verifier.verify(bearer(token));
    expect(verifier.verifications).toBe(1);

    // Past exp, within the clock tolerance: verified again (the tolerance is granted by jose only), and accepted.
    clock.advance(61_000);
    await expect(verifier.verify(bearer(token))).resolves.toMatchObject({ oid: '11111111-1111-1111-1111-111111111111' });
    expect(verifier.verifications).toBe(2);

    // Past the tolerance too: refused, although it was accepted (and cached) before.
    clock.advance(CLOCK_TOLERANCE_SECONDS * 1000);
    expect((await refusalOf(verifier, token)).message).toBe('The access token has expired.');
    expect((await refusalOf(verifier, token)).message).toBe('The access token has expired.');
    expect(verifier.verifications).toBe(4);
  });

  it('caches only verified tokens: a refused token is judged again each time', async () => {
    const verifier = new TokenVerifier({ mode: 'local' }, stateDir);
    const expired = await mintDevelopmentToken(stateDir, { roles: READ, expiresIn: -3600 });
    await refusalOf(verifier, expired);
    await refusalOf(verifier, expired);
    expect(verifier.verifications).toBe(2);
  });

  it('holds a bounded number of tokens, dropping the oldest', async () => {
    const verifier = new TokenVerifier({ mode: 'local' }, stateDir, {}, { maxCachedTokens: 2 });
    const tokens = await Promise.all([1, 2, 3].map(() => mintDevelopmentToken(stateDir, { roles: READ })));
    for (const token of tokens) await verifier.verify(bearer(token));
    expect(verifier.verifications).toBe(3);
    await verifier.verify(bearer(tokens[2]));
    await verifier.verify(bearer(tokens[1]));
    expect(verifier.verifications).toBe(3);
    await verifier.verify(bearer(tokens[0]));
    expect(verifier.verifications).toBe(4);
  });
});

describe('entra mode: key rollover', () => {
  let keyA: SigningKey;
  let keyB: SigningKey;
  let jwks: JwksServer;

  const settings = (): AuthSettings => ({ mode: 'entra', tenantId: TENANT, audience: CLIENT_ID, jwksUri: jwks.url });
  const claims = (): JWTPayload => {
    const t = Math.floor(Date.now() / 1000);
    return {
      aud: CLIENT_ID,
      iss: `https://login.microsoftonline.com/${TENANT}/v2.0`,
      iat: t,
      nbf: t,
      exp: t + 3600,
      oid: OID,
      tid: TENANT,
      roles: READ,
    };
  };

  beforeAll(async () => {
    [keyA, keyB] = await Promise.all([signingKey('key-a'), signingKey('key-b')]);
  });
  beforeEach(async () => {
    jwks = await startJwksServer([keyA, keyB]);
  });
  afterEach(() => jwks.close());

  it('stops accepting a cached token whose key was removed, once the key set reaches its cache age', async () => {
    const verifier = new TokenVerifier(settings(), '/nonexistent', { cacheMaxAgeMs: 300, cooldownMs: 100 });
    const token = await sign(keyA, claims());
    await verifier.verify(bearer(token));
    await verifier.verify(bearer(token));
    expect(verifier.verifications).toBe(1);

    jwks.serve([keyB]);
    await sleep(350);
    // Nothing refetched the set in between: the cached verdict ended with the set's age all the same.
    expect((await refusalOf(verifier, token)).message).toBe('The access token was signed with an unknown key.');
    expect(jwks.hits).toBe(2);
  });

  it('verifies a cached token again when the key set has been refetched, and refuses it if its key is gone', async () => {
    const verifier = new TokenVerifier(settings(), '/nonexistent', { cacheMaxAgeMs: 60_000, cooldownMs: 100 });
    const token = await sign(keyA, claims());
    await verifier.verify(bearer(token));
    jwks.serve([keyB]);
    await sleep(150);
    // An unknown kid past the cooldown makes jose refetch the set, which no longer holds key-a.
    await refusalOf(verifier, await sign(keyA, claims(), { kid: 'key-c' }));
    expect(jwks.hits).toBe(2);
    expect((await refusalOf(verifier, token)).message).toBe('The access token was signed with an unknown key.');
  });

  it('verifies a cached token again after a refetch, and still accepts it when its key stayed', async () => {
    const verifier = new TokenVerifier(settings(), '/nonexistent', { cacheMaxAgeMs: 60_000, cooldownMs: 100 });
    const token = await sign(keyA, claims());
    await verifier.verify(bearer(token));
    await sleep(150);
    await refusalOf(verifier, await sign(keyA, claims(), { kid: 'key-c' }));
    expect(jwks.hits).toBe(2);
    await expect(verifier.verify(bearer(token))).resolves.toMatchObject({ oid: OID });
    expect(verifier.verifications).toBe(3);
    await verifier.verify(bearer(token));
    expect(verifier.verifications).toBe(3);
  });
});
