/**
 * The wait (ms) a throttling answer (429 or 503) asks for, from `retry-after-ms`, `x-ms-retry-after-ms`
 * (both ms, Azure's headers) or `Retry-After` (seconds or an HTTP date, RFC 9110 §10.2.3); undefined for
 * any other status or without a readable header. Never throws. The same rules as core-rest-pipeline's
 * throttlingRetryStrategy, whose parser that package does not export.
 */
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
