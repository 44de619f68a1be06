import { mkdtemp, rm } from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TableClient } from '@azure/data-tables';
import { azuriteConnectionString, findFreePort, startAzuriteTables, type RunningAzurite } from '../../scripts/devhost/azurite';
import { expectGraphError, parseJson, READ, tokenWith, WRITE, type ApiResponse, type GraphJson } from '../support/client';
import { keyBody, newId, type KeyBody } from '../support/fixtures';
import { startLocalHost, stopLocalHosts, type LocalHost } from '../../scripts/devhost/localHost';
import { COLLECTION, followPages, item, WHOLE_KEY } from '../support/keys';
import { RECORD_ROW, TABLES } from '../../shared/storage/layout';
import { STORAGE_REQUEST_BUDGET_MS } from '../../shared/storage/callLimits';

// Storage faults, end to end: this file runs its own Azurite (persisted to a temp folder, so that it
// can be stopped and restarted with its data) and its own local hosts pointed at it, at a dead port
// and at a fake storage that hangs or throttles. The run's shared host and Azurite are not touched.

/**
 * What a client may wait for an answer while storage is down, hung or throttling: the request's storage
 * budget (4 s, shared/storage/callLimits.ts) plus room for the host's own work on a machine whose cores
 * are taken by other processes (3 s: measured answers are 4.0-4.3 s quiet, up to 5.5 s with two CPU hogs
 * beside the suite). Without the budget these requests would hang until the client gave up (20 s here).
 * requestDeadline.test.ts pins the budget itself from the host's own log.
 */
const BOUND_MS = STORAGE_REQUEST_BUDGET_MS + 3_000;

jest.setTimeout(60_000);

// ---------------------------------------------------------------------------------------------
// Helpers: a host of our own, and HTTP calls to it

type Host = LocalHost;

async function startHost(connectionString: string): Promise<Host> {
  const host = await startLocalHost({
    STORAGE_CONNECTION_STRING: connectionString,
    AUTH_MODE: 'local',
    // The run's state folder: its development signing key is what test tokens are signed with.
    LOCAL_STATE_DIR: process.env.LOCAL_STATE_DIR,
    // The checks below read back every key the burst tried, and a slow machine sends more of them
    // before storage goes down: the per-caller read limit is not what this file is about.
    KEY_READ_LIMIT_PER_MINUTE: '1000000',
  });
  // A host loads its token verifier and validation on its first requests (lazily, for cold start): a
  // refused body takes that path, so the timed requests below measure storage faults, not the first load
  // on a busy machine. Its refusal is audited, so against a broken storage it is a 503 itself.
  const warmUp = await fetch(new URL(item(newId()), host.url), {
    method: 'PATCH',
    headers: { Authorization: `Bearer ${await tokenWith(WRITE)}`, 'Content-Type': 'application/json' },
    body: '{"volumeType":"none"}',
  });
  expect([400, 503]).toContain(warmUp.status);
  return host;
}

interface TimedResponse extends ApiResponse {
  ms: number;
}

