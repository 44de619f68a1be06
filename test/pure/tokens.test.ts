import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportSPKI, SignJWT, type JWTPayload } from 'jose';
import { authorize, Permission } from '../../shared/auth';
import { mintDevelopmentToken } from '../../shared/auth/developmentToken';
import { type JwksTiming, SigningKeysUnavailable } from '../../shared/auth/signingKeys';
import { TokenVerifier } from '../../shared/auth/tokens';
import { AuthConfigurationError } from '../../shared/auth/verificationSettings';
import type { AuthSettings } from '../../shared/config';
import { GraphError } from '../../shared/errors/graphError';
import { deadJwksUrl, sign, signingKey, startJwksServer, type JwksServer, type SigningKey } from '../support/jwks';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const OTHER_TENANT = 'f8cdef31-a31e-4b4a-93e4-5f571e91255a';
const APP_ID_URI = 'api://bitlocker-escrow-test';
const CLIENT_ID = '5e3c6b1a-0f4d-4c8e-9b2a-7d1e3f5a9c0b';
const V2_ISSUER = `https://login.microsoftonline.com/${TENANT}/v2.0`;
const V1_ISSUER = `https://sts.windows.net/${TENANT}/`;
const OID = '9f3a1c2e-4b5d-4e6f-8a7b-0c1d2e3f4a5b';
const CLIENT_APP = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';

const now = (): number => Math.floor(Date.now() / 1000);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const bearer = (token: string): string => `Bearer ${token}`;

/** An application token as Entra ID v2 issues it for this API. */
function appClaims(overrides: JWTPayload = {}): JWTPayload {
  const t = now();
  return {
    aud: CLIENT_ID,
    iss: V2_ISSUER,
    iat: t,
    nbf: t,
    exp: t + 3600,
    azp: CLIENT_APP,
    oid: OID,
    roles: ['BitLockerKey.ReadWrite.All'],
    sub: OID,
    tid: TENANT,
    ver: '2.0',
    ...overrides,
  };
}

/** A delegated token as Entra ID v1 issues it (sts.windows.net issuer, appid, upn, scp). */
function delegatedV1Claims(overrides: JWTPayload = {}): JWTPayload {
  const t = now();
  return {
    aud: APP_ID_URI,
    iss: V1_ISSUER,
    iat: t,
    nbf: t,
    exp: t + 3600,
    appid: CLIENT_APP,
    oid: OID,
    scp: 'User.Read BitlockerKey.Read.All',
    tid: TENANT,
    upn: 'helpdesk@contoso.com',
    ver: '1.0',
    ...overrides,
  };
}

const entra = (jwksUri: string, extra: Partial<AuthSettings> = {}): AuthSettings => ({
  mode: 'entra',
  tenantId: TENANT,
  audience: `${APP_ID_URI}, ${CLIENT_ID}`,
  jwksUri,
  ...extra,
});

