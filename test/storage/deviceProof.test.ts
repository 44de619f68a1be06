import { expect } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { alternativeSecurityIdKey } from '../../shared/auth/device/alternativeSecurityId';
import { bodyHash, canonicalString } from '../../shared/auth/device/canonical';
import { readDeviceCertificate } from '../../shared/auth/device/certificate';
import type { DeviceDirectory, DirectoryDevice } from '../../shared/auth/device/directory';
import { NONCE_LIFETIME_MS, NONCE_TABLE, sweepExpiredNonces, tableNonceStore } from '../../shared/auth/device/nonceStore';
import { tableClient } from '../../shared/storage/tables';
import { DeviceProofError } from '../../shared/auth/device/proofError';
import { parseDeviceAuthorization } from '../../shared/auth/device/scheme';
import { deviceAuthorization, proofTimestamp } from '../../shared/auth/device/signer';
import { TIMESTAMP_TOLERANCE_MS, verifyDeviceProof, type DeviceProofRequest } from '../../shared/auth/device/verifier';
import { credentialsOf, directoryEntryOf, vectors, type VectorRequest } from '../support/deviceVectors';

// The protocol against its pinned vectors (test/vectors/device-proof.json), with the service's clock
// fixed at the vectors' clock and nonces kept in the run's Azurite.

const clock = Date.parse(vectors.clock);
const { primary, rsa3072 } = vectors.devices;

/** A directory holding exactly the given devices. */
const directoryOf = (...devices: DirectoryDevice[]): DeviceDirectory => ({
  findDevice: (deviceId) => Promise.resolve(devices.find((device) => device.deviceId === deviceId)),
});
const bothDevices = directoryOf(directoryEntryOf(primary), directoryEntryOf(rsa3072));

const asRequest = (vector: VectorRequest): DeviceProofRequest => ({
  authorization: vector.authorization,
  method: vector.method,
  pathAndQuery: vector.pathAndQuery,
  body: Buffer.from(vector.body, 'utf8'),
});

/** A fresh request signed by the primary test device at the vectors' clock (a new nonce each time). */
function signedRequest(overrides: Partial<{ method: string; pathAndQuery: string; body: string; ts: string }> = {}): DeviceProofRequest {
  const method = overrides.method ?? 'PATCH';
  const pathAndQuery = overrides.pathAndQuery ?? '/v1.0/bitlocker/recoveryKeys';
  const body = Buffer.from(overrides.body ?? '{"deviceId":"x"}', 'utf8');
  return {
    method,
    pathAndQuery,
    body,
    authorization: deviceAuthorization(credentialsOf(primary), { method, pathAndQuery, body, ts: overrides.ts ?? vectors.clock }),
  };
}

async function failedCheck(
  request: DeviceProofRequest,
  directory: DeviceDirectory = bothDevices,
): Promise<{ check: string; message: string }> {
  try {
    await verifyDeviceProof(request, { directory, nonces: tableNonceStore, now: () => clock });
  } catch (error) {
    if (error instanceof DeviceProofError) return { check: error.check, message: error.message };
    throw error;
  }
  throw new Error('the proof was accepted');
}

