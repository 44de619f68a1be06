// The tables this process has created (or found existing), so that each is created once, not per call.
// Only a successful creation is remembered, and all are forgotten when storage says a table is
// missing (a storage account wiped or recreated under a running service, an in-memory Azurite
// restarted): the next call creates them again instead of failing until the process restarts.

const created = new Map<string, Promise<void>>();

/**
 * Resolves once the table named by `cacheKey` exists: the first call runs `create` (which must succeed
 * when the table already exists), later calls share its outcome. A failed creation is forgotten at once,
 * so the next call tries again. Rejects with what `create` rejected with.
 */
export function ensureCreated(cacheKey: string, create: () => Promise<void>): Promise<void> {
  let ready = created.get(cacheKey);
  if (!ready) {
    ready = create().catch((error: unknown) => {
      created.delete(cacheKey);
      throw error;
    });
    created.set(cacheKey, ready);
  }
  return ready;
}

/** Forgets every table created so far: storage answered TableNotFound, so what we remembered is stale. */
export function forgetCreatedTables(): void {
  created.clear();
}

/** Table Storage's error code for a table that does not exist. */
const TABLE_NOT_FOUND = 'TableNotFound';

/**
 * Whether storage answered that the table does not exist: RestError.code for a transaction, the
 * x-ms-error-code header for every other call (the SDK leaves `code` unset on a 404 it deserialises).
 */
export function isTableNotFound(error: { code?: string; response?: { headers: { get(name: string): string | undefined } } }): boolean {
  return error.code === TABLE_NOT_FOUND || error.response?.headers.get('x-ms-error-code') === TABLE_NOT_FOUND;
}
