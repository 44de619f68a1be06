import { expect } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import * as zlib from 'node:zlib';
import { TableClient, type TableEntityResult } from '@azure/data-tables';
import fc from 'fast-check';
import { startAzuriteTables, type RunningAzurite } from '../../scripts/devhost/azurite';
import { startLocalHost, type LocalHost } from '../../scripts/devhost/localHost';
import { MAX_BODY_BYTES, MAX_CONTENT_CODINGS } from '../../shared/http/body';
import { INVALID_SKIP_TOKEN_MESSAGE, ITEM_SELECTABLE_PROPERTIES, MAX_TOP, SELECTABLE_PROPERTIES } from '../../shared/odata';
import * as arb from '../support/arbitraries';
import { READ, READ_BASIC, token, tokenWith, WRITE, type GraphJson } from '../support/client';
import { RECORD_ROW, TABLES } from '../../shared/storage/layout';

// Property-based tests over HTTP: generated requests, ordinary and hostile, against the compiled app on the
// local host with Azurite behind it. For every request: never a 5xx; every 4xx in Graph's error shape, with
// innerError['request-id'] equal to the request-id header and a message of printable ASCII only (client text
// escaped, never a recovery password); client-request-id echoed only when it is safe to; and the key tables
// unchanged after a refusal and after any read. Each property also checks what its inputs call for.
//
// This file starts its own in-memory Azurite and local host (the same dist/ build that globalSetup runs), so
// that "nothing was written" can be checked on the whole of both key tables while other test files write
// to the shared ones. The AuditLog table is left out of that check: refusals and key reads are audited there
// by design. (A successful write's audit twin lives in the key's own partition and counts as part of it.)
//
// Knobs (environment variables):
//   FUZZ_RUNS  runs per property; default 200 (about 2000 requests in all, some 30 s). FUZZ_RUNS=5000 for a long run.
//   FUZZ_SEED  the seed; default a fixed one, so CI runs the same cases each time. FUZZ_SEED=random for a new
//              one each run (it is printed on failure like any other).
// On a failure fast-check prints the counterexample and `{ seed: S, path: "P" }`. Replay exactly that case:
//   npm run build && FUZZ_SEED=S FUZZ_PATH="P" npx jest test/http/fuzz.test.ts -t '<the property name>'

const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`FUZZ_RUNS must be a positive whole number, not ${process.env.FUZZ_RUNS}`);
const SEED = process.env.FUZZ_SEED === 'random' ? Date.now() ^ (Math.random() * 0x100000000) : Number(process.env.FUZZ_SEED ?? 20261128);
const REPLAY_PATH = process.env.FUZZ_PATH || undefined;
const fuzz = { numRuns: RUNS, seed: SEED, path: REPLAY_PATH, endOnFailure: REPLAY_PATH !== undefined };
const TIMEOUT_MS = 60_000 + RUNS * 200;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const RECOVERY_PASSWORD = /[0-9]{6}(-[0-9]{6}){7}/;
const ERROR_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/;
const SAFE_CLIENT_REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
const KEY_TABLES = [TABLES.recoveryKeys, TABLES.deviceIndex];

// ---- a private Azurite and local host -------------------------------------------------------------------------

let azurite: RunningAzurite;
let host: LocalHost | undefined;
let hostUrl: URL;
/** Lines of the host's log that speak of an error; none are expected. */
const hostErrors: string[] = [];

// ---- raw HTTP ---------------------------------------------------------------------------------------------------

// node:http rather than fetch: fetch normalises the path ('..', '%2e') and refuses header bytes that HTTP
// allows; this sends the generated path, headers and body bytes as they are.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

interface Sent {
  method: string;
  /** Raw: sent as is, percent-encoding and all. */
  path: string;
  /** A list sends the header once per value. */
  headers?: Record<string, string | string[] | undefined>;
  body?: string | Buffer;
  /** Sent in two chunks with Transfer-Encoding: chunked and no Content-Length. */
  chunked?: boolean;
}

interface Received {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: GraphJson | undefined;
}

function send(sent: Sent, retry = true): Promise<Received> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(sent.headers ?? {})) if (value !== undefined) headers[name] = value;
  if (sent.body !== undefined && !sent.chunked) headers['content-length'] = String(Buffer.byteLength(sent.body));
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: hostUrl.hostname, port: hostUrl.port, method: sent.method, path: sent.path, headers, agent },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: GraphJson | undefined;
          try {
            json = text ? (JSON.parse(text) as GraphJson) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: response.statusCode!, headers: response.headers, text, json });
        });
        response.on('error', reject);
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) => {
      // A kept-alive socket the server had just closed: the request never reached it.
      if (retry && request.reusedSocket && error.code === 'ECONNRESET') send(sent, false).then(resolve, reject);
      else reject(error);
    });
    // Always bytes: with a string body node writes the header block in the body's encoding (UTF-8), so a
    // header character 0x80-0xFF would go out as two bytes instead of the one byte it stands for.
    const bytes = sent.body === undefined ? undefined : Buffer.from(sent.body);
    if (sent.chunked && bytes !== undefined) {
      request.write(bytes.subarray(0, bytes.length >> 1));
      request.end(bytes.subarray(bytes.length >> 1));
    } else {
      request.end(bytes);
    }
  });
}

// ---- the store --------------------------------------------------------------------------------------------------

type Entity = TableEntityResult<Record<string, unknown>>;
type Snapshot = Map<string, Entity>;

const tables = new Map<string, TableClient>();
const table = (name: string): TableClient => {
  if (!tables.has(name))
    tables.set(name, TableClient.fromConnectionString(azurite.connectionString, name, { allowInsecureConnection: true }));
  return tables.get(name)!;
};

