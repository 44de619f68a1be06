import { RestError, TableClient, type TableEntityResultPage, type TableServiceClientOptions } from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import { settings, type StorageTarget } from '../config';
import { conflict, GraphError, notFound, preconditionFailed, serviceUnavailable } from '../http/graphError';

// ---------------------------------------------------------------------------------------------
// Storage faults: every storage call ends within a bounded time (README "Storage faults").
//
// A caller (a device escrowing a key, a helpdesk tool reading one) is waiting on the other end, so
// an unreachable, hung or throttling Table service must turn into a prompt 503 with Retry-After,
// never a request that hangs until the Functions host's own timeout (minutes). The SDK's default
// retry policy cannot promise that: it has no per-try timeout (a storage that accepts the TCP
// connection and never answers holds a request forever), and it waits out whatever Retry-After the
// service sends (a throttling `Retry-After: 30` would hold the caller 30 s per retry). So the SDK's
// retries are switched off and this module's policy does the retrying, on every call of every
// client that tableClient() hands out, with these numbers:

/**
 * One try gets at most this long, measured to the end of the response body (an abort signal, not
 * the HTTP client's `request.timeout`, which stops counting once the headers arrived). Table
 * point operations within a region answer in milliseconds and our queries are partition-scoped, so
 * a try still silent after 2 s is facing a dead connection or a sick node, and a fresh try on a
 * new connection is the better bet than more waiting.
 */
export const STORAGE_TRY_TIMEOUT_MS = 2_000;
/**
 * The whole call, all tries and the waits between them, ends within this budget: the try in flight
 * is cut short at the deadline and no retry starts that could not finish before it. 4 s leaves room
 * under the ~5 s a waiting client is promised for request handling and the response itself, and still
 * allows a second try after one that hung for the full per-try timeout.
 */
export const STORAGE_CALL_BUDGET_MS = 4_000;
/** Three tries: one transient fault (a reset connection, a failover, a 500) rarely comes alone, three rarely in a row. */
export const STORAGE_MAX_TRIES = 3;
/** Exponential backoff between tries, with jitter (half to full): at most 200 ms, then 400 ms. */
const RETRY_BASE_DELAY_MS = 200;
const RETRY_MAX_DELAY_MS = 1_000;
/** A retry is not started with less than this left of the budget: it could hardly succeed in time. */
const MIN_TRY_MS = 300;

/** Retry-After (seconds) of our 503 when storage is unreachable or hung: outages last longer than a few seconds, and thousands of devices coming back at once would not help it recover. */
export const UNREACHABLE_RETRY_AFTER_S = 10;
/** Retry-After (seconds) of our 503 when storage throttles without saying for how long. */
export const BUSY_RETRY_AFTER_S = 5;
/** A storage Retry-After is passed on as is, up to this (a longer one is a misbehaving proxy). */
const MAX_RETRY_AFTER_S = 300;

export interface StorageCallLimits {
  tryTimeoutMs: number;
  callBudgetMs: number;
  maxTries: number;
}

export const DEFAULT_STORAGE_CALL_LIMITS: StorageCallLimits = {
  tryTimeoutMs: STORAGE_TRY_TIMEOUT_MS,
  callBudgetMs: STORAGE_CALL_BUDGET_MS,
  maxTries: STORAGE_MAX_TRIES,
};

// The pipeline types, taken from the client's own options so that no transitive package is imported.
type PipelinePolicy = NonNullable<TableServiceClientOptions['additionalPolicies']>[number]['policy'];
type SendRequest = Parameters<PipelinePolicy['sendRequest']>[1];
type PipelineRequest = Parameters<PipelinePolicy['sendRequest']>[0];
type PipelineResponse = Awaited<ReturnType<SendRequest>>;

