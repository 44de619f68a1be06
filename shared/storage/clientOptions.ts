import type { TableServiceClientOptions } from '@azure/data-tables';
import type { StorageTarget } from '../config';
import { DEFAULT_STORAGE_CALL_LIMITS, type StorageCallLimits } from './callLimits';
import { storageCallPolicy } from './callPolicy';

/** Whether a connection string names a storage on this machine (Azurite), the only place plain http is allowed. */
function isLoopback(connectionString: string): boolean {
  return /UseDevelopmentStorage=true|TableEndpoint=http:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/i.test(connectionString);
}

/** Client options for a storage account: storageCallPolicy's retries, timeouts and deadlines replace the SDK's retries. */
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
