import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// A stand-in of Microsoft Graph's BitLocker recovery keys on loopback, for the Entra mirror, in the
// documented shapes (https://learn.microsoft.com/graph/api/bitlocker-list-recoverykeys and
// bitlockerrecoverykey-get):
//   GET /v1.0/informationProtection/bitlocker/recoveryKeys[?$skiptoken=…]  {value: [metadata…], @odata.nextLink}
//   GET /v1.0/informationProtection/bitlocker/recoveryKeys/{id}?$select=key   {id, createdDateTime, volumeType, deviceId, key}
// with the managed identity's bearer token and the ocp-client-name/-version headers Graph requires.
// Tests set what goes wrong: a 429 with Retry-After on a key's first read, a 503 once on a page, a key
// that is gone by the time it is read. Every request is recorded, and any request for a key sent before
// its Retry-After had passed is recorded as a violation.

export interface EntraKey {
  id: string;
  deviceId: string;
  /** As Graph's examples show it: "1" (operatingSystemVolume) … */
  volumeType: string;
  createdDateTime: string;
  key: string;
}

export interface KeyRead {
  id: string;
  at: number;
  status: number;
}

/** A 429's Retry-After window, and how many requests of any kind arrived in it after the 429 was sent. */
export interface ThrottleWindow {
  from: number;
  until: number;
  arrived: number;
}

export interface BitLockerStandIn {
  readonly url: string;
  /** Entra's keys in listing order; tests add and remove. */
  readonly keys: Map<string, EntraKey>;
  pageSize: number;
  /** Key ids whose first read is answered 429 with this Retry-After (seconds). */
  readonly throttleFirstRead: Map<string, number>;
  /** Page offsets ($skiptoken) answered 503 once, without Retry-After. */
  readonly failPageOnce: Set<number>;
  /** Key ids deleted from the tenant as their read arrives (listed, then gone: 404). */
  readonly vanishOnRead: Set<string>;
  /** A page offset whose @odata.nextLink points back at itself (a hostile or broken Graph). */
  loopPage?: number;
  /** Every list request's offset, in order (0 = the first page). */
  readonly listRequests: number[];
  readonly keyReads: KeyRead[];
  /** Requests that broke a Retry-After, or came without the headers Graph requires. */
  readonly violations: string[];
  /** Every 429 sent, with the requests (list or read, any key) that arrived before its Retry-After passed. */
  readonly throttleWindows: ThrottleWindow[];
  /** Called on every key read, after it is recorded (tests stop a run part-way with it). */
  onKeyRead?: (count: number) => void;
  close(): Promise<void>;
}

const COLLECTION = '/v1.0/informationProtection/bitlocker/recoveryKeys';

export async function startBitLockerStandIn(acceptedToken: string): Promise<BitLockerStandIn> {
  const notBefore = new Map<string, number>();
  const standIn = {
    keys: new Map<string, EntraKey>(),
    pageSize: 100,
    throttleFirstRead: new Map<string, number>(),
    failPageOnce: new Set<number>(),
    vanishOnRead: new Set<string>(),
    listRequests: [] as number[],
    keyReads: [] as KeyRead[],
    violations: [] as string[],
    throttleWindows: [] as ThrottleWindow[],
  } as Omit<BitLockerStandIn, 'url' | 'close'> & { onKeyRead?: (count: number) => void };
  let url = '';
  // Each stand-in answers under a path of its own: the mirror keys its checkpoint on GRAPH_BASE_URL, and a
  // later stand-in handed a closed one's port must still be another tenant.
  const tenantPath = `/${randomUUID()}`;

  const listPage = (offset: number): Record<string, unknown> => {
    const all = [...standIn.keys.values()];
    const value = all.slice(offset, offset + standIn.pageSize).map(({ key: _key, ...metadata }) => metadata);
    const next = offset === standIn.loopPage ? offset : offset + standIn.pageSize;
    return {
      '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#informationProtection/bitlocker/recoveryKeys',
      value,
      ...(next < all.length && { '@odata.nextLink': `${url}${COLLECTION}?$skiptoken=${Buffer.from(`o:${next}`).toString('base64url')}` }),
    };
  };

  const server: Server = createServer((req, res) => {
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(body));
    };
    const error = (status: number, code: string, message: string, headers?: Record<string, string>): void =>
      send(status, { error: { code, message, innerError: { date: new Date().toISOString() } } }, headers);
    const target = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (!target.pathname.startsWith(`${tenantPath}/`)) return error(404, 'Request_ResourceNotFound', 'Unknown tenant path.');
    target.pathname = target.pathname.slice(tenantPath.length);
    const arrived = Date.now();
    for (const window of standIn.throttleWindows) if (arrived >= window.from && arrived < window.until) window.arrived++;
    if (req.headers.authorization !== `Bearer ${acceptedToken}`)
      return error(401, 'InvalidAuthenticationToken', 'Access token is empty or invalid.');
    if (!req.headers['ocp-client-name'] || !req.headers['ocp-client-version']) {
      standIn.violations.push(`${target.pathname}: without ocp-client-name / ocp-client-version`);
      return error(400, 'badRequest', 'ocp-client-name and ocp-client-version are required.');
    }
    if (target.pathname === COLLECTION) {
      const skiptoken = target.searchParams.get('$skiptoken');
      const offset = skiptoken ? Number(Buffer.from(skiptoken, 'base64url').toString().slice(2)) : 0;
      standIn.listRequests.push(offset);
      if (standIn.failPageOnce.delete(offset)) return error(503, 'serviceNotAvailable', 'The service is temporarily unavailable.');
      return send(200, listPage(offset));
    }
    const id = target.pathname.startsWith(`${COLLECTION}/`) ? decodeURIComponent(target.pathname.slice(COLLECTION.length + 1)) : undefined;
    if (id === undefined || target.searchParams.get('$select') !== 'key') return error(400, 'badRequest', 'Unsupported request.');
    const now = Date.now();
    const read = (status: number): void => {
      standIn.keyReads.push({ id, at: now, status });
      standIn.onKeyRead?.(standIn.keyReads.length);
    };
    const wait = notBefore.get(id);
    if (wait !== undefined && now < wait) standIn.violations.push(`${id}: read ${wait - now} ms before its Retry-After`);
    const retryAfter = standIn.throttleFirstRead.get(id);
    if (retryAfter !== undefined) {
      standIn.throttleFirstRead.delete(id);
      notBefore.set(id, now + retryAfter * 1000);
      standIn.throttleWindows.push({ from: now, until: now + retryAfter * 1000, arrived: 0 });
      read(429);
      return error(429, 'TooManyRequests', 'Too many requests.', { 'Retry-After': String(retryAfter) });
    }
    if (standIn.vanishOnRead.delete(id)) standIn.keys.delete(id);
    const key = standIn.keys.get(id);
    if (!key) {
      read(404);
      return error(404, 'Request_ResourceNotFound', `Resource '${id}' does not exist.`);
    }
    read(200);
    send(200, {
      '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#informationProtection/bitlocker/recoveryKeys(key)/$entity',
      ...key,
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${tenantPath}`;
  return Object.assign(standIn, {
    url,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}
