// The benchmark's storage request counter: every HTTP request this process sends to the storage
// account, seen on the wire from the client side, whichever TableClient sends it (the app's, the floor
// server's), retries included.

import * as diagnostics from 'node:diagnostics_channel';
// The module object itself (not a namespace copy), so that its `request` can be wrapped.
import http, { type ClientRequest } from 'node:http';
import { now, round, type OpStorage, type RoundTrips, type StorageCounter } from './measure';
import { busyMs, longestChain, tableOf, type Interval } from './requestChain';

/**
 * Watches every HTTP request this process sends to the storage account, whichever client sends it:
 * the app's cached TableClients for every table it uses, the raw baseline clients, retries included.
 * Requests are counted on node:http's diagnostics channel `http.client.request.start` and timed from
 * their creation (http.request, wrapped here: that channel fires only once the request is flushed,
 * which can be after the answer is on its way) to `http.client.response.finish` (response headers).
 * Requests are attributed to the variant being measured; runners measure one variant at a time
 * (serially, or one variant's concurrent slice at a time), so the attribution is exact. Requests made
 * while nothing is measured are not counted.
 */
export class StorageMonitor implements StorageCounter {
  private variant: string | undefined;
  private op: { requests: number; intervals: Interval[] } | undefined;
  private readonly created = new WeakMap<object, number>();
  private readonly counts = new Map<string, Map<string, number>>();
  private readonly originalRequest = http.request;
  private readonly onStart = (message: unknown): void => {
    const { request } = message as { request: ClientRequest };
    if (this.variant === undefined || !request.path.startsWith(this.pathPrefix)) return;
    let perVariant = this.counts.get(this.variant);
    if (!perVariant) this.counts.set(this.variant, (perVariant = new Map<string, number>()));
    const what = `${request.method} ${tableOf(request.path)}`;
    perVariant.set(what, (perVariant.get(what) ?? 0) + 1);
    if (this.op) {
      this.op.requests++;
      if (!this.created.has(request)) this.created.set(request, now());
    }
  };
  private readonly onFinish = (message: unknown): void => {
    const { request } = message as { request: ClientRequest };
    const start = this.created.get(request);
    if (start === undefined || !this.op) return;
    this.created.delete(request);
    this.op.intervals.push([start, now()]);
  };

  /** `pathPrefix`: the account's path on the storage endpoint, e.g. `/devstoreaccount1/`. */
  constructor(private readonly pathPrefix: string) {
    diagnostics.subscribe('http.client.request.start', this.onStart);
    diagnostics.subscribe('http.client.response.finish', this.onFinish);
    const original = this.originalRequest;
    const created = this.created;
    const prefix = this.pathPrefix;
    const monitor = (): boolean => this.op !== undefined;
    (http as { request: typeof http.request }).request = function request(this: unknown, ...args: unknown[]): ClientRequest {
      const at = now();
      const req = (original as (...a: unknown[]) => ClientRequest).apply(this, args);
      if (monitor() && req.path.startsWith(prefix)) created.set(req, at);
      return req;
    };
  }

  close(): void {
    diagnostics.unsubscribe('http.client.request.start', this.onStart);
    diagnostics.unsubscribe('http.client.response.finish', this.onFinish);
    (http as { request: typeof http.request }).request = this.originalRequest;
  }

  /** Counts for `variant` from now on (undefined: count nothing). */
  measuring(variant: string | undefined): void {
    this.variant = variant;
  }

  /** Serial runs: starts following one operation's requests. */
  beginOp(variant: string): void {
    this.variant = variant;
    this.op = { requests: 0, intervals: [] };
  }

  endOp(): OpStorage {
    const op = this.op ?? { requests: 0, intervals: [] };
    this.op = undefined;
    this.variant = undefined;
    return { requests: op.requests, sequential: longestChain(op.intervals), busyMs: busyMs(op.intervals) };
  }

  /** Requests per operation, in total and by method and table. */
  perOp(variant: string, ops: number): RoundTrips {
    const perVariant = this.counts.get(variant) ?? new Map<string, number>();
    const detail: Record<string, number> = {};
    let total = 0;
    for (const [what, count] of [...perVariant].sort()) {
      detail[what] = round(count / ops, 2);
      total += count;
    }
    return { total: round(total / ops, 2), detail };
  }

  reset(): void {
    this.counts.clear();
  }
}
