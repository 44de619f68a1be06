import { expect } from '@jest/globals';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import { TableClient, TableServiceClient } from '@azure/data-tables';
import { azuriteConnectionString, findFreePort, startAzuriteTables, type RunningAzurite } from '../../scripts/devhost/azurite';
import { call, callOn, expectGraphError, READ, token, WRITE, type ApiResponse, type CallOptions } from '../support/client';
import { keyBody, type KeyBody } from '../support/fixtures';
import { COLLECTION, item, mapLimit } from '../support/keys';
import { HostDidNotStart, startLocalHost, stopLocalHosts, type EnvOverrides, type LocalHost } from '../../scripts/devhost/localHost';
import { rawTable } from '../support/storage';
import { type RunningScript, type ScriptRun, startScript } from '../support/scripts';
import { RECORD_ROW, TABLES } from '../../shared/storage/layout';

// Protection at rest (spec "Protection at rest"), end to end: what the tables hold, what a tampered
// or transplanted ciphertext answers, and a key rotation with `npm run reencrypt` against a private
// Azurite and private hosts. The run's shared host and Azurite serve the first two parts.

jest.setTimeout(60_000);

const keyRead = (id: string): string => `${item(id)}?$select=key`;
const digitsOf = (password: string): string => password.replace(/-/g, '');

// Our own caller identity: key reads are rate-limited per caller and per instance, and other test
// files read keys through the shared host at the same time.
const identity = { oid: randomUUID() };
let writer: string;
let keyReader: string;
beforeAll(async () => {
  [writer, keyReader] = await Promise.all([token({ roles: [WRITE], claims: identity }), token({ roles: [READ], claims: identity })]);
});

afterAll(() => stopLocalHosts(), 30_000);

/** Every needle of a set of recovery passwords: as written, and as its 48 digits without dashes. */
function needlesOf(passwords: Iterable<string>): string[] {
  return [...passwords].flatMap((p) => [p, digitsOf(p)]);
}

/** The needles found in `text` (for assertions that print what leaked, not the whole text). */
const leaked = (text: string, needles: readonly string[]): string[] => needles.filter((n) => text.includes(n));

// ---------------------------------------------------------------------------------------------
// Raw storage

interface RawEntity {
  table: string;
  entity: Record<string, unknown>;
}

