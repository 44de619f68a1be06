import { randomUUID } from 'node:crypto';
import { startAzuriteTables, type RunningAzurite } from '../../scripts/devhost/azurite';
import { startLocalHost, type LocalHost } from '../../scripts/devhost/localHost';
import { CHECKS_PER_PAGE } from '../../shared/recoveryKeys/deviceIndex';
import { baseUrl, call, callOn, READ_BASIC, tokenWith, WRITE } from '../support/client';
import { newId, recoveryPassword } from '../support/fixtures';
import {
  COLLECTION,
  escrowKeys,
  idWithPrefix,
  keyBodies,
  listPath,
  mapLimit,
  randomHex,
  readAllPages,
  sorted,
  type Traversal,
} from '../support/keys';
import { rawEntities, rawTable } from '../support/storage';
import { RECORD_ROW, TABLES } from '../../shared/storage/layout';

// Server-driven paging over HTTP: @odata.nextLink is followed until it is absent, and the pages
// together must hold every matching key exactly once, whatever storage hands back page by page.

let writer: string;
let reader: string;
beforeAll(async () => {
  [writer, reader] = await Promise.all([tokenWith(WRITE), tokenWith(READ_BASIC)]);
});

const deviceFilter = (deviceId: string): string => `deviceId eq '${deviceId}'`;
const prefixFilter = (prefix: string): string => `startswith(id,'${prefix}')`;

/**
 * No key twice. A key is its id and its device: a key id that two devices escrowed (a cloned disk, or a
 * claim on another's id) is listed once per device, each with its own deviceId (docs/security.md).
 */
function expectNoDuplicates(traversal: Traversal): void {
  const keys = traversal.pages.flatMap((page) =>
    (page.json.value as { id: string; deviceId?: string }[]).map((key) => `${key.id} ${key.deviceId ?? ''}`),
  );
  expect(keys.length).toBe(new Set(keys).size);
}

/**
 * `count` keys written straight into the tables of the Azurite `connectionString` names (the run's unless
 * given), as a large tenant's would be: random ids, each of its own device, with its device index entry as
 * the service leaves it once confirmed (the unfiltered list reads those). Resolves to their ids.
 */
async function seedConfirmedKeys(count: number, connectionString?: string): Promise<string[]> {
  const records = rawTable(TABLES.recoveryKeys, connectionString);
  const index = rawTable(TABLES.deviceIndex, connectionString);
  await Promise.all([records.createTable(), index.createTable()]);
  const now = new Date().toISOString();
  return mapLimit(Array.from({ length: count }), 32, async () => {
    const [id, deviceId, volumeType] = [randomUUID(), randomUUID(), 'fixedDataVolume'];
    await records.createEntity({
      partitionKey: id,
      rowKey: RECORD_ROW,
      deviceId,
      volumeType,
      createdDateTime: now,
      recoveryPassword: recoveryPassword(),
    });
    await index.createEntity({ partitionKey: deviceId, rowKey: id, volumeType, createdDateTime: now, listed: true });
    return id;
  });
}

function expectPagesAtMost(traversal: Traversal, top: number): void {
  for (const page of traversal.pages) expect(page.json.value.length).toBeLessThanOrEqual(top);
}

/** Every nextLink is absolute, on the request's own origin and path (so its version prefix), and keeps the query. */
function expectNextLinksOn(traversal: Traversal, collection: string, options: Record<string, string>): void {
  for (const link of traversal.nextLinks) {
    expect(link.startsWith(`${baseUrl()}${collection}?`)).toBe(true);
    const query = new URL(link).searchParams;
    for (const [name, value] of Object.entries(options)) expect(query.get(name)).toBe(value);
    expect(query.get('$skiptoken')).toMatch(/^[A-Za-z0-9_-]+$/);
  }
}

describe("paging through one device's keys with $top=7", () => {
  const deviceId = newId();
  let created: string[];
  beforeAll(async () => {
    created = (await escrowKeys(writer, keyBodies(25, { deviceId }), 8)).map((k) => k.id!);
    // Other devices' keys around it, so that a page that ran past the partition would show.
    await escrowKeys(writer, keyBodies(5), 5);
  });

  it.each([
    ['/v1.0/informationProtection/bitlocker/recoveryKeys', 'v1.0'],
    ['/beta/bitlocker/recoveryKeys', 'beta'],
    ['/beta/informationProtection/bitlocker/recoveryKeys', 'beta'],
    ['/bitlocker/recoveryKeys', 'v1.0'],
  ])('under %s: several pages of at most 7, no duplicates, no gaps, nextLinks on the same origin and path', async (collection, version) => {
    const options = { $filter: deviceFilter(deviceId), $top: '7' };
    const traversal = await readAllPages(listPath(options, collection), reader);
    expect(traversal.pages.length).toBeGreaterThanOrEqual(4);
    expectPagesAtMost(traversal, 7);
    expectNoDuplicates(traversal);
    expect(sorted(traversal.ids)).toEqual(sorted(created));
    expectNextLinksOn(traversal, collection, options);
    for (const page of traversal.pages) {
      expect(page.json['@odata.context']).toBe(`${baseUrl()}/${version}/$metadata#informationProtection/bitlocker/recoveryKeys`);
      for (const item of page.json.value) {
        expect(item.deviceId).toBe(deviceId);
        expect(item).not.toHaveProperty('key');
      }
    }
    expect(traversal.pages.at(-1)!.json).not.toHaveProperty('@odata.nextLink');
  });

  it('keeps $select across pages', async () => {
    const options = { $filter: deviceFilter(deviceId), $top: '7', $select: 'id' };
    const traversal = await readAllPages(listPath(options), reader);
    expect(sorted(traversal.ids)).toEqual(sorted(created));
    expectNextLinksOn(traversal, COLLECTION, options);
    for (const page of traversal.pages) {
      for (const item of page.json.value) expect(Object.keys(item).sort()).toEqual(['@odata.type', 'id']);
    }
  });
});

