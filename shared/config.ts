import { parseRevealScopes, type RevealScopeRule, RevealScopesError } from './reveal/scopeRules';
import { isGuid } from './text/normalizeGuid';

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

/**
 * Where the tables live. Exactly one of the two settings may be given:
 * - STORAGE_CONNECTION_STRING (Azurite, shared-key accounts): `{ connectionString }`;
 * - STORAGE_TABLE_ENDPOINT (`https://<account>.table.core.windows.net`): `{ tableEndpoint }`, reached with
 *   DefaultAzureCredential (in Azure the Function App's managed identity; AZURE_CLIENT_ID picks a
 *   user-assigned one), for accounts with shared-key access disabled. The identity needs the
 *   *Storage Table Data Contributor* role.
 * Neither: development storage (Azurite on 127.0.0.1:10002).
 */
export type StorageTarget =
  { connectionString: string; tableEndpoint?: undefined } | { tableEndpoint: string; connectionString?: undefined };

/**
 * Where backups go (shared/backup/): a Blob Storage account other than the tables', by endpoint and
 * Entra ID (BACKUP_BLOB_ENDPOINT, the managed identity, needing *Storage Blob Data Contributor*) or by
 * connection string (BACKUP_CONNECTION_STRING: Azurite, tests). The same container holds the audit
 * outbox: reveal records written while the tables' primary region is down (shared/audit/outbox.ts).
 */
export type BackupTarget = (
  { connectionString: string; blobEndpoint?: undefined } | { blobEndpoint: string; connectionString?: undefined }
) & {
  /** BACKUP_CONTAINER (default escrow-backups). */
  container: string;
};

/**
 * The audit trail's export to Log Analytics through the Logs Ingestion API (shared/audit/logsExport.ts),
 * with DefaultAzureCredential (the identity needs *Monitoring Metrics Publisher* on the rule). On when
 * both AUDIT_LOGS_INGESTION_ENDPOINT and AUDIT_LOGS_RULE_ID are set.
 */
export interface AuditLogsSettings {
  /** AUDIT_LOGS_INGESTION_ENDPOINT: the data collection rule's (or its endpoint's) logs ingestion URL, without a trailing slash. */
  endpoint: string;
  /** AUDIT_LOGS_RULE_ID: the rule's immutable id, `dcr-` and 32 hex digits. */
  ruleId: string;
  /** AUDIT_LOGS_STREAM (default Custom-EscrowAudit_CL): the rule's input stream. */
  stream: string;
  /** AUDIT_LOGS_SCHEDULE (default every five minutes): NCRONTAB of the export timer. */
  schedule: string;
}

/** The helpdesk console at /helpdesk (functions/helpdesk.ts). */
export interface HelpdeskSettings {
  /** HELPDESK_CLIENT_ID: the Entra SPA app registration the page signs in with (entra mode only). */
  clientId?: string;
  /** HELPDESK_API_SCOPE: the delegated scope the page asks for; by default `{first AUTH_AUDIENCE}/user_impersonation`. */
  apiScope?: string;
  /** HELPDESK_REVEAL_SECONDS: how long a revealed key stays on screen. */
  revealSeconds: number;
}

/** ALERT_ON: a webhook message for every reveal, or only for unusual ones (limit hits and security events always). */
export type AlertOn = 'every' | 'unusual';

/** Security alerts to a Teams- or Slack-style incoming webhook (shared/alerts/). */
export interface AlertSettings {
  /** ALERT_WEBHOOK_URL: where alerts are POSTed as JSON; undefined = no alerts. A secret: never printed. */
  webhookUrl?: string;
  /** ALERT_ON (default every). */
  on: AlertOn;
  /** ALERT_FAIL_CLOSED: a reveal whose alert cannot be delivered within the budget is refused (503). */
  failClosed: boolean;
  /** ALERT_TIMEOUT_SECONDS: the whole delivery of one alert, connection to answer. */
  timeoutSeconds: number;
  /** ALERT_UNUSUAL_REVEALS_PER_HOUR: with ALERT_ON=unusual, a user's reveals beyond this many in a clock hour are unusual. */
  unusualRevealsPerHour: number;
}

