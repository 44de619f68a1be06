import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwksCache,
  jwtVerify,
  type ExportedJWKSCache,
  type FlattenedJWSInput,
  type JWKSCacheInput,
  type JWTHeaderParameters,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  type KeyLike,
} from 'jose';
import type { AuthSettings } from '../config';
import { GraphError, unauthorized } from '../http/graphError';
import { callerFromClaims, type Caller } from './caller';
import { developmentKey, LOCAL_AUDIENCE, LOCAL_ISSUER, LOCAL_TENANT_ID } from './developmentKey';

// What a bearer token must be to be accepted (the spec's "Tokens" section):
// - a JWS signed with RS256, nothing else (no `none`, no HMAC keyed with a public key);
// - `typ`, when present, JWT or at+jwt (Entra ID access tokens say JWT);
// - in entra mode: a `kid` that is in the tenant's JWKS, issuer v1 `https://sts.windows.net/{tid}/` or
//   v2 `https://login.microsoftonline.com/{tid}/v2.0` (or AUTH_ISSUER), `tid` equal to AUTH_TENANT_ID;
// - an audience of this API (AUTH_AUDIENCE), and never Microsoft Graph's: a token for Graph is a token
//   for somebody else, whatever else it says;
// - `exp` required; `exp` and `nbf` checked with at most 5 minutes of clock tolerance.
// Anything else is 401 InvalidAuthenticationToken with WWW-Authenticate: Bearer, and a message that
// says what is wrong without repeating the token.
//
// A token that passes all that but carries neither `roles` nor `scp` is a valid token without
// permissions: it is accepted here with an empty permission set, and the operation's permission check
// (authorize) answers 403 authorization_error, as Graph answers 403 to a valid token lacking the
// permission. Only a token that is not a usable access token for this API is a 401.
//
// When the signing keys cannot be fetched the fault is ours, not the caller's: 503 serviceNotAvailable
// with Retry-After.

/** Entra ID and our tokens allow at most this much clock skew (the spec's bound is 5 minutes). */
export const CLOCK_TOLERANCE_SECONDS = 300;

/** Longer than any Entra ID token (a few KiB at most); refused before any parsing. */
const MAX_TOKEN_LENGTH = 16 * 1024;

/** Microsoft Graph's audiences (global and national clouds), as URI and as application id. */
const GRAPH_AUDIENCES = new Set([
  '00000003-0000-0000-c000-000000000000',
  'https://graph.microsoft.com',
  'https://canary.graph.microsoft.com',
  'https://graph.microsoft.us',
  'https://dod-graph.microsoft.us',
  'https://microsoftgraph.chinacloudapi.cn',
]);
const isGraphAudience = (aud: string): boolean => GRAPH_AUDIENCES.has(aud.trim().toLowerCase().replace(/\/+$/, ''));

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const ACCEPTED_TYPES = new Set(['jwt', 'at+jwt', 'application/jwt', 'application/at+jwt']);

/**
 * How the entra-mode verifier fetches and caches the tenant's signing keys (milliseconds).
 * The defaults are the production values; tests pass small ones.
 */
export interface JwksTiming {
  /**
   * One JWKS request may take this long before the request waiting on it gets a 503. Entra ID answers
   * in well under a second; 5 s leaves room for a cold TLS handshake from a freshly started instance
   * while keeping a hung endpoint far inside any client's timeout.
   */
  timeoutMs: number;
  /**
   * After a successful fetch, a token with an unknown `kid` triggers no new fetch for this long (it is
   * answered 401). Entra ID publishes new keys weeks before signing with them, so an unknown `kid` is
   * nearly always a forged or foreign token: one fetch a minute per instance is all such tokens can
   * cause, and a genuinely new key is still picked up within a minute.
   */
  cooldownMs: number;
  /**
   * Keys are refetched when the cached set is older than this, so a key Entra ID removes (an emergency
   * rollover) stops being trusted within 10 minutes; that costs six small requests an hour.
   */
  cacheMaxAgeMs: number;
  /**
   * After a failed fetch, no new attempt for this long: requests meanwhile are answered from the last
   * good keys or with 503 at once, instead of each waiting out another timeout. Also the Retry-After.
   */
  retryAfterFailureMs: number;
  /**
   * While the JWKS endpoint cannot be reached, the last keys fetched successfully are still used for
   * this long after that fetch (tokens Entra ID issued before an outage live 60 to 90 minutes). A
   * `kid` they do not contain is then a 503: it may be a new key we cannot see.
   */
  staleIfErrorMs: number;
}

