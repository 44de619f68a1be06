import type { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import { settings, type BackupTarget } from '../config';
import { storageCredential } from '../storage/tables';

// The backup container (BACKUP_CONTAINER in the account of BACKUP_BLOB_ENDPOINT or
// BACKUP_CONNECTION_STRING). @azure/storage-blob is Microsoft's client for the Blob REST API: it signs
// shared-key requests (Azurite) and takes the same TokenCredential as the tables (the managed identity),
// and it speaks append blobs and conditional creates, which the snapshot and the audit outbox rely on.

/** Retries of one blob request: enough for a transient fault, bounded so that a reveal falling back to the outbox answers in time. */
const BLOB_RETRY = { maxTries: 3, tryTimeoutInMs: 10_000, retryDelayInMs: 200, maxRetryDelayInMs: 1_000 };

const containers = new Map<string, ContainerClient>();
const created = new Map<string, Promise<void>>();

function serviceClient(target: BackupTarget): BlobServiceClient {
  // Loaded on first use, like @azure/identity (shared/storage/tables.ts): the app's cold start need not
  // parse a client that only backups and a key read during an outage use (scripts/build/buildApp.ts).
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a lazy load, and a synchronous one: see above
  const { BlobServiceClient } = require('@azure/storage-blob') as typeof import('@azure/storage-blob');
  return target.blobEndpoint !== undefined
    ? new BlobServiceClient(target.blobEndpoint, storageCredential(), { retryOptions: BLOB_RETRY })
    : BlobServiceClient.fromConnectionString(target.connectionString, { retryOptions: BLOB_RETRY });
}

/** The configured backup target, or an error naming the settings: the job cannot run without one. */
export function requireBackupTarget(): BackupTarget {
  const target = settings().backup;
  if (!target) throw new Error('no backup destination: set BACKUP_BLOB_ENDPOINT (managed identity) or BACKUP_CONNECTION_STRING');
  return target;
}

/**
 * The backup container, created on first use (in Azure the Bicep creates it with its immutability
 * policy; creating it here is for Azurite). A failed creation is forgotten, so the next call retries.
 */
export async function backupContainer(target: BackupTarget = requireBackupTarget()): Promise<ContainerClient> {
  const key = `${target.connectionString ?? target.blobEndpoint}\n${target.container}`;
  let container = containers.get(key);
  if (!container) {
    container = serviceClient(target).getContainerClient(target.container);
    containers.set(key, container);
  }
  const client = container;
  let ready = created.get(key);
  if (!ready) {
    ready = client
      .createIfNotExists()
      .then(() => undefined)
      .catch((error: unknown) => {
        created.delete(key);
        throw error;
      });
    created.set(key, ready);
  }
  await ready;
  return client;
}
