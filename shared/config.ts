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

/** DEVICE_AUTH: whether devices may prove themselves with the EntraDevice scheme, and against which directory. */
export type DeviceAuthMode = 'off' | 'entra' | 'local';

export interface EncryptionSettings {
  /** ENCRYPTION_KEYS: JSON object of key version to base64 of 32 bytes (in Azure, a Key Vault reference). Checked by shared/crypto. */
  keys?: string;
  activeKey?: string;
}

export interface Settings {
  auth: AuthSettings;
  encryption: EncryptionSettings;
  storageConnectionString: string;
  port: number;
  /** KEY_READ_LIMIT_PER_MINUTE: key reads ($select=key) one caller may make per minute on one instance. */
  keyReadLimitPerMinute: number;
  /** DEVICE_AUTH: off (default), entra (devices looked up in Microsoft Graph) or local (devices under LOCAL_STATE_DIR/devices). */
  deviceAuth: DeviceAuthMode;
  /** GRAPH_BASE_URL without a trailing slash: https, or http on loopback only (test stand-ins). */
  graphBaseUrl: string;
  /** ENTRA_MIRROR_SCHEDULE: when the Entra mirror runs (NCRONTAB, six fields); undefined = the timer is off. */
  entraMirrorSchedule?: string;
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

function readDeviceAuth(env: Env): DeviceAuthMode {
  const mode = (nonEmpty(env, 'DEVICE_AUTH') ?? 'off').toLowerCase();
  if (mode !== 'off' && mode !== 'entra' && mode !== 'local') throw new ConfigError("DEVICE_AUTH must be 'off', 'entra' or 'local'");
  return mode;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** GRAPH_BASE_URL carries our managed identity's Graph token: https only, except to a stand-in on this machine. */
function readGraphBaseUrl(env: Env): string {
  const raw = nonEmpty(env, 'GRAPH_BASE_URL') ?? 'https://graph.microsoft.com';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('GRAPH_BASE_URL must be an absolute URL');
  }
  const secure = url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname));
  if (!secure || url.search || url.hash || url.username || url.password) {
    throw new ConfigError('GRAPH_BASE_URL must be an https URL without query or credentials (http only on loopback)');
  }
  return url.toString().replace(/\/+$/, '');
}

/** NCRONTAB as Azure Functions timers take it: {second} {minute} {hour} {day} {month} {day-of-week}, or a TimeSpan hh:mm:ss. */
const NCRONTAB = /^(\S+\s+){5}\S+$|^\d{1,2}:\d{2}:\d{2}$/;

function readEntraMirrorSchedule(env: Env): string | undefined {
  const schedule = nonEmpty(env, 'ENTRA_MIRROR_SCHEDULE');
  if (schedule !== undefined && !NCRONTAB.test(schedule)) {
    throw new ConfigError("ENTRA_MIRROR_SCHEDULE must be an NCRONTAB expression of six fields, such as '0 0 * * * *' (hourly), or unset");
  }
  return schedule;
}

export function readSettings(env: Env = process.env): Settings {
  return {
    auth: readAuth(env),
    encryption: { keys: nonEmpty(env, 'ENCRYPTION_KEYS'), activeKey: nonEmpty(env, 'ENCRYPTION_ACTIVE_KEY') },
    storageConnectionString: nonEmpty(env, 'STORAGE_CONNECTION_STRING') ?? DEVELOPMENT_STORAGE,
    port: readPort(env),
    keyReadLimitPerMinute: readKeyReadLimit(env),
    deviceAuth: readDeviceAuth(env),
    graphBaseUrl: readGraphBaseUrl(env),
    entraMirrorSchedule: readEntraMirrorSchedule(env),
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
