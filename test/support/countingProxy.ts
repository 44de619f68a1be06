import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { azuriteConnectionString } from '../../scripts/devhost/azurite';
import { longestChain, tableOf } from '../../scripts/bench/requestChain';
import { requestClassOf, type RequestClass } from '../../scripts/bench/requestClass';

// A counting HTTP proxy on 127.0.0.1 in front of the run's Azurite: a private host whose
// STORAGE_CONNECTION_STRING is `proxy.connectionString` sends every storage request through it, and
// the test reads what went over the wire (a request in a row is a network round trip, and
// every request is a billed transaction). Requests are forwarded untouched (Shared Key signs the
// method, a few headers and the path, not the host), so the app cannot tell.
//
// Each request is held `holdMs` before it is forwarded. That makes "in a row" a property of the
// app's code, not of timing luck: requests the app starts together are all held at once and overlap
// for sure, while one the app starts only after another's answer cannot overlap it.

/** One storage request as the proxy saw it; times in ms (performance.now), start on arrival, end when the answer was sent. */
export interface CountedRequest {
  method: string;
  /** The table it is about: `RecoveryKeys`, `AuditLog`, `$batch` (a transaction), `Tables` (create table). */
  table: string;
  /** What it costs: a point, partition, key-range or scan query, a transaction, a table operation (scripts/bench/requestClass.ts). */
  kind: RequestClass;
  start: number;
  end: number;
}

export interface RequestCount {
  total: number;
  /** The longest chain of requests that ran one after another (scripts/bench/requestChain.ts). */
  inARow: number;
  /** `METHOD table` per request, sorted. */
  requests: string[];
  /** `class table` per request (`partition AuditLog`), sorted. */
  classes: string[];
  /** Every request, in the order they arrived, with their times (performance.now of this process, as the test's own). */
  seen: readonly CountedRequest[];
}

/** The requests of `count` of one `class table` (`batch $batch`), in the order they arrived. */
export const requestsOf = (count: Pick<RequestCount, 'seen'>, name: string): CountedRequest[] =>
  count.seen.filter((request) => `${request.kind} ${request.table}` === name);

/** Whether two requests were in flight together: each started before the other ended. */
export const inFlightTogether = (a: CountedRequest, b: CountedRequest): boolean => a.start < b.end && b.start < a.end;

export interface CountingProxy {
  /** A connection string for the run's storage account, through the proxy. */
  readonly connectionString: string;
  /** Forgets what was counted so far. */
  reset(): void;
  /**
   * What was counted since the last reset, once the proxy has been quiet (no request in flight, none
   * started) for `quietMs`: requests the app makes after it answered (background work) are counted too.
   */
  settled(quietMs?: number): Promise<RequestCount>;
  close(): Promise<void>;
}

/**
 * Which requests the proxy holds forever instead of forwarding (a storage that accepts a request and never
 * answers): asked on arrival with the request and the storage's try id (the SDK's x-ms-client-request-id,
 * the same on every try of one call). A held request still counts, and ends when the app gives up on it.
 */
export type HangWhen = (request: CountedRequest, tryId: string) => boolean;

/** How much longer than `holdMs` the proxy holds a request before it forwards it (a slow storage), asked on arrival. */
export type HoldLonger = (request: CountedRequest) => number;

/** Starts a proxy on a free port of 127.0.0.1 in front of the storage at `target` (the run's Azurite: its connection string). */
export async function startCountingProxy(
  target: string = process.env.STORAGE_CONNECTION_STRING!,
  holdMs = 50,
  hangWhen: HangWhen = () => false,
  holdLonger: HoldLonger = () => 0,
): Promise<CountingProxy> {
  const endpoint = new URL(/TableEndpoint=([^;]+)/.exec(target)![1]);
  let counted: CountedRequest[] = [];
  let inFlight = 0;
  let lastActivity = performance.now();

  const server = http.createServer((req, res) => {
    const request: CountedRequest = {
      method: req.method ?? '',
      table: tableOf(req.url ?? ''),
      kind: requestClassOf(req.method ?? '', req.url ?? '/'),
      start: performance.now(),
      end: NaN,
    };
    counted.push(request);
    inFlight++;
    lastActivity = request.start;
    const done = (): void => {
      request.end = performance.now();
      lastActivity = request.end;
      inFlight--;
    };
    if (hangWhen(request, String(req.headers['x-ms-client-request-id'] ?? `${req.method} ${req.url}`))) {
      res.once('close', done);
      return;
    }
    setTimeout(
      () => {
        const upstream = http.request(
          { host: endpoint.hostname, port: endpoint.port, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
            answer.once('end', done);
          },
        );
        upstream.once('error', () => {
          done();
          res.destroy();
        });
        req.pipe(upstream);
      },
      holdMs + holdLonger(request),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    connectionString: azuriteConnectionString(port),
    reset: () => {
      counted = [];
    },
    settled: async (quietMs = 250) => {
      while (inFlight > 0 || performance.now() - lastActivity < quietMs) await new Promise((resolve) => setTimeout(resolve, 20));
      return {
        total: counted.length,
        inARow: longestChain(counted.map((r) => [r.start, r.end] as const)),
        requests: counted.map((r) => `${r.method} ${r.table}`).sort(),
        classes: counted.map((r) => `${r.kind} ${r.table}`).sort(),
        seen: counted,
      };
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
