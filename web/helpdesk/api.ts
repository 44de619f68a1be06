// The service's API as the page calls it: same origin, bearer token, Graph's error shape.

export const KEYS = '/v1.0/informationProtection/bitlocker/recoveryKeys';
export const AUDITS = '/v1.0/auditLogs/directoryAudits';
export const COVERAGE = '/v1.0/informationProtection/bitlocker/coverageReport';
export const REVEAL_REQUESTS = '/v1.0/informationProtection/bitlocker/revealRequests';
export const REVEAL_GRANTS = '/v1.0/informationProtection/bitlocker/revealGrants';
export const MY_DEVICES = '/v1.0/informationProtection/bitlocker/myDevices';
export const AWAITING = '/v1.0/informationProtection/bitlocker/keysAwaitingRotation';

/** An answer other than 2xx, or no answer at all (status 0). */
export class ApiError extends Error {
  override name = 'ApiError';

  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
    readonly requestId?: string,
    /** Seconds, from Retry-After. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

/** A page of a Graph collection. */
export interface Page<T> {
  value: T[];
  '@odata.nextLink'?: string;
}

async function errorOf(response: Response): Promise<ApiError> {
  let code: string | undefined;
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string } };
    code = body.error?.code;
    message = body.error?.message ?? message;
  } catch {
    // Not Graph's shape (a proxy's page): the status line says enough.
  }
  const retryAfter = Number(response.headers.get('retry-after') ?? NaN);
  return new ApiError(
    response.status,
    message,
    code,
    response.headers.get('request-id') ?? undefined,
    Number.isFinite(retryAfter) ? retryAfter : undefined,
  );
}

/** Sends a request to the page's own origin; throws ApiError for anything but 2xx. */
export async function request<T>(
  method: string,
  url: string,
  options: { token?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json', ...options.headers };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(new URL(url, location.origin), {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'The service could not be reached.');
  }
  if (!response.ok) throw await errorOf(response);
  return (await response.json()) as T;
}

/** A list URL with OData options, encoded as the service expects. */
export function listUrl(collection: string, options: Record<string, string>): string {
  return `${collection}?${new URLSearchParams(options).toString()}`;
}

/** An OData string literal: quotes doubled. */
export const odataString = (value: string): string => `'${value.replace(/'/g, "''")}'`;
