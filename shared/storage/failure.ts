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

/** Remembers the diagnostics of the error a call policy is about to throw (the SDK passes that error object on). */
export function noteFailure(error: unknown, failure: StorageFailure): void {
  if (typeof error === 'object' && error !== null) failures.set(error, failure);
}

/** The diagnostics the call policy noted for this error, if it came from a storage call. */
export function storageFailureOf(error: unknown): StorageFailure | undefined {
  return typeof error === 'object' && error !== null ? failures.get(error) : undefined;
}

/** `METHOD Table(entity|query)`, `METHOD $batch` or `METHOD Tables` for a storage request URL; the method alone if unparsable. */
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
