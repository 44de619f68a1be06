import { request } from './api';

/** A signed-in helpdesk member, whichever sign-in was used. */
export interface Session {
  /** Who, as the page shows it. */
  readonly user: string;
  /** Granted roles and scopes, lower-cased (the service compares them case-insensitively). */
  readonly permissions: ReadonlySet<string>;
  /** A valid access token for the API, renewed as needed. */
  accessToken(): Promise<string>;
  signOut(): Promise<void>;
}

export const READ_KEY = 'bitlockerkey.read.all';
export const READ_AUDIT = 'auditlog.read.all';
export const APPROVE = 'bitlockerkey.approve.all';
/** Any of these makes a helpdesk member; a user with none sees only their own devices. */
export const HELPDESK_PERMISSIONS = ['bitlockerkey.readbasic.all', READ_KEY, 'bitlockerkey.readwrite.all', READ_AUDIT, APPROVE];

interface Claims {
  roles?: unknown;
  scp?: unknown;
  upn?: unknown;
  preferred_username?: unknown;
  name?: unknown;
}

/**
 * The claims of a JWT access token, read (not verified: the service verifies it) to know which
 * buttons to offer. Only for tokens issued for this API, whose format is this API's to know.
 */
export function claimsOf(token: string): Claims {
  const payload = token.split('.')[1] ?? '';
  const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
  try {
    return JSON.parse(atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), '='))) as Claims;
  } catch {
    return {};
  }
}

/** Roles (`roles`) and delegated scopes (`scp`), lower-cased, as the service counts them. */
export function permissionsOf(claims: Claims): Set<string> {
  const roles = Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [];
  const scopes = typeof claims.scp === 'string' ? claims.scp.split(' ').filter(Boolean) : [];
  return new Set([...roles, ...scopes].map((p) => p.toLowerCase()));
}

export function userOf(claims: Claims, fallback: string): string {
  for (const value of [claims.upn, claims.preferred_username, claims.name]) if (typeof value === 'string' && value) return value;
  return fallback;
}

/** AUTH_MODE=local: a development token for the chosen roles, kept in memory only (a reload signs out). */
export async function localSignIn(roles: string[], user: string, selfService: boolean): Promise<Session> {
  const body = selfService ? { selfService: true, user } : { roles, user };
  const { accessToken } = await request<{ accessToken: string }>('POST', '/helpdesk/dev-token', { body });
  const claims = claimsOf(accessToken);
  return {
    user: userOf(claims, 'development user'),
    permissions: permissionsOf(claims),
    accessToken: () => Promise.resolve(accessToken),
    signOut: () => Promise.resolve(),
  };
}
