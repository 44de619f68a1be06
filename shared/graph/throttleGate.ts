import { setTimeout as sleep } from 'node:timers/promises';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { storageRetryAfterMs } from '../storage/retryAfter';
import { GraphCallFailed } from './errors';

// Graph throttles per application and tenant, not per request: its rule is that after a 429 the client
// sends nothing until Retry-After has passed, since every request sent meanwhile is refused and prolongs
// the throttling (https://learn.microsoft.com/graph/throttling). So one Retry-After holds every call of
// a client, not only the one that was refused: the mirror's other workers wait too.

/** The longest pause one answer can impose: a hostile or broken Graph's Retry-After of days is cut to this. */
export const GRAPH_MAX_PAUSE_MS = 5 * 60_000;

/** When a client may next send a request to Graph. One per GraphClient, shared by all its calls. */
export class ThrottleGate {
  private pausedUntil = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Graph asked for `waitMs` (bounded by GRAPH_MAX_PAUSE_MS); an earlier, longer pause stands. */
  pauseFor(waitMs: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.now() + Math.min(waitMs, GRAPH_MAX_PAUSE_MS));
  }

  /** Milliseconds until requests may be sent again; 0 when they may now. */
  remainingMs(): number {
    return Math.max(0, this.pausedUntil - this.now());
  }
}

/**
 * Holds each try until the gate opens: waits a pause of at most `maxWaitMs` here, and ends the call at
 * once with a throttled GraphCallFailed carrying the rest of a longer one (as boundedThrottlingStrategy
 * does), so that a caller with time (the mirror's patiently) waits it out and a device's request is not
 * held. A throttling answer with a Retry-After closes the gate for everyone.
 */
export function throttleGatePolicy(gate: ThrottleGate, maxWaitMs: number): PipelinePolicy {
  return {
    name: 'graphThrottleGate',
    async sendRequest(request, next) {
      const waitMs = gate.remainingMs();
      if (waitMs > maxWaitMs)
        throw new GraphCallFailed('Microsoft Graph is throttling; not sent before its Retry-After.', 429, Math.ceil(waitMs / 1000));
      // At most maxWaitMs, well within the call's own budget (GRAPH_CALL_BUDGET_MS).
      if (waitMs > 0) await sleep(waitMs);
      const response = await next(request);
      const retryAfterMs = storageRetryAfterMs(response);
      if (retryAfterMs !== undefined) gate.pauseFor(retryAfterMs);
      return response;
    },
  };
}
