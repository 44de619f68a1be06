import { call, expectGraphError, READ, READ_BASIC, tokenWith, WRITE, type ApiResponse } from '../support/client';
import { keyBody, newId, recoveryPassword } from '../support/fixtures';
import { rawEntities } from '../support/storage';
import { COLLECTION, item, WHOLE_KEY } from '../support/keys';
import { RECORD_ROW, TABLES } from '../../shared/storage/layout';

// ETags, preconditions and concurrent writers, over HTTP against the run's shared local host.
// Storage ETags are the only version: a write carries the ETag it was based on, so a precondition
// is checked by the write itself and cannot be raced between a read and the write.

let writer: string;
let keyReader: string;
let reader: string;
beforeAll(async () => {
  [writer, keyReader, reader] = await Promise.all([tokenWith(WRITE), tokenWith(READ), tokenWith(READ_BASIC)]);
});

const patch = (id: string, body: unknown, headers: Record<string, string> = {}): Promise<ApiResponse> =>
  call('PATCH', item(id), { token: writer, body, headers });
const remove = (id: string, headers: Record<string, string> = {}): Promise<ApiResponse> =>
  call('DELETE', item(id), { token: writer, headers });
/** The stored key, recovery password included (Read.All, $select=key). */
const readKey = (id: string): Promise<ApiResponse> => call('GET', `${item(id)}?${WHOLE_KEY}`, { token: keyReader });

/** Creates a key and returns its body and ETag. */
async function stored(overrides: Parameters<typeof keyBody>[0] = {}): Promise<{ body: ReturnType<typeof keyBody>; etag: string }> {
  const body = keyBody(overrides);
  const response = await patch(body.id!, body);
  expect(response.status).toBe(200);
  return { body, etag: response.headers.get('etag')! };
}

/** The key's record and its device index entries, read straight from storage. */
async function keyRows(id: string): Promise<{ records: unknown[]; index: unknown[] }> {
  const [records, index] = await Promise.all([
    rawEntities(TABLES.recoveryKeys, `PartitionKey eq '${id}' and RowKey eq '${RECORD_ROW}'`),
    rawEntities(TABLES.deviceIndex, `RowKey eq '${id}'`),
  ]);
  return { records, index };
}

function statuses(responses: ApiResponse[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const r of responses) counts[r.status] = (counts[r.status] ?? 0) + 1;
  return counts;
}

describe('ETag on single-object responses', () => {
  it('is on PATCH, POST and GET, equal to @odata.etag, and the same for the same version', async () => {
    const body = keyBody();
    const { id: _id, ...postBody } = keyBody();
    const posted = await call('POST', COLLECTION, { token: writer, body: postBody });
    expect(posted.status).toBe(201);
    expect(posted.headers.get('etag')).toBeTruthy();
    expect(posted.headers.get('etag')).toBe(posted.json['@odata.etag']);

    const viaCollection = await call('PATCH', COLLECTION, { token: writer, body });
    const viaItem = await patch(body.id!, { volumeType: 'fixedDataVolume' });
    const got = await call('GET', item(body.id!), { token: reader });
    const gotKey = await readKey(body.id!);
    for (const r of [viaCollection, viaItem, got, gotKey]) {
      expect(r.status).toBe(200);
      expect(r.headers.get('etag')).toMatch(/\S/);
      expect(r.headers.get('etag')).toBe(r.json['@odata.etag']);
    }
    expect(viaItem.headers.get('etag')).not.toBe(viaCollection.headers.get('etag'));
    expect(got.headers.get('etag')).toBe(viaItem.headers.get('etag'));
    // The first reveal marks the key disclosed (ROTATE_AFTER_REVEAL): a new version, which its answer carries.
    expect(gotKey.headers.get('etag')).not.toBe(viaItem.headers.get('etag'));
    expect((await call('GET', item(body.id!), { token: reader })).headers.get('etag')).toBe(gotKey.headers.get('etag'));
  });

  it('a repeated PATCH with the same body returns the same ETag (nothing is rewritten)', async () => {
    const { body, etag } = await stored();
    const again = await patch(body.id!, body);
    const againConditional = await patch(body.id!, body, { 'If-Match': etag });
    expect([again.status, againConditional.status]).toEqual([200, 200]);
    expect(again.headers.get('etag')).toBe(etag);
    expect(againConditional.headers.get('etag')).toBe(etag);
  });
});

