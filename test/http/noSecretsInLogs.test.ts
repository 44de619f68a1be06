import { randomBytes } from 'node:crypto';
import { parseJson, READ, READ_BASIC, WRITE, token, type GraphJson } from '../support/client';
import { keyBody, newId, recoveryPassword, type KeyBody } from '../support/fixtures';
import { AUDIT_READ, keySpellings, newOid, secretsIn, targetFilter, tokenParts } from '../support/audit';
import { type LocalHost, stopLocalHosts } from '../../scripts/devhost/localHost';
import { type CapturedHost, startCapturedHost } from '../support/capturedHost';
import { COLLECTION, item } from '../support/keys';

// Nothing secret reaches the service's output: a private local host (own port, the run's storage and
// development signing key) runs a full session of escrows, key reads, refusals, bad bodies, missing
// things, bad tokens and audit listings, with every byte it writes to stdout and stderr captured;
// after it has stopped, no recovery key (in any spelling) and no token (nor its signature or payload)
// may appear in that output, while the request log lines, with their request-ids, must.

jest.setTimeout(60_000);

interface Response {
  status: number;
  requestId: string | null;
  text: string;
  json: GraphJson;
}

let host: LocalHost;
let running: CapturedHost;
/** All the host printed, once it has stopped. */
let captured = '';

/** Every recovery password and token the session used. */
const passwords: string[] = [];
const tokens: string[] = [];
/** Every response of the session. */
const responses: { what: string; response: Response }[] = [];

async function send(
  what: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.Authorization = `Bearer ${options.token}`;
  let body = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['Content-Type'] ??= 'application/json';
  }
  const reply = await fetch(new URL(path, host.url), { method, headers, body });
  const text = await reply.text();
  const response = { status: reply.status, requestId: reply.headers.get('request-id'), text, json: parseJson(text) };
  responses.push({ what, response });
  return response;
}

/** A recovery password to use in the session, remembered for the final scan. */
function secretKey(): string {
  const key = recoveryPassword();
  passwords.push(key);
  return key;
}

function secretBody(overrides: KeyBody = {}): KeyBody {
  const body = keyBody({ key: secretKey(), ...overrides });
  return body;
}

beforeAll(async () => {
  // The run's storage and state folder (its development signing key) come with process.env.
  running = await startCapturedHost();
  host = running.host;
  expect(running.output().length).toBeLessThan(8_000);
});

afterAll(async () => {
  await stopLocalHosts();
});

// The steps share the host and run in order: the session, the misplaced keys, then the checks on the
// output of the stopped host.

/** Recovery passwords pasted where a key id belongs: kept apart, so that their check fails on its own. */
const pastedKeys: string[] = [];

