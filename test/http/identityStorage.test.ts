import { expect } from '@jest/globals';
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzuriteTables, type RunningAzurite } from '../../scripts/devhost/azurite';
import { callOn, expectGraphError, READ, tokenWith, WRITE } from '../support/client';
import { keyBody, newId } from '../support/fixtures';
import { COLLECTION } from '../support/keys';
import { startLocalHost, stopLocalHosts, type EnvOverrides } from '../../scripts/devhost/localHost';
import {
  selfSignedCertificate,
  startManagedIdentityStandIn,
  STORAGE_RESOURCE,
  type ManagedIdentityStandIn,
} from '../support/managedIdentity';

// STORAGE_TABLE_ENDPOINT with DefaultAzureCredential, for real: an Azurite that checks bearer tokens
// (`--oauth basic`, over https with a certificate made here), hosts that get their tokens from a
// stand-in of the App Service managed-identity endpoint, and no shared key anywhere in their settings.

/** The host's `dependencyFailure` log line (shared/http/handler.ts): the members this file reads. */
interface DependencyFailure {
  requestId: string;
  status: number;
  cause: { code?: string; status?: number; call: string; ms?: number };
}

jest.setTimeout(90_000);

let dir: string;
let azurite: RunningAzurite;
let cert: string;
const standIns: ManagedIdentityStandIn[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'escrow-identity-'));
  const certificate = selfSignedCertificate(dir);
  cert = certificate.cert;
  azurite = await startAzuriteTables({ port: 0, inMemory: true, silent: true, oauth: certificate });
});

