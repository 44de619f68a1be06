// Every setting is read and checked here, once; nothing else reads process.env.
// A bad setting is reported by name, never by value: values may be secrets.

export type AuthMode = 'entra' | 'local';

export interface AuthSettings {
  mode: AuthMode;
  tenantId?: string;
  audience?: string;
  issuer?: string;
  jwksUri?: string;
}

export interface EncryptionSettings {
  /** ENCRYPTION_KEYS: JSON object of key version to base64 of 32 bytes (in Azure, a Key Vault reference). Checked by shared/crypto. */
  keys?: string;
  activeKey?: string;
}

/** The helpdesk console at /helpdesk (functions/helpdesk.ts). */
export interface HelpdeskSettings {
  /** HELPDESK_CLIENT_ID: the Entra SPA app registration the page signs in with (entra mode only). */
  clientId?: string;
  /** HELPDESK_API_SCOPE: the delegated scope the page asks for; by default `{first AUTH_AUDIENCE}/access_as_user`. */
  apiScope?: string;
  /** HELPDESK_REVEAL_SECONDS: how long a revealed key stays on screen. */
  revealSeconds: number;
}

export interface Settings {
  auth: AuthSettings;
  helpdesk: HelpdeskSettings;
  encryption: EncryptionSettings;
  storageConnectionString: string;
  port: number;
  /** KEY_READ_LIMIT_PER_MINUTE: key reads ($select=key) one caller may make per minute on one instance. */
  keyReadLimitPerMinute: number;
  /** REQUIRE_REVEAL_REASON: a key read without a valid X-Reveal-Reason is a 400 (shared/recoveryKeys/revealReason.ts). */
  requireRevealReason: boolean;
  /** Where local-mode secrets (the development signing key) and embedded Azurite data live. */
  localStateDir: string;
}

export const DEVELOPMENT_STORAGE = 'UseDevelopmentStorage=true';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function nonEmpty(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function readPort(env: Env): number {
  const raw = nonEmpty(env, 'PORT');
  if (raw === undefined) return 7071;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError('PORT must be a whole number from 0 to 65535');
  }
  return port;
}

let defaultAuthMode: AuthMode = 'entra';

/**
 * The local host (`npm start`) is a development tool that Azure never runs: there AUTH_MODE defaults
 * to local, so that a fresh clone answers tokens from `npm run token`. Everywhere else it is entra.
 */
export function preferLocalAuthByDefault(): void {
  defaultAuthMode = 'local';
  cached = undefined;
}

/** Generous: a helpdesk reads a handful of keys an hour; a script reading hundreds a minute is what this is for. */
export const DEFAULT_KEY_READ_LIMIT_PER_MINUTE = 120;

function readKeyReadLimit(env: Env): number {
  const raw = nonEmpty(env, 'KEY_READ_LIMIT_PER_MINUTE');
  if (raw === undefined) return DEFAULT_KEY_READ_LIMIT_PER_MINUTE;
  const limit = /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
  if (!(limit >= 1 && limit <= 1_000_000)) throw new ConfigError('KEY_READ_LIMIT_PER_MINUTE must be a whole number from 1 to 1000000');
  return limit;
}

/** MBAM's helpdesk site hides a shown key after a minute too: long enough to read out 48 digits. */
export const DEFAULT_REVEAL_SECONDS = 60;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function readHelpdesk(env: Env): HelpdeskSettings {
  const clientId = nonEmpty(env, 'HELPDESK_CLIENT_ID');
  if (clientId !== undefined && !GUID.test(clientId)) throw new ConfigError('HELPDESK_CLIENT_ID must be the GUID of an Entra app registration');
  const apiScope = nonEmpty(env, 'HELPDESK_API_SCOPE');
  if (apiScope !== undefined && !/^\S+\/[A-Za-z0-9._-]+$/.test(apiScope)) {
    throw new ConfigError('HELPDESK_API_SCOPE must be a scope such as api://bitlocker-escrow/access_as_user');
  }
  const raw = nonEmpty(env, 'HELPDESK_REVEAL_SECONDS');
  const revealSeconds = raw === undefined ? DEFAULT_REVEAL_SECONDS : /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
  if (!(revealSeconds >= 1 && revealSeconds <= 600)) throw new ConfigError('HELPDESK_REVEAL_SECONDS must be a whole number from 1 to 600');
  return { clientId: clientId?.toLowerCase(), apiScope, revealSeconds };
}

function readBoolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = nonEmpty(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (raw !== 'true' && raw !== 'false') throw new ConfigError(`${name} must be 'true' or 'false'`);
  return raw === 'true';
}

function readAuth(env: Env): AuthSettings {
  const mode = (nonEmpty(env, 'AUTH_MODE') ?? defaultAuthMode).toLowerCase();
  if (mode !== 'entra' && mode !== 'local') {
    throw new ConfigError("AUTH_MODE must be 'entra' or 'local'");
  }
  return {
    mode,
    tenantId: nonEmpty(env, 'AUTH_TENANT_ID'),
    audience: nonEmpty(env, 'AUTH_AUDIENCE'),
    issuer: nonEmpty(env, 'AUTH_ISSUER'),
    jwksUri: nonEmpty(env, 'AUTH_JWKS_URI'),
  };
}

export function readSettings(env: Env = process.env): Settings {
  return {
    auth: readAuth(env),
    helpdesk: readHelpdesk(env),
    encryption: { keys: nonEmpty(env, 'ENCRYPTION_KEYS'), activeKey: nonEmpty(env, 'ENCRYPTION_ACTIVE_KEY') },
    storageConnectionString: nonEmpty(env, 'STORAGE_CONNECTION_STRING') ?? DEVELOPMENT_STORAGE,
    port: readPort(env),
    keyReadLimitPerMinute: readKeyReadLimit(env),
    requireRevealReason: readBoolean(env, 'REQUIRE_REVEAL_REASON', false),
    localStateDir: nonEmpty(env, 'LOCAL_STATE_DIR') ?? '.local',
  };
}

let cached: Settings | undefined;

/** The process's settings, read on first use so that tests and tools can set the environment first. */
export function settings(): Settings {
  cached ??= readSettings();
  return cached;
}

/** For tests and tools that change the environment after a first read. */
export function resetSettings(): void {
  cached = undefined;
}
