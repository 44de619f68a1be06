import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

// A stand-in of Azure Monitor's Logs Ingestion API, from Microsoft's documented shape
// (https://learn.microsoft.com/azure/azure-monitor/logs/logs-ingestion-api-overview, "REST API call"):
//   POST {endpoint}/dataCollectionRules/{DCR immutable id}/streams/{stream}?api-version=2023-01-01
//   Authorization: Bearer {a token for https://monitor.azure.com: the SDK asks for the scope
//   https://monitor.azure.com/.default, Microsoft's REST examples for https://monitor.azure.com//.default}
//   Content-Type: application/json, Content-Encoding: gzip (optional), body a JSON array of rows
// answered 204 when accepted; 413 beyond 1 MB per call (compressed or not); 401/403 for a bad token;
// 404 for an unknown rule or stream; errors as {"error":{"code","message"}}. Served over https (with a
// certificate made by the test: the SDK refuses to send a bearer token over plain http). Faults are
// planned per request: an answer with a status (and Retry-After), or a request held unanswered.

export const INGESTION_API_VERSION = '2023-01-01';
const MAX_CALL_BYTES = 1_000_000;

/** One planned answer for a request: taken as documented (`accept`), held until `release()` (`hold`), or a failure status. */
export type PlannedAnswer = 'accept' | 'hold' | { status: number; retryAfterSeconds?: number };

export interface IngestionRequest {
  ruleId: string;
  stream: string;
  apiVersion: string | null;
  contentEncoding?: string;
  contentType?: string;
  /** The body's bytes as sent. */
  bytes: number;
  status: number;
}

export interface LogsIngestionStandIn {
  readonly endpoint: string;
  /** Every request, in order of its answer, with the status it got. */
  readonly requests: readonly IngestionRequest[];
  /** The decompressed body text of every accepted request, in order. */
  readonly acceptedBodies: readonly string[];
  /** Every row accepted, in order (a row sent twice is here twice). */
  readonly rows: readonly Record<string, unknown>[];
  /** Answers for the next requests, in order; after them, `otherwise` answers (`accept` at first). */
  plan(...answers: PlannedAnswer[]): void;
  /** The answer to requests beyond the plan. */
  otherwise(answer: PlannedAnswer): void;
  /** Takes the held requests as documented (a request whose client has gone is recorded all the same). */
  release(): void;
  /** Resolves once `count` requests have arrived since the call (held ones included). */
  arrivals(count: number): Promise<void>;
  close(): Promise<void>;
}

interface StandInOptions {
  /** PEM files of the certificate the server presents (selfSignedCertificate in managedIdentity.ts). */
  certificate: { cert: string; key: string };
  /** The bearer token accepted (the managed-identity stand-in's for the monitor resource). */
  token: () => Promise<string>;
  ruleId: string;
  stream: string;
}

const errorBody = (code: string, message: string): string => JSON.stringify({ error: { code, message } });

export async function startLogsIngestionStandIn(options: StandInOptions): Promise<LogsIngestionStandIn> {
  const requests: IngestionRequest[] = [];
  const acceptedBodies: string[] = [];
  const rows: Record<string, unknown>[] = [];
  const planned: PlannedAnswer[] = [];
  let fallback: PlannedAnswer = 'accept';
  const held: (() => void)[] = [];
  let arrived = 0;
  const waiters: { at: number; resolve: () => void }[] = [];

  const server: Server = createServer(
    { cert: readFileSync(options.certificate.cert), key: readFileSync(options.certificate.key) },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        void (async () => {
          arrived++;
          for (const waiter of waiters.filter((w) => arrived >= w.at)) waiter.resolve();
          const body = Buffer.concat(chunks);
          const url = new URL(req.url ?? '/', 'https://127.0.0.1');
          const path = /^\/dataCollectionRules\/([^/]+)\/streams\/([^/]+)$/.exec(url.pathname);
          const request: IngestionRequest = {
            ruleId: decodeURIComponent(path?.[1] ?? ''),
            stream: decodeURIComponent(path?.[2] ?? ''),
            apiVersion: url.searchParams.get('api-version'),
            contentEncoding: req.headers['content-encoding'],
            contentType: req.headers['content-type'],
            bytes: body.length,
            status: 0,
          };
          const answer = (status: number, text = '', headers: Record<string, string> = {}): void => {
            request.status = status;
            requests.push(request);
            res.writeHead(status, text ? { 'content-type': 'application/json', ...headers } : headers);
            res.end(text);
          };
          let next = planned.shift() ?? fallback;
          if (next === 'hold') {
            // The client waits until release() (or gives up, or is killed); then the request is taken.
            await new Promise<void>((resolve) => held.push(resolve));
            next = 'accept';
          }
          if (req.method !== 'POST' || !path) return answer(404, errorBody('NotFound', 'No such resource'));
          if (req.headers.authorization !== `Bearer ${await options.token()}`)
            return answer(401, errorBody('InvalidToken', 'The bearer token is missing or not valid for https://monitor.azure.com'));
          if (request.apiVersion !== INGESTION_API_VERSION) return answer(400, errorBody('InvalidApiVersion', 'Unsupported api-version'));
          if (request.ruleId !== options.ruleId || request.stream !== options.stream)
            return answer(404, errorBody('NotFound', 'Data collection rule or stream not found'));
          if (next !== 'accept') {
            const headers: Record<string, string> =
              next.retryAfterSeconds !== undefined ? { 'retry-after': String(next.retryAfterSeconds) } : {};
            return answer(next.status, errorBody('ServiceUnavailable', 'Planned failure'), headers);
          }
          let text: string;
          try {
            text = (request.contentEncoding === 'gzip' ? gunzipSync(body) : body).toString('utf8');
          } catch {
            return answer(400, errorBody('InvalidContentEncoding', 'The body is not gzip'));
          }
          if (body.length > MAX_CALL_BYTES || Buffer.byteLength(text) > MAX_CALL_BYTES)
            return answer(413, errorBody('ContentLengthLimitExceeded', 'Maximum allowed content length: 1048576 bytes (1 MB)'));
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            return answer(400, errorBody('InvalidJson', 'The body is not JSON'));
          }
          if (!Array.isArray(parsed)) return answer(400, errorBody('InvalidPayload', 'The body must be a JSON array'));
          acceptedBodies.push(text);
          rows.push(...(parsed as Record<string, unknown>[]));
          answer(204);
        })();
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `https://127.0.0.1:${port}`,
    requests,
    acceptedBodies,
    rows,
    plan: (...answers) => planned.push(...answers),
    otherwise: (answer) => (fallback = answer),
    release: () => held.splice(0).forEach((resume) => resume()),
    arrivals: (count) => new Promise((resolve) => waiters.push({ at: arrived + count, resolve })),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