it('runs a full session against the private host', async () => {
  const claims = () => ({ oid: newOid() });
  const [writer, reader, basic, auditor, delegatedWriter, unrelated] = await Promise.all([
    token({ roles: [WRITE], claims: claims() }),
    token({ roles: [READ], claims: claims() }),
    token({ scopes: [READ_BASIC], claims: claims() }),
    token({ roles: [AUDIT_READ], claims: claims() }),
    token({ scopes: ['BitlockerKey.ReadWrite.All'], claims: claims() }),
    token({ roles: ['User.Read.All'], claims: claims() }),
  ]);
  const expired = await token({ roles: [READ], expiresIn: -3600, claims: claims() });
  const wrongAudience = await token({ roles: [READ], claims: { ...claims(), aud: 'api://someone-else' } });
  const [header, payload] = reader.split('.');
  const badSignature = `${header}.${payload}.${randomBytes(256).toString('base64url')}`;
  const garbage = `garbage-${randomBytes(24).toString('base64url')}`;
  const garbageJwt = `eyJhbGciOiJSUzI1NiJ9.${randomBytes(48).toString('base64url')}.${randomBytes(64).toString('base64url')}`;
  tokens.push(writer, reader, basic, auditor, delegatedWriter, unrelated, expired, wrongAudience, badSignature, garbage, garbageJwt);

  // ---- escrow several keys, every way there is ------------------------------------------------------------------
  const deviceId = newId();
  const bodies = [secretBody({ deviceId }), secretBody({ deviceId, volumeType: '1' }), secretBody({ deviceId }), secretBody({ deviceId })];
  const escrowed: string[] = [];
  expect((await send('PATCH collection', 'PATCH', '/bitlocker/recoveryKeys', { token: writer, body: bodies[0] })).status).toBe(200);
  expect((await send('PATCH item', 'PATCH', item(bodies[1].id!), { token: delegatedWriter, body: bodies[1] })).status).toBe(200);
  expect((await send('POST', 'POST', COLLECTION, { token: writer, body: bodies[2] })).status).toBe(201);
  const { id: _dropped, ...withoutId } = bodies[3];
  const generated = await send('PATCH collection without id', 'PATCH', COLLECTION, { token: writer, body: withoutId });
  expect(generated.status).toBe(200);
  escrowed.push(bodies[0].id!, bodies[1].id!, bodies[2].id!, generated.json.id);
  // An attempt to change the key (a 409: a password never changes under its key id), twice, and a
  // repeat of the stored key (a no-op that echoes it).
  const newKey = secretKey();
  for (let i = 0; i < 2; i++) {
    expect((await send('PATCH change key', 'PATCH', item(escrowed[0]), { token: writer, body: { key: newKey } })).status).toBe(409);
  }
  expect((await send('PATCH same key', 'PATCH', item(escrowed[0]), { token: writer, body: { key: bodies[0].key } })).status).toBe(200);

  // ---- read them with $select=key ---------------------------------------------------------------------------------
  const expectedKeys = [bodies[0].key, bodies[1].key, bodies[2].key, bodies[3].key];
  for (const [i, id] of escrowed.entries()) {
    const read = await send('read key', 'GET', `${item(id)}?$select=key`, {
      token: reader,
      headers: { 'User-Agent': 'HelpdeskPortal/1.0' },
    });
    expect(read.status).toBe(200);
    expect(read.json.key).toBe(expectedKeys[i]);
  }

  // ---- refusals ---------------------------------------------------------------------------------------------------
  expect((await send('ReadBasic reads key', 'GET', `${item(escrowed[1])}?$select=key`, { token: basic })).status).toBe(403);
  expect((await send('ReadWrite reads key', 'GET', `${item(escrowed[1])}?$select=key`, { token: writer })).status).toBe(403);
  expect((await send('unrelated reads', 'GET', item(escrowed[1]), { token: unrelated })).status).toBe(403);
  expect((await send('reader writes', 'PATCH', item(escrowed[2]), { token: reader, body: { key: secretKey() } })).status).toBe(403);
  expect((await send('reader posts', 'POST', COLLECTION, { token: reader, body: secretBody() })).status).toBe(403);

  // ---- bad bodies that carry a key ------------------------------------------------------------------------------------
  const stray = secretKey();
  const badBodies: [string, Parameters<typeof send>[3], number][] = [
    ['key in an unknown property', { token: writer, body: { ...secretBody(), recoveryPassword: stray } }, 400],
    ['key as deviceId', { token: writer, body: secretBody({ deviceId: stray }) }, 400],
    ['key as volumeType', { token: writer, body: secretBody({ volumeType: stray }) }, 400],
    ['key as a property name', { token: writer, body: { ...secretBody(), [secretKey()]: true } }, 400],
    ['a key that is not valid', { token: writer, body: secretBody({ key: `${secretKey().slice(0, -1)}8` }) }, 400],
    [
      'invalid JSON around a key',
      { token: writer, rawBody: `{"key": "${secretKey()}", "deviceId": `, headers: { 'Content-Type': 'application/json' } },
      400,
    ],
    [
      'a key in a non-object',
      { token: writer, rawBody: JSON.stringify([secretKey()]), headers: { 'Content-Type': 'application/json' } },
      400,
    ],
    [
      'a key without JSON content type',
      { token: writer, rawBody: JSON.stringify(secretBody()), headers: { 'Content-Type': 'text/plain' } },
      415,
    ],
    ['a key in a body over the limit', { token: writer, body: { ...secretBody(), padding: `${secretKey()} `.repeat(400) } }, 413],
    ['id in the body differs', { token: writer, body: secretBody({ id: newId() }) }, 400],
  ];
  for (const [what, options, status] of badBodies) {
    expect({ what, status: (await send(what, 'PATCH', item(newId()), options)).status }).toEqual({ what, status });
  }
  // A key in a query option (only the path is logged, but the message must not end up anywhere else either).
  const queried = secretKey();
  expect(
    (await send('key in $filter', 'GET', `${COLLECTION}?$filter=${encodeURIComponent(`id eq '${queried}'`)}`, { token: reader })).status,
  ).toBe(400);

  // ---- missing things, wrong methods, deletes, lists, audits ---------------------------------------------------------
  expect((await send('absent key', 'GET', `${item(newId())}?$select=key`, { token: reader })).status).toBe(404);
  expect((await send('absent path', 'GET', '/v1.0/nowhere', { token: reader })).status).toBe(404);
  expect((await send('PUT item', 'PUT', item(escrowed[2]), { token: writer, body: secretBody() })).status).toBe(405);
  expect((await send('DELETE collection', 'DELETE', COLLECTION, { token: writer })).status).toBe(405);
  expect((await send('delete', 'DELETE', item(escrowed[2]), { token: writer })).status).toBe(204);
  expect((await send('delete again', 'DELETE', item(escrowed[2]), { token: writer })).status).toBe(404);
  const list = await send('list by device', 'GET', `${COLLECTION}?$filter=${encodeURIComponent(`deviceId eq '${deviceId}'`)}`, {
    token: basic,
  });
  expect(list.status).toBe(200);
  expect(list.json.value).toHaveLength(3);
  expect((await send('list', 'GET', `${COLLECTION}?$top=5`, { token: reader })).status).toBe(200);
  for (const id of escrowed) {
    const audits = await send('audits', 'GET', `/v1.0/auditLogs/directoryAudits?$filter=${encodeURIComponent(targetFilter(id))}`, {
      token: auditor,
    });
    expect(audits.status).toBe(200);
    expect(audits.json.value.length).toBeGreaterThan(0);
  }
  expect((await send('audits refused', 'GET', '/v1.0/auditLogs/directoryAudits', { token: reader })).status).toBe(403);

  // ---- bad tokens -----------------------------------------------------------------------------------------------------
  for (const [what, bad] of [
    ['garbage token', garbage],
    ['garbage JWT', garbageJwt],
    ['bad signature', badSignature],
    ['expired token', expired],
    ['wrong audience', wrongAudience],
  ] as const) {
    expect({ what, status: (await send(what, 'GET', `${item(escrowed[0])}?$select=key`, { token: bad })).status }).toEqual({
      what,
      status: 401,
    });
    expect({ what, status: (await send(what, 'PATCH', item(newId()), { token: bad, body: secretBody() })).status }).toEqual({
      what,
      status: 401,
    });
  }
  expect((await send('no token', 'GET', `${item(escrowed[0])}?$select=key`)).status).toBe(401);
  expect(
    (
      await send('Basic credentials', 'GET', item(escrowed[0]), {
        headers: { Authorization: `Basic ${Buffer.from(`user:${garbage}`).toString('base64')}` },
      })
    ).status,
  ).toBe(401);
  tokens.push(Buffer.from(`user:${garbage}`).toString('base64'));
});