/** The GraphError that verify() refuses `token` with, after checking the parts every 401 shares. */
async function refusal(verifier: TokenVerifier, token: string, authorization = bearer(token)): Promise<GraphError> {
  const error = await verifier.verify(authorization).then(
    () => {
      throw new Error('expected a refusal, but the token was accepted');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GraphError);
  const { status, code, headers, message } = error as GraphError;
  expect({ status, code, headers }).toEqual({
    status: 401,
    code: 'InvalidAuthenticationToken',
    headers: { 'WWW-Authenticate': 'Bearer' },
  });
  // Says what is wrong without repeating the token or any part of it.
  for (const part of token.split('.')) if (part.length >= 8) expect(message).not.toContain(part);
  return error as GraphError;
}

/** A 503 serviceNotAvailable with Retry-After: the keys could not be fetched, not the caller's fault. */
async function unavailable(verifier: TokenVerifier, token: string): Promise<SigningKeysUnavailable> {
  const error = await verifier.verify(bearer(token)).then(
    () => {
      throw new Error('expected a 503, but the token was accepted');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GraphError);
  const { status, code, headers, message } = error as GraphError;
  expect({ status, code }).toEqual({ status: 503, code: 'serviceNotAvailable' });
  expect(headers['Retry-After']).toMatch(/^[1-9]\d*$/);
  expect(message).toMatch(/signing keys could not be fetched/);
  // What failed is for the log only, and never includes the token.
  expect(error).toBeInstanceOf(SigningKeysUnavailable);
  for (const part of token.split('.')) expect((error as SigningKeysUnavailable).reason).not.toContain(part);
  return error as SigningKeysUnavailable;
}

let keyA: SigningKey;
let keyB: SigningKey;
/** Another key pair that claims keyA's kid. */
let impostor: SigningKey;

beforeAll(async () => {
  [keyA, keyB, impostor] = await Promise.all([signingKey('key-a'), signingKey('key-b'), signingKey('key-a')]);
});

describe('entra mode', () => {
  let jwks: JwksServer;
  let verifier: TokenVerifier;

  beforeAll(async () => {
    jwks = await startJwksServer([keyA]);
    verifier = new TokenVerifier(entra(jwks.url), '/nonexistent');
  });
  afterAll(() => jwks.close());

  describe('accepts', () => {
    it('a v2 application token, yielding the caller', async () => {
      const caller = await verifier.verify(
        bearer(await sign(keyA, appClaims({ roles: ['BitLockerKey.ReadWrite.All', 'AuditLog.Read.All'] }))),
      );
      expect(caller).toEqual({
        oid: OID,
        appId: CLIENT_APP,
        upn: undefined,
        tid: TENANT,
        delegated: false,
        permissions: new Set(['bitlockerkey.readwrite.all', 'auditlog.read.all']),
      });
    });

    it('a v1 delegated token (sts.windows.net issuer, application ID URI audience, appid, scp)', async () => {
      const caller = await verifier.verify(bearer(await sign(keyA, delegatedV1Claims())));
      expect(caller).toEqual({
        oid: OID,
        appId: CLIENT_APP,
        upn: 'helpdesk@contoso.com',
        tid: TENANT,
        delegated: true,
        permissions: new Set(['user.read', 'bitlockerkey.read.all']),
      });
    });

    it('roles and scp together, lower-cased, and at+jwt as typ', async () => {
      const token = await sign(keyA, appClaims({ roles: ['BitlockerKey.ReadBasic.All'], scp: 'BITLOCKERKEY.READ.ALL' }), { typ: 'at+jwt' });
      const caller = await verifier.verify(bearer(token));
      expect([...caller.permissions].sort()).toEqual(['bitlockerkey.read.all', 'bitlockerkey.readbasic.all']);
    });

    it('a tenant configured in upper case', async () => {
      const upper = new TokenVerifier(entra(jwks.url, { tenantId: TENANT.toUpperCase() }), '/nonexistent');
      await expect(upper.verify(bearer(await sign(keyA, appClaims())))).resolves.toMatchObject({ tid: TENANT });
    });

    it('a token with neither roles nor scp as a caller without permissions: authorize answers 403', async () => {
      // Decision: such a token is valid, it just grants nothing. Graph answers 403 to a valid token
      // that lacks the permission, and keeps 401 for tokens that are not access tokens for the API.
      const caller = await verifier.verify(bearer(await sign(keyA, appClaims({ roles: undefined }))));
      expect(caller.permissions.size).toBe(0);
      let refused: unknown;
      try {
        authorize(caller, 'readMetadata');
      } catch (error) {
        refused = error;
      }
      expect(refused).toBeInstanceOf(GraphError);
      expect(refused).toMatchObject({ status: 403, code: 'authorization_error' });
      expect((refused as GraphError).message).toContain(Permission.ReadBasic);
    });
  });

  describe('refuses with 401', () => {
    it.each([
      ['no Authorization header', null, /empty/],
      ['an empty bearer', 'Bearer ', /empty/],
      ['another scheme', 'Basic dXNlcjpwYXNz', /not one Bearer token/],
      ['two tokens', 'Bearer a.b.c d.e.f', /not one Bearer token/],
    ])('%s', async (_name, authorization, message) => {
      expect((await refusal(verifier, '', authorization as string)).message).toMatch(message);
    });

    it('garbage', async () => {
      expect((await refusal(verifier, 'not-a-token-at-all')).message).toMatch(/malformed/);
      expect((await refusal(verifier, 'eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln')).message).toMatch(/malformed/);
    });

    it('a token over 16 KiB', async () => {
      const token = await sign(keyA, appClaims({ padding: 'x'.repeat(17 * 1024) }));
      expect((await refusal(verifier, token)).message).toMatch(/too large/);
    });

    it('alg none', async () => {
      const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT', kid: keyA.kid })).toString('base64url');
      const payload = Buffer.from(JSON.stringify(appClaims())).toString('base64url');
      expect((await refusal(verifier, `${header}.${payload}.`)).message).toMatch(/RS256/);
    });

    it('HS256 signed with the public key as the secret', async () => {
      const secret = new TextEncoder().encode(await exportSPKI(keyA.publicKey));
      const token = await new SignJWT(appClaims()).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: keyA.kid }).sign(secret);
      expect((await refusal(verifier, token)).message).toMatch(/RS256/);
    });

    it('other RSA algorithms (PS256, RS512) with the right key', async () => {
      for (const alg of ['PS256', 'RS512']) {
        const token = await new SignJWT(appClaims()).setProtectedHeader({ alg, typ: 'JWT', kid: keyA.kid }).sign(keyA.privateKey);
        expect((await refusal(verifier, token)).message).toMatch(/RS256/);
      }
    });

    it('a tampered payload', async () => {
      const [header, , signature] = (await sign(keyA, appClaims({ roles: ['BitLockerKey.ReadBasic.All'] }))).split('.');
      const payload = Buffer.from(JSON.stringify(appClaims({ roles: ['BitLockerKey.Read.All'] }))).toString('base64url');
      expect((await refusal(verifier, `${header}.${payload}.${signature}`)).message).toMatch(/signature is invalid/);
    });

    it('a foreign key that claims a known kid', async () => {
      expect((await refusal(verifier, await sign(impostor, appClaims()))).message).toMatch(/signature is invalid/);
    });

    it('an expired token', async () => {
      const token = await sign(keyA, appClaims({ iat: now() - 7200, nbf: now() - 7200, exp: now() - 3600 }));
      expect((await refusal(verifier, token)).message).toMatch(/expired/);
    });

    it('a token without exp', async () => {
      expect((await refusal(verifier, await sign(keyA, appClaims({ exp: undefined })))).message).toMatch(/no expiry/);
    });

    it('a token that is not valid yet', async () => {
      const token = await sign(keyA, appClaims({ nbf: now() + 3600, iat: now() + 3600, exp: now() + 7200 }));
      expect((await refusal(verifier, token)).message).toMatch(/not valid yet/);
    });

    it('a wrong audience', async () => {
      const token = await sign(keyA, appClaims({ aud: 'api://someone-else' }));
      expect((await refusal(verifier, token)).message).toMatch(/audience/);
    });

    it('a wrong issuer', async () => {
      const token = await sign(keyA, appClaims({ iss: 'https://login.microsoftonline.com/evil/v2.0' }));
      expect((await refusal(verifier, token)).message).toMatch(/issuer/);
    });

    it("another tenant's token (issuer and tid of that tenant)", async () => {
      const token = await sign(keyA, appClaims({ iss: `https://login.microsoftonline.com/${OTHER_TENANT}/v2.0`, tid: OTHER_TENANT }));
      expect((await refusal(verifier, token)).message).toMatch(/issuer/);
    });

    it('a tid of another tenant under our issuer', async () => {
      expect((await refusal(verifier, await sign(keyA, appClaims({ tid: OTHER_TENANT })))).message).toMatch(/another tenant/);
    });

    it('a token without tid', async () => {
      expect((await refusal(verifier, await sign(keyA, appClaims({ tid: undefined })))).message).toMatch(/no tenant/);
    });

    it.each([
      ['https://graph.microsoft.com'],
      ['https://graph.microsoft.com/'],
      ['00000003-0000-0000-c000-000000000000'],
      [[CLIENT_ID, 'https://graph.microsoft.com']],
    ])('a Microsoft Graph token (aud %j), everything else right', async (aud) => {
      const token = await sign(keyA, appClaims({ aud }));
      expect((await refusal(verifier, token)).message).toMatch(/Microsoft Graph/);
    });

    it('a typ that is not a JWT access token', async () => {
      for (const typ of ['JWE', 'dpop+jwt', 'logout+jwt']) {
        expect((await refusal(verifier, await sign(keyA, appClaims(), { typ }))).message).toMatch(/typ/);
      }
    });

    it('a token without kid', async () => {
      expect((await refusal(verifier, await sign(keyA, appClaims(), { kid: undefined }))).message).toMatch(/kid/);
    });

    it('claims of the wrong type', async () => {
      expect((await refusal(verifier, await sign(keyA, appClaims({ roles: 'BitLockerKey.ReadWrite.All' })))).message).toMatch(/"roles"/);
      expect((await refusal(verifier, await sign(keyA, appClaims({ roles: undefined, scp: ['a'] })))).message).toMatch(/"scp"/);
      expect((await refusal(verifier, await sign(keyA, appClaims({ tid: 42 })))).message).toMatch(/"tid"/);
    });
  });

  describe('clock tolerance (at most 5 minutes)', () => {
    it('accepts exp up to 5 minutes past', async () => {
      const token = await sign(keyA, appClaims({ iat: now() - 3900, nbf: now() - 3900, exp: now() - 290 }));
      await expect(verifier.verify(bearer(token))).resolves.toMatchObject({ oid: OID });
    });

    it('refuses exp more than 5 minutes past', async () => {
      const token = await sign(keyA, appClaims({ iat: now() - 3900, nbf: now() - 3900, exp: now() - 310 }));
      expect((await refusal(verifier, token)).message).toMatch(/expired/);
    });

    it('accepts nbf up to 5 minutes ahead', async () => {
      const token = await sign(keyA, appClaims({ iat: now() + 290, nbf: now() + 290 }));
      await expect(verifier.verify(bearer(token))).resolves.toMatchObject({ oid: OID });
    });

    it('refuses nbf more than 5 minutes ahead', async () => {
      const token = await sign(keyA, appClaims({ iat: now() + 310, nbf: now() + 310 }));
      expect((await refusal(verifier, token)).message).toMatch(/not valid yet/);
    });
  });
});