async function snapshot(): Promise<Snapshot> {
  const all = new Map<string, Entity>();
  await Promise.all(
    KEY_TABLES.map(async (name) => {
      try {
        for await (const entity of table(name).listEntities()) all.set(`${name}|${entity.partitionKey}|${entity.rowKey}`, entity);
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode !== 404) throw error;
      }
    }),
  );
  return all;
}

interface Change {
  table: string;
  partitionKey: string;
  rowKey: string;
  change: 'added' | 'removed' | 'changed';
}

function changes(before: Snapshot, after: Snapshot): Change[] {
  const found: Change[] = [];
  const describe = (key: string, change: Change['change']): Change => {
    const [name, partitionKey, rowKey] = key.split('|') as [string, string, string];
    return { table: name, partitionKey, rowKey, change };
  };
  for (const [key, entity] of after) {
    const old = before.get(key);
    if (!old) found.push(describe(key, 'added'));
    else if (old.etag !== entity.etag) found.push(describe(key, 'changed'));
  }
  for (const key of before.keys()) if (!after.has(key)) found.push(describe(key, 'removed'));
  return found;
}

/** The store as it was before the current case; kept between cases, since only this file writes to it. */
let baseline: Snapshot;

/** Puts the store back to `baseline` after a case that changed it, so that every case starts from the same place. */
async function restore(after: Snapshot): Promise<void> {
  const found = changes(baseline, after);
  await Promise.all(
    found.map(async (change) => {
      const client = table(change.table);
      if (change.change === 'added') {
        await client.deleteEntity(change.partitionKey, change.rowKey);
      } else {
        const { etag: _etag, timestamp: _timestamp, ...entity } = baseline.get(`${change.table}|${change.partitionKey}|${change.rowKey}`)!;
        await client.upsertEntity(entity as { partitionKey: string; rowKey: string }, 'Replace');
      }
    }),
  );
  // Deleting what was added leaves the baseline as it was; an entity put back has a new ETag.
  if (found.some((change) => change.change !== 'added')) baseline = await snapshot();
}

const isWrite = (method: string): boolean => ['PATCH', 'POST', 'DELETE'].includes(method.toUpperCase());

/**
 * What a write did to the key tables: nothing at all after a refusal; after a success, only the rows of the
 * key it names, and never a record without its index entry. Reads are checked together after each property
 * (afterEach below) rather than one by one: reading both tables costs more than the request itself.
 */
async function checkStore(sent: Sent, received: Received): Promise<void> {
  if (!isWrite(sent.method)) return;
  const after = await snapshot();
  const found = changes(baseline, after);
  const method = sent.method.toUpperCase();
  try {
    if (received.status >= 400) {
      expect({ status: received.status, changes: found }).toEqual({ status: received.status, changes: [] });
      return;
    }
    if (found.length === 0) return;
    const id: string | undefined =
      method === 'DELETE' ? found.find((c) => c.table === TABLES.recoveryKeys)?.partitionKey : received.json?.id;
    expect(id).toMatch(GUID);
    for (const change of found) expect(change.table === TABLES.recoveryKeys ? change.partitionKey : change.rowKey).toBe(id);
    const record = [...after.values()].find((e) => e.partitionKey === id && e.rowKey === RECORD_ROW);
    if (method === 'DELETE') {
      // A soft delete: the record stays, marked deleted, and leaves its device's index.
      expect(typeof record?.deletedDateTime).toBe('string');
      expect([...after.keys()].some((k) => k.startsWith('RecoveryKeysByDevice|') && k.endsWith(`|${id}`))).toBe(false);
    } else {
      // The record and its device index entry, both or neither.
      expect(record).toBeDefined();
      expect(after.has(`RecoveryKeysByDevice|${String(record!.deviceId)}|${id}`)).toBe(true);
    }
  } finally {
    if (found.length > 0) await restore(after);
  }
}

// ---- what every response must be --------------------------------------------------------------------------------

const headerValue = (received: Received, name: string): string | undefined => {
  const value = received.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
};

/** The rules every answer follows, whatever was asked. */
function checkResponse(sent: Sent, received: Received): void {
  const context = { request: `${sent.method} ${sent.path.slice(0, 200)}`, status: received.status, body: received.text.slice(0, 500) };
  expect({ ...context, below500: received.status < 500 }).toEqual({ ...context, below500: true });

  const requestId = headerValue(received, 'request-id');
  expect(requestId).toMatch(GUID);

  // client-request-id: echoed exactly when it is a safe header value (printable ASCII, bounded), never otherwise.
  // As the app sees it: each value without surrounding blanks, repeated headers joined with ', ' and the
  // result trimmed again (the Fetch Headers object of @azure/functions normalises values).
  const sentValues = sent.headers?.['client-request-id'];
  const trimBlanks = (v: string) => v.replace(/^[ \t]+|[ \t]+$/g, '');
  const sentClientRequestId = sentValues === undefined ? undefined : trimBlanks([sentValues].flat().map(trimBlanks).join(', '));
  const echoed = headerValue(received, 'client-request-id');
  if (sentClientRequestId !== undefined && SAFE_CLIENT_REQUEST_ID.test(sentClientRequestId)) expect(echoed).toBe(sentClientRequestId);
  else expect(echoed).toBeUndefined();

  if (received.status === 401) expect(headerValue(received, 'www-authenticate')).toMatch(/^Bearer/);
  if (received.status === 405) expect(headerValue(received, 'allow')).toBeTruthy();
  if (received.status < 400 || sent.method.toUpperCase() === 'HEAD') return;

  const error = received.json?.error;
  expect({ ...context, code: typeof error?.code, message: typeof error?.message }).toEqual({
    ...context,
    code: 'string',
    message: 'string',
  });
  const { innerError, message } = error!;
  expect(innerError['request-id']).toBe(requestId);
  expect(innerError.date).toMatch(ERROR_DATE);
  expect(innerError['client-request-id']).toBe(echoed);
  // Client text in a message is escaped: no control characters, NULs or bidi overrides; never a recovery password.
  expect(message).toMatch(/^[\x20-\x7e]*$/);
  expect(message).not.toMatch(RECOVERY_PASSWORD);
}