export interface Settings {
  auth: AuthSettings;
  alerts: AlertSettings;
  /** REVEAL_LIMIT_PER_HOUR: key reads one user may make per clock hour, counted across every instance (shared/alerts/revealCounts.ts). */
  revealLimitPerHour: number;
  /** INTUNE_ROTATE_ON_REVEAL: after a key read, ask Intune to rotate the device's keys (shared/alerts/intuneRotation.ts). */
  intuneRotateOnReveal: boolean;
  helpdesk: HelpdeskSettings;
  encryption: EncryptionSettings;
  storage: StorageTarget;
  /**
   * STORAGE_SECONDARY_TABLE_ENDPOINT, or for an identity endpoint of an Azure account the account's
   * read-only `-secondary` endpoint (RA-GRS / RA-GZRS): where key reads go when the primary fails.
   * Reached with the primary's credentials (the same identity, or the connection string's account key).
   */
  secondaryTableEndpoint?: string;
  /** BACKUP_BLOB_ENDPOINT or BACKUP_CONNECTION_STRING with BACKUP_CONTAINER; undefined: no backups, no audit outbox. */
  backup?: BackupTarget;
  /** BACKUP_SCHEDULE: when the backup timer runs (NCRONTAB, six fields); undefined = the timer is off. */
  backupSchedule?: string;
  /**
   * PUBLIC_BASE_URL: the origin (and optional path prefix) clients reach the service at, e.g. behind
   * API Management or Front Door. Every link the service writes starts with it; without it, links
   * use the request's own origin. No trailing slash.
   */
  publicBaseUrl?: string;
  port: number;
  /** KEY_READ_LIMIT_PER_MINUTE: key reads ($select=key) one caller may make per minute on one instance. */
  keyReadLimitPerMinute: number;
  /** REQUIRE_REVEAL_REASON: a key read without a valid X-Reveal-Reason is a 400 (shared/recoveryKeys/revealReason.ts). */
  requireRevealReason: boolean;
  /**
   * ROTATE_AFTER_REVEAL: the first allowed key read marks the key disclosed, so that its device replaces it
   * (shared/recoveryKeys/rotation.ts). Off, a reveal is audited as always and marks nothing.
   */
  rotateAfterReveal: boolean;
  /** DEVICE_AUTH: off (default), entra (devices looked up in Microsoft Graph) or local (devices under LOCAL_STATE_DIR/devices). */
  deviceAuth: DeviceAuthMode;
  /** GRAPH_BASE_URL without a trailing slash: https, or http on loopback only (test stand-ins). */
  graphBaseUrl: string;
  /**
   * DEVICE_DIRECTORY_LOOKUPS_PER_MINUTE: Graph device lookups per minute per instance for device ids the
   * instance has never found (unauthenticated traffic); devices once found are looked up outside it.
   */
  deviceDirectoryLookupsPerMinute: number;
  /** DELETED_KEY_RETENTION_DAYS: how long a deleted key stays restorable before it is purged for good. */
  deletedKeyRetentionDays: number;
  /** PURGE_EXPIRED_SCHEDULE: NCRONTAB (six fields, seconds first) of the timer that purges keys past their retention. */
  purgeExpiredSchedule: string;
  /** AUDIT_RETENTION_DAYS: how long audit events stay in the table; older ones are exported to the backup container, then deleted. */
  auditRetentionDays: number;
  /** AUDIT_RETENTION_SCHEDULE: NCRONTAB (six fields, seconds first) of the timer that exports and deletes them. */
  auditRetentionSchedule: string;
  /** The audit trail's export to a Log Analytics workspace (shared/audit/logsExport.ts); undefined = off. */
  auditLogs?: AuditLogsSettings;
  /** ENTRA_MIRROR_SCHEDULE: when the Entra mirror runs (NCRONTAB, six fields); undefined = the timer is off. */
  entraMirrorSchedule?: string;
  /** INVENTORY_SCHEDULE: when the device inventory is read from Entra ID and Intune (NCRONTAB, six fields); undefined = off. */
  inventorySchedule?: string;
  /** COVERAGE_SCHEDULE: when the coverage report is computed (NCRONTAB, six fields); undefined = off. */
  coverageSchedule?: string;
  /** COVERAGE_STALE_DAYS: a device whose last status is older than this many days counts as noReport. */
  coverageStaleDays: number;
  /** ROTATION_DUE_HOURS: a disclosed key not superseded within this many hours makes its device rotationOverdue. */
  rotationDueHours: number;
  /** REVEAL_SCOPES: who may reveal which devices' keys (shared/reveal/scopeRules.ts); undefined = tenant-wide, as before. */
  revealScopes?: readonly RevealScopeRule[];
  /** REVEAL_APPROVAL: 'required' (every key read needs an approved request) or 'rules' (only where a REVEAL_SCOPES rule says so). */
  revealApproval: 'required' | 'rules';
  /** REVEAL_APPROVAL_HOURS: how long an approved reveal request lets its requester read its key. */
  revealApprovalHours: number;
  /** SELF_SERVICE_REVEAL: a signed-in user without a BitLocker role may read the keys of devices they are a registered owner of. */
  selfServiceReveal: boolean;
  /** MAX_KEYS_PER_DEVICE: live recovery keys one device may hold; a write of one more is refused. */
  maxKeysPerDevice: number;
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

/** Generous: a helpdesk reads a handful of keys an hour; a script reading hundreds a minute is what this is for. */
export const DEFAULT_KEY_READ_LIMIT_PER_MINUTE = 120;

/** The setting `name` as a whole number from `min` to `max` (digits only), `fallback` when unset; ConfigError otherwise. */
function readWholeNumber(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = nonEmpty(env, name);
  if (raw === undefined) return fallback;
  const value = /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= min && value <= max)) throw new ConfigError(`${name} must be a whole number from ${min} to ${max}`);
  return value;
}

