import type { JWTPayload } from 'jose';
import type { DeviceIdentity } from './device/verifier';

/** Who is calling, as far as a verified token says. */
export interface Caller {
  /** Object id of the user or service principal. */
  oid?: string;
  /** The client application (appid in v1 tokens, azp in v2). */
  appId?: string;
  upn?: string;
  tid?: string;
  /** Granted permissions (app roles and delegated scopes), lower-cased: Graph spells them in more than one case. */
  permissions: ReadonlySet<string>;
  /** Set for a device proven with the EntraDevice scheme (then there is no oid, app or user, and no permissions). */
  device?: DeviceIdentity;
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

export function callerFromClaims(claims: JWTPayload): Caller {
  const permissions = new Set<string>();
  if (Array.isArray(claims.roles)) {
    for (const role of claims.roles) if (typeof role === 'string') permissions.add(role.toLowerCase());
  }
  if (typeof claims.scp === 'string') {
    for (const scope of claims.scp.split(' ')) if (scope) permissions.add(scope.toLowerCase());
  }
  return {
    oid: text(claims.oid),
    appId: text(claims.appid) ?? text(claims.azp),
    upn: text(claims.upn) ?? text(claims.preferred_username),
    tid: text(claims.tid),
    permissions,
  };
}