async function callAt(
  host: Host,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<TimedResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  const started = Date.now();
  const response = await fetch(new URL(path, host.url), {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    // Far above the bound: a hang shows as a failed assertion on `ms`, not as a jest timeout.
    signal: AbortSignal.timeout(20_000),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: parseJson(text), text, ms: Date.now() - started };
}

/** A storage fault as the client must see it: 503, Graph's error shape, Retry-After, within the bound. */
function expectPrompt503(response: TimedResponse, request: string): void {
  const what = `${request}, answered in ${response.ms} ms`;
  expect({ what, status: response.status, withinBound: response.ms <= BOUND_MS }).toEqual({
    what,
    status: 503,
    withinBound: true,
  });
  expectGraphError(response, 503, 'serviceNotAvailable');
  expect(response.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
  // Nothing of the storage's own error (URLs, connection details) reaches the client.
  expect(response.text).not.toMatch(/127\.0\.0\.1|devstoreaccount1|ECONN|AccountKey/i);
}

/**
 * Each part below declares what it needs started (Azurite, hosts, fake storages); all of it starts
 * together when the file starts, and each part waits for its own. One after the other, process
 * start-ups would be most of this file's time on a two-core machine.
 */
const starters: (() => void)[] = [];
function startedWithFile<T>(start: () => Promise<T>): () => Promise<T> {
  let started: Promise<T> | undefined;
  const begin = (): Promise<T> => (started ??= start());
  // A failure is reported where the part awaits it; here it only must not go unhandled.
  starters.push(() => void begin().catch(() => undefined));
  return begin;
}

/** Run after every host has stopped, in order: storages, servers and folders. */
const cleanups: (() => Promise<void>)[] = [];

let writer: string;
let keyReader: string;
beforeAll(async () => {
  for (const start of starters) start();
  [writer, keyReader] = await Promise.all([tokenWith(WRITE), tokenWith(READ)]);
});

afterAll(async () => {
  await stopLocalHosts();
  for (const cleanup of cleanups) await cleanup();
}, 30_000);

// ---------------------------------------------------------------------------------------------

describe('a storage outage under a running host (Azurite stopped and restarted)', () => {
  let folder: string;
  let azurite: RunningAzurite | undefined;
  let port: number;
  let host: Host;

  /** Keys written before the outage: the stored object as the PATCH answered it. */
  const before = new Map<string, GraphJson & { etag: string | null }>();
  /** Keys whose PATCH was in flight around the outage: id, body sent, and the answer. */
  const attempts: { id: string; body: KeyBody; status: number; move?: { from: string } }[] = [];
  const devices = Array.from({ length: 4 }, () => newId());

  const ready = startedWithFile(async () => {
    folder = await mkdtemp(join(tmpdir(), 'escrow-outage-'));
    cleanups.push(async () => {
      await azurite?.stop();
      await rm(folder, { recursive: true, force: true });
    });
    azurite = await startAzuriteTables({ port: 0, inMemory: false, location: folder, silent: true });
    port = azurite.port;
    host = await startHost(azurite.connectionString);
  });
  beforeAll(() => ready(), 45_000);

  const patchAt = (id: string, body: unknown) => callAt(host, 'PATCH', item(id), { token: writer, body });
  const readKeyAt = (id: string) => callAt(host, 'GET', `${item(id)}?${WHOLE_KEY}`, { token: keyReader });
  const listAt = (filter: string) =>
    callAt(host, 'GET', `${COLLECTION}?$filter=${encodeURIComponent(filter)}&$top=1000`, { token: keyReader });

  it('stores keys before the outage', async () => {
    const bodies = Array.from({ length: 24 }, (_, i) => keyBody({ deviceId: devices[i % devices.length] }));
    const responses = await Promise.all(bodies.map((b) => patchAt(b.id!, b)));
    for (const r of responses) {
      expect(r.status).toBe(200);
      before.set(r.json.id, { ...r.json, etag: r.headers.get('etag') });
    }
  });

  it('answers PATCHes caught by the outage with 200 or a prompt 503, never anything else', async () => {
    // Keys that the burst moves to another device (the index is rewritten: the riskiest write).
    const movers = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const body = keyBody({ deviceId: devices[0] });
        expect((await patchAt(body.id!, body)).status).toBe(200);
        return body;
      }),
    );
    // A steady stream of writes, one every 10 ms, until well after storage went down: some land
    // before, some are cut off in the middle, the rest find storage gone.
    // Storage is stopped once a few of them have been answered, so that it goes down mid-burst
    // however fast or slow this machine is.
    const inFlight: Promise<void>[] = [];
    let stopped = false;
    let stopping: Promise<void> | undefined;
    const send = (id: string, body: KeyBody, move?: { from: string }): void => {
      inFlight.push(
        patchAt(id, body).then((r) => {
          attempts.push({ id, body, status: r.status, move });
          if (r.status !== 200) expectPrompt503(r, `burst PATCH ${id}`);
          if (attempts.length === 4) {
            stopping = azurite!.stop().finally(() => {
              stopped = true;
            });
            stopping.catch(() => undefined); // Awaited below, where a failure to stop is reported.
          }
        }),
      );
    };
    let sent = 0;
    for (let afterStop = 0; afterStop < 5 && sent < 500; sent++) {
      const mover = sent % 3 === 0 ? movers.shift() : undefined;
      if (mover) {
        send(mover.id!, { deviceId: devices[1 + (movers.length % 3)] }, { from: mover.deviceId! });
      } else {
        const body = keyBody({ deviceId: devices[sent % devices.length] });
        send(body.id!, body);
      }
      if (stopped) afterStop++;
      await sleep(10);
    }
    await stopping;
    await Promise.all(inFlight);

    const count = (status: number): number => attempts.filter((a) => a.status === status).length;
    // The burst straddled the outage: some writes made it, some did not.
    expect({ total: attempts.length, ok: count(200) > 0, unavailable: count(503) > 0 }).toEqual({
      total: sent,
      ok: true,
      unavailable: true,
    });
    const moves = attempts.filter((a) => a.move);
    process.stderr.write(
      `[outage] burst: ${sent} PATCHes (${moves.length} moving a key to another device), ` +
        `${count(200)} x 200, ${count(503)} x 503 (moves: ${moves.filter((a) => a.status === 200).length} x 200)\n`,
    );
  });

  it('answers PATCH, GET, list and DELETE with a prompt 503 while storage is down', async () => {
    const existing = [...before.keys()][0];
    const fresh = keyBody();
    const responses = await Promise.all([
      patchAt(fresh.id!, fresh),
      patchAt(existing, { volumeType: 'fixedDataVolume' }),
      readKeyAt(existing),
      callAt(host, 'GET', item(existing), { token: keyReader }),
      listAt(`deviceId eq '${devices[0]}'`),
      listAt(`startswith(id,'${existing.slice(0, 8)}')`),
      callAt(host, 'DELETE', item(existing), { token: writer }),
    ]);
    const names = ['PATCH new', 'PATCH existing', 'GET $select=key', 'GET', 'list by device', 'list by prefix', 'DELETE'];
    responses.forEach((r, i) => expectPrompt503(r, names[i]));
    process.stderr.write(`[outage] storage refused: ${responses.map((r, i) => `${names[i]} ${r.ms} ms`).join(', ')}\n`);
  });

  it('recovers by itself once storage is back on the same port and folder', async () => {
    azurite = await startAzuriteTables({ port, inMemory: false, location: folder, silent: true });
    const back = Date.now();
    const probe = [...before.keys()][1];
    let response = await readKeyAt(probe);
    let tries = 1;
    while (response.status !== 200 && Date.now() - back < 30_000) {
      await sleep(200);
      response = await readKeyAt(probe);
      tries++;
    }
    expect(response.status).toBe(200);
    process.stderr.write(`[outage] host answered 200 ${Date.now() - back} ms after storage came back (request #${tries})\n`);
    // And it writes again.
    const body = keyBody();
    expect((await patchAt(body.id!, body)).status).toBe(200);
  });

  it('still holds every key written before the outage, unchanged', async () => {
    const reads = await Promise.all([...before.keys()].map((id) => readKeyAt(id)));
    // The reader as a disclosure names it: a token without a UPN is named by its object id.
    const reader = `object ${(JSON.parse(Buffer.from(keyReader.split('.')[1], 'base64url').toString()) as { oid: string }).oid}`;
    for (const r of reads) {
      const { '@odata.etag': writtenEtag, etag: _written, ...written } = before.get(r.json.id)!;
      expect(r.status).toBe(200);
      // The write's answer and the read's differ only in @odata.context, which names the read's $select, and
      // in the disclosure: this is each key's first reveal (the recovery probe's, for one of them), which
      // marks it disclosed (ROTATE_AFTER_REVEAL), adding the two annotations and a new version (ETag).
      const { '@escrow.disclosedDateTime': disclosedAt, '@escrow.disclosedBy': disclosedBy, '@odata.etag': etag, ...read } = r.json;
      expect({ ...read, '@odata.context': undefined }).toEqual({ ...written, '@odata.context': undefined });
      expect({
        disclosedBy,
        disclosedAfterWrite: Date.parse(String(disclosedAt)) >= Date.parse(String(written.createdDateTime)),
        header: r.headers.get('etag'),
        newVersion: etag !== writtenEtag,
      }).toEqual({ disclosedBy: reader, disclosedAfterWrite: true, header: etag, newVersion: true });
    }
    // Nothing else moves: a second reveal answers each key exactly as the first did (the mark stays).
    const again = await Promise.all(reads.map((r) => readKeyAt(String(r.json.id))));
    expect(again.map((r) => r.json)).toEqual(reads.map((r) => r.json));
  });

  it('left no half-written key: each attempted key is findable by id, device and prefix, or by none', async () => {
    const byDevice = new Map<string, Set<string>>();
    for (const device of devices) {
      // Every page: a device list checks a bounded number of unconfirmed entries a page, and the outage left many.
      const pages = await followPages(
        `${COLLECTION}?$filter=${encodeURIComponent(`deviceId eq '${device}'`)}&$top=1000`,
        keyReader,
        20,
        host.url,
      );
      byDevice.set(device, new Set(pages.flatMap((page) => (page.json.value as { id: string }[]).map((k) => k.id))));
    }
    for (const attempt of attempts) {
      const [got, prefix] = await Promise.all([readKeyAt(attempt.id), listAt(`startswith(id,'${attempt.id.slice(0, 8)}')`)]);
      const findable = {
        key: attempt.id,
        byId: got.status === 200,
        byDevice: [...byDevice.entries()].filter(([, ids]) => ids.has(attempt.id)).map(([device]) => device),
        byPrefix: prefix.json.value.some((k: { id: string }) => k.id === attempt.id),
      };
      if (got.status !== 200) expectGraphError(got, 404, 'itemNotFound');
      if (attempt.move) {
        // A moved key exists either way, listed under exactly the device its record names: the new
        // one if the PATCH was acknowledged, the new or the old one if it was cut off.
        expect(findable).toEqual({ key: attempt.id, byId: true, byDevice: [got.json.deviceId], byPrefix: true });
        if (attempt.status === 200) expect(got.json.deviceId).toBe(attempt.body.deviceId);
        else expect([attempt.move.from, attempt.body.deviceId]).toContain(got.json.deviceId);
      } else if (findable.byId) {
        expect(findable).toEqual({ key: attempt.id, byId: true, byDevice: [attempt.body.deviceId], byPrefix: true });
        expect(got.json.key).toBe(attempt.body.key);
      } else {
        // Not stored: then findable by nothing, and never acknowledged.
        expect({ ...findable, status: attempt.status }).toEqual({
          key: attempt.id,
          byId: false,
          byDevice: [],
          byPrefix: false,
          status: 503,
        });
      }
    }

    // Below the API: every record has the index entry of its own device (a dangling index entry
    // without a record is allowed, readers skip it; a record that no device lookup finds is not).
    const raw = (table: string) => TableClient.fromConnectionString(azurite!.connectionString, table, { allowInsecureConnection: true });
    const indexEntries = new Set<string>();
    for await (const entry of raw(TABLES.deviceIndex).listEntities()) indexEntries.add(`${entry.partitionKey}/${entry.rowKey}`);
    const unindexed: string[] = [];
    let records = 0;
    for await (const record of raw(TABLES.recoveryKeys).listEntities<{ deviceId: string }>({
      queryOptions: { filter: `RowKey eq '${RECORD_ROW}'` },
    })) {
      records++;
      if (!indexEntries.has(`${record.deviceId}/${record.partitionKey}`)) unindexed.push(record.partitionKey!);
    }
    expect(unindexed).toEqual([]);
    expect(records).toBeGreaterThanOrEqual(before.size);
  });
});

