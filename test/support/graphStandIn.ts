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
  down: boolean;
  close(): Promise<void>;
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
  return {
    url: `http://127.0.0.1:${port}`,
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