describe('the pinned vectors', () => {
  it.each(Object.entries(vectors.devices))('%s: thumbprint, public-key hash and alternativeSecurityIds key are as pinned', (_, device) => {
    const certificate = readDeviceCertificate(Buffer.from(device.certificateDerBase64, 'base64'));
    expect({
      deviceId: certificate.deviceId,
      thumbprint: certificate.thumbprint,
      publicKeyHash: certificate.publicKeyHash,
      key: alternativeSecurityIdKey(certificate),
    }).toEqual({
      deviceId: device.deviceId,
      thumbprint: device.thumbprint,
      publicKeyHash: device.publicKeyHash,
      key: device.alternativeSecurityIdKey,
    });
    expect(Buffer.from(device.alternativeSecurityIdKey, 'base64').toString('utf16le')).toBe(device.alternativeSecurityIdText);
  });

  it.each(vectors.accepted.map((v) => [v.name, v] as const))('canonical string and signature of "%s" are reproduced', (_, vector) => {
    const text = canonicalString({ ...vector, body: Buffer.from(vector.body, 'utf8') });
    expect(text).toBe(vector.canonical);
    expect(bodyHash(Buffer.from(vector.body, 'utf8'))).toBe(vector.bodySha256);
    const authorization = deviceAuthorization(credentialsOf(vectors.devices[vector.device]), {
      ...vector,
      body: Buffer.from(vector.body, 'utf8'),
    });
    expect(authorization).toBe(vector.authorization);
  });

  it.each(vectors.accepted.map((v) => [v.name, v] as const))('"%s" is accepted at the pinned clock, once', async (_, vector) => {
    const identity = await verifyDeviceProof(asRequest(vector), { directory: bothDevices, nonces: tableNonceStore, now: () => clock });
    expect(identity).toEqual({ deviceId: vectors.devices[vector.device].deviceId, thumbprint: vectors.devices[vector.device].thumbprint });
    expect(await failedCheck(asRequest(vector))).toEqual({ check: 'nonce', message: expect.stringContaining('replay') });
  });

  it.each(vectors.refused.map((v) => [v.name, v] as const))('"%s" is refused by its check', async (_, vector) => {
    expect((await failedCheck(asRequest(vector))).check).toBe(vector.failedCheck);
  });
});

