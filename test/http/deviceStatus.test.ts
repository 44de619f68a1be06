import { expect } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { AUDIT_READ, auditsOf, detailOf } from '../support/audit';
import { call, expectGraphError, READ_BASIC, tokenWith, WRITE } from '../support/client';
import { recoveryPassword } from '../support/fixtures';
import { rawTable } from '../support/storage';
import { STATUS_ROW, TABLES } from '../../shared/storage/layout';

// PUT and GET deviceStatuses/{deviceId} on the run's host, as a management tool (BitLockerKey.ReadWrite.All)
// and a reader; a device writing its own status is in deviceLocal.test.ts. Every refusal leaves the stored
// status exactly as it was.

const STATUSES = '/v1.0/informationProtection/bitlocker/deviceStatuses';
const KEYS = '/v1.0/informationProtection/bitlocker/recoveryKeys';

let writer: string;
let reader: string;
beforeAll(async () => {
  [writer, reader] = await Promise.all([tokenWith(WRITE), tokenWith(READ_BASIC)]);
});

async function escrow(deviceId: string): Promise<string> {
  const id = randomUUID();
  const response = await call('PATCH', KEYS, { token: writer, body: { id, deviceId, volumeType: 1, key: recoveryPassword() } });
  expect(response.status).toBe(200);
  return id;
}

const put = (deviceId: string, body: unknown, token = writer) => call('PUT', `${STATUSES}/${deviceId}`, { token, body });
const statusRow = async (deviceId: string) => {
  try {
    return await rawTable(TABLES.deviceStatuses).getEntity(deviceId, STATUS_ROW);
  } catch {
    return undefined;
  }
};