/** Sends a generated request and checks the rules for every answer, the store included; returns the answer. */
async function exchange(sent: Sent): Promise<Received> {
  const received = await send(sent);
  let failure: Error | undefined;
  try {
    checkResponse(sent, received);
  } catch (error) {
    failure = error as Error;
  }
  // The store is checked (and put back) even when the answer was wrong, so that the next case starts
  // clean; the answer's failure, when there is one, is the one reported.
  try {
    await checkStore(sent, received);
  } catch (error) {
    throw failure ?? error;
  }
  if (failure) throw failure;
  return received;
}

// ---- seeded keys ------------------------------------------------------------------------------------------------

interface Seed {
  id: string;
  deviceId: string;
  key: string;
  volumeType: string;
  createdDateTime: string;
}

/** Keys stored before the properties run: three on one device (for paging), two on others. */
const seeds: Seed[] = [];
let writer: string;
let reader: string;
let basicReader: string;
/** $skiptoken values the service issued, each with the filter it was issued under. */
const issuedTokens: { filter: string; token: string }[] = [];

const anySeed = () => fc.constantFrom(...seeds);
const seedPasswords = (): string[] => seeds.map((s) => s.key);

const bearer = (t: string): string => `Bearer ${t}`;

async function seedKeys(): Promise<void> {
  const sharedDevice = randomUUID();
  const samples = fc.sample(arb.recoveryPassword, { numRuns: 5, seed: 42 });
  for (let i = 0; i < 5; i++) {
    const body = {
      id: randomUUID(),
      deviceId: i < 3 ? sharedDevice : randomUUID(),
      key: samples[i],
      volumeType: arb.VOLUME_TYPE_NAMES[i % 4],
      createdDateTime: '2024-05-06T07:08:09.000Z',
    };
    const response = await send({
      method: 'PATCH',
      path: '/bitlocker/recoveryKeys',
      headers: { authorization: bearer(writer), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(200);
    seeds.push(body);
  }
  // A key's first reveal marks it disclosed (ROTATE_AFTER_REVEAL), a write: each is revealed once here, so
  // that the reveals of the properties below are plain reads, change nothing, and answer the disclosure's
  // @escrow. annotations beside what they select.
  for (const seed of seeds) {
    const response = await send({
      method: 'GET',
      path: `${itemPath(seed.id)}?$select=key`,
      headers: { authorization: bearer(reader) },
    });
    expect({ status: response.status, disclosed: typeof response.json?.['@escrow.disclosedDateTime'] }).toEqual({
      status: 200,
      disclosed: 'string',
    });
  }
  // A new key's device index entry stays pending until a list of its device confirms it: listed once
  // here, so that the reads of the properties below find every entry trusted and change nothing.
  for (const deviceId of new Set(seeds.map((seed) => seed.deviceId))) {
    const filter = encodeURIComponent(`deviceId eq '${deviceId}'`);
    const response = await send({
      method: 'GET',
      path: `/bitlocker/recoveryKeys?$filter=${filter}`,
      headers: { authorization: bearer(reader) },
    });
    expect(response.status).toBe(200);
  }
  for (const filter of [`deviceId eq '${sharedDevice}'`, '']) {
    const query = filter ? `$filter=${encodeURIComponent(filter)}&$top=1` : '$top=2';
    const response = await send({ method: 'GET', path: `/bitlocker/recoveryKeys?${query}`, headers: { authorization: bearer(reader) } });
    const next = new URL(response.json!['@odata.nextLink']);
    issuedTokens.push({ filter, token: next.searchParams.get('$skiptoken')! });
  }
}

beforeAll(async () => {
  azurite = await startAzuriteTables({ port: 0, inMemory: true, silent: true });
  host = await startLocalHost(
    { STORAGE_CONNECTION_STRING: azurite.connectionString, AUTH_MODE: 'local' },
    {
      onLine: (line) => {
        if (/unexpectedError|\(Failed|error:/i.test(line)) hostErrors.push(line);
      },
    },
  );
  hostUrl = new URL(host.url);
  [writer, reader, basicReader] = await Promise.all([tokenWith(WRITE), tokenWith(READ), tokenWith(READ_BASIC)]);
  await seedKeys();
  baseline = await snapshot();
}, 60_000);

// Whatever a property's reads did, and whatever a failed case left behind: the store must be as it was.
afterEach(async () => {
  const after = await snapshot();
  const found = changes(baseline, after);
  if (found.length > 0) await restore(after);
  expect(found).toEqual([]);
});

afterAll(async () => {
  agent.destroy();
  await host?.stop();
  await azurite?.stop();
});

// ---- oracles ----------------------------------------------------------------------------------------------------

/**
 * The service's own instance annotations (`@escrow.…`), which Graph allows beside the properties a $select
 * names. The seeded keys are all disclosed (seedKeys), so each answer of one carries exactly these two.
 */
const DISCLOSURE = ['@escrow.disclosedBy', '@escrow.disclosedDateTime'];
const ownAnnotation = (name: string): boolean => name.startsWith('@escrow.');
/** An answered key as two parts: its properties and OData annotations, and the names of its own annotations. */
function splitOwn(json: Record<string, unknown>): { rest: Record<string, unknown>; own: string[] } {
  const entries = Object.entries(json);
  return {
    rest: Object.fromEntries(entries.filter(([name]) => !ownAnnotation(name))),
    own: entries
      .map(([name]) => name)
      .filter(ownAnnotation)
      .sort(),
  };
}

const isJsonMediaType = (value: string | undefined): boolean =>
  value !== undefined && value.split(';', 1)[0].trim().toLowerCase() === 'application/json';

/** What readJsonObject should answer to these bytes, as far as the body alone decides. */
function bodyVerdict(bytes: Buffer): { status: 400 | 413; message: string } | 'object' {
  if (bytes.length > MAX_BODY_BYTES) return { status: 413, message: `The request body must not exceed ${MAX_BODY_BYTES} bytes.` };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { status: 400, message: 'The request body is not valid UTF-8.' };
  }
  if (text.trim() === '') return { status: 400, message: 'The request body is empty; send a JSON object.' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { status: 400, message: 'The request body is not valid JSON.' };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    // __proto__ and duplicate names are refused before the shape is looked at.
    return /"__proto__"\s*:/.test(text) ? 'object' : { status: 400, message: 'The request body must be a JSON object.' };
  }
  return 'object';
}

const itemPath = (id: string, collection = '/bitlocker/recoveryKeys'): string => `${collection}/${id}`;

const writeHeaders = (extra: Sent['headers'] = {}): Sent['headers'] => ({
  authorization: bearer(writer),
  'content-type': 'application/json',
  ...extra,
});

const validBodyText = (withId: boolean) => arb.validBody(withId).map((b) => ({ ...b, text: arb.rawObject(b.members) }));

/** A valid body without id and createdDateTime: creates a key; on a stored id its own key is another password, a 409. */
const mergeBodyText = arb
  .validBody(false)
  .map((b) => ({ ...b, text: arb.rawObject(b.members.filter(([name]) => name !== '"createdDateTime"')) }));

// ---- properties -------------------------------------------------------------------------------------------------

describe('fuzzing the recovery-key API over HTTP', () => {
  it(
    'valid-looking bodies with one property changed, removed or added (PATCH collection, PATCH item, POST)',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          arb.mutatedBody(),
          fc.constantFrom('patchCollection', 'patchItem', 'post', 'postSeed'),
          arb.collectionPath,
          arb.guid,
          fc.constantFrom('write', 'write', 'write', 'read'),
          fc.option(arb.headerText(40), { nil: undefined }),
          anySeed().chain((seed) => arb.guidSpelling(seed.id)),
          mergeBodyText,
          async (body, target, collection, urlId, who, clientRequestId, seedId, otherBody) => {
            const sent: Sent = {
              method: target.startsWith('post') ? 'POST' : 'PATCH',
              path: target === 'patchItem' ? itemPath(urlId, collection) : collection,
              headers: writeHeaders({ authorization: bearer(who === 'write' ? writer : reader), 'client-request-id': clientRequestId }),
              // POST of a stored id: a valid body that names a seed's id, in any spelling.
              body: target === 'postSeed' ? `{"id":${JSON.stringify(seedId)},${otherBody.text.slice(1)}` : body.text,
            };
            const received = await exchange(sent);
            if (who === 'read') {
              expect(received.status).toBe(403);
              return;
            }
            if (target === 'postSeed') {
              expect(received.status).toBe(409);
              return;
            }
            const verdict = bodyVerdict(Buffer.from(body.text, 'utf8'));
            if (verdict !== 'object') expect({ status: received.status, message: received.json?.error?.message }).toEqual(verdict);
            // An @odata.etag put in acts as If-Match on a PATCH: a 412 when it names no stored version.
            else if (/"@odata\.etag"\s*:\s*"/.test(body.text) && target !== 'post') expect([200, 400, 412]).toContain(received.status);
            else expect(target === 'post' ? [201, 400, 409] : [200, 400]).toContain(received.status);
            if (received.status < 300) {
              // Whatever was accepted is a whole, valid key, and the key is returned to the writer that sent it.
              expect(received.json).toMatchObject({ id: expect.stringMatching(GUID), deviceId: expect.stringMatching(GUID) });
              expect(arb.VOLUME_TYPE_NAMES).toContain(received.json!.volumeType);
              expect(received.json!.key).toMatch(new RegExp(`^${RECOVERY_PASSWORD.source}$`));
              if (target === 'patchItem') expect(received.json!.id).toBe(urlId);
            }
          },
        ),
        fuzz,
      );
    },
    TIMEOUT_MS,
  );

  it(
    'prototype-pollution names (__proto__, constructor, prototype) at any depth are refused',
    async () => {
      await fc.assert(
        fc.asyncProperty(arb.prototypeBody, fc.constantFrom('PATCH', 'POST'), async (body, method) => {
          const received = await exchange({ method, path: '/bitlocker/recoveryKeys', headers: writeHeaders(), body: body.text });
          expect(received.status).toBe(400);
          if (body.poison === '__proto__')
            expect(received.json!.error.message).toBe('__proto__ is not a property of bitlockerRecoveryKey.');
        }),
        fuzz,
      );
    },
    TIMEOUT_MS,
  );

  it(
    'a property given twice (in any spelling, at any depth) is refused with a 400 that names it',
    async () => {
      await fc.assert(
        fc.asyncProperty(arb.duplicateBody, fc.constantFrom('patchCollection', 'patchItem', 'post'), async (body, target) => {
          const received = await exchange({
            method: target === 'post' ? 'POST' : 'PATCH',
            path: target === 'patchItem' ? itemPath(body.id!) : '/bitlocker/recoveryKeys',
            headers: writeHeaders(),
            body: body.text,
          });
          expect(received.status).toBe(400);
          expect(received.json!.error.message).toBe(`The property '${body.name}' is given more than once; give each property once.`);
        }),
        fuzz,
      );
    },
    TIMEOUT_MS,
  );

  it(
    'bodies that are deep, not objects, not JSON, not UTF-8 or at the size limit get the right 400 or 413',
    async () => {
      // A valid body padded with spaces to exactly the limit, or one byte past it.
      const atLimit = fc.tuple(validBodyText(true), fc.constantFrom(0, 1)).map(([body, over]) => {
        const padding = MAX_BODY_BYTES - Buffer.byteLength(body.text) + over;
        return Buffer.from(body.text.slice(0, -1) + ' '.repeat(padding) + '}', 'utf8');
      });
      const bodies = fc.oneof(
        arb.deepBody.map((text) => Buffer.from(text, 'utf8')),
        arb.nonObjectBody.map((text) => Buffer.from(text, 'utf8')),
        arb.notJsonBody.map((text) => Buffer.from(text, 'utf8')),
        arb.invalidUtf8Body.map((b) => b.bytes),
        atLimit,
      );
      await fc.assert(
        fc.asyncProperty(bodies, arb.collectionPath, fc.boolean(), async (bytes, collection, chunked) => {
          const received = await exchange({ method: 'PATCH', path: collection, headers: writeHeaders(), body: bytes, chunked });
          const verdict = bodyVerdict(bytes);
          if (verdict === 'object') expect([200, 400]).toContain(received.status);
          else expect({ status: received.status, message: received.json?.error?.message }).toEqual(verdict);
        }),
        fuzz,
      );
    },
    TIMEOUT_MS,
  );

  it(
    'Content-Encoding: accepted codings decoded (the limit on the decoded body), more than two layers or others a 415, mislabelled bodies a 400',
    async () => {
      const encoders: Record<string, (bytes: Buffer) => Buffer> = {
        gzip: zlib.gzipSync,
        'x-gzip': zlib.gzipSync,
        deflate: zlib.deflateSync,
        br: zlib.brotliCompressSync,
        identity: (b) => b,
      };
      const coding = fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom(...Object.keys(encoders)) },
        { weight: 1, arbitrary: fc.constantFrom('compress', 'zstd', 'x-compress', 'gzip2', '*', 'chunked') },
      );
      await fc.assert(
        fc.asyncProperty(
          validBodyText(false),
          arb.guid,
          fc.array(coding, { minLength: 1, maxLength: 3 }),
          fc.boolean(),
          fc.constantFrom(0, 0, 20 * 1024),
          async (body, id, codings, honest, padding) => {
            const text = padding ? `${body.text.slice(0, -1)}${' '.repeat(padding)}}` : body.text;
            const supported = codings.every((c) => c in encoders);
            // Applied in the order listed; a dishonest client sends the body as is whatever it says.
            let bytes: Buffer = Buffer.from(text);
            if (honest && supported) for (const c of codings) bytes = encoders[c](bytes);
            const received = await exchange({
              method: 'PATCH',
              path: itemPath(id),
              headers: writeHeaders({ 'content-encoding': codings.join(', ') }),
              body: bytes,
            });
            const identityOnly = codings.every((c) => c === 'identity');
            const layers = codings.filter((c) => c !== 'identity').length;
            if (layers > MAX_CONTENT_CODINGS) {
              expect(received.status).toBe(415);
              expect(received.json!.error.message).toMatch(new RegExp(`content codings; at most ${MAX_CONTENT_CODINGS} are accepted`));
            } else if (!supported) {
              expect(received.status).toBe(415);
              expect(received.json!.error.message).toMatch(/^The content coding '.+' is not supported/);
            } else if (padding) {
              // Past the limit decoded (an honest coding) or as sent (anything else).
              expect(received.status).toBe(413);
            } else {
              expect(received.status).toBe(honest || identityOnly ? 200 : 400);
            }
          },
        ),
        fuzz,
      );
    },
    TIMEOUT_MS,
  );

  it(
    'Content-Type: 415 unless the media type is application/json, whatever the parameters and case',
    async () => {
      await fc.assert(
        fc.asyncProperty(validBodyText(false), arb.guid, arb.contentType, async (body, id, contentType) => {
          const received = await exchange({
            method: 'PATCH',
            path: itemPath(id),
            headers: writeHeaders({ 'content-type': contentType }),
            body: body.text,
          });
          expect(received.status).toBe(isJsonMediaType(contentType) ? 200 : 415);
        }),
        fuzz,
      );
    },
    TIMEOUT_MS,
  );

  it(
    'client-request-id, If-Match and If-None-Match of any shape: echoed only when safe, preconditions as RFC 9110 says',
    async () => {
      const optionalHeader = fc.option(fc.oneof(arb.headerText(40), fc.constantFrom('*', ' * ', '"*"', 'W/"x"', '*,*')), {
        nil: undefined,
      });
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('getSeed', 'patchSeed', 'patchFresh', 'deleteFresh'),
          anySeed(),
          validBodyText(false),
          arb.guid,
          // client-request-id sometimes twice: the host joins the two with ', ', which is no safe id.
          fc.option(fc.oneof(arb.headerText(40), fc.tuple(arb.headerText(20), arb.headerText(20))), { nil: undefined }),
          optionalHeader,
          optionalHeader,
          async (operation, seed, body, freshId, clientRequestId, ifMatch, ifNoneMatch) => {
            const exists = operation === 'getSeed' || operation === 'patchSeed';
            const id = exists ? seed.id : freshId;
            const sent: Sent = {
              method: operation === 'getSeed' ? 'GET' : operation === 'deleteFresh' ? 'DELETE' : 'PATCH',
              path: itemPath(id),
              headers: writeHeaders({ 'client-request-id': clientRequestId, 'if-match': ifMatch, 'if-none-match': ifNoneMatch }),
              // On the seed, a PATCH with its own values: it changes nothing, so preconditions are all that can differ.
              body:
                operation === 'patchSeed'
                  ? JSON.stringify({ deviceId: seed.deviceId, key: seed.key })
                  : operation === 'patchFresh'
                    ? body.text
                    : undefined,
            };
            const received = await exchange(sent);
            const im = ifMatch?.trim() || undefined;
            const inm = ifNoneMatch?.trim() || undefined;
            let expected: number;
            if (operation === 'getSeed') expected = 200;
            else if (exists) expected = (im !== undefined && im !== '*') || inm === '*' ? 412 : 200;
            else if (im !== undefined) expected = 412;
            else expected = operation === 'deleteFresh' ? 404 : 200;
            expect(received.status).toBe(expected);
          },
        ),
        fuzz,
      );
    },
    TIMEOUT_MS,
  );

  it(
    'Authorization of any shape: 401 with WWW-Authenticate unless it is the valid bearer token; bent claims never a 5xx',
    async () => {
      const authorization = fc.oneof(
        { weight: 3, arbitrary: arb.authorizationAround(writer) },
        { weight: 1, arbitrary: arb.bentClaims.map((claims) => ({ claims })) },
      );
      await fc.assert(
        fc.asyncProperty(
          authorization,
          fc.constantFrom('list', 'getSeed', 'patchFresh'),
          anySeed(),
          validBodyText(false),
          arb.guid,
          async (auth, operation, seed, body, freshId) => {
            const value = 'claims' in auth ? bearer(await token({ claims: auth.claims as Record<string, unknown> })) : auth.value;
            const sent: Sent =
              operation === 'list'
                ? { method: 'GET', path: '/bitlocker/recoveryKeys', headers: { authorization: value } }
                : operation === 'getSeed'
                  ? { method: 'GET', path: itemPath(seed.id), headers: { authorization: value } }
                  : { method: 'PATCH', path: itemPath(freshId), headers: writeHeaders({ authorization: value }), body: body.text };
            const received = await exchange(sent);
            if ('claims' in auth) expect([200, 401, 403]).toContain(received.status);
            else if (auth.verdict === 'valid') expect(received.status).toBe(200);
            else if (auth.verdict === 'invalid') expect(received.status).toBe(401);
            else expect([200, 401]).toContain(received.status);
            if (received.status === 401) expect(received.json!.error.code).toBe('InvalidAuthenticationToken');
          },
        ),
        fuzz,
      );
    },
    TIMEOUT_MS,
  );

  it(
    'item paths with odd encodings of the id: a GUID in any spelling reaches its key, anything else is a 4xx',
    async () => {
      const target = fc
        .oneof(
          arb.guid,
          anySeed().map((s) => s.id),
        )
        .chain((id) => arb.idSegment(id).map((segment) => ({ id, ...segment })));
      await fc.assert(
        fc.asyncProperty(
          target,
          arb.collectionPath,
          fc.constantFrom('GET', 'GET', 'PATCH', 'PATCH', 'DELETE', 'PUT', 'POST', 'HEAD', 'OPTIONS'),
          mergeBodyText,
          fc.constantFrom('', '', '?$select=id', '?x=%00'),
          async ({ id, segment, kind }, collection, method, body, query) => {
            const isSeed = seeds.some((s) => s.id === id);
            const sent: Sent = {
              method,
              path: `${collection}/${segment}${query}`,
              headers: writeHeaders(),
              body: method === 'PATCH' || method === 'POST' ? body.text : undefined,
            };
            const received = await exchange(sent);
            if (kind === 'any') return;
            if (kind === 'invalid') {
              expect([400, 404, 405]).toContain(received.status);
              return;
            }
            const expected =
              query === '?x=%00' && (method === 'GET' || method === 'HEAD')
                ? 400
                : // The body's key is its own: on a seed, another password under a stored id, which is a 409.
                  ((
                    { GET: isSeed ? 200 : 404, HEAD: isSeed ? 200 : 404, PATCH: isSeed ? 409 : 200, DELETE: isSeed ? 204 : 404 } as Record<
                      string,
                      number
                    >
                  )[method] ?? 405);
            expect(received.status).toBe(expected);
            if (received.status === 200 && query === '?$select=id' && method === 'GET')
              expect(splitOwn(received.json!)).toEqual({
                rest: {
                  '@odata.context': expect.stringMatching(/recoveryKeys\(id\)\/\$entity$/),
                  '@odata.etag': received.headers.etag,
                  '@odata.type': '#microsoft.graph.bitlockerRecoveryKey',
                  id,
                },
                own: DISCLOSURE,
              });
            else if (received.status === 200 && method !== 'HEAD') expect(received.json!.id).toBe(id);
            if (method === 'HEAD') expect(received.text).toBe('');
          },
        ),
        fuzz,
      );
    },
    TIMEOUT_MS,
  );

  it(
    'list query options ($filter, $top, $select, $skiptoken and strangers): a 200 that honours them or a 400',
    async () => {
      const device = seeds[0];
      const fingerprints = ['null', ...seeds.map((s) => JSON.stringify({ kind: 'deviceId', deviceId: s.deviceId }))];
      const tokens = fc.oneof(
        arb.skipTokenText(fingerprints).map((text) => ({ text, issuedFor: undefined as string | undefined })),
        fc.constantFrom(...issuedTokens).chain(({ filter, token: t }) =>
          fc.oneof(
            fc.constant({ text: t, issuedFor: filter }),
            fc.nat().map((n) => ({ text: t.slice(0, n % t.length), issuedFor: undefined })),
            fc
              .tuple(fc.nat(), fc.constantFrom('A', 'b', '-', '_', '0'))
              .map(([n, c]) => ({ text: t.slice(0, n % t.length) + c + t.slice((n % t.length) + 1), issuedFor: undefined })),
          ),
        ),
      );
      const option = fc.oneof(
        arb.filterText(device.deviceId, device.id).map((f) => ({ name: '$filter', value: f.text, supported: f.supported })),
        arb.topText.map((value) => ({
          name: '$top',
          value,
          supported: /^[0-9]+$/.test(value) && Number(value) >= 1 && Number(value) <= MAX_TOP,
        })),
        arb.selectText(SELECTABLE_PROPERTIES).map((value) => ({
          name: '$select',
          value,
          supported: value.split(',').every((n) => (SELECTABLE_PROPERTIES as readonly string[]).includes(n.trim())),
        })),
        tokens.map((t) => ({ name: '$skiptoken', value: t.text, supported: false, issuedFor: t.issuedFor })),
        fc
          .constantFrom('$orderby', '$count', '$search', '$expand', '$skip', 'filter', '$FILTER', '$Top', 'top', '$select ', '$', '', 'x')
          .map((name) => ({ name, value: 'id', supported: false })),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.array(option, { maxLength: 4 }),
          fc.constantFrom('encoded', 'plus', 'raw-name'),
          fc.constantFrom(reader, writer, basicReader),
          async (options, encoding, who) => {
            const query = options
              .map(({ name, value }) => {
                const encodedName = encoding === 'raw-name' && /^[$a-zA-Z]*$/.test(name) ? name : encodeURIComponent(name);
                const encodedValue = encoding === 'plus' ? encodeURIComponent(value).replace(/%20/g, '+') : encodeURIComponent(value);
                return `${encodedName}=${encodedValue}`;
              })
              .join('&');
            const received = await exchange({
              method: 'GET',
              path: `/bitlocker/recoveryKeys${query ? `?${query}` : ''}`,
              headers: { authorization: bearer(who) },
            });
            // No key is ever listed, by any permission or option.
            for (const password of seedPasswords()) expect(received.text).not.toContain(password);

            const names = options.map((o) => o.name);
            const repeated = new Set(names).size !== names.length;
            const filter = options.find((o) => o.name === '$filter');
            const skipToken = options.find((o) => o.name === '$skiptoken') as { issuedFor?: string } | undefined;
            const knownGood = (o: (typeof options)[number]) =>
              o.supported || (o.name === '$skiptoken' && (o as { issuedFor?: string }).issuedFor === (filter?.value ?? ''));
            if (!repeated && options.every(knownGood)) expect(received.status).toBe(200);
            const refusedForSure = options.some(
              (o) =>
                ((o.name === '$top' || o.name === '$select') && !o.supported) ||
                !['$filter', '$top', '$select', '$skiptoken'].includes(o.name),
            );
            if (!repeated && refusedForSure) expect(received.status).toBe(400);
            if (received.status === 400 && skipToken && options.every((o) => o === (skipToken as unknown) || knownGood(o)) && !repeated) {
              expect(received.json!.error.message).toBe(INVALID_SKIP_TOKEN_MESSAGE);
            }
            if (received.status !== 200) {
              expect(received.status).toBe(400);
              return;
            }
            // A 200 honours what it was asked.
            const items = received.json!.value as Record<string, unknown>[];
            expect(Array.isArray(items)).toBe(true);
            const top = options.find((o) => o.name === '$top');
            if (top && !repeated) expect(items.length).toBeLessThanOrEqual(Number(top.value));
            const select = options.find((o) => o.name === '$select');
            for (const item of items) {
              expect(item).not.toHaveProperty('key');
              if (select && !repeated) {
                const allowed = new Set(['@odata.type', ...select.value.split(',').map((n) => n.trim())]);
                const { rest, own } = splitOwn(item);
                for (const property of Object.keys(rest)) expect(allowed).toContain(property);
                expect(own).toEqual(DISCLOSURE);
              }
            }
            if (filter?.supported && !repeated) {
              const wanted = filter.value;
              const deviceMatch = /deviceId eq '\{?([^'}]+)\}?'/.exec(wanted);
              const idMatch = /id eq '\{?([^'}]+)\}?'/.exec(wanted);
              const prefixMatch = /startswith\(id,'([^']+)'\)/.exec(wanted);
              // Only items with the selected properties can be checked; ids and devices are present unless $select leaves them out.
              for (const item of items) {
                if (deviceMatch && 'deviceId' in item) expect(item.deviceId).toBe(deviceMatch[1].toLowerCase());
                else if (idMatch && !deviceMatch && 'id' in item) expect(item.id).toBe(idMatch[1].toLowerCase());
                if (prefixMatch && 'id' in item) expect(String(item.id).startsWith(prefixMatch[1].toLowerCase())).toBe(true);
              }
            }
            const nextLink = received.json!['@odata.nextLink'];
            if (nextLink !== undefined) {
              expect(new URL(nextLink).origin).toBe(hostUrl.origin);
              expect(new URL(nextLink).searchParams.get('$skiptoken')).toBeTruthy();
            }
          },
        ),
        fuzz,
      );
    },
    TIMEOUT_MS,
  );

  it(
    'GET of one key with odd $select: the key only to Read.All and only when selected',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          anySeed(),
          arb.selectText(ITEM_SELECTABLE_PROPERTIES),
          fc.constantFrom('read', 'write', 'basic'),
          fc.constantFrom('', '&$filter=id', '&$top=1', '&$select=id'),
          async (seed, select, who, extra) => {
            const t = who === 'read' ? reader : who === 'write' ? writer : basicReader;
            const received = await exchange({
              method: 'GET',
              path: `${itemPath(seed.id)}?$select=${encodeURIComponent(select)}${extra}`,
              headers: { authorization: bearer(t) },
            });
            const names = select.split(',').map((n) => n.trim());
            const valid = names.every((n) => (ITEM_SELECTABLE_PROPERTIES as readonly string[]).includes(n));
            const wantsKey = names.includes('key');
            // Someone else's recovery password never shows; this one only to Read.All, when asked for.
            for (const password of seedPasswords()) if (password !== seed.key) expect(received.text).not.toContain(password);
            if (extra === '&$filter=id' || extra === '&$top=1') {
              expect(received.status).toBe(400);
            } else if (extra === '&$select=id') {
              // The host joins a repeated option with ',': $select=X&$select=id reads as $select=X,id.
              expect([200, 400, 403]).toContain(received.status);
            } else if (!valid) {
              expect(received.status).toBe(400);
            } else if (wantsKey && who !== 'read') {
              expect(received.status).toBe(403);
            } else {
              expect(received.status).toBe(200);
              // Exactly the selected properties (each once), with the entity's annotations, and the key's
              // disclosure beside them (instance annotations, which Graph allows beside any $select).
              const selected = [...new Set(names)];
              const { rest, own } = splitOwn(received.json!);
              expect({ properties: Object.keys(rest).sort(), own }).toEqual({
                properties: ['@odata.context', '@odata.etag', '@odata.type', ...selected].sort(),
                own: DISCLOSURE,
              });
              expect(received.json!['@odata.context']).toMatch(new RegExp(`recoveryKeys\\(${selected.join(',')}\\)/\\$entity$`));
              if (selected.includes('id')) expect(received.json!.id).toBe(seed.id);
              if (wantsKey) expect(received.json!.key).toBe(seed.key);
              else expect(received.json).not.toHaveProperty('key');
            }
            if (received.status === 200 && received.json!.key !== undefined)
              expect({ who, wantsKey }).toEqual({ who: 'read', wantsKey: true });
            if (received.status !== 200) expect(received.text).not.toContain(seed.key);
          },
        ),
        fuzz,
      );
    },
    TIMEOUT_MS,
  );

  it('the host logged no unexpected error during the run', () => {
    expect(hostErrors).toEqual([]);
  });
});