describe('preconditions', () => {
  it('If-Match with the current ETag applies; with a stale one it is a 412 and nothing changes', async () => {
    const { body, etag } = await stored();
    const applied = await patch(body.id!, { volumeType: 'fixedDataVolume' }, { 'If-Match': etag });
    expect(applied.status).toBe(200);
    const stale = await patch(body.id!, { volumeType: 'removableDataVolume' }, { 'If-Match': etag });
    expectGraphError(stale, 412, 'preconditionFailed');
    expect((await readKey(body.id!)).json.volumeType).toBe('fixedDataVolume');
  });

  it('If-Match: * on an absent key is a 412 and stores nothing', async () => {
    const body = keyBody();
    expectGraphError(await patch(body.id!, body, { 'If-Match': '*' }), 412, 'preconditionFailed');
    expect(await keyRows(body.id!)).toEqual({ records: [], index: [] });
  });

  it('If-Match: * on an existing key applies', async () => {
    const { body } = await stored();
    const response = await patch(body.id!, { volumeType: 'removableDataVolume' }, { 'If-Match': '*' });
    expect(response.status).toBe(200);
    expect(response.json.volumeType).toBe('removableDataVolume');
  });

  it('If-None-Match: * on an existing key is a 412 and leaves it unchanged', async () => {
    const { body, etag } = await stored();
    const response = await patch(body.id!, { ...body, key: recoveryPassword() }, { 'If-None-Match': '*' });
    expectGraphError(response, 412, 'preconditionFailed');
    // The version first (a metadata read), then the password (a reveal, which marks the key disclosed).
    expect((await call('GET', item(body.id!), { token: reader })).headers.get('etag')).toBe(etag);
    expect((await readKey(body.id!)).json.key).toBe(body.key);
  });

  it('If-None-Match: * on a new key creates it', async () => {
    const body = keyBody();
    const response = await patch(body.id!, body, { 'If-None-Match': '*' });
    expect(response.status).toBe(200);
    expect((await readKey(body.id!)).json.key).toBe(body.key);
  });

  it('DELETE with a stale ETag is a 412 and the key is still there; with the current one it deletes', async () => {
    const { body, etag: first } = await stored();
    const changed = await patch(body.id!, { volumeType: 'fixedDataVolume' });
    const current = changed.headers.get('etag')!;
    expectGraphError(await remove(body.id!, { 'If-Match': first }), 412, 'preconditionFailed');
    const still = await call('GET', item(body.id!), { token: reader });
    expect({ status: still.status, etag: still.headers.get('etag') }).toEqual({ status: 200, etag: current });
    expect((await readKey(body.id!)).json.key).toBe(body.key);
    // That reveal marked the key disclosed, a new version: the ETag it answered with is the current one.
    expectGraphError(await remove(body.id!, { 'If-Match': current }), 412, 'preconditionFailed');
    const revealed = await readKey(body.id!);
    expect((await remove(body.id!, { 'If-Match': revealed.headers.get('etag')! })).status).toBe(204);
    expectGraphError(await readKey(body.id!), 404, 'itemNotFound');
  });
});