interface Outcome {
  response?: PipelineResponse;
  /** Set when the try threw (tryOnce rethrows anything else); a RestError thrown over an HTTP response carries that response too. */
  error?: RestError;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One try, cut short after `timeoutMs` (a timeout becomes a RestError without status, like a network failure). */
async function tryOnce(request: PipelineRequest, next: SendRequest, timeoutMs: number): Promise<Outcome> {
  const callerSignal = request.abortSignal;
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(
    () => {
      timedOut = true;
      controller.abort();
    },
    Math.max(1, timeoutMs),
  );
  const onCallerAbort = (): void => controller.abort();
  if (callerSignal?.aborted) controller.abort();
  callerSignal?.addEventListener('abort', onCallerAbort);
  // The signal is per try: the HTTP client destroys the connection when it fires, body included.
  request.abortSignal = controller.signal;
  try {
    return { response: await next(request) };
  } catch (error) {
    if (timedOut && !callerSignal?.aborted) {
      return { error: new RestError(`Storage did not answer within ${timeoutMs} ms.`, { code: 'ETIMEDOUT', request }) };
    }
    if (error instanceof RestError) return { error, response: error.response };
    // Not a storage answer (the caller's own abort, a configuration error): no retry.
    throw error;
  } finally {
    clearTimeout(timer);
    callerSignal?.removeEventListener('abort', onCallerAbort);
    request.abortSignal = callerSignal;
  }
}

/** The wait the storage asks for on a throttling answer (retry-after-ms, x-ms-retry-after-ms, Retry-After in seconds or as a date). */
export function storageRetryAfterMs(
  response: { status: number; headers: { get(name: string): string | undefined } } | undefined,
): number | undefined {
  if (!response || (response.status !== 429 && response.status !== 503)) return undefined;
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const value = Number(response.headers.get(name) ?? NaN);
    if (Number.isFinite(value) && value >= 0) return value;
  }
  const header = response.headers.get('retry-after')?.trim();
  if (!header) return undefined;
  if (/^\d+$/.test(header)) return Number(header) * 1000;
  const date = Date.parse(header);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

function backoffMs(retry: number): number {
  const ceiling = Math.min(RETRY_MAX_DELAY_MS, RETRY_BASE_DELAY_MS * 2 ** retry);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** How long to wait before the next try, or undefined when the outcome is final (success, or a 4xx the caller acts on). */
function retryDelayMs(outcome: Outcome, retry: number): number | undefined {
  const status = outcome.response?.status;
  if (status === undefined) {
    // No HTTP answer at all: refused, reset, unresolvable or timed out. Transient by nature.
    return outcome.error instanceof RestError ? backoffMs(retry) : undefined;
  }
  // Throttled: never sooner than the storage asked (a hint longer than the budget ends the call).
  if (status === 429 || status === 503) return Math.max(storageRetryAfterMs(outcome.response) ?? 0, backoffMs(retry));
  if (status === 408 || status === 500 || status === 502 || status === 504) return backoffMs(retry);
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// What a failed storage call was, for the log line of the 503 it becomes (never a URL, a key or an
// entity: the path names records by their ids, and ids are the keys' identities).

/** Which call failed, how, after how many tries and how long (ms, all tries). */
export type StorageFailure = {
  /** e.g. `GET RecoveryKeys(entity)`, `POST $batch`, `POST Tables`: the method and the table, no keys. */
  call: string;
  /** The storage's x-ms-error-code (`AuthenticationFailed`, `ServerBusy` …) or the network error (`ECONNREFUSED`, `ETIMEDOUT`). */
  code?: string;
  status?: number;
  tries: number;
  ms: number;
};

const failures = new WeakMap<object, StorageFailure>();

function noteFailure(error: unknown, failure: StorageFailure): void {
  if (typeof error === 'object' && error !== null) failures.set(error, failure);
}

/** The diagnostics the retry policy noted for this error, if it came from a storage call. */
export function storageFailureOf(error: unknown): StorageFailure | undefined {
  return typeof error === 'object' && error !== null ? failures.get(error) : undefined;
}

function errorCodeOf(outcome: Outcome): string | undefined {
  const header = outcome.response?.headers.get('x-ms-error-code');
  if (header) return header;
  const code = outcome.error instanceof RestError ? outcome.error.code : undefined;
  return typeof code === 'string' ? code : undefined;
}

export function describeStorageCall(request: { method: string; url: string }): string {
  let last = '';
  try {
    last = new URL(request.url).pathname.split('/').filter(Boolean).pop() ?? '';
  } catch {
    // An unparsable URL is named by its method alone.
  }
  const table = /^([A-Za-z][A-Za-z0-9]{2,62})(\()?/.exec(decodeURIComponent(last));
  if (last === '$batch') return `${request.method} $batch`;
  if (!table) return request.method;
  // `Table(PartitionKey='…',RowKey='…')` is one entity, `Table()` or `Table` a query; `Tables` creates or lists tables.
  const kind = table[1] === 'Tables' ? '' : /\(.+\)/.test(last) ? '(entity)' : '(query)';
  return `${request.method} ${table[1]}${kind}`;
}

/**
 * The retry policy of every storage call: per-try timeout, a budget for the whole call, exponential
 * backoff with jitter, and a storage Retry-After honoured when it fits the budget and passed on to
 * our caller (through mapStorageError) when it does not.
 */
export function storageCallPolicy(limits: StorageCallLimits = DEFAULT_STORAGE_CALL_LIMITS): PipelinePolicy {
  return {
    name: 'escrowStorageCallPolicy',
    async sendRequest(request, next) {
      const started = Date.now();
      const deadline = started + limits.callBudgetMs;
      for (let tries = 1; ; tries++) {
        const outcome = await tryOnce(request, next, Math.min(limits.tryTimeoutMs, deadline - Date.now()));
        const wait = retryDelayMs(outcome, tries - 1);
        const final =
          wait === undefined ||
          tries >= limits.maxTries ||
          Date.now() + wait + MIN_TRY_MS > deadline ||
          request.abortSignal?.aborted === true;
        if (final) {
          if (outcome.error !== undefined) {
            noteFailure(outcome.error, {
              call: describeStorageCall(request),
              code: errorCodeOf(outcome),
              status: outcome.response?.status,
              tries,
              ms: Date.now() - started,
            });
            throw outcome.error;
          }
          return outcome.response!;
        }
        await sleep(wait);
      }
    },
  };
}

/** Client options for a storage account: this module's retries replace the SDK's. */
export function storageClientOptions(
  target: StorageTarget,
  limits: StorageCallLimits = DEFAULT_STORAGE_CALL_LIMITS,
): TableServiceClientOptions {
  return {
    // Plain http only to a local emulator by shared key; a bearer token never goes over http.
    allowInsecureConnection: target.connectionString !== undefined && isLoopback(target.connectionString),
    // 0 turns the SDK's retry policy into a pass-through; storageCallPolicy sits before it (perCall)
    // and re-sends through the whole pipeline, so every try is signed afresh.
    retryOptions: { maxRetries: 0 },
    additionalPolicies: [{ policy: storageCallPolicy(limits), position: 'perCall' }],
  };
}

// ---------------------------------------------------------------------------------------------
// Clients

const clients = new Map<string, TableClient>();
const created = new Map<string, Promise<void>>();
let credential: TokenCredential | undefined;

/**
 * One credential for the process: it caches its token and renews it before expiry. In Azure,
 * DefaultAzureCredential finds the managed identity (IDENTITY_ENDPOINT/IDENTITY_HEADER on App Service
 * and Functions; AZURE_CLIENT_ID selects a user-assigned identity); on a workstation, the Azure CLI login.
 */
function storageCredential(): TokenCredential {
  // Loaded only when used: @azure/identity (with MSAL) takes about as long to load as the Tables SDK,
  // which hosts on a connection string (Azurite, tests, shared-key accounts) need not pay at cold start.
  if (!credential) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a lazy load, and a synchronous one: see above
    const { DefaultAzureCredential } = require('@azure/identity') as typeof import('@azure/identity');
    credential = new DefaultAzureCredential();
  }
  return credential;
}

function newTableClient(target: StorageTarget, tableName: string): TableClient {
  const options = storageClientOptions(target);
  return target.tableEndpoint !== undefined
    ? new TableClient(target.tableEndpoint, tableName, storageCredential(), options)
    : TableClient.fromConnectionString(target.connectionString, tableName, options);
}

/**
 * A client for one table of the configured account; the table is created on first use. Only a
 * successful creation is remembered: a failed one (storage down at the time) is forgotten at once,
 * so the next request tries again and the service recovers by itself when storage comes back.
 */
export async function tableClient(tableName: string): Promise<TableClient> {
  const target = settings().storage;
  const cacheKey = `${tableName}\n${target.connectionString ?? ''}\n${target.tableEndpoint ?? ''}`;
  let client = clients.get(cacheKey);
  if (!client) {
    client = newTableClient(target, tableName);
    clients.set(cacheKey, client);
  }
  let ready = created.get(cacheKey);
  if (!ready) {
    // createTable answers success when the table already exists.
    ready = client.createTable().catch((error: unknown) => {
      created.delete(cacheKey);
      throw mapStorageError(error);
    });
    created.set(cacheKey, ready);
  }
  await ready;
  return client;
}

function isLoopback(connectionString: string): boolean {
  return /UseDevelopmentStorage=true|TableEndpoint=http:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/i.test(connectionString);
}

export function statusOf(error: unknown): number | undefined {
  return error instanceof RestError ? error.statusCode : undefined;
}

function retryAfterSeconds(error: RestError, fallback: number): number {
  const ms = storageRetryAfterMs(error.response);
  if (ms === undefined) return fallback;
  return Math.min(MAX_RETRY_AFTER_S, Math.max(1, Math.ceil(ms / 1000)));
}

/**
 * Storage failures in Graph's terms. Only outcomes a caller can act on get their own status; anything
 * else stays an unexpected error (a bug to look at), with its details kept out of the response.
 * Throttling by storage is a 503, not a 429: the service as a whole is busy, not this caller over
 * its own quota; the storage's Retry-After is passed on when it sent one.
 */
export function mapStorageError(error: unknown, what = 'The recovery key'): unknown {
  if (error instanceof GraphError) return error;
  const unavailable = (message: string, retryAfter: number): GraphError =>
    withStorageFailure(serviceUnavailable(message, retryAfter), error);
  if (isCredentialFailure(error)) {
    // No token for storage at all (managed identity endpoint down or not configured).
    return unavailable('Storage is unreachable; try again shortly.', UNREACHABLE_RETRY_AFTER_S);
  }
  if (!(error instanceof RestError)) return error;
  switch (error.statusCode) {
    case 401:
    case 403:
      // Storage refused the service's own credentials (a missing role assignment, a token it does
      // not accept): nothing the caller did, and nothing the caller can fix; the log says why.
      return unavailable("Storage refused the service's credentials; try again later.", UNREACHABLE_RETRY_AFTER_S);
    case 404:
      return notFound(`${what} was not found.`);
    case 409:
      return conflict(`${what} already exists.`);
    case 412:
      return preconditionFailed(`${what} has changed since the ETag given in If-Match.`);
    case 429:
    case 503:
      return unavailable('Storage is busy; try again shortly.', retryAfterSeconds(error, BUSY_RETRY_AFTER_S));
    case undefined:
    case 408:
    case 500:
    case 502:
    case 504:
      // No answer (refused, reset, timed out) or a server-side failure: storage is unreachable for now.
      return unavailable('Storage is unreachable; try again shortly.', UNREACHABLE_RETRY_AFTER_S);
    default:
      return error;
  }
}

/** @azure/identity's failures to get a token (names, not classes, so that no instance check crosses package copies). */
function isCredentialFailure(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error.name === 'CredentialUnavailableError' || error.name === 'AuthenticationError' || error.name === 'AggregateAuthenticationError')
  );
}

/** Attaches what went wrong with storage to the 503, for graphHandler's log line. */
function withStorageFailure(graphError: GraphError, cause: unknown): GraphError {
  // A failure the retry policy did not see happened before any request: getting the token.
  graphError.logDetails = storageFailureOf(cause) ?? {
    call: isCredentialFailure(cause) ? 'token' : 'unknown',
    code: cause instanceof Error ? cause.name : typeof cause,
  };
  return graphError;
}

/** Runs one storage call, turning its failure into the service's answer (mapStorageError). */
export async function storageCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw mapStorageError(error);
  }
}

/**
 * The first page of a listing's `byPage()`, or undefined when there is none. (The iterator's own
 * `next().value` is typed `any`, as a finished iterator may return anything; the SDK's returns nothing.)
 */
export async function firstPage<T extends object>(
  pages: AsyncIterableIterator<TableEntityResultPage<T>>,
): Promise<TableEntityResultPage<T> | undefined> {
  const next = await pages.next();
  return next.done ? undefined : next.value;
}
