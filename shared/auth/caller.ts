import type { JWTPayload } from 'jose';
import { normalizeGuid } from '../text/normalizeGuid';
import type { DeviceIdentity } from './device/verifier';

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
  /**
   * The token's `groups` claim (object ids, lower-cased), when it carries one. Entra ID puts at most 200
   * there (a JWT's limit) and otherwise signals an overage (`groupsOverage`): then membership is read
   * from Microsoft Graph instead (shared/reveal/membership.ts).
   */
  groups?: ReadonlySet<string>;
  /** The token says the user's groups did not fit (`_claim_names.groups`, or `hasgroups`). */
  groupsOverage?: boolean;
  /** Set for a device proven with the EntraDevice scheme (then there is no oid, app or user, and no permissions). */
  device?: DeviceIdentity;
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/**
 * One spelling per identity: a GUID (an object, tenant, app or group id) lower-case without braces,
 * however a token wrote it (`{6F9619FF-...}` and `6f9619ff-...` are one user); anything else as given.
 * Every comparison and every per-caller count keys on this, so two spellings never make two callers.
 */
export const canonicalId = (value: string): string => normalizeGuid(value) ?? value;

const identity = (value: unknown): string | undefined => {
  const given = text(value);
  return given === undefined ? undefined : canonicalId(given);
};

export function callerFromClaims(claims: JWTPayload): Caller {
  const permissions = new Set<string>();
  if (Array.isArray(claims.roles)) {
    for (const role of claims.roles) if (typeof role === 'string') permissions.add(role.toLowerCase());
  }
  if (typeof claims.scp === 'string') {
    for (const scope of claims.scp.split(' ')) if (scope) permissions.add(scope.toLowerCase());
  }
  const claimNames = claims._claim_names as Record<string, unknown> | undefined;
  const groupsOverage = (typeof claimNames === 'object' && claimNames !== null && 'groups' in claimNames) || claims.hasgroups === true;
  return {
    oid: identity(claims.oid),
    appId: identity(claims.appid) ?? identity(claims.azp),
    upn: text(claims.upn) ?? text(claims.preferred_username),
    tid: identity(claims.tid),
    delegated: typeof claims.scp === 'string',
    permissions,
    ...(Array.isArray(claims.groups) && { groups: new Set(claims.groups.map((id) => canonicalId(String(id)).toLowerCase())) }),
    ...(groupsOverage && { groupsOverage: true }),
  };
}

/**
 * The identity a per-caller bound counts under: `{tid}/{oid}` from the validated claims, each in its one
 * spelling (canonicalId), lower-cased. Every spelling of the Authorization header, of the ids in it, and
 * every token issued to one identity give the same key; so does a caller rebuilt from a stored record. A
 * token without `oid` (Entra ID always issues one to users and service principals) falls back to its
 * client application id.
 */
export function callerKey(caller: Pick<Caller, 'tid' | 'oid' | 'appId' | 'device'>): string {
  // A device has no token claims: its proven device id is its identity.
  if (caller.device) return `device/${canonicalId(caller.device.deviceId)}`.toLowerCase();
  return `${canonicalId(caller.tid ?? '-')}/${canonicalId(caller.oid ?? caller.appId ?? 'unknown')}`.toLowerCase();
}