const readKeyReadLimit = (env: Env): number =>
  readWholeNumber(env, 'KEY_READ_LIMIT_PER_MINUTE', DEFAULT_KEY_READ_LIMIT_PER_MINUTE, 1, 1_000_000);

/**
 * Graph lookups per minute per instance for device ids the instance has never found: enough for a
 * fleet's new devices arriving together (each is looked up once, then cached or known), far below what
 * the app identity may spend in Graph (its quota is the mirror's too).
 */
export const DEFAULT_DEVICE_DIRECTORY_LOOKUPS_PER_MINUTE = 60;

/** MBAM's helpdesk site hides a shown key after a minute too: long enough to read out 48 digits. */
export const DEFAULT_REVEAL_SECONDS = 60;

function readHelpdesk(env: Env): HelpdeskSettings {
  const clientId = nonEmpty(env, 'HELPDESK_CLIENT_ID');
  if (clientId !== undefined && !isGuid(clientId))
    throw new ConfigError('HELPDESK_CLIENT_ID must be the GUID of an Entra app registration');
  const apiScope = nonEmpty(env, 'HELPDESK_API_SCOPE');
  if (apiScope !== undefined && !/^\S+\/[A-Za-z0-9._-]+$/.test(apiScope)) {
    throw new ConfigError('HELPDESK_API_SCOPE must be a scope such as api://bitlocker-escrow/user_impersonation');
  }
  const revealSeconds = readWholeNumber(env, 'HELPDESK_REVEAL_SECONDS', DEFAULT_REVEAL_SECONDS, 1, 600);
  return { clientId: clientId?.toLowerCase(), apiScope, revealSeconds };
}

function readBoolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = nonEmpty(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (raw !== 'true' && raw !== 'false') throw new ConfigError(`${name} must be 'true' or 'false'`);
  return raw === 'true';
}

/**
 * What the Azure Functions host itself reads to know it is hosted (azure-functions-host
 * EnvironmentSettingNames and its IsAppService / IsLinuxConsumptionOnAtlas / IsFlexConsumptionSku /
 * IsLinuxConsumptionOnLegion checks): every App Service plan sets WEBSITE_SITE_NAME, and WEBSITE_INSTANCE_ID
 * outside Linux Consumption; Flex Consumption and Legion set WEBSITE_POD_NAME and LEGION_SERVICE_HOST;
 * Azure Container Apps sets CONTAINER_APP_NAME. A development tool (npm start, func start on a
 * workstation) sees none of them. CONTAINER_NAME, which the host also reads for Linux Consumption, is
 * left out: container engines and development containers set it too (this project's own CI does).
 */
export const HOSTED_RUNTIME_VARIABLES = [
  'WEBSITE_INSTANCE_ID',
  'WEBSITE_SITE_NAME',
  'WEBSITE_POD_NAME',
  'LEGION_SERVICE_HOST',
  'CONTAINER_APP_NAME',
] as const;

