import { AzureNamedKeyCredential, TableClient } from '@azure/data-tables';
import { settings } from '../config';
import type { StorageCallLimits } from './callLimits';
import { storageClientOptions } from './clientOptions';
import { outsideStorageDeadline, withStorageBudget } from './requestDeadline';
import { storageCall } from './storageCall';
import { isStorageError } from './storageError';
import { storageCredential, tableClient } from './tables';

// Reads that survive the primary region: with a secondary table endpoint (config.ts
// secondaryTableEndpoint: RA-GRS / RA-GZRS), a read whose primary call fails as unreachable, a
// server error or throttling (not a 404: an absent entity is an answer) is read again from the
// secondary, which is read-only and some minutes behind. After such a failure the primary counts as
// down for PRIMARY_DOWN_MS: reads go straight to the secondary, and a key read's audit record straight
// to the outbox (shared/audit/outbox.ts), so that requests during an outage do not each wait out the
// primary's call budget first. Writes are not redirected: they fail against the primary, a 503.

/** How long the primary counts as down after a failure: the first request after it tries the primary again. */
const PRIMARY_DOWN_MS = 30_000;
/**
 * The secondary's own bounds, in a budget of its own: the request's budget may be spent on the
 * primary by then. Shorter than a primary call's, so that a read that fell back still answers within
 * about the ~5 s a client is promised plus this.
 */
const SECONDARY_LIMITS: StorageCallLimits = { tryTimeoutMs: 1_500, callBudgetMs: 2_500, maxTries: 2 };

let primaryDownUntil = 0;

export const primaryMarkedDown = (): boolean => Date.now() < primaryDownUntil;

export function markPrimaryDown(): void {
  primaryDownUntil = Date.now() + PRIMARY_DOWN_MS;
}

const clients = new Map<string, TableClient>();

function secondaryClient(endpoint: string, table: string): TableClient {
  const { storage } = settings();
  const key = `${endpoint}\n${table}\n${storage.connectionString ?? ''}`;
  let client = clients.get(key);
  if (!client) {
    const options = { ...storageClientOptions(storage, SECONDARY_LIMITS), allowInsecureConnection: false };
    if (storage.connectionString !== undefined) {
      // The secondary is the same account: its key signs requests to either endpoint.
      const part = (name: string): string => new RegExp(`(?:^|;)\\s*${name}=([^;]+)`, 'i').exec(storage.connectionString)?.[1] ?? '';
      const credential = new AzureNamedKeyCredential(part('AccountName'), part('AccountKey'));
      // Plain http only to a loopback endpoint (config.ts allows nothing else) with a shared key.
      client = new TableClient(endpoint, table, credential, { ...options, allowInsecureConnection: endpoint.startsWith('http:') });
    } else {
      client = new TableClient(endpoint, table, storageCredential(), options);
    }
    clients.set(key, client);
  }
  return client;
}

export interface FromEither<T> {
  value: T;
  /** Read from the secondary: the primary was down, and the value may be minutes old. */
  fromSecondary: boolean;
}

/**
 * Runs `read` against the primary's client for `table`, and against the secondary's when the primary
 * is down or fails as unreachable, erring or throttling. Throws the primary's failure when there is no
 * secondary or it fails too; whatever else `read` throws (a 404 included) as it is.
 */
export async function readWithFallback<T>(table: string, read: (client: TableClient) => Promise<T>): Promise<FromEither<T>> {
  const endpoint = settings().secondaryTableEndpoint;
  if (endpoint === undefined) return { value: await read(await tableClient(table)), fromSecondary: false };
  if (!primaryMarkedDown()) {
    try {
      return { value: await read(await tableClient(table)), fromSecondary: false };
    } catch (error) {
      if (!isStorageError(error, 'unavailable', 'throttled')) throw error;
      markPrimaryDown();
      return readSecondary(endpoint, table, read, error);
    }
  }
  return readSecondary(endpoint, table, read, undefined);
}

async function readSecondary<T>(
  endpoint: string,
  table: string,
  read: (client: TableClient) => Promise<T>,
  primaryFailure: unknown,
): Promise<FromEither<T>> {
  try {
    const value = await outsideStorageDeadline(() =>
      withStorageBudget(SECONDARY_LIMITS.callBudgetMs, () => storageCall(() => read(secondaryClient(endpoint, table)))),
    );
    return { value, fromSecondary: true };
  } catch (error) {
    // An answer from the secondary (a 404 included) is the answer; its own outage is the primary's 503.
    if (primaryFailure instanceof Error && isStorageError(error, 'unavailable', 'throttled', 'denied')) throw primaryFailure;
    throw error;
  }
}