/** Every entity of every table of an account, read below the service. */
async function everyEntity(connectionString: string): Promise<RawEntity[]> {
  const service = TableServiceClient.fromConnectionString(connectionString, { allowInsecureConnection: true });
  const tables: string[] = [];
  for await (const table of service.listTables()) tables.push(table.name!);
  const all: RawEntity[] = [];
  for (const table of tables) {
    const client = TableClient.fromConnectionString(connectionString, table, { allowInsecureConnection: true });
    try {
      for await (const entity of client.listEntities()) all.push({ table, entity });
    } catch (error) {
      // Another test file may drop a table of its own between the listing and the read.
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
  }
  return all;
}

/** Every text an entity holds: string properties, and binary ones read as UTF-8 and Latin-1. */
function textsOf(entity: Record<string, unknown>): string[] {
  return Object.values(entity).flatMap((value) => {
    if (typeof value === 'string') return [value];
    if (value instanceof Uint8Array) return [Buffer.from(value).toString('utf8'), Buffer.from(value).toString('latin1')];
    return [];
  });
}

/** The record rows (not audit twins) of the RecoveryKeys table of an account, by key id. */
async function rawRecords(
  connectionString: string,
): Promise<Map<string, { recoveryPasswordCiphertext: string; encryptionKeyVersion: string }>> {
  const client = TableClient.fromConnectionString(connectionString, TABLES.recoveryKeys, { allowInsecureConnection: true });
  const records = new Map<string, { recoveryPasswordCiphertext: string; encryptionKeyVersion: string }>();
  for await (const entity of client.listEntities<{ recoveryPasswordCiphertext: string; encryptionKeyVersion: string }>({
    queryOptions: { filter: `RowKey eq '${RECORD_ROW}'` },
  })) {
    records.set(entity.partitionKey!, entity);
  }
  return records;
}

// ---------------------------------------------------------------------------------------------
// HTTP against a private host

const callAt = (host: LocalHost, method: string, path: string, options: CallOptions = {}): Promise<ApiResponse> =>
  callOn(host.url, method, path, options);

async function escrowAt(host: LocalHost, bodies: readonly KeyBody[]): Promise<void> {
  await mapLimit(bodies, 8, async (body) => {
    const response = await callAt(host, 'PATCH', item(body.id!), { token: writer, body });
    if (response.status !== 200) throw new Error(`escrowing ${body.id} gave ${response.status}: ${response.text}\n${host.output()}`);
  });
}

/** Reads every key back with $select=key: id to the key answered (or the status, when not 200). */
async function readBackAt(host: LocalHost, ids: readonly string[]): Promise<Record<string, string | number>> {
  const answers = await mapLimit(ids, 8, async (id) => {
    const response = await callAt(host, 'GET', keyRead(id), { token: keyReader });
    return [id, response.status === 200 ? (response.json.key as string) : response.status] as const;
  });
  return Object.fromEntries(answers);
}

// ---------------------------------------------------------------------------------------------
// The reencrypt script as a child process

// The reencrypt script as a child process (test/support/scripts.ts); `firstOutput` is its first line:
// its keyring is loaded, it is about to list records.
const startReencrypt = (env: EnvOverrides, args: string[] = []): RunningScript => startScript('reencrypt', args, env, 20_000);

const runReencrypt = (env: EnvOverrides, args: string[] = []): Promise<ScriptRun> => startReencrypt(env, args).finished;

const SUMMARY =
  /^reencrypt: done: (\d+) scanned, (\d+) moved to (\S+), (\d+) already on \S+, (\d+) deleted meanwhile, (\d+) re-read after a concurrent write, (\d+) failed$/;

function summaryOf(run: ScriptRun) {
  const lines = run.stdout.trim().split('\n');
  expect({ lines, stderr: run.stderr }).toEqual({ lines: [expect.stringMatching(SUMMARY)], stderr: expect.any(String) });
  const [, scanned, moved, version, already, gone, retried, failed] = SUMMARY.exec(lines[0])!;
  return { scanned: +scanned, moved: +moved, version, already: +already, gone: +gone, retried: +retried, failed: +failed };
}

// ---------------------------------------------------------------------------------------------
// A pass-through proxy in front of Azurite that can hold one write to a record until the test has
// made a concurrent change: a race with the running service, on cue instead of by chance.

interface HeldWrite {
  /** Resolves when the proxied client's first write (PUT) to the record has arrived and is being held. */
  arrived: Promise<void>;
  release(): void;
}

interface StorageProxy {
  connectionString: string;
  hold(recordId: string): HeldWrite;
  close(): Promise<void>;
}

async function storageProxy(target: RunningAzurite): Promise<StorageProxy> {
  const holds = new Map<string, { arrived: () => void; released: Promise<void> }>();
  const server = http.createServer((request, response) => {
    const path = decodeURIComponent(request.url ?? '');
    const held = request.method === 'PUT' ? [...holds.entries()].find(([id]) => path.includes(`PartitionKey='${id}'`)) : undefined;
    if (held) holds.delete(held[0]);
    const forward = (): void => {
      const upstream = http.request(
        { host: '127.0.0.1', port: target.port, method: request.method, path: request.url, headers: request.headers },
        (answer) => {
          response.writeHead(answer.statusCode!, answer.headers);
          answer.pipe(response);
        },
      );
      upstream.once('error', () => response.destroy());
      request.pipe(upstream);
    };
    if (!held) return forward();
    held[1].arrived();
    void held[1].released.then(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    connectionString: azuriteConnectionString((server.address() as AddressInfo).port),
    hold(recordId) {
      let arrived!: () => void;
      let release!: () => void;
      const arrival = new Promise<void>((resolve) => (arrived = resolve));
      holds.set(recordId, { arrived, released: new Promise<void>((resolve) => (release = resolve)) });
      return { arrived: arrival, release };
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------------------------

describe('the tables never hold a recovery password in plain text', () => {
  it('finds none of the escrowed passwords in any string of any entity of any table of the run', async () => {
    const patched = Array.from({ length: 4 }, () => keyBody());
    const posted = Array.from({ length: 3 }, () => keyBody());
    const replaced = keyBody();
    await Promise.all([
      ...patched.map(async (body) => expect((await call('PATCH', item(body.id!), { token: writer, body })).status).toBe(200)),
      ...posted.map(async (body) => expect((await call('POST', COLLECTION, { token: writer, body })).status).toBe(201)),
      (async () => expect((await call('PATCH', item(replaced.id!), { token: writer, body: replaced })).status).toBe(200))(),
    ]);
    // An attempt to change a key (refused: a password never changes under its key id): neither the
    // stored nor the refused password may be anywhere.
    const newPassword = keyBody().key!;
    const change = await call('PATCH', item(replaced.id!), { token: writer, body: { key: newPassword } });
    expect(change.status).toBe(409);
    // Read once each, so that the audit trail holds reads too.
    const reads = await Promise.all([...patched, ...posted].map((b) => call('GET', keyRead(b.id!), { token: keyReader })));
    for (const [i, read] of reads.entries()) expect(read.json.key).toBe([...patched, ...posted][i].key);

    const passwords = [...patched, ...posted, replaced].map((b) => b.key!).concat(newPassword);
    const needles = needlesOf(passwords);
    const entities = await everyEntity(process.env.STORAGE_CONNECTION_STRING!);
    const hits: string[] = [];
    for (const { table, entity } of entities) {
      for (const text of textsOf(entity)) {
        for (const needle of leaked(text, needles))
          hits.push(
            `${table}/${String(entity.partitionKey)}/${String(entity.rowKey)} holds ${needle.length === 48 ? 'the digits of ' : ''}a password`,
          );
      }
    }
    expect(hits).toEqual([]);

    // The scan saw our records, sealed: it is not vacuous.
    const ours = new Set([...patched, ...posted, replaced].map((b) => b.id!));
    const records = entities.filter(
      ({ table, entity }) => table === TABLES.recoveryKeys && entity.rowKey === RECORD_ROW && ours.has(entity.partitionKey as string),
    );
    expect(records).toHaveLength(ours.size);
    for (const { entity } of records) {
      expect(entity).toEqual(
        expect.objectContaining({
          recoveryPasswordCiphertext: expect.stringMatching(/^[A-Za-z0-9+/]+={0,2}$/),
          encryptionKeyVersion: expect.any(String),
        }),
      );
    }
    expect(new Set(entities.map((e) => e.table)).size).toBeGreaterThan(1);
  });
});

describe('a ciphertext that was moved or altered does not decrypt', () => {
  const a = keyBody();
  const b = keyBody();
  const c = keyBody();
  const records = rawTable(TABLES.recoveryKeys);
  const rawRecord = (id: string) => records.getEntity<{ recoveryPasswordCiphertext: string; encryptionKeyVersion: string }>(id, RECORD_ROW);
  const setSealed = (id: string, recoveryPasswordCiphertext: string, encryptionKeyVersion: string) =>
    records.updateEntity({ partitionKey: id, rowKey: RECORD_ROW, recoveryPasswordCiphertext, encryptionKeyVersion }, 'Merge');

  const originals = new Map<string, { recoveryPasswordCiphertext: string; encryptionKeyVersion: string }>();
  beforeAll(async () => {
    for (const body of [a, b, c]) expect((await call('PATCH', item(body.id!), { token: writer, body })).status).toBe(200);
    for (const body of [b, c]) originals.set(body.id!, await rawRecord(body.id!));
  });
  // Leave the shared storage as found: no record there that cannot be read.
  afterAll(async () => {
    for (const [id, sealed] of originals) await setSealed(id, sealed.recoveryPasswordCiphertext, sealed.encryptionKeyVersion);
  });

  /** The key read of a record that cannot be decrypted: 500, a clear message, and no key at all. */
  async function expectUndecryptable(id: string, mustNotShow: string[]): Promise<void> {
    const response = await call('GET', keyRead(id), { token: keyReader });
    const error = expectGraphError(response, 500, 'generalException');
    expect(error.message).toMatch(/cannot be decrypted/);
    expect(error.message).toContain(id);
    expect(response.json.key).toBeUndefined();
    expect(leaked(response.text, needlesOf(mustNotShow))).toEqual([]);
  }

  it("answers a 500 that says so for a record holding another record's ciphertext, never the other key", async () => {
    const fromA = await rawRecord(a.id!);
    await setSealed(b.id!, fromA.recoveryPasswordCiphertext, fromA.encryptionKeyVersion);
    await expectUndecryptable(b.id!, [a.key!, b.key!]);
    // Its metadata is still served, and A is untouched.
    expect((await call('GET', item(b.id!), { token: keyReader })).status).toBe(200);
    const readA = await call('GET', keyRead(a.id!), { token: keyReader });
    expect({ status: readA.status, key: readA.json.key }).toEqual({ status: 200, key: a.key });
  });

  it('answers the same for an altered ciphertext (a flipped byte in the IV, the body or the tag), and reads again once restored', async () => {
    const original = await rawRecord(c.id!);
    const bytes = Buffer.from(original.recoveryPasswordCiphertext, 'base64');
    for (const at of [0, 12 + 5, bytes.length - 1]) {
      const altered = Buffer.from(bytes);
      altered[at] ^= 0x01;
      await setSealed(c.id!, altered.toString('base64'), original.encryptionKeyVersion);
      await expectUndecryptable(c.id!, [c.key!]);
    }
    await setSealed(c.id!, original.recoveryPasswordCiphertext, original.encryptionKeyVersion);
    const restored = await call('GET', keyRead(c.id!), { token: keyReader });
    expect({ status: restored.status, key: restored.json.key }).toEqual({ status: 200, key: c.key });
  });
});

// ---------------------------------------------------------------------------------------------

describe('key rotation: new versions, npm run reencrypt, old versions removed', () => {
  const v1 = randomBytes(32).toString('base64');
  const v2 = randomBytes(32).toString('base64');
  const keyMaterial = [v1, v2, Buffer.from(v1, 'base64').toString('hex'), Buffer.from(v2, 'base64').toString('hex')];
  let azurite: RunningAzurite;
  let env: (keys: Record<string, string>, active: string) => EnvOverrides;

  const oldKeys = Array.from({ length: 24 }, () => keyBody());
  const newKeys = Array.from({ length: 8 }, () => keyBody());
  /**
   * Deleted by the service between reencrypt's read of it and its write. A delete keeps the record
   * (restorable, still sealed under v1), so reencrypt reads it again and moves it too: a restore after
   * v1 is removed must still open it.
   */
  const deletedMidway = oldKeys[0];
  /** Changed by the service (metadata only: its ciphertext stays on v1) between reencrypt's read of it and its write. */
  const changedMidway = oldKeys[1];
  const deleted = [deletedMidway];
  const kept = [...oldKeys.slice(1), ...newKeys];
  const allPasswords = [...oldKeys, ...newKeys].map((b) => b.key!);
  /** Nothing a process prints may contain these. */
  const secrets = [...needlesOf(allPasswords), ...keyMaterial];

  beforeAll(async () => {
    azurite = await startAzuriteTables({ port: 0, inMemory: true, silent: true });
    env = (keys, active) => ({
      STORAGE_CONNECTION_STRING: azurite.connectionString,
      AUTH_MODE: 'local',
      // The run's state folder: its development signing key is what test tokens are signed with.
      LOCAL_STATE_DIR: process.env.LOCAL_STATE_DIR,
      ENCRYPTION_KEYS: JSON.stringify(keys),
      ENCRYPTION_ACTIVE_KEY: active,
    });
  }, 30_000);
  afterAll(async () => {
    await stopLocalHosts();
    await azurite?.stop();
  }, 30_000);

  const versionsOf = async (ids: readonly string[]): Promise<Record<string, string | undefined>> => {
    const records = await rawRecords(azurite.connectionString);
    return Object.fromEntries(ids.map((id) => [id, records.get(id)?.encryptionKeyVersion]));
  };
  const all = <T>(ids: readonly string[], value: T) => Object.fromEntries(ids.map((id) => [id, value]));
  const ids = (bodies: readonly KeyBody[]) => bodies.map((b) => b.id!);
  const expectedKeys = (bodies: readonly KeyBody[]) => Object.fromEntries(bodies.map((b) => [b.id!, b.key!]));

  it('host 1 with {v1}: stores keys under v1', async () => {
    const host = await startLocalHost(env({ v1 }, 'v1'));
    await escrowAt(host, oldKeys);
    await host.stop();
    expect(await versionsOf(ids(oldKeys))).toEqual(all(ids(oldKeys), 'v1'));
    expect(leaked(host.output(), secrets)).toEqual([]);
  });

  it('host 2 with {v1, v2}, v2 active: reads the v1 keys, writes v2; reencrypt moves the rest while it serves', async () => {
    const host = await startLocalHost(env({ v1, v2 }, 'v2'));
    expect(await readBackAt(host, ids(oldKeys))).toEqual(expectedKeys(oldKeys));
    await escrowAt(host, newKeys);
    expect(await versionsOf(ids(oldKeys))).toEqual(all(ids(oldKeys), 'v1'));
    expect(await versionsOf(ids(newKeys))).toEqual(all(ids(newKeys), 'v2'));

    // The service keeps serving during the run, and writes two records while reencrypt holds them
    // between its read and its write: it must follow the change (412: read again; the service's
    // metadata-only write kept the v1 ciphertext, never decrypting it, so reencrypt moves it then) and
    // the delete (skip it), not overwrite them.
    const proxy = await storageProxy(azurite);
    try {
      const [changing, deleting] = [proxy.hold(changedMidway.id!), proxy.hold(deletedMidway.id!)];
      const script = startReencrypt({ ...env({ v1, v2 }, 'v2'), STORAGE_CONNECTION_STRING: proxy.connectionString }, [
        '--page-size',
        '5',
        '--progress-every',
        '0',
      ]);
      const [changed, removed, run] = await Promise.all([
        changing.arrived.then(async () => {
          const answer = await callAt(host, 'PATCH', item(changedMidway.id!), { token: writer, body: { volumeType: 'fixedDataVolume' } });
          changing.release();
          return answer;
        }),
        deleting.arrived.then(async () => {
          const answer = await callAt(host, 'DELETE', item(deletedMidway.id!), { token: writer });
          deleting.release();
          return answer;
        }),
        script.finished,
      ]);
      expect([changed.status, removed.status]).toEqual([200, 204]);

      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
      process.stderr.write(`[encryption] ${run.stdout}`);
      expect(summaryOf(run)).toEqual({
        scanned: oldKeys.length + newKeys.length,
        moved: oldKeys.length,
        version: 'v2',
        // Both held records are moved after a 412: the metadata-only PATCH kept the v1 ciphertext, and
        // the soft delete kept the record (deleted keys stay restorable, so they move too).
        already: newKeys.length,
        gone: 0,
        retried: 2,
        failed: 0,
      });
      expect(run.stderr).toMatch(/^reencrypt: \d+ scanned, \d+ moved to v2, 0 failed$/m);
      expect(leaked(run.stdout + run.stderr, secrets)).toEqual([]);
    } finally {
      await proxy.close();
    }

    // Below the service: every record is on v2, the deleted ones too (and they stayed deleted).
    expect(await versionsOf(ids(kept))).toEqual(all(ids(kept), 'v2'));
    expect(await versionsOf(ids(deleted))).toEqual(all(ids(deleted), 'v2'));
    const records = await rawRecords(azurite.connectionString);
    expect([...records.values()].filter((r) => r.encryptionKeyVersion !== 'v2')).toEqual([]);

    // Rerun: nothing left to move.
    const rerun = await runReencrypt(env({ v1, v2 }, 'v2'));
    expect({ code: rerun.code, stderr: rerun.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    const stored = kept.length + deleted.length;
    expect(summaryOf(rerun)).toEqual({ scanned: stored, moved: 0, version: 'v2', already: stored, gone: 0, retried: 0, failed: 0 });
    expect(leaked(rerun.stdout + rerun.stderr, secrets)).toEqual([]);

    await host.stop();
    expect(leaked(host.output(), secrets)).toEqual([]);
  });

  it('host 3 with only {v2}: every key reads back as escrowed; nothing in storage is plain text', async () => {
    const host = await startLocalHost(env({ v2 }, 'v2'));
    expect(await readBackAt(host, ids(kept))).toEqual(expectedKeys(kept));
    expect(await readBackAt(host, ids(deleted))).toEqual(all(ids(deleted), 404));
    // The change made while reencrypt held the record survived it.
    expect((await callAt(host, 'GET', item(changedMidway.id!), { token: keyReader })).json.volumeType).toBe('fixedDataVolume');
    await host.stop();
    expect(leaked(host.output(), secrets)).toEqual([]);

    const hits = (await everyEntity(azurite.connectionString)).flatMap(({ table, entity }) =>
      textsOf(entity).flatMap((text) =>
        leaked(text, needlesOf(allPasswords)).map(() => `${table}/${String(entity.partitionKey)}/${String(entity.rowKey)}`),
      ),
    );
    expect(hits).toEqual([]);
  });

  it('reencrypt names the records it cannot decrypt, leaves them as they are, and exits non-zero', async () => {
    const [altered, unknownVersion] = [kept[0].id!, kept[1].id!];
    const table = TableClient.fromConnectionString(azurite.connectionString, TABLES.recoveryKeys, { allowInsecureConnection: true });
    const before = await rawRecords(azurite.connectionString);
    // A v2 ciphertext labelled v1 (so the script tries to move it, and it fails v1's check), and a
    // record under a version this configuration does not have.
    await table.updateEntity({ partitionKey: altered, rowKey: RECORD_ROW, encryptionKeyVersion: 'v1' }, 'Merge');
    await table.updateEntity({ partitionKey: unknownVersion, rowKey: RECORD_ROW, encryptionKeyVersion: 'v0' }, 'Merge');

    const run = await runReencrypt(env({ v1, v2 }, 'v2'));
    expect(run.code).toBe(1);
    expect(summaryOf(run)).toEqual(expect.objectContaining({ scanned: kept.length + deleted.length, moved: 0, failed: 2 }));
    expect(run.stderr).toMatch(new RegExp(`record ${altered} cannot be decrypted`));
    expect(run.stderr).toMatch(new RegExp(`record ${unknownVersion} cannot be decrypted.*'v0'`));
    expect(leaked(run.stdout + run.stderr, secrets)).toEqual([]);

    const after = await rawRecords(azurite.connectionString);
    expect(after.get(altered)).toEqual({
      ...before.get(altered),
      encryptionKeyVersion: 'v1',
      etag: expect.any(String),
      timestamp: expect.any(String),
    });
    expect(after.get(unknownVersion)!.recoveryPasswordCiphertext).toBe(before.get(unknownVersion)!.recoveryPasswordCiphertext);
  });
});

// ---------------------------------------------------------------------------------------------

describe('a malformed key setting stops the host and the script with a clear message, without the key', () => {
  const good = randomBytes(32).toString('base64');
  const short = randomBytes(31).toString('base64');
  let deadStorage: string;
  beforeAll(async () => {
    // Nothing listens there: the host must stop before it would ever reach storage.
    deadStorage = azuriteConnectionString(await findFreePort());
  });

  const cases: { name: string; keys: string; active?: string; message: RegExp }[] = [
    { name: 'not JSON', keys: `{"v1": "${good}"`, active: 'v1', message: /ENCRYPTION_KEYS must be a JSON object.*not valid JSON/ },
    {
      name: 'a key of 31 bytes',
      keys: JSON.stringify({ v1: good, v2: short }),
      active: 'v1',
      message: /ENCRYPTION_KEYS: version 'v2' must be the base64 of exactly 32 bytes/,
    },
    {
      name: 'an active version that is not there',
      keys: JSON.stringify({ v1: good }),
      active: 'v9',
      message: /ENCRYPTION_ACTIVE_KEY 'v9' is not a version in ENCRYPTION_KEYS/,
    },
    { name: 'no active version', keys: JSON.stringify({ v1: good }), message: /ENCRYPTION_ACTIVE_KEY must name the key version/ },
  ];
  const settingsOf = (c: (typeof cases)[number]): EnvOverrides => ({
    STORAGE_CONNECTION_STRING: deadStorage,
    AUTH_MODE: 'local',
    LOCAL_STATE_DIR: process.env.LOCAL_STATE_DIR,
    ENCRYPTION_KEYS: c.keys,
    ENCRYPTION_ACTIVE_KEY: c.active,
  });
  const keyMaterial = [good, short, Buffer.from(good, 'base64').toString('hex')];

  // All cases at once: each is a process start-up, and one after the other they would be most of this file's time.
  it('stops the host (exit code non-zero) with a message that names the setting', async () => {
    const outcomes = await Promise.all(
      cases.map(async (c) => {
        const started = await startLocalHost(settingsOf(c)).then(
          async (host) => {
            await host.stop();
            return undefined;
          },
          (error: unknown) => error,
        );
        if (!(started instanceof HostDidNotStart)) return { case: c.name, started: true };
        return {
          case: c.name,
          exitCode: started.exitCode,
          output: started.hostOutput,
          keyMaterialShown: leaked(started.hostOutput, keyMaterial),
        };
      }),
    );
    expect(outcomes).toEqual(
      cases.map((c) => ({ case: c.name, exitCode: 1, output: expect.stringMatching(c.message), keyMaterialShown: [] })),
    );
  });

  it('stops reencrypt (exit code 2, nothing on stdout) with the same message', async () => {
    const runs = await Promise.all(cases.map((c) => runReencrypt(settingsOf(c))));
    expect(runs.map((run, i) => ({ case: cases[i].name, ...run, keyMaterialShown: leaked(run.stderr, keyMaterial) }))).toEqual(
      cases.map((c) => ({ case: c.name, code: 2, stdout: '', stderr: expect.stringMatching(c.message), keyMaterialShown: [] })),
    );
  });
});
