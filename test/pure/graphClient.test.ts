import type { TokenCredential } from '@azure/identity';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphDeviceDirectory } from '../../shared/auth/device/graphDirectory';
import { DirectoryUnavailable } from '../../shared/auth/device/directory';
import { GraphClient } from '../../shared/graph/client';
import { GRAPH_SCOPE } from '../../shared/graph/policies';
import type { GraphCallFailed } from '../../shared/graph/errors';
import { GRAPH_MAX_PAUSE_MS, ThrottleGate } from '../../shared/graph/throttleGate';
import { startGraphStandIn, type GraphStandIn } from '../support/graphStandIn';

// The Graph client against the stand-in Graph: headers, token, throttling. (The managed-identity
// credential itself is exercised end to end in test/http/deviceEscrow.test.ts.)

const TOKEN = 'graph-client-test-token';
const scopes: string[] = [];
const credential: TokenCredential = {
  getToken: (scope) => {
    scopes.push(...(Array.isArray(scope) ? scope : [scope]));
    return Promise.resolve({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 });
  },
};
const DEVICE = '0b8d5f3e-9a41-4c7e-8f20-6d1e2c3b4a59';

let graph: GraphStandIn;
let directory: GraphDeviceDirectory;

beforeAll(async () => {
  graph = await startGraphStandIn(TOKEN);
  graph.devices.set(DEVICE, { deviceId: DEVICE, accountEnabled: true, certificates: [] });
  directory = new GraphDeviceDirectory(new GraphClient(graph.url, credential));
});
afterAll(() => graph.close());

it('asks for the Graph scope and says who is calling', async () => {
  expect(await directory.findDevice(DEVICE)).toEqual({
    id: `obj-${DEVICE}`,
    deviceId: DEVICE,
    accountEnabled: true,
    alternativeSecurityIds: [],
  });
  expect(scopes).toContain(GRAPH_SCOPE);
  expect(graph.requestHeaders.at(-1)).toMatchObject({
    'user-agent': 'bitlocker-key-escrow/0.1.0',
    'ocp-client-name': 'bitlocker-key-escrow',
    'ocp-client-version': '0.1.0',
  });
});

it('an unknown device is undefined, not an error', async () => {
  expect(await directory.findDevice('00000000-0000-4000-8000-000000000000')).toBeUndefined();
});

it('waits out a short Retry-After and tries again', async () => {
  graph.throttle.push({ status: 429, retryAfter: '1' }, { status: 503, retryAfter: '1' });
  const started = Date.now();
  expect((await directory.findDevice(DEVICE))?.deviceId).toBe(DEVICE);
  expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
});

it('passes a long Retry-After on instead of waiting it out', async () => {
  graph.throttle.push({ status: 429, retryAfter: '30' });
  const started = Date.now();
  const failure = await directory.findDevice(DEVICE).catch((error: unknown) => error);
  expect(failure).toBeInstanceOf(DirectoryUnavailable);
  expect((failure as DirectoryUnavailable).retryAfterSeconds).toBe(30);
  expect(Date.now() - started).toBeLessThan(1_000);
});

it('an unreachable Graph is DirectoryUnavailable', async () => {
  graph.down = true;
  try {
    await expect(directory.findDevice(DEVICE)).rejects.toBeInstanceOf(DirectoryUnavailable);
  } finally {
    graph.down = false;
  }
});

it('a 200 whose body passes the size limit is a failed call, read no further', async () => {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify({ value: [], padding: 'x'.repeat(2 * 1024 * 1024) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const client = new GraphClient(`http://127.0.0.1:${port}`, credential, 1024 * 1024);
    await expect(client.getJson('/v1.0/devices')).rejects.toMatchObject({
      message: expect.stringContaining('larger than 1048576 bytes') as unknown,
    });
    // Under the limit the same client reads the answer.
    expect(await new GraphClient(`http://127.0.0.1:${port}`, credential).getJson('/v1.0/devices')).toMatchObject({ value: [] });
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

describe('after a 429, the whole client waits for its Retry-After (a fake clock; requests counted)', () => {
  let clock = 1_000_000;
  const served: string[] = [];
  const server = createServer((request, response) => {
    served.push(request.url!);
    if (request.url === '/v1.0/throttled') {
      response.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '60' });
      response.end(JSON.stringify({ error: { code: 'TooManyRequests', message: 'Too many requests.' } }));
      return;
    }
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify({ value: [] }));
  });
  let client: GraphClient;

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    client = new GraphClient(`http://127.0.0.1:${port}`, credential, undefined, new ThrottleGate(() => clock));
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('sends no other call until the Retry-After has passed, and tells each caller how long is left', async () => {
    await expect(client.getJson('/v1.0/throttled')).rejects.toMatchObject({ status: 429, retryAfterSeconds: 60 });
    clock += 45_000;
    const held = await Promise.allSettled([client.getJson('/v1.0/devices'), client.getJson('/v1.0/devices?$top=1')]);
    expect(held.map((r) => r.status === 'rejected' && (r.reason as GraphCallFailed).retryAfterSeconds)).toEqual([15, 15]);
    expect(served).toEqual(['/v1.0/throttled']);

    clock += 15_000;
    expect(await client.getJson('/v1.0/devices')).toEqual({ value: [] });
    expect(served).toEqual(['/v1.0/throttled', '/v1.0/devices']);
  });

  it('a Retry-After of days holds the client for GRAPH_MAX_PAUSE_MS at most', () => {
    const gate = new ThrottleGate(() => clock);
    gate.pauseFor(7 * 24 * 3_600_000);
    expect(gate.remainingMs()).toBe(GRAPH_MAX_PAUSE_MS);
  });
});
