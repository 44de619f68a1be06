import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DeviceClient } from '../../scripts/cli/device/client';
import { selfSignedCertificate } from '../../scripts/cli/device/selfSignedCertificate';

// The reference client signs every page it asks for: a service (or a man in the middle of a broken
// deployment) whose next page links go round must not keep it sending signed requests forever.

let server: Server;
let requests = 0;
let answer: (url: string) => unknown;

beforeAll(async () => {
  server = createServer((request, response) => {
    requests++;
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify(answer(request.url ?? '')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function client(): DeviceClient {
  const deviceId = randomUUID();
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return new DeviceClient(base, { certificate: selfSignedCertificate(privateKey, deviceId), privateKey });
}

beforeEach(() => {
  requests = 0;
});

it('stops at a next page link that points back at a page it read, after that one request', async () => {
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  answer = (url) => ({ value: [], '@odata.nextLink': `${base}${url}` });
  await expect(client().listOwnKeys(randomUUID())).rejects.toThrow("the service's next page links go round or past 20 pages");
  expect(requests).toBe(1);
});

it('stops after 20 pages of links that never repeat', async () => {
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  answer = () => ({ value: [], '@odata.nextLink': `${base}/v1.0/informationProtection/bitlocker/recoveryKeys?$skiptoken=${randomUUID()}` });
  await expect(client().listOwnKeys(randomUUID())).rejects.toThrow('past 20 pages');
  expect(requests).toBe(20);
});

it('follows a finite chain of pages to its end', async () => {
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  answer = (url) => {
    const page = Number(/page=(\d+)/.exec(url)?.[1] ?? '0');
    const next = page < 2 ? { '@odata.nextLink': `${base}/v1.0/informationProtection/bitlocker/recoveryKeys?page=${page + 1}` } : {};
    return { value: [{ id: `k${page}` }], ...next };
  };
  const listed = await client().listOwnKeys(randomUUID());
  expect({ status: listed.status, ids: listed.keys.map((key) => key.id), requests }).toEqual({
    status: 200,
    ids: ['k0', 'k1', 'k2'],
    requests: 3,
  });
});
