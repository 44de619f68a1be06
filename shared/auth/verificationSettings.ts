import type { JWTVerifyGetKey, JWTVerifyOptions, KeyLike } from 'jose';
import { type AuthSettings, isLoopbackHostname } from '../config';
import { developmentKey, LOCAL_AUDIENCE, LOCAL_ISSUER, LOCAL_TENANT_ID } from './developmentKey';
import type { JoseModule } from './lazyJose';
import { EntraSigningKeys, type JwksTiming, type KeySetGeneration } from './signingKeys';
import { isGuid } from '../text/normalizeGuid';

// What a token is checked against, from the settings: the keys, issuers, audiences and tenant of entra
// mode (the spec's "Tokens" section) or of local mode, and the settings that leave no token judgeable
// (AuthConfigurationError: every request then gets a 503, never a fall-open).

/** Entra ID and our tokens allow at most this much clock skew (the spec's bound is 5 minutes). */
export const CLOCK_TOLERANCE_SECONDS = 300;

/** Microsoft Graph's audiences (global and national clouds), as URI and as application id. */
const GRAPH_AUDIENCES = new Set([
  '00000003-0000-0000-c000-000000000000',
  'https://graph.microsoft.com',
  'https://canary.graph.microsoft.com',
  'https://graph.microsoft.us',
  'https://dod-graph.microsoft.us',
  'https://microsoftgraph.chinacloudapi.cn',
]);

/** True for Microsoft Graph's audience in any of its spellings: a token for Graph is a token for somebody else. */
export const isGraphAudience = (aud: string): boolean => GRAPH_AUDIENCES.has(aud.trim().toLowerCase().replace(/\/+$/, ''));

/** How tokens are verified in the configured mode. */
export interface Verification {
  key: KeyLike | JWTVerifyGetKey;
  options: JWTVerifyOptions;
  /** Lower-case. */
  tenantId: string;
  /** Entra ID tokens always name their key; a token without `kid` is not one. */
  requireKid: boolean;
  /** The key set verdicts are reached under now; undefined while no verdict may be kept. */
  keySetGeneration(): KeySetGeneration | undefined;
}

/** Settings under which no token can be judged; its message names the setting, never a value. */
export class AuthConfigurationError extends Error {
  override name = 'AuthConfigurationError';
}

function jwksUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AuthConfigurationError('AUTH_JWKS_URI must be an absolute URL');
  }
  const loopback = isLoopbackHostname(url.hostname);
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

/** Entra mode's verification. @throws AuthConfigurationError for settings that leave no token judgeable. */
export function entraVerification(jose: JoseModule, auth: AuthSettings, timing: JwksTiming): Verification {
  if (!auth.tenantId || !auth.audience) {
    // Never fall open: without a tenant and an audience no token can be judged.
    throw new AuthConfigurationError('AUTH_MODE=entra needs AUTH_TENANT_ID and AUTH_AUDIENCE');
  }
  if (!isGuid(auth.tenantId)) {
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
  const keys = new EntraSigningKeys(jose, url, timing);
  return {
    key: keys.getKey,
    options: {
      issuer: issuers,
      audience: audiences,
      algorithms: ['RS256'],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp'],
    },
    tenantId: tenant,
    requireKid: true,
    keySetGeneration: keys.generation,
  };
}

/** The development key never changes while the process runs: one generation, for ever. */
const LOCAL_GENERATION: KeySetGeneration = { id: 0, reusableUntil: Number.POSITIVE_INFINITY };

/** Local mode's verification: the development key under `stateDir` (created on first use). */
export async function localVerification(stateDir: string): Promise<Verification> {
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
    keySetGeneration: () => LOCAL_GENERATION,
  };
}