/** Local modes trust a signing key on the instance's disk, so they must not run under any hosted runtime. */
function refuseLocalModeInAzure(env: Env, name: string): void {
  const hosted = HOSTED_RUNTIME_VARIABLES.find((variable) => nonEmpty(env, variable) !== undefined);
  if (hosted === undefined) return;
  throw new ConfigError(
    `${name}=local is refused: ${hosted} is set, so this runs in Azure, where local mode would accept ` +
      `tokens signed by a development key on the instance's disk. Set ${name}=entra (or remove it) in the app settings.`,
  );
}

/** Entra ID keeps deleted directory objects 30 days; a recovery key is worth keeping longer (a disk may sit in a drawer). */
export const DEFAULT_DELETED_KEY_RETENTION_DAYS = 90;
const MAX_DELETED_KEY_RETENTION_DAYS = 3650;

const readRetentionDays = (env: Env): number =>
  readWholeNumber(env, 'DELETED_KEY_RETENTION_DAYS', DEFAULT_DELETED_KEY_RETENTION_DAYS, 1, MAX_DELETED_KEY_RETENTION_DAYS);

/** Entra ID keeps at most 200 BitLocker recovery keys per device and refuses more (Intune's encryption docs). */
export const DEFAULT_MAX_KEYS_PER_DEVICE = 200;

/** A device reports on every run of its client (at each sign-in or daily); a week without one is a device gone quiet. */
export const DEFAULT_COVERAGE_STALE_DAYS = 7;
/** A disclosed key is a key someone else has read: a day is long enough for the device to come online and rotate it. */
export const DEFAULT_ROTATION_DUE_HOURS = 24;

/** Daily at 02:30 UTC: a quiet hour, and a day's delay past the retention changes nothing that matters. */
export const DEFAULT_PURGE_EXPIRED_SCHEDULE = '0 30 2 * * *';

/** A year and a month: a yearly review of who read which key still finds the whole year in the table. */
export const DEFAULT_AUDIT_RETENTION_DAYS = 400;
/** Daily at 03:30 UTC, after the purge and the backup. */
export const DEFAULT_AUDIT_RETENTION_SCHEDULE = '0 30 3 * * *';
/** Sentinel's rules run every 15 to 60 minutes over the last such span: five minutes keeps each run's window well inside it. */
export const DEFAULT_AUDIT_LOGS_SCHEDULE = '0 */5 * * * *';
/** The input stream of the data collection rule in infra/, feeding the table EscrowAudit_CL. */
export const DEFAULT_AUDIT_LOGS_STREAM = 'Custom-EscrowAudit_CL';

