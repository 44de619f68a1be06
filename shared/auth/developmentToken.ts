import { randomUUID } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { developmentKey, LOCAL_AUDIENCE, LOCAL_ISSUER, LOCAL_TENANT_ID } from './developmentKey';
import { loadJose } from './lazyJose';

export interface DevelopmentTokenRequest {
  roles?: string[];
  scopes?: string[];
  /** Entra group object ids for the `groups` claim (REVEAL_SCOPES, bulk grants). */
  groups?: string[];
  /** The user's or app's object id; a fixed one by default. */
  oid?: string;
  /** Lifetime in seconds (negative for an already expired token, as tests need). */
  expiresIn?: number;
  /** Claims to add or override (tests use this for wrong issuers and audiences). */
  claims?: JWTPayload;
}

/** A token that AUTH_MODE=local accepts, signed with the development key under `stateDir`. */
export async function mintDevelopmentToken(stateDir: string, request: DevelopmentTokenRequest = {}): Promise<string> {
  const key = await developmentKey(stateDir);
  const now = Math.floor(Date.now() / 1000);
  const payload: JWTPayload = {
    iss: LOCAL_ISSUER,
    aud: LOCAL_AUDIENCE,
    tid: LOCAL_TENANT_ID,
    oid: request.oid ?? '11111111-1111-1111-1111-111111111111',
    appid: '22222222-2222-2222-2222-222222222222',
    iat: now,
    nbf: now,
    exp: now + (request.expiresIn ?? 3600),
    jti: randomUUID(),
  };
  if (request.roles?.length) payload.roles = request.roles;
  if (request.groups?.length) payload.groups = request.groups;
  if (request.scopes?.length) {
    payload.scp = request.scopes.join(' ');
    payload.upn = 'helpdesk@contoso.local';
  }
  const { SignJWT } = await loadJose();
  return new SignJWT({ ...payload, ...request.claims }).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid }).sign(key.privateKey);
}
