import { createHash, X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';

// A stand-in of Microsoft Graph's device list on loopback:
//   GET /v1.0/devices?$filter=deviceId eq '{id}'&$select=id,deviceId,accountEnabled,alternativeSecurityIds
// with the managed identity's bearer token. It builds each device's alternativeSecurityIds from the
// certificate itself, as Entra ID does (independently of the service's code): type 2, key = base64 of
// the UTF-16LE text "X509:<SHA1-TP-PUBKEY>" + SHA-1 thumbprint (upper-case hex) + base64 SHA-256 of the
// PKCS#1 RSAPublicKey DER. `down` makes it drop every connection without an answer.
//
// It also lists, for the device inventory, Entra ID's devices (GET /v1.0/devices?$filter=operatingSystem
// eq 'Windows') and Intune's managed devices (GET /v1.0/deviceManagement/managedDevices), in pages with
// an @odata.nextLink whose $skiptoken expires when `listings.expireSkipTokens()` is called (Entra ID
// answers 400 Directory_ExpiredPageToken then), with $select applied as Graph applies it.
//
// And Intune's BitLocker key rotation, as INTUNE_ROTATE_ON_REVEAL calls it: the managed devices of one
// Entra device (GET /v1.0/deviceManagement/managedDevices?$filter=azureADDeviceId eq '{id}', from
// `listings.managedDevices`, any operating system, $select applied) and the beta action
// POST /beta/deviceManagement/managedDevices/{managedDeviceId}/rotateBitLockerKeys, which answers
// 204 No Content for a managed device it knows and 404 otherwise (Intune's documented shapes); each
// accepted rotation's managed device id is kept in `rotations`.

export interface StandInDevice {
  deviceId: string;
  accountEnabled: boolean;
  /** DER of every certificate the device is registered with. */
  certificates: Buffer[];
}

export interface GraphStandIn {
  readonly url: string;
  /** Devices by deviceId; tests add, change and remove them. */
  readonly devices: Map<string, StandInDevice>;
  /** deviceIds looked up, one per request that reached it. */
  readonly lookups: string[];
  /** Headers of every request that reached it. */
  readonly requestHeaders: Record<string, string | string[] | undefined>[];
  /** Answers to give before any real one, first first: a status and its Retry-After. */
  readonly throttle: { status: number; retryAfter?: string }[];
  /** The lists the inventory reads. */
  readonly listings: StandInListings;
  /** Managed device ids Intune was asked to rotate (rotateBitLockerKeys answered 204), in order. */
  readonly rotations: string[];
  down: boolean;
  close(): Promise<void>;
}

export interface StandInListings {
  /** GET /v1.0/devices items (Graph's device shape; operatingSystem decides whether the Windows filter lists it). */
  devices: Record<string, unknown>[];
  /** GET /v1.0/deviceManagement/managedDevices items. */
  managedDevices: Record<string, unknown>[];
  /** Items per page at most (a smaller $top wins). */
  pageSize: number;
  /** Every list request that reached it (path and query), in order. */
  readonly requests: string[];
  /** Called after a page is served, with its list's path and the count of pages served of it so far. */
  afterPage?: (path: string, served: number) => void;
  /** Makes every nextLink issued so far answer 400, as an expired skip token does. */
  expireSkipTokens(): void;
}

const LIST_PATHS: Record<string, 'devices' | 'managedDevices'> = {
  '/v1.0/devices': 'devices',
  '/v1.0/deviceManagement/managedDevices': 'managedDevices',
};
const WINDOWS_FILTER = "operatingSystem eq 'Windows'";

/** A list page, or undefined when the request is not a list request (the device lookup's filter). */
function listPage(url: URL, base: string, listings: StandInListings & { generation: number; served: Map<string, number> }) {
  const list = LIST_PATHS[url.pathname];
  const filter = url.searchParams.get('$filter');
  if (!list || (list === 'devices' && filter !== WINDOWS_FILTER)) return undefined;
  if (list === 'managedDevices' && filter !== null && filter !== WINDOWS_FILTER) return undefined;
  listings.requests.push(`${url.pathname}${url.search}`);
  const token = url.searchParams.get('$skiptoken');
  let offset = 0;
  if (token !== null) {
    const [generation, at] = token.split('.').map(Number);
    if (generation !== listings.generation) {
      return {
        status: 400,
        body: {
          error: {
            code: 'Directory_ExpiredPageToken',
            message: 'The specified page token value has expired and can no longer be included in your request.',
          },
        },
      };
    }
    offset = at;
  }
  const items = listings[list].filter((item) => item.operatingSystem === 'Windows');
  const top = Number(url.searchParams.get('$top') ?? listings.pageSize);
  const size = Math.min(top, listings.pageSize);
  const select = url.searchParams.get('$select')?.split(',');
  const value = items
    .slice(offset, offset + size)
    .map((item) => (select ? Object.fromEntries(select.filter((name) => name in item).map((name) => [name, item[name]])) : item));
  const body: Record<string, unknown> = { '@odata.context': `https://graph.microsoft.com/v1.0/$metadata#${list}`, value };
  if (offset + size < items.length) {
    const next = new URL(url.toString());
    next.searchParams.set('$skiptoken', `${listings.generation}.${offset + size}`);
    body['@odata.nextLink'] = `${base}${next.pathname}${next.search}`;
  }
  const served = (listings.served.get(url.pathname) ?? 0) + 1;
  listings.served.set(url.pathname, served);
  return { status: 200, body, after: () => listings.afterPage?.(url.pathname, served) };
}

const AZURE_AD_DEVICE_FILTER = /^azureADDeviceId eq '([0-9a-f-]{36})'$/;
const ROTATE_PATH = /^\/beta\/deviceManagement\/managedDevices\/([^/]+)\/rotateBitLockerKeys$/;

/** Intune's answers for the key rotation after a reveal, or undefined for any other request. */
function intuneAnswer(method: string | undefined, url: URL, managedDevices: Record<string, unknown>[], rotations: string[]) {
  const rotate = ROTATE_PATH.exec(url.pathname);
  if (method === 'POST' && rotate) {
    if (!managedDevices.some((device) => device.id === rotate[1])) {
      return { status: 404, body: { error: { code: 'ResourceNotFound', message: `Managed device ${rotate[1]} was not found.` } } };
    }
    rotations.push(rotate[1]);
    return { status: 204 };
  }
  const filter = AZURE_AD_DEVICE_FILTER.exec(url.searchParams.get('$filter') ?? '');
  if (method !== 'GET' || url.pathname !== '/v1.0/deviceManagement/managedDevices' || !filter) return undefined;
  const select = url.searchParams.get('$select')?.split(',');
  const value = managedDevices
    .filter((device) => device.azureADDeviceId === filter[1])
    .map((item) => (select ? Object.fromEntries(select.filter((name) => name in item).map((name) => [name, item[name]])) : item));
  return { status: 200, body: { '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#deviceManagement/managedDevices', value } };
}

export function alternativeSecurityIdOf(certificateDer: Buffer): { type: number; identityProvider: null; key: string } {
  const certificate = new X509Certificate(certificateDer);
  const thumbprint = createHash('sha1').update(certificateDer).digest('hex').toUpperCase();
  const publicKeyHash = createHash('sha256')
    .update(certificate.publicKey.export({ type: 'pkcs1', format: 'der' }))
    .digest('base64');
  return {
    type: 2,
    identityProvider: null,
    key: Buffer.from(`X509:<SHA1-TP-PUBKEY>${thumbprint}${publicKeyHash}`, 'utf16le').toString('base64'),
  };
}

const FILTER = /^deviceId eq '([0-9a-f-]{36})'$/;

export async function startGraphStandIn(acceptedToken: string): Promise<GraphStandIn> {
  const sockets = new Set<Socket>();
  const state = { down: false };
  const devices = new Map<string, StandInDevice>();
  const lookups: string[] = [];
  const requestHeaders: Record<string, string | string[] | undefined>[] = [];
  const throttle: { status: number; retryAfter?: string }[] = [];
  const rotations: string[] = [];
  const listings: StandInListings & { generation: number; served: Map<string, number> } = {
    devices: [],
    managedDevices: [],
    pageSize: 100,
    requests: [],
    generation: 1,
    served: new Map(),
    expireSkipTokens() {
      listings.generation++;
    },
  };
  let base = '';
  const server: Server = createServer((req, res) => {
    if (state.down) {
      req.socket.destroy();
      return;
    }
    requestHeaders.push(req.headers);
    const throttled = throttle.shift();
    if (throttled) {
      res.writeHead(throttled.status, {
        'Content-Type': 'application/json',
        ...(throttled.retryAfter ? { 'Retry-After': throttled.retryAfter } : {}),
      });
      res.end(JSON.stringify({ error: { code: 'TooManyRequests', message: 'Too many requests.' } }));
      return;
    }
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${acceptedToken}`) {
      send(401, { error: { code: 'InvalidAuthenticationToken', message: 'Access token is empty or invalid.' } });
      return;
    }
    const intune = intuneAnswer(req.method, url, listings.managedDevices, rotations);
    if (intune) {
      if (intune.body === undefined) res.writeHead(intune.status).end();
      else send(intune.status, intune.body);
      return;
    }
    const listed = req.method === 'GET' ? listPage(url, base, listings) : undefined;
    if (listed) {
      send(listed.status, listed.body);
      listed.after?.();
      return;
    }
    const filter = FILTER.exec(url.searchParams.get('$filter') ?? '');
    if (
      req.method !== 'GET' ||
      url.pathname !== '/v1.0/devices' ||
      !filter ||
      url.searchParams.get('$select') !== 'id,deviceId,accountEnabled,alternativeSecurityIds'
    ) {
      send(400, { error: { code: 'Request_BadRequest', message: 'Unsupported query.' } });
      return;
    }
    lookups.push(filter[1]);
    const device = devices.get(filter[1]);
    send(200, {
      '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#devices(id,deviceId,accountEnabled,alternativeSecurityIds)',
      value: device
        ? [
            {
              id: `obj-${device.deviceId}`,
              deviceId: device.deviceId,
              accountEnabled: device.accountEnabled,
              alternativeSecurityIds: device.certificates.map(alternativeSecurityIdOf),
            },
          ]
        : [],
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  base = `http://127.0.0.1:${port}`;
  return {
    url: base,
    listings,
    rotations,
    devices,
    lookups,
    requestHeaders,
    throttle,
    get down() {
      return state.down;
    },
    set down(value: boolean) {
      state.down = value;
      // Kept-alive connections would otherwise still be answered.
      if (value) for (const socket of sockets) socket.destroy();
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
