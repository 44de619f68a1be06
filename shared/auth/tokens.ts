import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import type { AuthSettings } from '../config';
import { unauthorized } from '../errors/graphError';
import { callerFromClaims, type Caller } from './caller';
import { loadJose } from './lazyJose';
import { DEFAULT_JWKS_TIMING, type JwksTiming } from './signingKeys';
import { malformedClaim, MAX_TOKEN_LENGTH, refusalBeforeSignature, refusalForVerifyError } from './tokenChecks';
import { AuthConfigurationError, entraVerification, localVerification, type Verification } from './verificationSettings';
import { DEFAULT_MAX_CACHED_TOKENS, VerifiedTokenCache } from './verifiedTokenCache';

// Bearer tokens, verified: the rules are in tokenChecks.ts, the keys and issuers in
// verificationSettings.ts, the entra-mode key set in signingKeys.ts.
//
// A token that passes all that but carries neither `roles` nor `scp` is a valid token without
// permissions: it is accepted here with an empty permission set, and the operation's permission check
// (authorize) answers 403 authorization_error, as Graph answers 403 to a valid token lacking the
// permission. Only a token that is not a usable access token for this API is a 401.
//
// When the signing keys cannot be fetched the fault is ours, not the caller's: 503 serviceNotAvailable
// with Retry-After.

/** What tests may change besides the JWKS timing; production uses the defaults. */
export interface VerifierOptions {
  /** The clock, ms since the epoch: jose's `exp`/`nbf` checks and the cache's expiry read it. */
  now?: () => number;
  maxCachedTokens?: number;
}

/** Verifies bearer tokens per the settings; one instance per process. */
export class TokenVerifier {
  private verification?: Promise<Verification>;
  private readonly timing: JwksTiming;
  private readonly now: () => number;
  private readonly verified: VerifiedTokenCache<Caller>;
  private signatureChecks = 0;

  /** `timing` and `options` are for tests: production uses the defaults. */
  constructor(
    private readonly auth: AuthSettings,
    private readonly stateDir: string,
    timing: Partial<JwksTiming> = {},
    options: VerifierOptions = {},
  ) {
    this.timing = { ...DEFAULT_JWKS_TIMING, ...timing };
    this.now = options.now ?? Date.now;
    this.verified = new VerifiedTokenCache(options.maxCachedTokens ?? DEFAULT_MAX_CACHED_TOKENS);
  }

  /** Full verifications (signature and claims) so far; tokens answered from the cache do not count. */
  get verifications(): number {
    return this.signatureChecks;
  }

  private verificationOnce(): Promise<Verification> {
    if (!this.verification) {
      const verification =
        this.auth.mode === 'local'
          ? localVerification(this.stateDir)
          : loadJose().then((jose) => entraVerification(jose, this.auth, this.timing));
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

  /**
   * The caller an `Authorization: Bearer …` header proves.
   * @throws GraphError 401 for a missing or unacceptable token, SigningKeysUnavailable (503) when the
   * keys cannot be fetched, AuthConfigurationError when no token can be judged.
   */
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
    const cached = this.verified.get(token, verification.keySetGeneration(), this.now());
    if (cached) return cached;

    const jose = await loadJose();
    const refusal = refusalBeforeSignature(jose, token, verification);
    if (refusal) throw refusal;

    const before = verification.keySetGeneration();
    let claims: JWTPayload;
    try {
      this.signatureChecks += 1;
      ({ payload: claims } = await jose.jwtVerify(token, verification.key as JWTVerifyGetKey, {
        ...verification.options,
        currentDate: new Date(this.now()),
      }));
    } catch (error) {
      throw refusalForVerifyError(jose, error);
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
    const caller = callerFromClaims(claims);
    // Kept only when one key set was current throughout: a set fetched meanwhile may not hold the key
    // that verified the token. Before the first fetch there is no earlier set to compare with.
    const after = verification.keySetGeneration();
    if (after && (before === undefined || before.id === after.id) && typeof claims.exp === 'number') {
      this.verified.set(token, caller, claims.exp, after, this.now());
    }
    return caller;
  }
}