export const DEFAULT_JWKS_TIMING: Readonly<JwksTiming> = {
  timeoutMs: 5_000,
  cooldownMs: 60_000,
  cacheMaxAgeMs: 10 * 60_000,
  retryAfterFailureMs: 10_000,
  staleIfErrorMs: 60 * 60_000,
};

interface Verification {
  key: KeyLike | JWTVerifyGetKey;
  options: JWTVerifyOptions;
  tenantId: string;
  /** Entra ID tokens always name their key; a token without `kid` is not one. */
  requireKid: boolean;
}

export class AuthConfigurationError extends Error {
  override name = 'AuthConfigurationError';
}

/** The signing keys could not be fetched (or the endpoint sent something that is not a key set). */
class KeysUnavailable extends Error {
  override name = 'KeysUnavailable';
  constructor(
    readonly retryAfterSeconds: number,
    readonly reason: string,
  ) {
    super('the JSON Web Key Set could not be fetched');
  }
}

/**
 * The 503 for signing keys that could not be fetched. `reason` is for the service's log (what failed:
 * a timeout, a status, a connection error); it never contains the token and never goes to the caller.
 */
export class SigningKeysUnavailable extends GraphError {
  constructor(
    retryAfterSeconds: number,
    readonly reason: string,
  ) {
    super(503, 'serviceNotAvailable', 'The token signing keys could not be fetched; try again shortly.', {
      'Retry-After': String(retryAfterSeconds),
    });
  }
}

const describeFailure = (error: unknown): string => {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.length > 300 ? `${text.slice(0, 300)}...` : text;
};

/** Errors of the key lookup that are about the token, not about fetching keys. */
const isTokenKeyError = (error: unknown): boolean =>
  error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys;

/**
 * jose's remote key set, plus what it does not do: a failed fetch is not retried by every request (jose
 * only rate-limits after successes), and keys fetched before an outage keep working for a while.
 */
class EntraSigningKeys {
  private readonly cache: Partial<ExportedJWKSCache> = {};
  private readonly remote: ReturnType<typeof createRemoteJWKSet>;
  private failedAt?: number;
  private failure = '';
  private lastGood?: { uat: number; keys: JWTVerifyGetKey };

  constructor(
    url: URL,
    private readonly timing: JwksTiming,
  ) {
    this.remote = createRemoteJWKSet(url, {
      timeoutDuration: timing.timeoutMs,
      cooldownDuration: timing.cooldownMs,
      cacheMaxAge: timing.cacheMaxAgeMs,
      // In memory only, written by jose alone: it tells when the last good set was fetched, and what it was.
      [jwksCache]: this.cache as JWKSCacheInput,
    });
  }

  readonly getKey = async (header: JWTHeaderParameters, token: FlattenedJWSInput): Promise<KeyLike> => {
    if (this.failedAt !== undefined && Date.now() < this.failedAt + this.timing.retryAfterFailureMs) {
      return this.fromLastGood(header, token);
    }
    try {
      const key = await this.remote(header, token);
      this.failedAt = undefined;
      return key;
    } catch (error) {
      if (isTokenKeyError(error)) throw error;
      this.failedAt = Date.now();
      this.failure = describeFailure(error);
      return this.fromLastGood(header, token);
    }
  };

  private async fromLastGood(header: JWTHeaderParameters, token: FlattenedJWSInput): Promise<KeyLike> {
    const retryAfter = Math.max(1, Math.ceil((this.failedAt! + this.timing.retryAfterFailureMs - Date.now()) / 1000));
    const { uat, jwks } = this.cache;
    if (uat === undefined || jwks === undefined || Date.now() >= uat + this.timing.staleIfErrorMs) {
      throw new KeysUnavailable(retryAfter, `${this.failure} (no usable earlier key set)`);
    }
    if (this.lastGood?.uat !== uat) this.lastGood = { uat, keys: createLocalJWKSet(jwks) };
    try {
      return (await this.lastGood.keys(header, token)) as KeyLike;
    } catch (error) {
      // Several candidates: the token does not say which key (401). Anything else is no verdict on the
      // token: a kid missing from the old set may be a key published since, which we cannot see now,
      // and a member that does not import is the issuer's fault.
      if (error instanceof errors.JWKSMultipleMatchingKeys) throw error;
      throw new KeysUnavailable(retryAfter, `${this.failure} (the earlier key set cannot judge the token: ${describeFailure(error)})`);
    }
  }
}

function jwksUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AuthConfigurationError('AUTH_JWKS_URI must be an absolute URL');
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  // Keys fetched over plain HTTP could be replaced on the way: only a local test server may use it.
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new AuthConfigurationError('AUTH_JWKS_URI must be an https URL (http only on the loopback interface)');
  }
  return url;
}

const list = (value: string): string[] =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');

function entraVerification(auth: AuthSettings, timing: JwksTiming): Verification {
  if (!auth.tenantId || !auth.audience) {
    // Never fall open: without a tenant and an audience no token can be judged.
    throw new AuthConfigurationError('AUTH_MODE=entra needs AUTH_TENANT_ID and AUTH_AUDIENCE');
  }
  if (!GUID.test(auth.tenantId)) {
    // Not a domain name, and not common/organizations: those would accept other tenants' tokens.
    throw new AuthConfigurationError("AUTH_TENANT_ID must be the tenant's id (a GUID)");
  }
  const tenant = auth.tenantId.toLowerCase();
  const audiences = list(auth.audience);
  if (audiences.length === 0) throw new AuthConfigurationError('AUTH_AUDIENCE names no audience');
  if (audiences.some(isGraphAudience)) {
    throw new AuthConfigurationError("AUTH_AUDIENCE must be this API's audience, not Microsoft Graph's");
  }
  const issuers = auth.issuer
    ? list(auth.issuer)
    : [`https://login.microsoftonline.com/${tenant}/v2.0`, `https://sts.windows.net/${tenant}/`];
  if (issuers.length === 0) throw new AuthConfigurationError('AUTH_ISSUER names no issuer');
  const url = jwksUrl(auth.jwksUri ?? `https://login.microsoftonline.com/${tenant}/discovery/v2.0/keys`);
  return {
    key: new EntraSigningKeys(url, timing).getKey,
    options: {
      issuer: issuers,
      audience: audiences,
      algorithms: ['RS256'],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp'],
    },
    tenantId: tenant,
    requireKid: true,
  };
}

async function localVerification(stateDir: string): Promise<Verification> {
  const key = await developmentKey(stateDir);
  return {
    key: key.publicKey,
    options: {
      issuer: LOCAL_ISSUER,
      audience: LOCAL_AUDIENCE,
      algorithms: ['RS256'],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp'],
    },
    tenantId: LOCAL_TENANT_ID,
    requireKid: false,
  };
}

/** Refusals that need no key: cheap, and they keep junk from triggering JWKS fetches. */
function precheck(token: string, verification: Verification): GraphError | undefined {
  let header: ReturnType<typeof decodeProtectedHeader>;
  let claims: JWTPayload;
  try {
    header = decodeProtectedHeader(token);
    claims = decodeJwt(token);
  } catch {
    return unauthorized('The access token is malformed: it is not a signed JWT.');
  }
  // Unverified claims are only ever used to refuse, never to accept.
  const audiences = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
  if (audiences.some((aud) => typeof aud === 'string' && isGraphAudience(aud))) {
    return unauthorized("The access token is for Microsoft Graph, not for this API: request a token for this API's audience.");
  }
  if (header.typ !== undefined && !(typeof header.typ === 'string' && ACCEPTED_TYPES.has(header.typ.toLowerCase()))) {
    return unauthorized('The access token has an unexpected "typ" header: it must be a JWT access token.');
  }
  if (verification.requireKid && (typeof header.kid !== 'string' || header.kid === '')) {
    return unauthorized('The access token does not name its signing key (no "kid" header).');
  }
  return undefined;
}