// ---------------------------------------------------------------------------------------------

describe('a storage that accepts connections but does not answer, or throttles', () => {
  type Behaviour = 'hang' | 'stall' | 'throttle503' | 'throttle429';

  interface FakeStorage {
    behaviour: Behaviour;
    server: http.Server;
    sockets: Set<net.Socket>;
    host?: Host;
  }

  /** An HTTP server on a free port that plays a sick Table service, and a host of ours pointed at it. */
  async function fakeStorage(behaviour: Behaviour): Promise<FakeStorage> {
    const fake: FakeStorage = { behaviour, server: http.createServer(), sockets: new Set() };
    cleanups.push(async () => {
      for (const socket of fake.sockets) socket.destroy();
      await new Promise<void>((resolve) => fake.server.close(() => resolve()));
    });
    fake.server.on('request', (request: http.IncomingMessage, response: http.ServerResponse) => {
      request.resume();
      const storageHeaders = { 'Content-Type': 'application/json', 'x-ms-request-id': newId() };
      switch (fake.behaviour) {
        case 'hang':
          return; // Accepts the connection and the request, never sends a byte.
        case 'stall':
          response.writeHead(201, { ...storageHeaders, 'Content-Length': '500' });
          response.write('{');
          return; // The status and headers come, the rest of the body never does.
        case 'throttle503':
          response.writeHead(503, { ...storageHeaders, 'Retry-After': '7' });
          response.end('{"odata.error":{"code":"ServerBusy","message":{"lang":"en-US","value":"Busy."}}}');
          return;
        case 'throttle429':
          response.writeHead(429, { ...storageHeaders, 'x-ms-retry-after-ms': '20000' });
          response.end('{"odata.error":{"code":"TooManyRequests","message":{"lang":"en-US","value":"Slow down."}}}');
          return;
      }
    });
    fake.server.on('connection', (socket: net.Socket) => {
      fake.sockets.add(socket);
      socket.once('close', () => fake.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.host = await startHost(azuriteConnectionString((fake.server.address() as net.AddressInfo).port));
    return fake;
  }

  let hung: FakeStorage;
  let stalled: FakeStorage;
  let throttling: FakeStorage;
  const ready = startedWithFile(async () => {
    [hung, stalled, throttling] = await Promise.all([fakeStorage('hang'), fakeStorage('stall'), fakeStorage('throttle503')]);
  });
  beforeAll(() => ready(), 30_000);

  /** A write, a key read and a device list against the host of a fake storage. */
  const requests = (fake: FakeStorage) => {
    const body = keyBody();
    return Promise.all([
      callAt(fake.host!, 'PATCH', item(body.id!), { token: writer, body }),
      callAt(fake.host!, 'GET', `${item(newId())}?$select=key`, { token: keyReader }),
      callAt(fake.host!, 'GET', `${COLLECTION}?$filter=${encodeURIComponent(`deviceId eq '${newId()}'`)}`, { token: keyReader }),
    ]);
  };

  it('ends requests to a storage that never answers, or stalls mid-response, with a 503 within the bound', async () => {
    const [hanging, stalling] = await Promise.all([requests(hung), requests(stalled)]);
    hanging.forEach((r, i) => expectPrompt503(r, `hung storage, request ${i}`));
    stalling.forEach((r, i) => expectPrompt503(r, `stalled response, request ${i}`));
    process.stderr.write(
      `[outage] hung storage: ${hanging.map((r) => `${r.ms} ms`).join(', ')}; ` +
        `stalled response: ${stalling.map((r) => `${r.ms} ms`).join(', ')}\n`,
    );
  });

  it('turns storage throttling into a 503 at once, passing on the storage Retry-After', async () => {
    throttling.behaviour = 'throttle503';
    const throttled = await requests(throttling);
    throttled.forEach((r, i) => expectPrompt503(r, `storage 503, request ${i}`));
    for (const r of throttled) expect(r.headers.get('retry-after')).toBe('7');

    throttling.behaviour = 'throttle429';
    const tooMany = await requests(throttling);
    tooMany.forEach((r, i) => expectPrompt503(r, `storage 429, request ${i}`));
    for (const r of tooMany) expect(r.headers.get('retry-after')).toBe('20');
    // A hint longer than the call budget (4 s) is not waited out: every answer comes before the shortest
    // hint (7 s), which a client that waited it out could not beat. (Typically 20-150 ms.)
    for (const r of [...throttled, ...tooMany]) expect(r.ms).toBeLessThan(7_000);
    process.stderr.write(`[outage] throttled: ${[...throttled, ...tooMany].map((r) => `${r.ms} ms`).join(', ')}\n`);
  });
});

// ---------------------------------------------------------------------------------------------

describe('a host started while storage is down', () => {
  let azurite: RunningAzurite | undefined;
  let port: number;
  let host: Host;
  const ready = startedWithFile(async () => {
    cleanups.push(async () => {
      await azurite?.stop();
    });
    port = await findFreePort();
    host = await startHost(azuriteConnectionString(port));
  });
  beforeAll(() => ready(), 30_000);

  it('answers 503 promptly, then serves once storage comes up, without a restart', async () => {
    const body = keyBody();
    const refused = await callAt(host, 'PATCH', item(body.id!), { token: writer, body });
    expectPrompt503(refused, 'PATCH with nothing listening');
    process.stderr.write(`[outage] connection refused: ${refused.ms} ms\n`);

    // The failed table creation was not remembered: the same host creates the tables now.
    azurite = await startAzuriteTables({ port, inMemory: true, silent: true });
    const stored = await callAt(host, 'PATCH', item(body.id!), { token: writer, body });
    expect({ status: stored.status, log: stored.status === 200 ? '' : host.output() }).toEqual({ status: 200, log: '' });
    const read = await callAt(host, 'GET', `${item(body.id!)}?$select=key`, { token: keyReader });
    expect(read.json.key).toBe(body.key);
  });
});