// A timer schedule as the Functions timer trigger reads it: NCRONTAB {second} {minute} {hour} {day}
// {month} {day-of-week}, each field a number, a range, a list, a step or '*' (month and day names
// allowed), or a TimeSpan hh:mm:ss. The host checks the meaning; this catches a five-field Unix cron or
// a stray character as the app loads.
const NCRONTAB_FIELD = /^(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(\/[0-9]+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(\/[0-9]+)?)*$/;
const TIME_SPAN = /^\d{1,2}:\d{2}:\d{2}$/;

/** The schedule setting `name`, normalized to single spaces; undefined when unset. */
function readTimerSchedule(env: Env, name: string, example: string): string | undefined {
  const raw = nonEmpty(env, name);
  if (raw === undefined) return undefined;
  if (TIME_SPAN.test(raw)) return raw;
  const fields = raw.split(/\s+/);
  if (fields.length !== 6 || !fields.every((field) => NCRONTAB_FIELD.test(field))) {
    throw new ConfigError(`${name} must be an NCRONTAB expression of six fields, seconds first, e.g. '${example}'`);
  }
  return fields.join(' ');
}

function readAuth(env: Env): AuthSettings {
  const mode = (nonEmpty(env, 'AUTH_MODE') ?? 'entra').toLowerCase();
  if (mode !== 'entra' && mode !== 'local') {
    throw new ConfigError("AUTH_MODE must be 'entra' or 'local'");
  }
  if (mode === 'local') refuseLocalModeInAzure(env, 'AUTH_MODE');
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
  if (mode === 'local') refuseLocalModeInAzure(env, 'DEVICE_AUTH');
  return mode;
}

const LOOPBACK_HOSTNAMES: ReadonlySet<string> = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Whether a URL's `hostname` (as `new URL` gives it) names this machine's loopback interface. */
export const isLoopbackHostname = (hostname: string): boolean => LOOPBACK_HOSTNAMES.has(hostname);

/** The setting `name` as an absolute https URL (plain http only on loopback, for tests), or undefined when unset. */
function readSecureUrl(env: Env, name: string): URL | undefined {
  const raw = nonEmpty(env, name);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be an absolute URL`);
  }
  const secure = url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHostname(url.hostname));
  if (!secure) throw new ConfigError(`${name} must be an https URL`);
  return url;
}

/** An absolute URL, https (plain http only on loopback, for tests); returned without a trailing slash. */
function readServiceUrl(env: Env, name: string, allowPath: boolean): string | undefined {
  const url = readSecureUrl(env, name);
  if (url === undefined) return undefined;
  if (url.search || url.hash || url.username || url.password)
    throw new ConfigError(`${name} must not carry a query, a fragment or credentials`);
  if (!allowPath && url.pathname !== '/' && !(isLoopbackHostname(url.hostname) && /^\/[^/]+\/?$/.test(url.pathname))) {
    // Azurite's endpoint carries the account name as its path; a real account's does not.
    const service = name === 'BACKUP_BLOB_ENDPOINT' ? 'blob' : 'table';
    throw new ConfigError(`${name} must be the ${service} service's endpoint, e.g. https://<account>.${service}.core.windows.net`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

function readStorage(env: Env): StorageTarget {
  const connectionString = nonEmpty(env, 'STORAGE_CONNECTION_STRING');
  const tableEndpoint = readServiceUrl(env, 'STORAGE_TABLE_ENDPOINT', false);
  if (connectionString !== undefined && tableEndpoint !== undefined) {
    throw new ConfigError(
      'Set only one of STORAGE_CONNECTION_STRING (shared key, Azurite) and STORAGE_TABLE_ENDPOINT (managed identity), not both',
    );
  }
  return tableEndpoint !== undefined ? { tableEndpoint } : { connectionString: connectionString ?? DEVELOPMENT_STORAGE };
}

/**
 * The secondary table endpoint: the setting, or derived from an identity endpoint of an Azure account
 * (`https://{account}.table.{suffix}` → `https://{account}-secondary.table.{suffix}`, which exists
 * only on RA-GRS and RA-GZRS accounts). With a connection string, the secondary is reached with its
 * account key, so the string must carry AccountName and AccountKey.
 */
function readSecondaryTableEndpoint(env: Env, storage: StorageTarget): string | undefined {
  const explicit = readServiceUrl(env, 'STORAGE_SECONDARY_TABLE_ENDPOINT', false);
  if (explicit !== undefined && storage.connectionString !== undefined && !/AccountName=[^;]+/i.test(storage.connectionString)) {
    throw new ConfigError('STORAGE_SECONDARY_TABLE_ENDPOINT with STORAGE_CONNECTION_STRING needs AccountName and AccountKey in the string');
  }
  if (explicit !== undefined || storage.tableEndpoint === undefined) return explicit;
  const host = /^https:\/\/([a-z0-9]{3,24})\.table\.(.+)$/.exec(storage.tableEndpoint);
  return host ? `https://${host[1]}-secondary.table.${host[2]}` : undefined;
}

/** Azure's container name rule: 3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit. */
const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/;

function readBackup(env: Env): BackupTarget | undefined {
  const connectionString = nonEmpty(env, 'BACKUP_CONNECTION_STRING');
  const blobEndpoint = readServiceUrl(env, 'BACKUP_BLOB_ENDPOINT', false);
  const container = nonEmpty(env, 'BACKUP_CONTAINER') ?? 'escrow-backups';
  if (!CONTAINER_NAME.test(container))
    throw new ConfigError('BACKUP_CONTAINER must be a blob container name: 3-63 lowercase letters, digits and hyphens');
  if (connectionString !== undefined && blobEndpoint !== undefined) {
    throw new ConfigError(
      'Set only one of BACKUP_CONNECTION_STRING (shared key, Azurite) and BACKUP_BLOB_ENDPOINT (managed identity), not both',
    );
  }
  if (blobEndpoint !== undefined) return { blobEndpoint, container };
  return connectionString !== undefined ? { connectionString, container } : undefined;
}

/** A data collection rule's immutable id, as Azure shows it (`immutableId`). */
const DCR_IMMUTABLE_ID = /^dcr-[0-9a-f]{32}$/;
/** A stream name as a data collection rule declares one: `Custom-` and the table's or stream's name. */
const DCR_STREAM = /^Custom-[A-Za-z0-9_-]{1,100}$/;

function readAuditLogs(env: Env): AuditLogsSettings | undefined {
  const endpoint = readServiceUrl(env, 'AUDIT_LOGS_INGESTION_ENDPOINT', true);
  const ruleId = nonEmpty(env, 'AUDIT_LOGS_RULE_ID')?.toLowerCase();
  const stream = nonEmpty(env, 'AUDIT_LOGS_STREAM') ?? DEFAULT_AUDIT_LOGS_STREAM;
  const schedule = readTimerSchedule(env, 'AUDIT_LOGS_SCHEDULE', DEFAULT_AUDIT_LOGS_SCHEDULE) ?? DEFAULT_AUDIT_LOGS_SCHEDULE;
  if (ruleId !== undefined && !DCR_IMMUTABLE_ID.test(ruleId))
    throw new ConfigError("AUDIT_LOGS_RULE_ID must be a data collection rule's immutable id: 'dcr-' and 32 hex digits");
  if (!DCR_STREAM.test(stream))
    throw new ConfigError("AUDIT_LOGS_STREAM must be a data collection rule's stream name, e.g. 'Custom-EscrowAudit_CL'");
  // Half an export configuration would silently export nothing: refused as the app loads.
  if ((endpoint === undefined) !== (ruleId === undefined))
    throw new ConfigError(
      'Set both AUDIT_LOGS_INGESTION_ENDPOINT and AUDIT_LOGS_RULE_ID to export the audit trail to Log Analytics, or neither',
    );
  return endpoint !== undefined && ruleId !== undefined ? { endpoint, ruleId, stream, schedule } : undefined;
}

/** Per user per hour: a helpdesk agent on a normal day reads a handful; a bulk export is what this stops. */
export const DEFAULT_REVEAL_LIMIT_PER_HOUR = 30;
/** A webhook answers in well under a second; this leaves room for a slow one without holding a reveal long. */
export const DEFAULT_ALERT_TIMEOUT_SECONDS = 5;
/** With ALERT_ON=unusual, more reveals than this in one hour by one user is unusual. */
export const DEFAULT_UNUSUAL_REVEALS_PER_HOUR = 10;

/** An incoming webhook's URL: https (plain http on loopback only, for tests); its query is kept (Teams' signature lives there). */
function readWebhookUrl(env: Env, name: string): string | undefined {
  const url = readSecureUrl(env, name);
  if (url === undefined) return undefined;
  if (url.hash || url.username || url.password) throw new ConfigError(`${name} must not carry a fragment or credentials`);
  return url.toString();
}

function readAlerts(env: Env): AlertSettings {
  const webhookUrl = readWebhookUrl(env, 'ALERT_WEBHOOK_URL');
  const on = (nonEmpty(env, 'ALERT_ON') ?? 'every').toLowerCase();
  if (on !== 'every' && on !== 'unusual') throw new ConfigError("ALERT_ON must be 'every' or 'unusual'");
  const failClosed = readBoolean(env, 'ALERT_FAIL_CLOSED', false);
  // Failing closed on a webhook that does not exist would refuse nothing: a setting that promises more than it does.
  if (failClosed && webhookUrl === undefined) throw new ConfigError('ALERT_FAIL_CLOSED=true needs ALERT_WEBHOOK_URL');
  return {
    webhookUrl,
    on,
    failClosed,
    timeoutSeconds: readWholeNumber(env, 'ALERT_TIMEOUT_SECONDS', DEFAULT_ALERT_TIMEOUT_SECONDS, 1, 60),
    unusualRevealsPerHour: readWholeNumber(env, 'ALERT_UNUSUAL_REVEALS_PER_HOUR', DEFAULT_UNUSUAL_REVEALS_PER_HOUR, 1, 1_000_000),
  };
}

/** An approval is for the shift it was asked in. */
export const DEFAULT_REVEAL_APPROVAL_HOURS = 8;

function readRevealScopes(env: Env): RevealScopeRule[] | undefined {
  const raw = nonEmpty(env, 'REVEAL_SCOPES');
  if (raw === undefined) return undefined;
  try {
    return parseRevealScopes(raw);
  } catch (error) {
    if (error instanceof RevealScopesError) throw new ConfigError(error.message);
    throw error;
  }
}

function readRevealApproval(env: Env): 'required' | 'rules' {
  const raw = (nonEmpty(env, 'REVEAL_APPROVAL') ?? 'rules').toLowerCase();
  if (raw !== 'required' && raw !== 'rules') throw new ConfigError("REVEAL_APPROVAL must be 'required' or 'rules'");
  return raw;
}

export function readSettings(env: Env = process.env): Settings {
  const storage = readStorage(env);
  return {
    auth: readAuth(env),
    alerts: readAlerts(env),
    revealLimitPerHour: readWholeNumber(env, 'REVEAL_LIMIT_PER_HOUR', DEFAULT_REVEAL_LIMIT_PER_HOUR, 1, 1_000_000),
    intuneRotateOnReveal: readBoolean(env, 'INTUNE_ROTATE_ON_REVEAL', false),
    helpdesk: readHelpdesk(env),
    encryption: { keys: nonEmpty(env, 'ENCRYPTION_KEYS'), activeKey: nonEmpty(env, 'ENCRYPTION_ACTIVE_KEY') },
    storage,
    secondaryTableEndpoint: readSecondaryTableEndpoint(env, storage),
    backup: readBackup(env),
    backupSchedule: readTimerSchedule(env, 'BACKUP_SCHEDULE', '0 0 3 * * *'),
    publicBaseUrl: readServiceUrl(env, 'PUBLIC_BASE_URL', true),
    port: readPort(env),
    keyReadLimitPerMinute: readKeyReadLimit(env),
    requireRevealReason: readBoolean(env, 'REQUIRE_REVEAL_REASON', false),
    rotateAfterReveal: readBoolean(env, 'ROTATE_AFTER_REVEAL', true),
    deviceAuth: readDeviceAuth(env),
    // GRAPH_BASE_URL carries our managed identity's Graph token: https only, except to a stand-in on this machine.
    graphBaseUrl: readServiceUrl(env, 'GRAPH_BASE_URL', true) ?? 'https://graph.microsoft.com',
    deviceDirectoryLookupsPerMinute: readWholeNumber(
      env,
      'DEVICE_DIRECTORY_LOOKUPS_PER_MINUTE',
      DEFAULT_DEVICE_DIRECTORY_LOOKUPS_PER_MINUTE,
      1,
      100_000,
    ),
    deletedKeyRetentionDays: readRetentionDays(env),
    purgeExpiredSchedule:
      readTimerSchedule(env, 'PURGE_EXPIRED_SCHEDULE', DEFAULT_PURGE_EXPIRED_SCHEDULE) ?? DEFAULT_PURGE_EXPIRED_SCHEDULE,
    auditRetentionDays: readWholeNumber(env, 'AUDIT_RETENTION_DAYS', DEFAULT_AUDIT_RETENTION_DAYS, 30, 36_500),
    auditRetentionSchedule:
      readTimerSchedule(env, 'AUDIT_RETENTION_SCHEDULE', DEFAULT_AUDIT_RETENTION_SCHEDULE) ?? DEFAULT_AUDIT_RETENTION_SCHEDULE,
    auditLogs: readAuditLogs(env),
    entraMirrorSchedule: readTimerSchedule(env, 'ENTRA_MIRROR_SCHEDULE', '0 0 * * * *'),
    inventorySchedule: readTimerSchedule(env, 'INVENTORY_SCHEDULE', '0 0 */6 * * *'),
    coverageSchedule: readTimerSchedule(env, 'COVERAGE_SCHEDULE', '0 30 */6 * * *'),
    coverageStaleDays: readWholeNumber(env, 'COVERAGE_STALE_DAYS', DEFAULT_COVERAGE_STALE_DAYS, 1, 365),
    rotationDueHours: readWholeNumber(env, 'ROTATION_DUE_HOURS', DEFAULT_ROTATION_DUE_HOURS, 1, 8760),
    revealScopes: readRevealScopes(env),
    revealApproval: readRevealApproval(env),
    revealApprovalHours: readWholeNumber(env, 'REVEAL_APPROVAL_HOURS', DEFAULT_REVEAL_APPROVAL_HOURS, 1, 168),
    selfServiceReveal: readBoolean(env, 'SELF_SERVICE_REVEAL', false),
    maxKeysPerDevice: readWholeNumber(env, 'MAX_KEYS_PER_DEVICE', DEFAULT_MAX_KEYS_PER_DEVICE, 1, 100_000),
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