/** jose's verdict as the caller's GraphError; anything that is not jose's verdict on the token is rethrown. */
function explain(error: unknown): unknown {
  if (error instanceof KeysUnavailable) {
    // Our side failed (the issuer's keys could not be fetched), not the caller's token.
    return new SigningKeysUnavailable(error.retryAfterSeconds, error.reason);
  }
  if (error instanceof errors.JWTExpired) return unauthorized('The access token has expired.');
  if (error instanceof errors.JWTClaimValidationFailed) {
    const claim = error.claim;
    if (claim === 'aud') return unauthorized('The access token was not issued for this API (audience mismatch).');
    if (claim === 'iss') return unauthorized('The access token was not issued by the expected issuer.');
    if (claim === 'nbf' && error.reason === 'check_failed') return unauthorized('The access token is not valid yet.');
    if (claim === 'exp' && error.reason === 'missing') return unauthorized('The access token has no expiry (exp claim).');
    return unauthorized(`The access token's "${claim}" claim is invalid.`);
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return unauthorized('The access token must be signed with RS256.');
  if (error instanceof errors.JWSSignatureVerificationFailed) return unauthorized('The access token signature is invalid.');
  if (error instanceof errors.JWKSNoMatchingKey) return unauthorized('The access token was signed with an unknown key.');
  if (error instanceof errors.JWKSMultipleMatchingKeys) {
    return unauthorized('The access token does not say which signing key it was signed with.');
  }
  if (error instanceof errors.JOSEError) return unauthorized('The access token is malformed or invalid.');
  // Not about the token (fetch failures are KeysUnavailable by now): a bug on our side, to be logged as one.
  return error;
}

/** Entra ID's claims have fixed types; a token whose claims do not is not an Entra ID access token. */
function malformedClaim(claims: JWTPayload): string | undefined {
  if (claims.roles !== undefined && !(Array.isArray(claims.roles) && claims.roles.every((r) => typeof r === 'string'))) {
    return 'roles';
  }
  for (const name of ['scp', 'tid', 'oid', 'appid', 'azp', 'upn'] as const) {
    if (claims[name] !== undefined && typeof claims[name] !== 'string') return name;
  }
  return undefined;
}

/** Verifies bearer tokens per the settings; one instance per process. */
export class TokenVerifier {
  private verification?: Promise<Verification>;
  private readonly timing: JwksTiming;

  /** `timing` is for tests: production uses DEFAULT_JWKS_TIMING. */
  constructor(
    private readonly auth: AuthSettings,
    private readonly stateDir: string,
    timing: Partial<JwksTiming> = {},
  ) {
    this.timing = { ...DEFAULT_JWKS_TIMING, ...timing };
  }

  private verificationOnce(): Promise<Verification> {
    if (!this.verification) {
      const verification =
        this.auth.mode === 'local'
          ? localVerification(this.stateDir)
          : Promise.resolve().then(() => entraVerification(this.auth, this.timing));
      this.verification = verification;
      // A configuration error stays (each request reports it); a failure to read the development key
      // may be passing, so the next request tries again.
      verification.catch((error: unknown) => {
        if (!(error instanceof AuthConfigurationError) && this.verification === verification) this.verification = undefined;
      });
    }
    return this.verification;
  }

  /**
   * What keeps this verifier from checking any token (an AuthConfigurationError's message), or
   * undefined when it is ready: for the health check, so that an instance that would refuse every
   * request with a 503 does not report itself healthy. Other failures (the development key) throw.
   */
  async configurationProblem(): Promise<string | undefined> {
    try {
      await this.verificationOnce();
      return undefined;
    } catch (error) {
      if (error instanceof AuthConfigurationError) return error.message;
      throw error;
    }
  }

  async verify(authorization: string | null): Promise<Caller> {
    const verification = await this.verificationOnce();
    const match = /^Bearer[ ]+(\S+)[ \t]*$/i.exec(authorization ?? '');
    if (!match) {
      // Graph's words for a missing token; anything else sent is named as what it is not.
      throw unauthorized(
        /^\s*(Bearer\s*)?$/i.test(authorization ?? '')
          ? 'Access token is empty: send Authorization: Bearer {token}.'
          : 'The Authorization header is not one Bearer token: send Authorization: Bearer {token}.',
      );
    }
    const token = match[1];
    if (token.length > MAX_TOKEN_LENGTH) throw unauthorized('The access token is too large.');
    const refusal = precheck(token, verification);
    if (refusal) throw refusal;

    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, verification.key as JWTVerifyGetKey, verification.options));
    } catch (error) {
      throw explain(error);
    }

    const malformed = malformedClaim(claims);
    if (malformed) throw unauthorized(`The access token's "${malformed}" claim is malformed.`);
    if (this.auth.mode === 'entra' && claims.tid === undefined) {
      throw unauthorized('The access token has no tenant (tid) claim.');
    }
    if (claims.tid !== undefined && (claims.tid as string).toLowerCase() !== verification.tenantId) {
      throw unauthorized('The access token was issued for another tenant.');
    }
    // No roles and no scp: a valid token without permissions; authorize() answers 403 (see the top).
    return callerFromClaims(claims);
  }
}
