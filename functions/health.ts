import { app } from '@azure/functions';
import { methodNotAllowed, serviceUnavailable } from '../shared/errors/graphError';
import { graphHandler } from '../shared/http/handler';
import { ALL_METHODS } from '../shared/http/methods';
import { jsonResponse } from '../shared/http/responses';
import { health } from '../shared/health/check';
import { HEALTH_ROUTE } from '../shared/http/routes';

/**
 * GET /health, no token: 200 `{"status":"healthy","checks":{"storage":"ok","keyring":"ok","auth":"ok"}}` when
 * storage and the keyring answer; otherwise 503 in Graph's error shape whose message names each
 * failing dependency (e.g. `Unhealthy: storage: Storage is unreachable; try again shortly.`), with
 * Retry-After; the cause (storage call, error code, duration) goes to the log only.
 */
export const healthHandler = graphHandler(async (request, requestContext) => {
  if (request.method.toUpperCase() !== 'GET') throw methodNotAllowed(request.method, ['GET']);
  const report = await health();
  if (!report.healthy) {
    const failing = Object.entries(report.checks).filter(([, result]) => result !== 'ok');
    const error = serviceUnavailable(`Unhealthy: ${failing.map(([name, result]) => `${name}: ${result}`).join('; ')}`, 10);
    error.logDetails = { failing: failing.map(([name]) => name), storage: report.logDetails };
    throw error;
  }
  return jsonResponse(
    requestContext,
    200,
    { status: 'healthy', checks: report.checks },
    { 'Content-Type': 'application/json; charset=utf-8' },
  );
});

app.http('health', { methods: ALL_METHODS, authLevel: 'anonymous', route: HEALTH_ROUTE, handler: healthHandler });
