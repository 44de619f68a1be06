import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DeviceClient, type EscrowedKey } from '../../scripts/cli/device/client';
import { newProtector, type SimulatedDisk } from '../../scripts/cli/device/disk';
import { rotateDisclosedKeys } from '../../scripts/cli/device/rotation';
import { selfSignedCertificate } from '../../scripts/cli/device/selfSignedCertificate';

// The reference client's rotation (scripts/cli/device/rotation.ts) against a scripted service that answers
// in the shapes the single-use-keys contract pins: the order of its requests and of its changes to the
// simulated disk, and each failure in between. test/http runs the same client against the real host.

interface Seen {
  method: string;
  path: string;
  body: Record<string, unknown> | undefined;
  protectorsThen: string[];
}

type Answer = (seen: Seen) => { status: number; body?: unknown };

let server: Server;
let answers: Answer[];
let seen: Seen[];
let disk: SimulatedDisk;

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const entry: Seen = {
        method: request.method ?? '',
        path: (request.url ?? '').split('?')[0],
        body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined,
        protectorsThen: disk.protectors.map((p) => p.id),
      };
      seen.push(entry);
      const answer = answers.shift()?.(entry) ?? { status: 500, body: { error: { code: 'script', message: 'no answer scripted' } } };
      response.writeHead(answer.status, { 'Content-Type': 'application/json' });
      response.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const deviceId = randomUUID();
let client: DeviceClient;
let old: { id: string; key: string };

beforeEach(() => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  client = new DeviceClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, {
    certificate: selfSignedCertificate(privateKey, deviceId),
    privateKey,
  });
  old = newProtector();
  disk = { mountPoint: 'C:', volumeType: 'operatingSystemVolume', protectors: [old] };
  seen = [];
  answers = [];
});

const entry = (id: string, marks: Partial<EscrowedKey> = {}): EscrowedKey => ({
  id,
  deviceId,
  volumeType: 'operatingSystemVolume',
  createdDateTime: '2026-12-01T10:00:00Z',
  ...marks,
});
const disclosed = { '@escrow.disclosedDateTime': '2026-12-05T09:30:00Z' };
const successorId = (): string => seen.find((s) => s.method === 'PATCH')!.body!.id as string;
const rotate = (keys: EscrowedKey[]) => rotateDisclosedKeys(client, deviceId, disk, keys, () => Promise.resolve());
const confirmingList: Answer = () => ({
  status: 200,
  body: { value: [entry(old.id, { ...disclosed, '@escrow.supersededBy': successorId() }), entry(successorId())] },
});

it('adds a protector, escrows it with @escrow.replaces, confirms, then removes the old protector and deletes the old key', async () => {
  answers = [() => ({ status: 201, body: {} }), confirmingList, () => ({ status: 204 })];
  const result = await rotate([entry(old.id, disclosed)]);
  const fresh = successorId();
  expect(result).toEqual({ lines: [`Rotated key ${old.id} -> ${fresh}`], failed: false });
  expect(seen.map((s) => ({ request: `${s.method} ${s.path}`, disk: s.protectorsThen }))).toEqual([
    { request: 'PATCH /v1.0/informationProtection/bitlocker/recoveryKeys', disk: [old.id, fresh] },
    { request: 'GET /v1.0/informationProtection/bitlocker/recoveryKeys', disk: [old.id, fresh] },
    // The old protector left the disk before its key was deleted, and only after the confirmation.
    { request: `DELETE /v1.0/informationProtection/bitlocker/recoveryKeys/${old.id}`, disk: [fresh] },
  ]);
  expect(seen[0].body).toEqual({
    id: fresh,
    deviceId,
    volumeType: 'operatingSystemVolume',
    key: disk.protectors[0].key,
    '@escrow.replaces': old.id,
  });
});

it('a successor refused outright (409) comes off the disk again; the old protector and key stay', async () => {
  answers = [() => ({ status: 409, body: { error: { code: 'conflict', message: 'The key already has a successor.' } } })];
  const result = await rotate([entry(old.id, disclosed)]);
  expect(result).toEqual({ lines: [`Rotation of key ${old.id} refused: 409 The key already has a successor.`], failed: true });
  expect(disk.protectors).toEqual([old]);
  expect(seen.map((s) => s.method)).toEqual(['PATCH']);
});

it('a successor the confirming list does not show stays on the disk beside the old one; nothing is deleted', async () => {
  answers = [() => ({ status: 201, body: {} }), () => ({ status: 200, body: { value: [entry(old.id, disclosed)] } })];
  const result = await rotate([entry(old.id, disclosed)]);
  const fresh = successorId();
  expect(result).toEqual({
    lines: [`Rotation of key ${old.id} not confirmed: the service does not list ${fresh} as its successor`],
    failed: true,
  });
  expect(disk.protectors.map((p) => p.id)).toEqual([old.id, fresh]);
  expect(seen.map((s) => s.method)).toEqual(['PATCH', 'GET']);
});

it('a delete that fails is said and retried by the next run, which retires the superseded key', async () => {
  answers = [
    () => ({ status: 201, body: {} }),
    confirmingList,
    () => ({ status: 400, body: { error: { code: 'badRequest', message: 'not now' } } }),
  ];
  const first = await rotate([entry(old.id, disclosed)]);
  const fresh = successorId();
  expect(first).toEqual({
    lines: [`Rotated key ${old.id} -> ${fresh}`, `Delete of key ${old.id} refused: 400 not now; the next run retries it`],
    failed: true,
  });
  seen = [];
  answers = [() => ({ status: 204 })];
  const next = await rotate([entry(old.id, { ...disclosed, '@escrow.supersededBy': fresh }), entry(fresh)]);
  expect(next).toEqual({ lines: [`Retired key ${old.id} (superseded by ${fresh})`], failed: false });
  expect(seen.map((s) => `${s.method} ${s.path}`)).toEqual([`DELETE /v1.0/informationProtection/bitlocker/recoveryKeys/${old.id}`]);
});

it('leaves alone keys not disclosed, and a superseded key whose successor is not on the disk', async () => {
  const result = await rotate([entry(old.id, { ...disclosed, '@escrow.supersededBy': randomUUID() }), entry(randomUUID())]);
  expect(result).toEqual({ lines: [], failed: false });
  expect(disk.protectors).toEqual([old]);
  expect(seen).toEqual([]);
});
