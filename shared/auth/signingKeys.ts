import type { ExportedJWKSCache, FlattenedJWSInput, JWKSCacheInput, JWTHeaderParameters, JWTVerifyGetKey, KeyLike } from 'jose';
import { GraphError } from '../errors/graphError';
import type { JoseModule } from './lazyJose';

// The entra-mode signing keys: the tenant's JSON Web Key Set, fetched and cached by jose, with an
// outage policy of our own (KeysUnavailable, the 503 SigningKeysUnavailable), and the key set's
// generation that tells the verified-token cache when a verdict may be reused.

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
   * rollover) stops being trusted within 10 minutes; that costs six small requests an hour. A token
   * verified under a key set is re-verified at the latest when the set reaches this age.
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

/**
 * The key set a verdict was reached under. A verdict may be reused while the same generation is current
 * and until `reusableUntil` (ms since the epoch): past that, the keys themselves may have changed.
 */
export interface KeySetGeneration {
  readonly id: number;
  readonly reusableUntil: number;
}

/** The signing keys could not be fetched (or the endpoint sent something that is not a key set). */
export class KeysUnavailable extends Error {
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

/**
 * A fetch failure as the log shows it: name and message, cut at 300 characters. The message is kept:
 * it says what failed at the key endpoint (a status, a timeout), never anything of a caller's token.
 */
const fetchFailureForLog = (error: unknown): string => {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.length > 300 ? `${text.slice(0, 300)}...` : text;
};

/**
 * jose's remote key set, plus what it does not do: a failed fetch is not retried by every request (jose
 * only rate-limits after successes), and keys fetched before an outage keep working for a while.
 */
export class EntraSigningKeys {
  private readonly cache: Partial<ExportedJWKSCache> = {};
  private readonly remote: JWTVerifyGetKey;
  private failedAt?: number;
  private failure = '';
  private lastGood?: { uat: number; keys: JWTVerifyGetKey };

  constructor(
    private readonly jose: JoseModule,
    url: URL,
    private readonly timing: JwksTiming,
  ) {
    this.remote = jose.createRemoteJWKSet(url, {
      timeoutDuration: timing.timeoutMs,
      cooldownDuration: timing.cooldownMs,
      cacheMaxAge: timing.cacheMaxAgeMs,
      // In memory only, written by jose alone: it tells when the last good set was fetched, and what it was.
      [jose.jwksCache]: this.cache as JWKSCacheInput,
    });
  }

  /** Errors of the key lookup that are about the token, not about fetching keys. */
  private isTokenKeyError(error: unknown): boolean {
    return error instanceof this.jose.errors.JWKSNoMatchingKey || error instanceof this.jose.errors.JWKSMultipleMatchingKeys;
  }

  readonly getKey = async (header: JWTHeaderParameters, token: FlattenedJWSInput): Promise<KeyLike> => {
    if (this.failedAt !== undefined && Date.now() < this.failedAt + this.timing.retryAfterFailureMs) {
      return this.fromLastGood(header, token);
    }
    try {
      const key = (await this.remote(header, token)) as KeyLike;
      this.failedAt = undefined;
      return key;
    } catch (error) {
      if (this.isTokenKeyError(error)) throw error;
      this.failedAt = Date.now();
      this.failure = fetchFailureForLog(error);
      return this.fromLastGood(header, token);
    }
  };

  /**
   * The key set fetched last, while it is trusted as fresh; undefined before the first fetch and while
   * fetches fail (keys served from a stale set then judge tokens one by one, no verdict is kept).
   */
  readonly generation = (): KeySetGeneration | undefined => {
    const { uat } = this.cache;
    if (uat === undefined || this.failedAt !== undefined) return undefined;
    return { id: uat, reusableUntil: uat + this.timing.cacheMaxAgeMs };
  };

  private async fromLastGood(header: JWTHeaderParameters, token: FlattenedJWSInput): Promise<KeyLike> {
    const retryAfter = Math.max(1, Math.ceil((this.failedAt! + this.timing.retryAfterFailureMs - Date.now()) / 1000));
    const { uat, jwks } = this.cache;
    if (uat === undefined || jwks === undefined || Date.now() >= uat + this.timing.staleIfErrorMs) {
      throw new KeysUnavailable(retryAfter, `${this.failure} (no usable earlier key set)`);
    }
    if (this.lastGood?.uat !== uat) this.lastGood = { uat, keys: this.jose.createLocalJWKSet(jwks) };
    try {
      return (await this.lastGood.keys(header, token)) as KeyLike;
    } catch (error) {
      // Several candidates: the token does not say which key (401). Anything else is no verdict on the
      // token: a kid missing from the old set may be a key published since, which we cannot see now,
      // and a member that does not import is the issuer's fault.
      if (error instanceof this.jose.errors.JWKSMultipleMatchingKeys) throw error;
      throw new KeysUnavailable(retryAfter, `${this.failure} (the earlier key set cannot judge the token: ${fetchFailureForLog(error)})`);
    }
  }
}