it('runs requests with a recovery password pasted where a key id belongs', async () => {
  // A helpdesk pasting the recovery password shown on a screen into the key-id field, or a script
  // that swapped its arguments: the key is in the URL path.
  const [reader, writer] = await Promise.all([
    token({ roles: [READ], claims: { oid: newOid() } }),
    token({ roles: [WRITE], claims: { oid: newOid() } }),
  ]);
  tokens.push(reader, writer);
  const pasted = recoveryPassword();
  pastedKeys.push(pasted);
  expect((await send('key as the URL id', 'GET', `${item(pasted)}?$select=key`, { token: reader })).status).toBe(400);
  expect((await send('key as the URL id of a DELETE', 'DELETE', item(pasted), { token: writer })).status).toBe(400);
  expect((await send('key in an unknown path', 'GET', `/v1.0/recoveryKeys/${pasted}`, { token: reader })).status).toBe(404);
});

/** The lines of the output that hold one of `secrets`, for the failure message. */
const linesWith = (secrets: string[]): string[] => captured.split('\n').filter((line) => secretsIn(line, secrets).length > 0);

describe('once the host has stopped, its output', () => {
  beforeAll(async () => {
    captured = await running.stopAndCollect();
  });

  it('holds no recovery key and no token of the session', () => {
    const secrets = [...passwords.flatMap(keySpellings), ...tokens.flatMap(tokenParts)];
    // The scan must have something to find if a secret were there: the session used these.
    expect(passwords.length).toBeGreaterThan(20);
    expect(tokens.length).toBeGreaterThan(10);
    expect(linesWith(secrets)).toEqual([]);
  });

  it('holds no recovery key pasted into a URL', () => {
    expect(linesWith(pastedKeys.flatMap(keySpellings))).toEqual([]);
  });

  it('holds the request log line of every response, with its request-id (the capture works)', () => {
    const requestLines = captured.split('\n').filter((line) => line.includes('"event":"request"'));
    expect(requestLines.length).toBeGreaterThanOrEqual(responses.length);
    for (const { what, response } of responses) {
      expect(response.requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect({ what, logged: requestLines.some((line) => line.includes(`"requestId":"${response.requestId}"`)) }).toEqual({
        what,
        logged: true,
      });
    }
  });
});
