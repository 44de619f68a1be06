import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { mintDevelopmentToken, type DevelopmentTokenRequest } from '../../shared/auth/developmentToken';

// Talks to the local host that globalSetup started, over real HTTP.

export const baseUrl = (): string => process.env.ESCROW_TEST_URL!;

export const stateDir = (): string => process.env.LOCAL_STATE_DIR!;

export const WRITE = 'BitLockerKey.ReadWrite.All';
export const READ = 'BitLockerKey.Read.All';
export const READ_BASIC = 'BitLockerKey.ReadBasic.All';

/**
 * A development token for the run's host. Each token is its own caller (a fresh `oid`) unless the
 * request names one: per-caller bounds (the key-read limit, refusal summaries) then never couple
 * test files that happen to run in the same minute.
 */
export function token(request: DevelopmentTokenRequest = {}): Promise<string> {
  return mintDevelopmentToken(stateDir(), { ...request, claims: { oid: randomUUID(), ...request.claims } });
}

export const tokenWith = (...roles: string[]): Promise<string> => token({ roles });

export interface CallOptions {
  token?: string;
  body?: unknown;
  /** A raw body, sent as is. */
  rawBody?: string;
  headers?: Record<string, string>;
}

/** Graph's error object (`{ error: ... }`), as shared/http/responses.ts writes it. */
export interface GraphErrorJson {
  code: string;
  message: string;
  innerError: { 'request-id': string; 'client-request-id'?: string; date: string };
}

/**
 * One item of a collection (`value`): the members of the service's resources (recovery keys, deleted
 * items, audit events) that tests read. Which are present depends on the resource and `$select`; the
 * test asserts that. A type, not an interface, so that it converts to Record<string, unknown> for tests
 * that walk its members.
 */
export type GraphItemJson = {
  '@odata.type'?: string;
  id: string;
  deviceId?: string;
  volumeType?: string;
  createdDateTime?: string;
  key?: string;
  activityDateTime?: string;
  targetResources?: { id: string }[];
};

/**
 * A parsed response body, as the members of the service's Graph bodies: an entity, a collection page
 * (`value`, `@odata.nextLink`) or an error (`error`). The members are typed as present so tests read
 * them directly; which are really there is what tests assert. `{}` when the body was not JSON.
 */
export interface GraphJson extends GraphItemJson {
  '@odata.context': string;
  '@odata.etag': string;
  '@odata.nextLink': string;
  value: GraphItemJson[];
  error: GraphErrorJson;
  accessToken: string;
  [member: string]: unknown;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  json: GraphJson;
  text: string;
}

/** The body as JSON, or `{}` when it is empty or not JSON (the test then asserts on the text). */
export const parseJson = (text: string): GraphJson => {
  try {
    return (text ? JSON.parse(text) : {}) as GraphJson;
  } catch {
    return {} as GraphJson;
  }
};

/** A request to a host at `base` (the run's host, or a private one a test started). */
export async function callOn(base: string, method: string, path: string, options: CallOptions = {}): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['Content-Type'] ??= 'application/json';
  }
  const response = await fetch(new URL(path, base), { method, headers, body, signal: AbortSignal.timeout(15_000) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: parseJson(text), text };
}

export const call = (method: string, path: string, options: CallOptions = {}): Promise<ApiResponse> =>
  callOn(baseUrl(), method, path, options);

/** Asserts Graph's error shape and returns the error object (of this client's or the device client's response). */
/** A response as expectGraphError reads it: this client's or the device client's. */
type ErrorAnswer = { status: number; headers: Headers; json: { error?: unknown } };

export function expectGraphError(response: ErrorAnswer, status: number, code: string): GraphErrorJson {
  const error = response.json.error as GraphErrorJson | undefined;
  expect({ status: response.status, code: error?.code }).toEqual({ status, code });
  expect(typeof error!.message).toBe('string');
  expect(error!.innerError['request-id']).toBe(response.headers.get('request-id'));
  expect(error!.innerError.date).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
  return error!;
}

/**
 * A refusal answered as if its object did not exist: `hidden` (for id `ids.hidden`) has the status,
 * error code, headers and error JSON of `absent`, the answer to the same request for an id that does
 * not exist (`ids.absent`), message for message once the id it echoes is set aside. Returns the error.
 */
export function expectAnsweredAsAbsent(hidden: ErrorAnswer, absent: ErrorAnswer, ids: { hidden: string; absent: string }): GraphErrorJson {
  const shape = (response: ErrorAnswer, id: string) => {
    const error = expectGraphError(response, 404, 'itemNotFound');
    expect(error.message).toContain(id);
    const headers: string[] = [];
    response.headers.forEach((_value, name) => headers.push(name));
    return {
      code: error.code,
      message: error.message.split(id).join('{id}'),
      error: Object.keys(error).sort(),
      innerError: Object.keys(error.innerError).sort(),
      headers: headers.sort(),
    };
  };
  expect(shape(hidden, ids.hidden)).toEqual(shape(absent, ids.absent));
  return hidden.json.error as GraphErrorJson;
}

/**
 * A request whose request line and Host header are sent exactly as given (fetch would resolve a path
 * starting with `//` against the base and would not let a test set Host), e.g. `GET //x/v1.0/...`.
 */
export function rawCallOn(base: string, method: string, path: string, headers: Record<string, string> = {}): Promise<ApiResponse> {
  const target = new URL(base);
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: target.hostname, port: target.port, method, path, headers, agent: false, timeout: 15_000 },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const received = new Headers();
          for (const [name, value] of Object.entries(response.headers)) if (typeof value === 'string') received.set(name, value);
          resolve({ status: response.statusCode!, headers: received, json: parseJson(text), text });
        });
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', reject);
    request.end();
  });
}