// ---- what fuzzing found, as plain examples ------------------------------------------------------------------------

describe('regressions found by fuzzing', () => {
  const patchRaw = (text: string, path = '/bitlocker/recoveryKeys') =>
    exchange({ method: 'PATCH', path, headers: writeHeaders(), body: text });
  const valid = () => fc.sample(validBodyText(true), { numRuns: 1, seed: 7 })[0];

  it('refuses a body that gives a property twice instead of keeping the last, and stores nothing', async () => {
    const body = valid();
    const text = `${body.text.slice(0, -1)},"key":"000011-461032-321464-595518-463221-173943-033616-139579"}`;
    const received = await patchRaw(text);
    expect(received.status).toBe(400);
    expect(received.json!.error.message).toBe("The property 'key' is given more than once; give each property once.");
  });

  it('compares names after unescaping and looks into nested objects', async () => {
    const body = valid();
    expect(
      (await patchRaw(`${body.text.slice(0, -1)},"k\\u0065y":"000011-461032-321464-595518-463221-173943-033616-139579"}`)).json!.error
        .message,
    ).toMatch(/'key' is given more than once/);
    expect((await patchRaw('{"a":{"b":1,"b":2}}')).json!.error.message).toMatch(/'b' is given more than once/);
    // The same name in sibling objects, or in an object and its parent, is no duplicate.
    expect((await patchRaw('{"a":[{"b":1},{"b":2}],"b":{"b":1}}')).json!.error.message).not.toMatch(/more than once/);
  });

  it('answers deep nesting with the real problem, not "not valid JSON"', async () => {
    const deep = '['.repeat(8000) + ']'.repeat(8000);
    expect((await patchRaw(deep)).json!.error.message).toBe('The request body must be a JSON object.');
    expect((await patchRaw(`{"id":${deep}}`)).json!.error.message).toBe('id must be a string (a GUID)');
    const poisoned = `{"a":${'['.repeat(7000)}{"__proto__":{"x":1}}${']'.repeat(7000)}}`;
    expect((await patchRaw(poisoned)).json!.error.message).toBe('__proto__ is not a property of bitlockerRecoveryKey.');
  });

  it('escapes control and bidi characters of the URL and of property names in messages', async () => {
    const id = await patchRaw(valid().text, '/bitlocker/recoveryKeys/%E2%80%AEabc%00');
    expect(id.json!.error.message).toBe("'\\u202eabc\\u0000' is not a valid recovery key id: use a GUID.");
    const name = await patchRaw('{"\\u202ekey\\u0000":1}');
    expect(name.json!.error.message).toMatch(/^\\u202ekey\\u0000 is not a property of bitlockerRecoveryKey/);
  });

  it('POST of an existing id is a 409 that writes nothing, not even an index entry', async () => {
    const seed = seeds[1];
    const body = { id: seed.id, deviceId: randomUUID(), key: seed.key, volumeType: 1 };
    const received = await exchange({
      method: 'POST',
      path: '/bitlocker/recoveryKeys',
      headers: writeHeaders(),
      body: JSON.stringify(body),
    });
    expect(received.status).toBe(409);
  });
});