describe('each check', () => {
  it('a body, path, query or method other than the signed one fails the signature', async () => {
    const good = signedRequest();
    for (const altered of [
      { ...good, body: Buffer.from('{"deviceId":"y"}') },
      { ...good, pathAndQuery: '/v1.0/bitlocker/recoveryKeys/00000000-0000-0000-0000-000000000000' },
      { ...good, pathAndQuery: `${good.pathAndQuery}?$top=1` },
      { ...good, method: 'POST' },
    ]) {
      expect(await failedCheck(altered)).toEqual({ check: 'signature', message: expect.stringContaining('does not verify') });
    }
  });

  it('a timestamp 5 minutes off either way passes; one second more fails, and says which way', async () => {
    expect(
      (
        await verifyDeviceProof(signedRequest({ ts: '2026-11-29T09:55:00Z' }), {
          directory: bothDevices,
          nonces: tableNonceStore,
          now: () => clock,
        })
      ).deviceId,
    ).toBe(primary.deviceId);
    expect(
      (
        await verifyDeviceProof(signedRequest({ ts: '2026-11-29T10:05:00Z' }), {
          directory: bothDevices,
          nonces: tableNonceStore,
          now: () => clock,
        })
      ).deviceId,
    ).toBe(primary.deviceId);
    expect(await failedCheck(signedRequest({ ts: '2026-11-29T09:54:59Z' }))).toEqual({
      check: 'timestamp',
      message: expect.stringContaining('older'),
    });
    expect(await failedCheck(signedRequest({ ts: '2026-11-29T10:05:01Z' }))).toEqual({
      check: 'timestamp',
      message: expect.stringContaining('later'),
    });
  });

  it('an unknown device, a disabled device and a certificate not listed on the device are each named', async () => {
    expect((await failedCheck(signedRequest(), directoryOf())).check).toBe('unknownDevice');
    expect((await failedCheck(signedRequest(), directoryOf(directoryEntryOf(primary, { accountEnabled: false })))).check).toBe(
      'disabledDevice',
    );
    // The same thumbprint with another key's hash, the right text under another type, and another device's certificate.
    const wrongHash = alternativeSecurityIdKey({ thumbprint: primary.thumbprint, publicKeyHash: rsa3072.publicKeyHash });
    const notListed = directoryEntryOf(primary, {
      alternativeSecurityIds: [
        { type: 2, key: wrongHash },
        { type: 1, key: primary.alternativeSecurityIdKey },
        { type: 2, key: rsa3072.alternativeSecurityIdKey },
      ],
    });
    expect((await failedCheck(signedRequest(), directoryOf(notListed))).check).toBe('certificateNotOnDevice');
  });

  it('every alternativeSecurityIds entry is looked at, not only the first', async () => {
    const listedSecond = directoryEntryOf(primary, {
      alternativeSecurityIds: [
        { type: 2, key: rsa3072.alternativeSecurityIdKey },
        { type: 2, key: primary.alternativeSecurityIdKey },
      ],
    });
    const identity = await verifyDeviceProof(signedRequest(), {
      directory: directoryOf(listedSecond),
      nonces: tableNonceStore,
      now: () => clock,
    });
    expect(identity.deviceId).toBe(primary.deviceId);
  });

  it('malformed headers fail the scheme check without repeating the certificate', async () => {
    const good = signedRequest();
    const { cert } = parseDeviceAuthorization(good.authorization);
    for (const authorization of [
      'EntraDevice',
      good.authorization.replace(/, sig="[^"]*"/, ''),
      `${good.authorization}, sig="AAAA"`,
      good.authorization.replace(/nonce="[^"]*"/, 'nonce="short"'),
      good.authorization.replace(/ts="[^"]*"/, 'ts="2026-11-29 10:00:00"'),
      good.authorization.replace(/cert="/, 'cert="!'),
      `${good.authorization}, extra="1"`,
    ]) {
      const failure = await failedCheck({ ...good, authorization });
      expect(failure.check).toBe('scheme');
      expect(failure.message).not.toContain(cert.slice(0, 40));
    }
  });

  it('a cert that is not an X.509 certificate fails the certificate check', async () => {
    const good = signedRequest();
    const notACertificate = good.authorization.replace(/cert="[^"]*"/, `cert="${Buffer.from(randomUUID()).toString('base64')}"`);
    expect((await failedCheck({ ...good, authorization: notACertificate })).check).toBe('certificate');
  });
});

describe('nonces', () => {
  const verifyAt = (request: DeviceProofRequest, at: number) =>
    verifyDeviceProof(request, { directory: bothDevices, nonces: tableNonceStore, now: () => at });

  it('a request stamped 5 minutes ahead is never accepted twice, at the edge of the window included', async () => {
    const request = signedRequest({ ts: proofTimestamp(new Date(clock + TIMESTAMP_TOLERANCE_MS)) });
    await expect(verifyAt(request, clock)).resolves.toMatchObject({ deviceId: primary.deviceId });
    // Its timestamp is good until clock + 10 minutes, inclusive; its nonce must be remembered past that.
    for (const later of [TIMESTAMP_TOLERANCE_MS, 2 * TIMESTAMP_TOLERANCE_MS - 1, 2 * TIMESTAMP_TOLERANCE_MS]) {
      await expect(verifyAt(request, clock + later)).rejects.toMatchObject({ check: 'nonce' });
    }
    expect(NONCE_LIFETIME_MS).toBeGreaterThan(2 * TIMESTAMP_TOLERANCE_MS);
  });

  it('a sweep deletes expired rows of every device, bounded, and nothing a request still needs', async () => {
    const table = await tableClient(NONCE_TABLE);
    const stale = new Date(Date.now() - NONCE_LIFETIME_MS - 60_000).toISOString();
    const devices = [randomUUID(), randomUUID(), randomUUID()];
    for (const deviceId of devices) {
      for (let i = 0; i < 3; i++) await table.createEntity({ partitionKey: deviceId, rowKey: `old${i}`, seenAt: stale });
      await table.createEntity({ partitionKey: deviceId, rowKey: 'fresh', seenAt: new Date().toISOString() });
    }
    const rowsOf = async (deviceId: string) => {
      const rows: string[] = [];
      for await (const row of table.listEntities({ queryOptions: { filter: `PartitionKey eq '${deviceId}'` } })) rows.push(row.rowKey!);
      return rows.sort();
    };
    // Bounded: a first sweep stops at its maximum, the next goes on.
    expect(await sweepExpiredNonces(new Date(), 4)).toBe(4);
    await sweepExpiredNonces(new Date());
    expect(await Promise.all(devices.map(rowsOf))).toEqual(devices.map(() => ['fresh']));
  });
});
