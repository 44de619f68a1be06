import type { JWTPayload } from 'jose';

/** Who is calling, as far as a verified token says. */
export interface Caller {
  /** Object id of the user or service principal. */
  oid?: string;
  /** The client application (appid in v1 tokens, azp in v2). */
  appId?: string;
  upn?: string;
  tid?: string;
  /**
   * A user signed in through a client app (the token has `scp`, Entra ID's delegated scopes), as opposed
   * to an app acting as itself (`roles` only). Entra ID does not always put a `upn` or
   * `preferred_username` in a user's token (guests, some v1 tokens), so the presence of one is no test.
   */
  delegated: boolean;
  /** Granted permissions (app roles and delegated scopes), lower-cased: Graph spells them in more than one case. */
  permissions: ReadonlySet<string>;
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
    delegated: typeof claims.scp === 'string',
    permissions,
  };
}

/**
 * The identity a per-caller bound counts under: `{tid}/{oid}` from the validated claims, lower-cased
 * (GUIDs compare case-insensitively). Every spelling of the Authorization header and every token issued
 * to one identity give the same key. A token without `oid` (Entra ID always issues one to users and
 * service principals) falls back to its client application id.
 */
export function callerKey(caller: Pick<Caller, 'tid' | 'oid' | 'appId'>): string {
  return `${caller.tid ?? '-'}/${caller.oid ?? caller.appId ?? 'unknown'}`.toLowerCase();
}
