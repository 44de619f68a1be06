import { expect } from '@jest/globals';
import { randomBytes, randomUUID } from 'node:crypto';
import { azuriteConnectionString, findFreePort } from '../../scripts/devhost/azurite';
import { baseUrl, callOn, expectGraphError, rawCallOn, READ_BASIC, tokenWith, WRITE } from '../support/client';
import { keyBody, newId } from '../support/fixtures';
import { COLLECTION } from '../support/keys';
import { DIRECTORY_AUDITS } from '../support/audit';
import { HostDidNotStart, startLocalHost, stopLocalHosts } from '../../scripts/devhost/localHost';

// What an operator relies on: links behind a gateway (PUBLIC_BASE_URL), request lines that start
// with `//`, local modes refused in Azure, and GET /health.

jest.setTimeout(60_000);

afterAll(() => stopLocalHosts());

const PUBLIC_BASE = 'https://escrow.example.net/gateway';
/** What a client behind a proxy might claim; links must never follow it. */
// The local host answers loopback Host names only (DNS rebinding), so the Host claimed here is another loopback name.
const HOSTILE = { Host: 'localhost:9', 'X-Forwarded-Host': 'forwarded.example', 'X-Forwarded-Proto': 'http' };

const privateHost = (env: Record<string, string | undefined>) =>
  startLocalHost({ AUTH_MODE: 'local', LOCAL_STATE_DIR: process.env.LOCAL_STATE_DIR, ...env });

async function escrowForDevice(base: string, deviceId: string, count: number): Promise<void> {
  const token = await tokenWith(WRITE);
  for (let i = 0; i < count; i++) {
    const body = keyBody({ id: newId(), deviceId });
    expect((await callOn(base, 'PATCH', `${COLLECTION}/${body.id}`, { token, body })).status).toBe(200);
  }
}

const devicePage = (deviceId: string): string => `${COLLECTION}?$top=1&$filter=${encodeURIComponent(`deviceId eq '${deviceId}'`)}`;

describe('PUBLIC_BASE_URL', () => {
  it('starts every link with it, whatever Host and X-Forwarded-* say, and the links work', async () => {
    const host = await privateHost({ PUBLIC_BASE_URL: `${PUBLIC_BASE}/` });
    const deviceId = randomUUID();
    await escrowForDevice(host.url, deviceId, 2);
    const auth = { Authorization: `Bearer ${await tokenWith(READ_BASIC)}` };

    const page = await rawCallOn(host.url, 'GET', devicePage(deviceId), { ...HOSTILE, ...auth });
    expect(page.status).toBe(200);
    expect(page.json['@odata.context']).toBe(`${PUBLIC_BASE}/v1.0/$metadata#informationProtection/bitlocker/recoveryKeys`);
    const next: string = page.json['@odata.nextLink'];
    expect(next.startsWith(`${PUBLIC_BASE}${COLLECTION}?`)).toBe(true);
    // The gateway strips its prefix; the rest is our path and query, and it gives the second page.
    const second = await callOn(host.url, 'GET', next.slice(PUBLIC_BASE.length), { headers: auth });
    expect(second.status).toBe(200);
    expect(second.json.value).toHaveLength(1);
    expect(second.json.value[0].id).not.toBe(page.json.value[0].id);

    const body = keyBody({ id: newId() });
    const posted = await callOn(host.url, 'POST', '/beta/bitlocker/recoveryKeys', {
      token: await tokenWith(WRITE),
      body,
      headers: { 'X-Forwarded-Host': 'forwarded.example' },
    });
    expect(posted.status).toBe(201);
    expect(posted.headers.get('location')).toBe(`${PUBLIC_BASE}/beta/bitlocker/recoveryKeys/${body.id}`);
    expect(posted.json['@odata.context']).toBe(`${PUBLIC_BASE}/beta/$metadata#informationProtection/bitlocker/recoveryKeys/$entity`);

    const audits = await rawCallOn(host.url, 'GET', `${DIRECTORY_AUDITS}?$top=1`, {
      ...HOSTILE,
      Authorization: `Bearer ${await tokenWith('AuditLog.Read.All')}`,
    });
    expect(audits.status).toBe(200);
    expect(audits.json['@odata.context']).toBe(`${PUBLIC_BASE}/v1.0/$metadata#auditLogs/directoryAudits`);
    expect(audits.json['@odata.nextLink'].startsWith(`${PUBLIC_BASE}${DIRECTORY_AUDITS}?`)).toBe(true);

    const openapi = await rawCallOn(host.url, 'GET', '/openapi.json', HOSTILE);
    expect(openapi.json.servers).toEqual([{ url: PUBLIC_BASE }]);
    expect(page.text + posted.text + audits.text + openapi.text).not.toMatch(/localhost:9|forwarded\.example/);
  });

  it('is optional: links then use the request origin', async () => {
    const deviceId = randomUUID();
    await escrowForDevice(baseUrl(), deviceId, 2);
    const page = await rawCallOn(baseUrl(), 'GET', devicePage(deviceId), {
      Host: 'localhost:8080',
      Authorization: `Bearer ${await tokenWith(READ_BASIC)}`,
    });
    expect(page.status).toBe(200);
    expect(page.json['@odata.context']).toBe('http://localhost:8080/v1.0/$metadata#informationProtection/bitlocker/recoveryKeys');
    expect(page.json['@odata.nextLink'].startsWith(`http://localhost:8080${COLLECTION}?`)).toBe(true);
  });

  it('refuses to load when it is not an https URL', async () => {
    await expect(privateHost({ PUBLIC_BASE_URL: 'http://escrow.example.net' })).rejects.toThrow(/PUBLIC_BASE_URL must be an https URL/);
  });
});