describe('entra mode key fetching', () => {
  const servers: JwksServer[] = [];
  async function server(keys: SigningKey[]): Promise<JwksServer> {
    const started = await startJwksServer(keys);
    servers.push(started);
    return started;
  }
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  const fast = (timing: Partial<JwksTiming>): Partial<JwksTiming> => ({
    timeoutMs: 500,
    cooldownMs: 300,
    cacheMaxAgeMs: 60_000,
    retryAfterFailureMs: 300,
    staleIfErrorMs: 60_000,
    ...timing,
  });

  it('fetches the key set once, not per token', async () => {
    const jwks = await server([keyA]);
    const verifier = new TokenVerifier(entra(jwks.url), '/nonexistent');
    await Promise.all([1, 2, 3].map(async () => verifier.verify(bearer(await sign(keyA, appClaims())))));
    for (let i = 0; i < 3; i += 1) await verifier.verify(bearer(await sign(keyA, appClaims())));
    expect(jwks.hits).toBe(1);
  });

  it('refetches for unknown kids at most once per cooldown', async () => {
    const jwks = await server([keyA]);
    const verifier = new TokenVerifier(entra(jwks.url), '/nonexistent', fast({ cooldownMs: 400 }));
    await verifier.verify(bearer(await sign(keyA, appClaims())));
    expect(jwks.hits).toBe(1);

    const strangers = await Promise.all(['x1', 'x2', 'x3', 'x4', 'x5'].map((kid) => sign(keyA, appClaims(), { kid })));
    // Within the cooldown after the first fetch: no fetch at all.
    for (const token of strangers) expect((await refusal(verifier, token)).message).toMatch(/unknown key/);
    expect(jwks.hits).toBe(1);

    await sleep(450);
    // Past it: concurrent and then sequential unknown kids cause one fetch between them.
    await Promise.all(strangers.map((token) => refusal(verifier, token)));
    for (const token of strangers) await refusal(verifier, token);
    expect(jwks.hits).toBe(2);
  });

  it('follows a key rotation once the cooldown has passed, and drops the retired key', async () => {
    const jwks = await server([keyA]);
    const verifier = new TokenVerifier(entra(jwks.url), '/nonexistent', fast({ cooldownMs: 300 }));
    await verifier.verify(bearer(await sign(keyA, appClaims())));
    jwks.serve([keyB]);

    // Right after a fetch the new kid is unknown and no fetch happens yet.
    expect((await refusal(verifier, await sign(keyB, appClaims()))).message).toMatch(/unknown key/);
    expect(jwks.hits).toBe(1);

    await sleep(350);
    await expect(verifier.verify(bearer(await sign(keyB, appClaims())))).resolves.toMatchObject({ oid: OID });
    expect(jwks.hits).toBe(2);
    // The retired key is no longer trusted.
    expect((await refusal(verifier, await sign(keyA, appClaims()))).message).toMatch(/unknown key/);
  });

  it('picks up a removed key when the cache expires', async () => {
    const jwks = await server([keyA, keyB]);
    const verifier = new TokenVerifier(entra(jwks.url), '/nonexistent', fast({ cacheMaxAgeMs: 300, cooldownMs: 100 }));
    await verifier.verify(bearer(await sign(keyA, appClaims())));
    jwks.serve([keyB]);
    await sleep(350);
    expect((await refusal(verifier, await sign(keyA, appClaims()))).message).toMatch(/unknown key/);
    expect(jwks.hits).toBe(2);
  });

  it('answers 503 with Retry-After when the key endpoint is down', async () => {
    const verifier = new TokenVerifier(entra(await deadJwksUrl()), '/nonexistent', fast({}));
    expect((await unavailable(verifier, await sign(keyA, appClaims()))).reason).toMatch(/ECONNREFUSED/);
  });

  it.each([
    ['answers 500', 'error', /200 OK/],
    ['answers something that is not JSON', 'garbage', /JSON/],
    ['does not answer in time', 'hang', /JWKSTimeout/],
  ] as const)('answers 503 when the key endpoint %s, and retries only after a pause', async (_name, behaviour, reason) => {
    const jwks = await server([keyA]);
    jwks.behave(behaviour);
    const verifier = new TokenVerifier(entra(jwks.url), '/nonexistent', fast({ timeoutMs: 200, retryAfterFailureMs: 500 }));
    const token = await sign(keyA, appClaims());
    expect((await unavailable(verifier, token)).reason).toMatch(reason);
    expect(jwks.hits).toBe(1);
    // Within the pause: 503 at once, no new request.
    await unavailable(verifier, token);
    await unavailable(verifier, await sign(keyA, appClaims(), { kid: 'stranger' }));
    expect(jwks.hits).toBe(1);

    await sleep(550);
    jwks.serve([keyA]);
    await expect(verifier.verify(bearer(token))).resolves.toMatchObject({ oid: OID });
    expect(jwks.hits).toBe(2);
  });

  it('answers 503 for a key set that is not a key set', async () => {
    const jwks = await server([]);
    jwks.serve([{ ...keyA, jwk: { kty: 'RSA', kid: keyA.kid, n: 'AQAB' } }]);
    const verifier = new TokenVerifier(entra(jwks.url), '/nonexistent', fast({}));
    // A member that does not import is the issuer's problem, not the caller's.
    await unavailable(verifier, await sign(keyA, appClaims()));
  });

  it('keeps using the last good keys while the endpoint is down, for a while', async () => {
    const jwks = await server([keyA]);
    const verifier = new TokenVerifier(
      entra(jwks.url),
      '/nonexistent',
      fast({ cacheMaxAgeMs: 200, cooldownMs: 100, retryAfterFailureMs: 300, staleIfErrorMs: 1200 }),
    );
    await verifier.verify(bearer(await sign(keyA, appClaims())));
    jwks.behave('error');
    await sleep(250);

    // The cache is stale and the refresh fails: the last good keys still verify...
    await expect(verifier.verify(bearer(await sign(keyA, appClaims())))).resolves.toMatchObject({ oid: OID });
    expect(jwks.hits).toBe(2);
    // ...without a request per token...
    await expect(verifier.verify(bearer(await sign(keyA, appClaims())))).resolves.toMatchObject({ oid: OID });
    expect(jwks.hits).toBe(2);
    // ...and still only for what they can judge: a forged token stays a 401, a kid they lack is a 503.
    await refusal(verifier, await sign(impostor, appClaims()));
    await unavailable(verifier, await sign(keyB, appClaims()));

    // Past staleIfError the old keys are no longer trusted.
    await sleep(1100);
    await unavailable(verifier, await sign(keyA, appClaims()));
  });
});

