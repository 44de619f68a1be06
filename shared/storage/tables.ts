import { TableClient } from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import { settings, type StorageTarget } from '../config';
import { storageClientOptions } from './clientOptions';
import { ensureCreated } from './createdTables';
import { storageCall } from './storageCall';

// The Table Storage clients of the process: one per table and account, by connection string
// (STORAGE_CONNECTION_STRING: Azurite, tests, shared-key accounts) or by endpoint and Entra ID
// (STORAGE_TABLE_ENDPOINT with DefaultAzureCredential: the managed identity in Azure).

const clients = new Map<string, TableClient>();
let credential: TokenCredential | undefined;

/**
 * One credential for the process: it caches its token and renews it before expiry. In Azure,
 * DefaultAzureCredential finds the managed identity (IDENTITY_ENDPOINT/IDENTITY_HEADER on App Service
 * and Functions; AZURE_CLIENT_ID selects a user-assigned identity); on a workstation, the Azure CLI login.
 */
export function storageCredential(): TokenCredential {
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
 * Throws a StorageError (storageError.ts) when the table cannot be created.
 */
export async function tableClient(tableName: string): Promise<TableClient> {
  const target = settings().storage;
  const cacheKey = `${tableName}\n${target.connectionString ?? ''}\n${target.tableEndpoint ?? ''}`;
  let client = clients.get(cacheKey);
  if (!client) {
    client = newTableClient(target, tableName);
    clients.set(cacheKey, client);
  }
  const table = client;
  // createTable answers success when the table already exists.
  await ensureCreated(cacheKey, () => storageCall(() => table.createTable()));
  return table;
}
