import { authConfigurationProblem } from '../auth';
import { KeyringError, open, seal } from '../crypto/envelope';
import { keyring } from '../crypto/keyring';
import { asGraphError } from '../errors/asGraphError';
import { GraphError } from '../errors/graphError';
import { getKey } from '../recoveryKeys/store';

// GET /health: does this instance have what it needs to serve? A platform health check (App Service
// "Health check", a load balancer probe, API Management) calls it about once a minute per instance,
// so it costs at most one storage request, and its result is shared for a few seconds by every
// caller on the instance. It needs no token and says nothing secret: only which dependency failed.

/** A result is reused this long (ms): probes from several sources within seconds cost one storage call. */
export const HEALTH_CACHE_MS = 5_000;

/** An id no record has: its lookup answers 404 from a healthy table service. */
const PROBE_ID = '00000000-0000-0000-0000-000000000000';

export type DependencyName = 'storage' | 'keyring' | 'auth';

export interface HealthReport {
  healthy: boolean;
  /** Each dependency: 'ok', or what failed in words fit for a public answer (no URLs, no values). */
  checks: Record<DependencyName, string>;
  /** For the log of a failure: the storage call, error code and duration (never sent to the client). */
  logDetails?: Readonly<Record<string, unknown>>;
}

async function checkStorage(): Promise<{ result: string; logDetails?: Readonly<Record<string, unknown>> }> {
  try {
    await getKey(PROBE_ID);
    return { result: 'ok' };
  } catch (thrown) {
    const error = asGraphError(thrown);
    if (error instanceof GraphError) return { result: error.message, logDetails: error.logDetails };
    return { result: 'Storage answered unexpectedly.', logDetails: { code: error instanceof Error ? error.name : typeof error } };
  }
}

function checkKeyring(): string {
  try {
    // A round trip under the active key: the keyring is loaded and its active key works.
    const ring = keyring();
    return open(ring, PROBE_ID, seal(ring, PROBE_ID, 'probe')) === 'probe' ? 'ok' : 'The keyring does not round-trip.';
  } catch (error) {
    return error instanceof KeyringError ? 'The encryption keyring is not configured.' : 'The encryption keyring failed.';
  }
}

/** Whether requests can be authenticated at all; the reason stays in the log, the answer names only the dependency. */
async function checkAuth(): Promise<{ result: string; logDetails?: Readonly<Record<string, unknown>> }> {
  try {
    const problem = await authConfigurationProblem();
    return problem === undefined
      ? { result: 'ok' }
      : { result: 'The service is not configured to authenticate requests.', logDetails: { auth: problem } };
  } catch {
    return { result: 'The signing keys for authentication could not be loaded.' };
  }
}

async function runChecks(): Promise<HealthReport> {
  const keyringResult = checkKeyring();
  const [storage, auth] = await Promise.all([checkStorage(), checkAuth()]);
  return {
    healthy: storage.result === 'ok' && keyringResult === 'ok' && auth.result === 'ok',
    checks: { storage: storage.result, keyring: keyringResult, auth: auth.result },
    logDetails: storage.logDetails ?? auth.logDetails,
  };
}

let last: { at: number; report: Promise<HealthReport> } | undefined;

/** The instance's health, checked at most once per HEALTH_CACHE_MS (concurrent callers share one check). */
export function health(now = Date.now()): Promise<HealthReport> {
  if (!last || now - last.at >= HEALTH_CACHE_MS) last = { at: now, report: runChecks() };
  return last.report;
}