describe('entra mode configuration', () => {
  const token = (): Promise<string> => sign(keyA, appClaims());

  it.each([
    ['no tenant', { tenantId: undefined }, /AUTH_TENANT_ID/],
    ['no audience', { audience: undefined }, /AUTH_AUDIENCE/],
    ['an audience list without entries', { audience: ' , ' }, /AUTH_AUDIENCE/],
    ['a tenant that is not a GUID (common)', { tenantId: 'common' }, /GUID/],
    ['a tenant given by domain name', { tenantId: 'contoso.onmicrosoft.com' }, /GUID/],
    ["Microsoft Graph's audience", { audience: `${CLIENT_ID},https://graph.microsoft.com` }, /Microsoft Graph/],
    ['a JWKS over plain http off the loopback', { jwksUri: 'http://login.example.com/keys' }, /https/],
    ['a JWKS URI that is not a URL', { jwksUri: 'keys.json' }, /URL/],
  ])('refuses every request with %s (never falls open)', async (_name, extra, message) => {
    const verifier = new TokenVerifier(entra('http://127.0.0.1:1/keys', extra), '/nonexistent');
    for (let i = 0; i < 2; i += 1) {
      const error = await verifier.verify(bearer(await token())).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AuthConfigurationError);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('accepts the issuer AUTH_ISSUER names, and only that one', async () => {
    const jwks = await startJwksServer([keyA]);
    try {
      const issuer = 'https://issuer.example.test/tenant/v2.0';
      const verifier = new TokenVerifier(entra(jwks.url, { issuer }), '/nonexistent');
      await expect(verifier.verify(bearer(await sign(keyA, appClaims({ iss: issuer }))))).resolves.toMatchObject({ oid: OID });
      expect((await refusal(verifier, await sign(keyA, appClaims()))).message).toMatch(/issuer/);
      // The tenant is still checked.
      expect((await refusal(verifier, await sign(keyA, appClaims({ iss: issuer, tid: OTHER_TENANT })))).message).toMatch(/another tenant/);
    } finally {
      await jwks.close();
    }
  });
});

describe('local mode', () => {
  let stateDir: string;
  let otherStateDir: string;
  let verifier: TokenVerifier;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'escrow-tokens-'));
    otherStateDir = await mkdtemp(join(tmpdir(), 'escrow-tokens-other-'));
    verifier = new TokenVerifier({ mode: 'local' }, stateDir);
  });
  afterAll(async () => {
    await rm(stateDir, { recursive: true, force: true });
    await rm(otherStateDir, { recursive: true, force: true });
  });

  it('accepts a development token', async () => {
    const caller = await verifier.verify(bearer(await mintDevelopmentToken(stateDir, { roles: ['BitLockerKey.Read.All'] })));
    expect(caller).toMatchObject({ oid: '11111111-1111-1111-1111-111111111111', permissions: new Set(['bitlockerkey.read.all']) });
  });

  it('accepts delegated development tokens', async () => {
    const caller = await verifier.verify(bearer(await mintDevelopmentToken(stateDir, { scopes: ['BitlockerKey.ReadBasic.All'] })));
    expect(caller).toMatchObject({ upn: 'helpdesk@contoso.local', permissions: new Set(['bitlockerkey.readbasic.all']) });
  });

  it('refuses a token signed with another development key', async () => {
    const token = await mintDevelopmentToken(otherStateDir, { roles: ['BitLockerKey.Read.All'] });
    expect((await refusal(verifier, token)).message).toMatch(/signature is invalid/);
  });

  it('refuses an expired development token, another tenant and a Graph audience', async () => {
    expect((await refusal(verifier, await mintDevelopmentToken(stateDir, { expiresIn: -3600 }))).message).toMatch(/expired/);
    const otherTenant = await mintDevelopmentToken(stateDir, { claims: { tid: OTHER_TENANT } });
    expect((await refusal(verifier, otherTenant)).message).toMatch(/another tenant/);
    const graph = await mintDevelopmentToken(stateDir, { claims: { aud: 'https://graph.microsoft.com' } });
    expect((await refusal(verifier, graph)).message).toMatch(/Microsoft Graph/);
  });

  it('refuses an Entra-style token in local mode', async () => {
    expect((await refusal(verifier, await sign(keyA, appClaims()))).message).toMatch(/issuer|signature/);
  });
});