describe('concurrent writers', () => {
  it('20 concurrent PATCHes with the same If-Match: exactly one 200, nineteen 412, and the winner is stored', async () => {
    const { body, etag } = await stored();
    const devices = Array.from({ length: 20 }, () => newId());
    const responses = await Promise.all(devices.map((deviceId) => patch(body.id!, { deviceId }, { 'If-Match': etag })));

    expect(statuses(responses)).toEqual({ 200: 1, 412: 19 });
    for (const r of responses.filter((r) => r.status === 412)) expectGraphError(r, 412, 'preconditionFailed');
    const winner = responses.find((r) => r.status === 200)!;
    const winningDevice = devices[responses.indexOf(winner)];
    expect(winner.json.deviceId).toBe(winningDevice);

    const after = await call('GET', item(body.id!), { token: reader });
    expect({ deviceId: after.json.deviceId, etag: after.headers.get('etag') }).toEqual({
      deviceId: winningDevice,
      etag: winner.headers.get('etag'),
    });
    expect((await readKey(body.id!)).json.key).toBe(body.key);
  });

  it('20 concurrent If-None-Match: * creations of one id: exactly one 200, nineteen 412', async () => {
    const id = newId();
    const bodies = Array.from({ length: 20 }, () => keyBody({ id }));
    const responses = await Promise.all(bodies.map((b) => patch(id, b, { 'If-None-Match': '*' })));
    expect(statuses(responses)).toEqual({ 200: 1, 412: 19 });
    for (const r of responses.filter((r) => r.status === 412)) expectGraphError(r, 412, 'preconditionFailed');
    const winner = bodies[responses.findIndex((r) => r.status === 200)];
    const after = await readKey(id);
    expect({ key: after.json.key, deviceId: after.json.deviceId }).toEqual({ key: winner.key, deviceId: winner.deviceId });
  });

  // A lost update would show as one of the two changes missing: both writers start from the same
  // version, so without ETag-guarded writes the second write would put back the first one's old value.
  it('two concurrent PATCHes of different properties both take effect (no lost update), 15 times over', async () => {
    const rounds = await Promise.all(
      Array.from({ length: 15 }, async () => {
        const { body } = await stored({ volumeType: 'operatingSystemVolume' });
        const newDevice = newId();
        const [volume, device] = await Promise.all([
          patch(body.id!, { volumeType: 'fixedDataVolume' }),
          patch(body.id!, { deviceId: newDevice }),
        ]);
        const after = await readKey(body.id!);
        return {
          statuses: [volume.status, device.status],
          volumeType: after.json.volumeType,
          deviceId: after.json.deviceId,
          newDevice,
          key: after.json.key === body.key,
        };
      }),
    );
    for (const round of rounds) {
      expect(round).toEqual({
        statuses: [200, 200],
        volumeType: 'fixedDataVolume',
        deviceId: round.newDevice,
        newDevice: round.newDevice,
        key: true,
      });
    }
  });

  it('10 volumeType writers and 10 device writers, interleaved: the final state holds a written value of each', async () => {
    const { body } = await stored({ volumeType: 'operatingSystemVolume' });
    const volumeTypes = ['fixedDataVolume', 'removableDataVolume'];
    const writes = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? { volumeType: volumeTypes[(i / 2) % 2] } : { deviceId: newId() }));
    const responses = await Promise.all(writes.map((w) => patch(body.id!, w)));

    // Under this much contention a writer may run out of retries: that is a 503 (with Retry-After)
    // that wrote nothing. Every other answer is a 200 holding its own change.
    for (const [i, r] of responses.entries()) {
      if (r.status === 503) {
        expectGraphError(r, 503, 'serviceNotAvailable');
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
      } else {
        expect(r.status).toBe(200);
        expect(r.json).toMatchObject(writes[i]);
      }
    }
    const succeeded = writes.filter((_, i) => responses[i].status === 200);
    const writtenVolumeTypes = succeeded.flatMap((w) => (w.volumeType ? [w.volumeType] : []));
    const writtenDevices = succeeded.flatMap((w) => (w.deviceId ? [w.deviceId] : []));
    expect(writtenVolumeTypes.length).toBeGreaterThan(0);
    expect(writtenDevices.length).toBeGreaterThan(0);

    const after = await readKey(body.id!);
    expect(writtenVolumeTypes).toContain(after.json.volumeType);
    expect(writtenDevices).toContain(after.json.deviceId);
    expect(after.json.key).toBe(body.key);
  });

  // Racing a DELETE, a full PATCH either lands before it (200, and is then deleted with the key) or
  // after it (409: the id is deleted, restore or purge it first; nothing is stored). Never a 404,
  // and never a key that a device lists while it reads as deleted.
  it('a full PATCH racing a DELETE is a 200 before it or a 409 after it, and the key ends deleted', async () => {
    const rounds = await Promise.all(
      Array.from({ length: 15 }, async () => {
        const { body } = await stored();
        const update = { ...body, volumeType: 'fixedDataVolume' };
        const [patched, deleted] = await Promise.all([patch(body.id!, update), remove(body.id!)]);
        const [after, listed] = await Promise.all([
          readKey(body.id!),
          call('GET', `${COLLECTION}?$filter=${encodeURIComponent(`deviceId eq '${body.deviceId}'`)}`, { token: reader }),
        ]);
        const byDevice = listed.json.value.some((k: { id: string }) => k.id === body.id);
        return { patched, deleted, after, byDevice };
      }),
    );
    for (const { patched, deleted, after, byDevice } of rounds) {
      if (patched.status !== 200) expect(expectGraphError(patched, 409, 'conflict').message).toMatch(/deleted.*restore.*purge/i);
      expect(deleted.status).toBe(204);
      expectGraphError(after, 404, 'itemNotFound');
      expect(byDevice).toBe(false);
    }
  });

  it('a PATCH with If-Match racing a DELETE is a 200, a 412 or (after the delete) a 409, never a 404', async () => {
    const rounds = await Promise.all(
      Array.from({ length: 15 }, async () => {
        const { body, etag } = await stored();
        const [patched, deleted] = await Promise.all([
          patch(body.id!, { volumeType: 'fixedDataVolume' }, { 'If-Match': etag }),
          remove(body.id!),
        ]);
        return { patched, deleted, after: await readKey(body.id!) };
      }),
    );
    for (const { patched, deleted, after } of rounds) {
      if (patched.status === 409) expectGraphError(patched, 409, 'conflict');
      else if (patched.status !== 200) expectGraphError(patched, 412, 'preconditionFailed');
      expect(deleted.status).toBe(204);
      // The PATCH changed the version it was pinned to, or nothing: the key ends deleted either way.
      expectGraphError(after, 404, 'itemNotFound');
    }
  });
});
