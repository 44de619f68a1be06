// A Microsoft Graph tenant of N BitLocker recovery keys on loopback, for the bench's Entra mirror rows:
// the collection in pages (`@odata.nextLink` with a `$skiptoken`) and each key with `$select=key`, in the
// documented shapes (bitlocker-list-recoverykeys, bitlockerrecoverykey-get). Key i is made from i when
// asked for, never held: a tenant of 100,000 keys costs this process nothing, so the mirror's memory is
// what the bench measures. (test/support/bitlockerStandIn.ts is the tests' stand-in, with failures to order.)

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const COLLECTION = '/v1.0/informationProtection/bitlocker/recoveryKeys';

export interface GraphTenant {
  /** For GRAPH_BASE_URL. */
  readonly url: string;
  /** Key reads answered so far. */
  readonly keyReads: () => number;
  close(): Promise<void>;
}

const idOf = (i: number): string => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
const indexOf = (id: string): number => (/^00000000-0000-4000-8000-[0-9a-f]{12}$/.test(id) ? parseInt(id.slice(24), 16) : -1);

/** Key i's password: eight groups, each a 16-bit word times 11, as BitLocker makes them; different for every i. */
function passwordOf(i: number): string {
  const words = [i & 0xffff, (i >>> 16) & 0xffff, 0x1234, 0x4321, (i * 7) & 0xffff, 0xbeef, 0x0f0f, (i * 13) & 0xffff];
  return words.map((word) => String(word * 11).padStart(6, '0')).join('-');
}

const metadataOf = (i: number) => ({
  id: idOf(i),
  // Two keys a device, as a device with an OS and a data volume has.
  deviceId: `00000000-0000-4000-9000-${(i >>> 1).toString(16).padStart(12, '0')}`,
  volumeType: i % 2 === 0 ? '1' : '2',
  createdDateTime: '2025-06-01T10:00:00Z',
});

/** Starts a tenant of `count` keys (ids `offset`…`offset + count - 1`), listed `pageSize` a page; any bearer token passes. */
export async function startGraphTenant(count: number, pageSize: number, offset = 0): Promise<GraphTenant> {
  let reads = 0;
  let url = '';
  const server = createServer((req, res) => {
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    };
    const target = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (target.pathname === COLLECTION) {
      const skiptoken = target.searchParams.get('$skiptoken');
      const from = skiptoken ? Number(skiptoken) : 0;
      const to = Math.min(count, from + pageSize);
      const value = Array.from({ length: to - from }, (_, k) => metadataOf(offset + from + k));
      return send(200, { value, ...(to < count && { '@odata.nextLink': `${url}${COLLECTION}?$skiptoken=${to}` }) });
    }
    const i = target.pathname.startsWith(`${COLLECTION}/`) ? indexOf(decodeURIComponent(target.pathname.slice(COLLECTION.length + 1))) : -1;
    if (i < offset || i >= offset + count || target.searchParams.get('$select') !== 'key') {
      return send(404, { error: { code: 'Request_ResourceNotFound', message: 'No such key.' } });
    }
    reads++;
    send(200, { ...metadataOf(i), key: passwordOf(i) });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    keyReads: () => reads,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
