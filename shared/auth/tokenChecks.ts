import type { JWTPayload } from 'jose';
import { GraphError, unauthorized } from '../errors/graphError';
import type { JoseModule } from './lazyJose';
import { KeysUnavailable, SigningKeysUnavailable } from './signingKeys';
import { isGraphAudience, type Verification } from './verificationSettings';

// The rules a bearer token is judged by, apart from its signature (the spec's "Tokens" section):
// - a JWS signed with RS256, nothing else (no `none`, no HMAC keyed with a public key);
// - `typ`, when present, JWT or at+jwt (Entra ID access tokens say JWT);
// - in entra mode: a `kid` that is in the tenant's JWKS, issuer v1 `https://sts.windows.net/{tid}/` or
//   v2 `https://login.microsoftonline.com/{tid}/v2.0` (or AUTH_ISSUER), `tid` equal to AUTH_TENANT_ID;
// - an audience of this API (AUTH_AUDIENCE), and never Microsoft Graph's;
// - `exp` required; `exp` and `nbf` checked with at most 5 minutes of clock tolerance.
// Anything else is 401 InvalidAuthenticationToken with WWW-Authenticate: Bearer, and a message that
// says what is wrong without repeating the token.

/** Longer than any Entra ID token (a few KiB at most); refused before any parsing. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

const ACCEPTED_TYPES = new Set(['jwt', 'at+jwt', 'application/jwt', 'application/at+jwt']);

/** The 401 for what needs no key to refuse, or undefined: cheap, and it keeps junk from triggering JWKS fetches. */
export function refusalBeforeSignature(jose: JoseModule, token: string, verification: Verification): GraphError | undefined {
  let header: ReturnType<JoseModule['decodeProtectedHeader']>;
  let claims: JWTPayload;
  try {
    header = jose.decodeProtectedHeader(token);
    claims = jose.decodeJwt(token);
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

/**
 * jose's verdict as the caller's GraphError (401, or the 503 SigningKeysUnavailable when the keys could
 * not be fetched); anything that is not a verdict on the token is returned as it is, to be rethrown.
 */
export function refusalForVerifyError(jose: JoseModule, error: unknown): unknown {
  const { errors } = jose;
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

/** The claim whose type is not Entra ID's, or undefined: a token whose claims are mistyped is not an Entra ID access token. */
export function malformedClaim(claims: JWTPayload): string | undefined {
  if (claims.roles !== undefined && !(Array.isArray(claims.roles) && claims.roles.every((r) => typeof r === 'string'))) {
    return 'roles';
  }
  if (claims.groups !== undefined && !(Array.isArray(claims.groups) && claims.groups.every((g) => typeof g === 'string'))) {
    return 'groups';
  }
  for (const name of ['scp', 'tid', 'oid', 'appid', 'azp', 'upn'] as const) {
    if (claims[name] !== undefined && typeof claims[name] !== 'string') return name;
  }
  return undefined;
}