describe('a management tool reports a device, a reader reads it back', () => {
  const deviceId = randomUUID();
  let keyIds: string[];

  beforeAll(async () => {
    keyIds = [await escrow(deviceId), await escrow(deviceId)];
  });

  it('stores the status with volume types as names and key ids lower-case, answers it, and audits the write', async () => {
    const body = {
      volumes: [
        { volumeType: 1, protectionStatus: 'on', recoveryPasswordIds: [`{${keyIds[0].toUpperCase()}}`], mountPoint: 'C:' },
        { volumeType: 'fixedDataVolume', protectionStatus: 'suspended', recoveryPasswordIds: [keyIds[1]], encryptionPercentage: 42.5 },
        { volumeType: '3', protectionStatus: 'off' },
      ],
      clientVersion: 'tool/2.1',
    };
    const written = await put(deviceId, body);
    const expected = {
      '@odata.context': expect.stringMatching(/\/\$metadata#informationProtection\/bitlocker\/deviceStatuses\/\$entity$/),
      deviceId,
      lastReportedDateTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      clientVersion: 'tool/2.1',
      volumes: [
        { volumeType: 'operatingSystemVolume', protectionStatus: 'on', recoveryPasswordIds: [keyIds[0]], mountPoint: 'C:' },
        { volumeType: 'fixedDataVolume', protectionStatus: 'suspended', recoveryPasswordIds: [keyIds[1]], encryptionPercentage: 42.5 },
        { volumeType: 'removableDataVolume', protectionStatus: 'off', recoveryPasswordIds: [] },
      ],
    };
    expect({ status: written.status, body: written.json }).toEqual({ status: 200, body: expected });

    // Every path form answers the same status.
    for (const path of [
      `/beta/bitlocker/deviceStatuses/${deviceId}`,
      `/informationProtection/bitlocker/deviceStatuses/${deviceId.toUpperCase()}`,
    ]) {
      const read = await call('GET', path, { token: reader });
      expect({ status: read.status, body: read.json }).toEqual({
        status: 200,
        body: { ...expected, lastReportedDateTime: written.json.lastReportedDateTime },
      });
    }

    const [audit] = await auditsOf(deviceId, await tokenWith(AUDIT_READ));
    expect(audit).toMatchObject({
      activityDisplayName: 'Update BitLocker device status',
      operationType: 'Update',
      result: 'success',
      targetResources: [{ id: deviceId, type: 'Device' }],
    });
    expect(detailOf(audit, 'DeviceId')).toBe(deviceId);
  });

  it('refuses what is not a status, by name, and keeps the stored one', async () => {
    const before = await statusRow(deviceId);
    const cases: [unknown, RegExp][] = [
      [
        { volumes: [{ volumeType: 1, protectionStatus: 'on', recoveryPasswordIds: ['not-a-guid'] }] },
        /recoveryPasswordIds\[0\] must be a key id/,
      ],
      [
        { volumes: [{ volumeType: 4, protectionStatus: 'on' }] },
        /volumeType must be one of operatingSystemVolume, fixedDataVolume, removableDataVolume/,
      ],
      [{ volumes: [{ volumeType: 1, protectionStatus: 'paused' }] }, /protectionStatus must be one of \[on, off, suspended\]/],
      [
        { volumes: Array.from({ length: 65 }, () => ({ volumeType: 2, protectionStatus: 'on' })) },
        /volumes must contain less than or equal to 64 items/,
      ],
      [{ volumes: [], owner: 'x' }, /owner is not a property of a device status/],
      [{}, /volumes is required/],
      [
        {
          volumes: [
            { volumeType: 1, protectionStatus: 'on', recoveryPasswordIds: [keyIds[0]] },
            { volumeType: 2, protectionStatus: 'on', recoveryPasswordIds: [keyIds[0]] },
          ],
        },
        /reported on more than one volume/,
      ],
      [
        { volumes: [{ volumeType: 1, protectionStatus: 'on', recoveryPasswordIds: Array.from({ length: 201 }, () => randomUUID()) }] },
        /must contain less than or equal to 200 items/,
      ],
    ];
    for (const [body, message] of cases) {
      const response = await put(deviceId, body);
      expect(expectGraphError(response, 400, 'badRequest').message).toMatch(message);
    }
    const url = await put('not-a-device', { volumes: [] });
    expect(expectGraphError(url, 400, 'badRequest').message).toMatch(/'not-a-device' is not a valid device id/);
    expect(await statusRow(deviceId)).toEqual(before);
  });

  it('answers 10,000 volumes with a 413 before reading them, and keeps the stored one', async () => {
    const before = await statusRow(deviceId);
    const response = await put(deviceId, { volumes: Array.from({ length: 10_000 }, () => ({ volumeType: 2, protectionStatus: 'on' })) });
    expect(expectGraphError(response, 413, 'requestEntityTooLarge').message).toMatch(/must not exceed 16384 bytes/);
    expect(await statusRow(deviceId)).toEqual(before);
  });

  it("refuses a status naming another device's keys with a 409 naming them, storing nothing", async () => {
    const before = await statusRow(deviceId);
    const other = await escrow(randomUUID());
    const response = await put(deviceId, { volumes: [{ volumeType: 1, protectionStatus: 'on', recoveryPasswordIds: [keyIds[0], other] }] });
    expect(expectGraphError(response, 409, 'conflict').message).toBe(
      `The status names recovery key(s) escrowed for another device: ${other}. Nothing was stored.`,
    );
    expect(await statusRow(deviceId)).toEqual(before);
    const [refusal] = await auditsOf(deviceId, await tokenWith(AUDIT_READ));
    expect(refusal).toMatchObject({ activityDisplayName: 'Update BitLocker device status', result: 'failure' });
  });

  it('lets a reader read but not write, and answers a device that never reported without a report time or volumes', async () => {
    expectGraphError(await put(deviceId, { volumes: [] }, reader), 403, 'authorization_error');
    const silent = randomUUID();
    const never = await call('GET', `${STATUSES}/${silent}`, { token: reader });
    expect({ status: never.status, body: never.json }).toEqual({
      status: 200,
      body: { '@odata.context': expect.stringMatching(/deviceStatuses\/\$entity$/) as unknown, deviceId: silent, volumes: [] },
    });
    expectGraphError(await call('DELETE', `${STATUSES}/${deviceId}`, { token: writer }), 405, 'methodNotAllowed');
  });
});