describe('paging through an id-prefix search', () => {
  const prefix = randomHex(4);
  let created: string[];
  beforeAll(async () => {
    created = (
      await escrowKeys(
        writer,
        keyBodies(12, {}, () => idWithPrefix(prefix)),
        6,
      )
    ).map((k) => k.id!);
  });

  it('several pages of at most 5, every key with the prefix exactly once', async () => {
    const options = { $filter: prefixFilter(prefix), $top: '5' };
    const traversal = await readAllPages(listPath(options), reader);
    // Keys escrowed by other tests may share a 4-character prefix: what storage holds is the bound.
    const stored = (
      await rawEntities(TABLES.recoveryKeys, `PartitionKey ge '${prefix}' and PartitionKey lt '${prefix}~' and RowKey eq '${RECORD_ROW}'`)
    ).map((e) => e.partitionKey as string);
    expect(traversal.pages.length).toBeGreaterThanOrEqual(3);
    expectPagesAtMost(traversal, 5);
    expectNoDuplicates(traversal);
    expect(traversal.ids).toEqual(expect.arrayContaining(created));
    expect(stored).toEqual(expect.arrayContaining(traversal.ids));
    for (const id of traversal.ids) expect(id.startsWith(prefix)).toBe(true);
    expectNextLinksOn(traversal, COLLECTION, options);
  });
});

describe('listing by device skips index entries whose record is gone', () => {
  it('pages past index entries with no record and entries of keys that moved to another device', async () => {
    const deviceId = newId();
    const real = (await escrowKeys(writer, keyBodies(10, { deviceId }), 5)).map((k) => k.id!);
    // A write interrupted between the index entry and the record leaves an entry that points at nothing.
    const index = rawTable(TABLES.deviceIndex);
    const phantoms = Array.from({ length: 15 }, () => randomUUID());
    await mapLimit(phantoms, 8, (id) => index.createEntity({ partitionKey: deviceId, rowKey: id }));
    // An entry left behind by a key that now belongs to another device: its record names that device.
    const moved = (await escrowKeys(writer, keyBodies(2))).map((k) => k.id!);
    await mapLimit(moved, 2, (id) => index.createEntity({ partitionKey: deviceId, rowKey: id }));

    const traversal = await readAllPages(listPath({ $filter: deviceFilter(deviceId), $top: '4' }), reader, 50);
    expectPagesAtMost(traversal, 4);
    expectNoDuplicates(traversal);
    expect(sorted(traversal.ids)).toEqual(sorted(real));
    expect(traversal.pages.length).toBeGreaterThanOrEqual(3);
  });

  it('terminates with an empty set for a device whose entries all point at nothing', async () => {
    const deviceId = newId();
    const index = rawTable(TABLES.deviceIndex);
    await index.createTable();
    await mapLimit(
      Array.from({ length: 40 }, () => randomUUID()),
      8,
      (id) => index.createEntity({ partitionKey: deviceId, rowKey: id }),
    );
    const traversal = await readAllPages(listPath({ $filter: deviceFilter(deviceId), $top: '5' }), reader, 50);
    expect(traversal.ids).toEqual([]);
    expect(traversal.pages.at(-1)!.json).not.toHaveProperty('@odata.nextLink');
  });
});

