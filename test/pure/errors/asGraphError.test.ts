import { asGraphError } from '../../../shared/errors/asGraphError';
import { GraphError } from '../../../shared/errors/graphError';
import { errorResponse } from '../../../shared/http/responses';
import type { RequestContext } from '../../../shared/http/requestContext';
import { StorageError, type StorageErrorDetails } from '../../../shared/storage/storageError';

// The one place a storage outcome that escaped its use case becomes Graph's answer: each StorageError kind,
// rendered as the client receives it (status, headers, body), and what the 503's log line is given.

const NOW = Date.parse('2026-03-02T09:00:00.250Z');
const CONTEXT: RequestContext = {
  requestId: '6f0c7a52-3c1e-4c55-9a47-1e1f4b7d0a11',
  serviceRoot: 'https://escrow.example/v1.0',
  publicBase: 'https://escrow.example',
};
const DETAILS: StorageErrorDetails = { call: 'GET RecoveryKeys(entity)', code: 'ServerBusy', status: 503, tries: 3, ms: 3_000 };

beforeEach(() => jest.useFakeTimers({ now: NOW }));
afterEach(() => jest.useRealTimers());

/** The answer the client gets for `error`, and the details the log line of it is given. */
function answerTo(error: StorageError) {
  const graph = asGraphError(error);
  if (!(graph instanceof GraphError)) throw new Error('no Graph answer');
  const { status, headers, body } = errorResponse(CONTEXT, graph);
  const { 'request-id': _, ...rest } = headers as Record<string, string>;
  return { status, headers: rest, body: JSON.parse(body as string) as unknown, logDetails: graph.logDetails };
}

const graphBody = (code: string, message: string) => ({
  error: { code, message, innerError: { date: '2026-03-02T09:00:00', 'request-id': CONTEXT.requestId } },
});
const JSON_HEADERS = {
  'Content-Type': 'application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8',
  'Cache-Control': 'no-store',
};

describe("asGraphError: a storage outcome as Graph's answer", () => {
  test.each([
    ['versionMoved', 'The recovery key', 412, 'preconditionFailed', 'The recovery key has changed since the ETag given in If-Match.'],
    ['exists', 'The device', 409, 'conflict', 'The device already exists.'],
    ['gone', 'The recovery key', 404, 'itemNotFound', 'The recovery key was not found.'],
  ] as const)("%s is the entity's answer: %i %s, nothing for the log", (kind, subject, status, code, message) => {
    expect(answerTo(new StorageError(kind, 'What the use case said.', subject))).toEqual({
      status,
      headers: JSON_HEADERS,
      body: graphBody(code, message),
      logDetails: undefined,
    });
  });

  test.each([
    ['throttled', 'Storage is busy; try again shortly.', 7],
    ['unavailable', 'Storage is unreachable; try again shortly.', 10],
    ['denied', "Storage refused the service's credentials; try again later.", 10],
  ] as const)(
    '%s is 503 serviceNotAvailable with its Retry-After, and the failed call goes to the log only',
    (kind, message, retryAfterSeconds) => {
      expect(answerTo(new StorageError(kind, message, 'The recovery key', retryAfterSeconds, DETAILS))).toEqual({
        status: 503,
        headers: { ...JSON_HEADERS, 'Retry-After': String(retryAfterSeconds) },
        body: graphBody('serviceNotAvailable', message),
        logDetails: DETAILS,
      });
    },
  );

  test('a 503 without a Retry-After of its own asks for 5 s', () => {
    expect(answerTo(new StorageError('throttled', 'Storage is busy; try again shortly.', 'The recovery key')).headers).toEqual({
      ...JSON_HEADERS,
      'Retry-After': '5',
    });
  });

  test('anything that is no StorageError is returned as it is', () => {
    const graph = new GraphError(403, 'authorization_error', 'Missing role.');
    const bug = new TypeError('x is undefined');
    expect([asGraphError(graph), asGraphError(bug), asGraphError('text')]).toEqual([graph, bug, 'text']);
    expect(asGraphError(graph)).toBe(graph);
    expect(asGraphError(bug)).toBe(bug);
  });
});
