import { RestError, TableClient, type TableServiceClientOptions } from '@azure/data-tables';
import { settings } from '../config';
import { conflict, GraphError, notFound, preconditionFailed, serviceUnavailable } from '../http/graphError';

// Retries are few and short on purpose: a caller (a device or a helpdesk tool) is waiting, and a
// storage outage should turn into a prompt 503 with Retry-After rather than a hung request.
const clientOptions: TableServiceClientOptions = {
  retryOptions: { maxRetries: 2, retryDelayInMs: 200, maxRetryDelayInMs: 1000 },
};

const clients = new Map<string, TableClient>();
const created = new Map<string, Promise<void>>();

/** A client for one table of the configured account; the table is created on first use. */
export async function tableClient(tableName: string): Promise<TableClient> {
  const connectionString = settings().storageConnectionString;
  const cacheKey = `${tableName}\n${connectionString}`;
  let client = clients.get(cacheKey);
  if (!client) {
    const options = { ...clientOptions, allowInsecureConnection: isLoopback(connectionString) };
    client = TableClient.fromConnectionString(connectionString, tableName, options);
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

/**
 * Storage failures in Graph's terms. Only outcomes a caller can act on get their own status; anything
 * else stays an unexpected error (a bug to look at), with its details kept out of the response.
 */
export function mapStorageError(error: unknown, what = 'The recovery key'): unknown {
  if (error instanceof GraphError) return error;
  if (!(error instanceof RestError)) return error;
  switch (error.statusCode) {
    case 404:
      return notFound(`${what} was not found.`);
    case 409:
      return conflict(`${what} already exists.`);
    case 412:
      return preconditionFailed(`${what} has changed since the ETag given in If-Match.`);
    case 429:
    case 503:
      return serviceUnavailable('Storage is busy; try again shortly.', 10);
    case undefined:
    case 500:
    case 502:
    case 504:
      return serviceUnavailable('Storage is unreachable; try again shortly.', 10);
    default:
      return error;
  }
}