describe('prefix search among thousands of keys', () => {
  const PREFIX = 'f00dfeed';
  const SEEDED = 3000;
  let created: string[];

  beforeAll(async () => {
    await seedConfirmedKeys(SEEDED);
    created = (
      await escrowKeys(
        writer,
        keyBodies(3, {}, () => idWithPrefix(PREFIX)),
      )
    ).map((k) => k.id!);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(created.map((id) => call('DELETE', `${COLLECTION}/${id}`, { token: writer })));
  });

  it(`startswith(id,'${PREFIX}') returns exactly the three keys with that prefix`, async () => {
    const response = await call('GET', listPath({ $filter: prefixFilter(PREFIX) }), { token: reader });
    expect(response.status).toBe(200);
    expect(sorted(response.json.value.map((k: { id: string }) => k.id))).toEqual(sorted(created));
    expect(response.json).not.toHaveProperty('@odata.nextLink');
  });

  it('finds them in upper case too, and pages through them with $top=2', async () => {
    const traversal = await readAllPages(listPath({ $filter: prefixFilter(PREFIX.toUpperCase()), $top: '2' }), reader);
    expect(traversal.pages.length).toBe(2);
    expect(sorted(traversal.ids)).toEqual(sorted(created));
  });

  it('a prefix that nothing has gives an empty list', async () => {
    const response = await call('GET', listPath({ $filter: prefixFilter(`${PREFIX}-0000-0000-0000-00000000000`) }), { token: reader });
    expect(response.status).toBe(200);
    expect(response.json.value).toEqual([]);
  });
});

// On its own Azurite and host: the walk of the unfiltered list covers the whole index, and the run's shared
// Azurite holds whatever every other test file left there (each key escrowed through the app is a pending
// entry until its device is listed, each phantom entry stays one), so its page count would be theirs.
describe('the unfiltered list', () => {
  const SEEDED = 3000;
  /** Escrowed through the app: pending entries until listed, half of them one device's backlog. */
  const ESCROWED = 40;
  /** Index entries whose record never was written: unconfirmed for good, never shown. */
  const PHANTOMS = 16;
  const TOP = 1000;
  let azurite: RunningAzurite;
  let host: LocalHost;
  let expected: string[];
  let escrowed: string[];

  beforeAll(async () => {
    azurite = await startAzuriteTables({ port: 0, inMemory: true, silent: true });
    host = await startLocalHost({ STORAGE_CONNECTION_STRING: azurite.connectionString });
    const backlogDevice = newId();
    const bodies = [...keyBodies(ESCROWED / 2), ...keyBodies(ESCROWED / 2, { deviceId: backlogDevice })];
    // Through the app first: its host creates the tables its way, as the service does.
    escrowed = (await escrowKeys(writer, bodies, 8, host.url)).map((k) => k.id!);
    const seeded = await seedConfirmedKeys(SEEDED, azurite.connectionString);
    const index = rawTable(TABLES.deviceIndex, azurite.connectionString);
    const phantomDevices = [backlogDevice, ...Array.from({ length: PHANTOMS - 1 }, () => randomUUID())];
    await mapLimit(phantomDevices, 8, (deviceId) => index.createEntity({ partitionKey: deviceId, rowKey: randomUUID() }));
    expected = [...seeded, ...escrowed];
  }, 120_000);

  afterAll(async () => {
    await host?.stop();
    await azurite?.stop();
  }, 30_000);

  it('pages with a nextLink, the next page continuing where the first stopped', async () => {
    const first = await callOn(host.url, 'GET', listPath({ $top: '3' }), { token: reader });
    expect(first.status).toBe(200);
    expect(first.json.value).toHaveLength(3);
    const nextLink: string = first.json['@odata.nextLink'];
    expect(nextLink.startsWith(`${host.url}${COLLECTION}?`)).toBe(true);
    expect(new URL(nextLink).searchParams.get('$filter')).toBeNull();
    const second = await callOn(host.url, 'GET', nextLink, { token: reader });
    expect(second.status).toBe(200);
    expect(second.json.value.length).toBeGreaterThan(0);
    // A key is its id and its device: an id two devices hold may end one page and start the next.
    const keyOf = (k: { id: string; deviceId?: string }): string => `${k.id} ${k.deviceId ?? ''}`;
    const firstKeys = new Set(first.json.value.map(keyOf));
    for (const item of second.json.value) expect(firstKeys.has(keyOf(item))).toBe(false);
  });

  it('holds every key exactly once when followed to the end, in as many pages as the design bounds', async () => {
    // A page ends full (TOP keys shown), or cut after CHECKS_PER_PAGE unconfirmed entries (escrowed keys
    // not listed yet, phantoms), or at the end of the index; the constant covers the last page and a
    // page cut short of TOP by a cut or by the fetches a page may make.
    const pending = ESCROWED + PHANTOMS;
    const bound = Math.ceil(expected.length / TOP) + Math.ceil(pending / CHECKS_PER_PAGE) + 2;
    const traversal = await readAllPages(listPath({ $top: String(TOP) }), reader, bound, host.url);
    expectNoDuplicates(traversal);
    expectPagesAtMost(traversal, TOP);
    expect(traversal.ids).toEqual(expect.arrayContaining(escrowed));
    // Exactly what the tables hold live: every seeded and escrowed key, no phantom.
    expect(sorted(traversal.ids)).toEqual(sorted(expected));
    // Several full pages were followed.
    expect(traversal.pages.length).toBeGreaterThanOrEqual(4);
    expect(traversal.pages.length).toBeLessThanOrEqual(bound);
  }, 60_000);
});
