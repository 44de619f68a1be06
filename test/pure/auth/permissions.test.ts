import type { Caller } from '../../../shared/auth/caller';
import { authorize, type Operation, PERMISSION_MATRIX } from '../../../shared/auth/permissions';
import { GraphError } from '../../../shared/errors/graphError';

// The permission matrix's device column against the spec (docs/devices.md "What a device may do", and a
// device's own status in docs/coverage.md): a device proven with the EntraDevice scheme, which carries no token
// and no permissions, may escrow its own keys and report its own status, nothing else. The expectations
// are copied from the spec, never read from PERMISSION_MATRIX; the token columns are
// test/storage/permissionMatrix.test.ts's.

// prettier-ignore
const SPEC_DEVICE_COLUMN = `
  writeKey            allow
  readMetadata        403
  readKey             403
  deleteKey           allow
  restoreKey          403
  readAudit           403
  purgeKey            403
  writeDeviceStatus   allow
  readDeviceStatus    403
  readCoverage        403
  requestReveal       403
  readRevealRequests  403
  decideReveal        403
  grantBulkReveal     403
  selfService         403
`;

const expected = new Map(
  SPEC_DEVICE_COLUMN.trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/) as [Operation, 'allow' | '403']),
);

const deviceId = '6a3f3c1e-9b1d-4d5e-8f3a-2c7b9e0d4a11';
const device: Caller = { delegated: false, permissions: new Set(), device: { deviceId, thumbprint: 'AB'.repeat(20) } };
/** A device that somehow also carried every permission: the device column decides, not the token one. */
const deviceWithPermissions: Caller = {
  ...device,
  permissions: new Set(Object.values(PERMISSION_MATRIX).flatMap((rule) => rule.tokens.map((p) => p.toLowerCase()))),
};

function outcome(caller: Caller, operation: Operation): string {
  try {
    authorize(caller, operation);
    return 'allow';
  } catch (error) {
    if (!(error instanceof GraphError)) throw error;
    return `${error.status} ${error.code}: ${error.message}`;
  }
}

const refusal = `403 authorization_error: A device may only escrow its own keys, list them with $filter=deviceId eq '<its deviceId>' and delete those its successors superseded. (device ${deviceId})`;

describe("the permission matrix's device column", () => {
  it('has a spec expectation for every operation of the matrix, and no other', () => {
    expect([...expected.keys()].sort()).toEqual(Object.keys(PERMISSION_MATRIX).sort());
  });

  it('lets a device do what the spec allows it and refuses the rest with one 403 naming the device', () => {
    const operations = [...expected.keys()];
    const want = operations.map((operation) => [operation, expected.get(operation) === 'allow' ? 'allow' : refusal]);
    expect(operations.map((operation) => [operation, outcome(device, operation)])).toEqual(want);
    expect(operations.map((operation) => [operation, outcome(deviceWithPermissions, operation)])).toEqual(want);
  });
});