afterAll(async () => {
  await stopLocalHosts();
  await Promise.all(standIns.map((standIn) => standIn.close()));
  await azurite?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function standIn(audience?: string): Promise<ManagedIdentityStandIn> {
  const started = await startManagedIdentityStandIn({ audience });
  standIns.push(started);
  return started;
}

/** A host on the token-checking Azurite through its managed identity: no connection string, no key. */
function identityHost(identity: ManagedIdentityStandIn, extra: EnvOverrides = {}) {
  return startLocalHost({
    STORAGE_CONNECTION_STRING: undefined,
    STORAGE_TABLE_ENDPOINT: azurite.tableEndpoint,
    IDENTITY_ENDPOINT: identity.endpoint,
    IDENTITY_HEADER: identity.header,
    NODE_EXTRA_CA_CERTS: cert,
    AUTH_MODE: 'local',
    LOCAL_STATE_DIR: process.env.LOCAL_STATE_DIR,
    ...extra,
  });
}

describe('identity-based Table Storage', () => {
  it('stores and reads keys with tokens from the managed identity (user-assigned, by AZURE_CLIENT_ID)', async () => {
    const identity = await standIn();
    const clientId = randomUUID();
    const host = await identityHost(identity, { AZURE_CLIENT_ID: clientId });
    expect(host.output()).toContain('storage: STORAGE_TABLE_ENDPOINT with DefaultAzureCredential');

    const body = keyBody({ id: newId() });
    const written = await callOn(host.url, 'PATCH', `${COLLECTION}/${body.id}`, { token: await tokenWith(WRITE), body });
    expect(written.status).toBe(200);
    expect(written.json).toMatchObject({ id: body.id, deviceId: body.deviceId, key: body.key });

    const read = await callOn(host.url, 'GET', `${COLLECTION}/${body.id}?$select=key`, { token: await tokenWith(READ) });
    expect(read.status).toBe(200);
    expect(read.json.key).toBe(body.key);

    const health = await callOn(host.url, 'GET', '/health');
    expect(health.status).toBe(200);
    expect(health.json).toEqual({ status: 'healthy', checks: { storage: 'ok', keyring: 'ok', auth: 'ok' } });

    // Every token came from the endpoint as App Service defines it, for storage, for the chosen identity.
    expect(identity.requests.length).toBeGreaterThan(0);
    for (const request of identity.requests) {
      expect(request).toEqual({ apiVersion: '2019-08-01', resource: STORAGE_RESOURCE, clientId, headerMatched: true });
    }
  });

  it('npm run reencrypt takes the same settings: it moves the keys written above to a new key version by identity', async () => {
    const identity = await standIn();
    // The development keyring the hosts above used (AUTH_MODE=local without ENCRYPTION_KEYS), plus a new active version.
    const development = JSON.parse(await readFile(join(process.env.LOCAL_STATE_DIR!, 'encryption-keys.json'), 'utf8')) as {
      keys: Record<string, string>;
    };
    const env = {
      ...process.env,
      STORAGE_CONNECTION_STRING: undefined,
      STORAGE_TABLE_ENDPOINT: azurite.tableEndpoint,
      IDENTITY_ENDPOINT: identity.endpoint,
      IDENTITY_HEADER: identity.header,
      NODE_EXTRA_CA_CERTS: cert,
      ENCRYPTION_KEYS: JSON.stringify({ ...development.keys, v2: randomBytes(32).toString('base64') }),
      ENCRYPTION_ACTIVE_KEY: 'v2',
    };
    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [join(__dirname, '../../dist/scripts/cli/reencrypt.js')],
        { env, timeout: 30_000 },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(run).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/reencrypt: done: [1-9]\d* scanned, [1-9]\d* moved to v2, .* 0 failed/),
    });
    expect(identity.requests.length).toBeGreaterThan(0);
    expect(identity.requests.every((request) => request.resource === STORAGE_RESOURCE && request.headerMatched)).toBe(true);
  });

  it('answers 503, not 500, when storage refuses the token, and logs which call failed and why', async () => {
    // Tokens for another audience: Azurite answers 403 AuthenticationFailed, as Azure Storage does.
    const identity = await standIn('https://vault.azure.net');
    const host = await identityHost(identity);

    const body = keyBody({ id: newId() });
    const written = await callOn(host.url, 'PATCH', `${COLLECTION}/${body.id}`, { token: await tokenWith(WRITE), body });
    expectGraphError(written, 503, 'serviceNotAvailable');
    expect(written.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(written.json.error.message).toBe("Storage refused the service's credentials; try again later.");
    expect(written.text).not.toContain(body.key!);

    const health = await callOn(host.url, 'GET', '/health');
    expectGraphError(health, 503, 'serviceNotAvailable');
    expect(health.json.error.message).toMatch(/^Unhealthy: storage: /);
    expect(health.json.error.message).not.toContain('keyring');

    const log = host.output();
    const failure = log
      .split('\n')
      .filter((line) => line.includes('"dependencyFailure"'))
      .map((line) => JSON.parse(line.slice(line.indexOf('{'))) as DependencyFailure)
      .find((entry) => entry.requestId === written.headers.get('request-id'));
    expect(failure).toMatchObject({
      status: 503,
      cause: { code: 'AuthenticationFailed', status: 403, call: expect.stringMatching(/^(POST|GET|PUT) /) },
    });
    expect(failure!.cause.ms).toEqual(expect.any(Number));
    // No URL of storage, no entity content in the log.
    expect(log).not.toContain(azurite.tableEndpoint);
    expect(log).not.toContain(`127.0.0.1:${azurite.port}`);
    expect(log).not.toContain(body.key!);
  });

  it('answers 503, not 500, when the managed-identity endpoint gives no token, and logs that the token failed', async () => {
    const identity = await standIn();
    // The right endpoint, the wrong secret: the endpoint answers 400, as App Service's does.
    const host = await identityHost({ ...identity, header: 'not-the-secret' });
    const response = await callOn(host.url, 'GET', `${COLLECTION}/${newId()}`, { token: await tokenWith(READ) });
    expectGraphError(response, 503, 'serviceNotAvailable');
    expect(identity.requests.some((request) => !request.headerMatched)).toBe(true);
    const failure = host
      .output()
      .split('\n')
      .find((line) => line.includes('"dependencyFailure"') && line.includes(response.headers.get('request-id')!));
    expect((JSON.parse(failure!.slice(failure!.indexOf('{'))) as DependencyFailure).cause).toMatchObject({ call: 'token' });
    expect(host.output()).not.toContain('not-the-secret');
  });

  it('refuses to load with both STORAGE_CONNECTION_STRING and STORAGE_TABLE_ENDPOINT, naming both', async () => {
    const identity = await standIn();
    await expect(identityHost(identity, { STORAGE_CONNECTION_STRING: azurite.connectionString })).rejects.toThrow(
      /only one of STORAGE_CONNECTION_STRING .* and STORAGE_TABLE_ENDPOINT/,
    );
  });
});