describe('request lines starting with //', () => {
  it.each([`//x${COLLECTION}`, `//x.example${COLLECTION}?$top=1`, `/${COLLECTION}`, '//health'])(
    '%s is a Graph-shaped 404 with a request-id and no link anywhere',
    async (path) => {
      const response = await rawCallOn(baseUrl(), 'GET', path, { Authorization: `Bearer ${await tokenWith(READ_BASIC)}` });
      expectGraphError(response, 404, 'itemNotFound');
      expect(response.headers.get('request-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(response.text).not.toContain('http://x');
      expect(response.text).not.toContain('@odata');
    },
  );
});

describe('local modes in Azure', () => {
  it.each([
    [{ AUTH_MODE: 'local' }, /AUTH_MODE=local is refused: WEBSITE_INSTANCE_ID is set, so this runs in Azure/],
    [{ AUTH_MODE: 'entra', DEVICE_AUTH: 'local' }, /DEVICE_AUTH=local is refused: WEBSITE_INSTANCE_ID is set/],
  ])('%j with WEBSITE_INSTANCE_ID set: the app does not load, and says why', async (env, message) => {
    const started = privateHost({ ...env, WEBSITE_INSTANCE_ID: 'a1b2c3' });
    await expect(started).rejects.toBeInstanceOf(HostDidNotStart);
    await expect(started).rejects.toThrow(message);
  });
});

describe('GET /health', () => {
  it('answers 200 without a token when storage and the keyring answer, naming both', async () => {
    const response = await callOn(baseUrl(), 'GET', '/health');
    expect(response.status).toBe(200);
    expect(response.json).toEqual({ status: 'healthy', checks: { storage: 'ok', keyring: 'ok', auth: 'ok' } });
    expect(response.headers.get('request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('is GET only', async () => {
    const response = await callOn(baseUrl(), 'POST', '/health');
    expectGraphError(response, 405, 'methodNotAllowed');
  });

  it('answers 503 naming storage when storage is down, promptly, and logs the failing call', async () => {
    const host = await privateHost({ STORAGE_CONNECTION_STRING: azuriteConnectionString(await findFreePort()) });
    const started = Date.now();
    const response = await callOn(host.url, 'GET', '/health');
    expect(Date.now() - started).toBeLessThan(6_000);
    expectGraphError(response, 503, 'serviceNotAvailable');
    expect(response.json.error.message).toBe('Unhealthy: storage: Storage is unreachable; try again shortly.');
    expect(response.headers.get('retry-after')).toBe('10');
    const line = host
      .output()
      .split('\n')
      .find((text) => text.includes('"dependencyFailure"') && text.includes(response.headers.get('request-id')!));
    expect(line).toBeDefined();
    expect(JSON.parse(line!.slice(line!.indexOf('{')))).toMatchObject({
      operation: 'health',
      cause: { failing: ['storage'], storage: { code: 'ECONNREFUSED', tries: expect.any(Number), ms: expect.any(Number) } },
    });
    // A second probe within seconds reuses the result: no new storage call, no new wait.
    const again = Date.now();
    expect((await callOn(host.url, 'GET', '/health')).status).toBe(503);
    expect(Date.now() - again).toBeLessThan(500);
  });

  it('answers 503 naming auth when the service could authenticate no request (entra mode without its settings)', async () => {
    const host = await privateHost({
      AUTH_MODE: 'entra',
      AUTH_TENANT_ID: undefined,
      AUTH_AUDIENCE: undefined,
      // Entra mode has no development keyring: the keys are given, as in Azure.
      ENCRYPTION_KEYS: JSON.stringify({ v1: randomBytes(32).toString('base64') }),
      ENCRYPTION_ACTIVE_KEY: 'v1',
    });
    const response = await callOn(host.url, 'GET', '/health');
    expectGraphError(response, 503, 'serviceNotAvailable');
    expect(response.json.error.message).toBe('Unhealthy: auth: The service is not configured to authenticate requests.');
    // Every API request on that instance is refused the same way: the probe now says so.
    expectGraphError(
      await callOn(host.url, 'GET', `${COLLECTION}/${randomUUID()}`, { token: await tokenWith(READ_BASIC) }),
      503,
      'serviceNotAvailable',
    );
  });
});

describe('npm start on a fresh clone', () => {
  it('answers development tokens with no AUTH_MODE and no ENCRYPTION_KEYS set (the app bundle defaults to local mode too)', async () => {
    // What the README's quick start relies on: the host sets AUTH_MODE=local for the app it loads, a
    // bundle with its own copy of the settings code, not only for its own.
    const host = await startLocalHost({ AUTH_MODE: undefined, ENCRYPTION_KEYS: undefined, LOCAL_STATE_DIR: process.env.LOCAL_STATE_DIR });
    const body = keyBody();
    const escrowed = await callOn(host.url, 'PATCH', `${COLLECTION}/${body.id}`, { token: await tokenWith(WRITE), body });
    expect({ status: escrowed.status, id: escrowed.json.id, key: escrowed.json.key }).toEqual({ status: 200, id: body.id, key: body.key });
  });
});
