import {
  createRemoteJWKSet,
  errors,
  jwtVerify,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  type KeyLike,
} from 'jose';
import type { AuthSettings } from '../config';
import { serviceUnavailable, unauthorized, GraphError } from '../http/graphError';
import { callerFromClaims, type Caller } from './caller';
import { developmentKey, LOCAL_AUDIENCE, LOCAL_ISSUER, LOCAL_TENANT_ID } from './developmentKey';

/** Entra ID and our tokens allow at most this much clock skew (the spec's bound is 5 minutes). */
export const CLOCK_TOLERANCE_SECONDS = 300;

interface Verification {
  key: KeyLike | JWTVerifyGetKey;
  options: JWTVerifyOptions;
  tenantId: string;
}

export class AuthConfigurationError extends Error {
  override name = 'AuthConfigurationError';
}

function entraVerification(auth: AuthSettings): Verification {
  if (!auth.tenantId || !auth.audience) {
    // Never fall open: without a tenant and an audience no token can be judged.
    throw new AuthConfigurationError('AUTH_MODE=entra needs AUTH_TENANT_ID and AUTH_AUDIENCE');
  }
  const tenant = auth.tenantId;
  const issuers = auth.issuer
    ? [auth.issuer]
    : [`https://login.microsoftonline.com/${tenant}/v2.0`, `https://sts.windows.net/${tenant}/`];
  const jwksUri = auth.jwksUri ?? `https://login.microsoftonline.com/${tenant}/discovery/v2.0/keys`;
  return {
    key: createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: 5000, cooldownDuration: 30_000 }),
    options: {
      issuer: issuers,
      audience: auth.audience.split(',').map((a) => a.trim()),
      algorithms: ['RS256'],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp'],
    },
    tenantId: tenant,
  };
}

async function localVerification(auth: AuthSettings, stateDir: string): Promise<Verification> {
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
  };
}

function explain(error: unknown): GraphError {
  if (error instanceof errors.JWTExpired) return unauthorized('The access token has expired.');
  if (error instanceof errors.JWTClaimValidationFailed) {
    const claim = error.claim;
    if (claim === 'aud') return unauthorized('The access token was not issued for this API (audience mismatch).');
    if (claim === 'iss') return unauthorized('The access token was not issued by the expected issuer.');
    if (claim === 'nbf') return unauthorized('The access token is not valid yet.');
    return unauthorized(`The access token's "${claim}" claim is invalid.`);
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return unauthorized('The access token must be signed with RS256.');
  if (error instanceof errors.JWSSignatureVerificationFailed) return unauthorized('The access token signature is invalid.');
  if (error instanceof errors.JWKSNoMatchingKey) return unauthorized('The access token was signed with an unknown key.');
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid || !(error instanceof errors.JOSEError)) {
    // Our side failed (the issuer's keys could not be fetched), not the caller's token.
    return serviceUnavailable('The token signing keys could not be fetched; try again shortly.', 30);
  }
  return unauthorized('The access token is malformed or invalid.');
}

/** Verifies bearer tokens per the settings; one instance per process. */
export class TokenVerifier {
  private verification?: Promise<Verification>;

  constructor(
    private readonly auth: AuthSettings,
    private readonly stateDir: string,
  ) {}

  private verificationOnce(): Promise<Verification> {
    this.verification ??= this.auth.mode === 'local'
      ? localVerification(this.auth, this.stateDir)
      : Promise.resolve().then(() => entraVerification(this.auth));
    return this.verification;
  }

  async verify(authorization: string | null): Promise<Caller> {
    const verification = await this.verificationOnce();
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) throw unauthorized('Access token is empty: send Authorization: Bearer {token}.');
    let claims;
    try {
      ({ payload: claims } = await jwtVerify(match[1]!, verification.key as JWTVerifyGetKey, verification.options));
    } catch (error) {
      throw explain(error);
    }
    if (claims.tid !== undefined && claims.tid !== verification.tenantId) {
      throw unauthorized('The access token was issued for another tenant.');
    }
    if (this.auth.mode === 'entra' && claims.tid === undefined) {
      throw unauthorized('The access token has no tenant (tid) claim.');
    }
    return callerFromClaims(claims);
  }
}
