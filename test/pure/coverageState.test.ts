import { expect } from '@jest/globals';
import { csvCell } from '../../shared/coverage/csv';
import { coverageOf, type DeviceFacts } from '../../shared/coverage/state';
import type { DeviceStatus } from '../../shared/deviceStatus/model';

// The coverage rules as a pure function: which state wins when several hold, and the CSV cell's
// formula guard.

const NOW = new Date('2026-12-06T12:00:00Z');
const RULES = { now: NOW, staleDays: 7, rotationDueHours: 24 };
const hoursAgo = (h: number): string => new Date(NOW.getTime() - h * 3_600_000).toISOString();
const status = (ids: string[], at = hoursAgo(1), protectionStatus: 'on' | 'off' = 'on'): DeviceStatus => ({
  deviceId: 'd',
  lastReportedDateTime: at,
  volumes: [{ volumeType: 'operatingSystemVolume', protectionStatus, recoveryPasswordIds: ids }],
});
const facts = (more: Partial<DeviceFacts>): DeviceFacts => ({ deviceId: 'd', liveKeyIds: [], disclosed: new Map(), ...more });
const stateOf = (more: Partial<DeviceFacts>) => coverageOf(facts(more), RULES)?.state;

describe('coverageOf', () => {
  it('names each state when it alone holds', () => {
    expect(stateOf({ status: status(['k']), liveKeyIds: ['k'] })).toBe('covered');
    expect(stateOf({ status: status(['k', 'x']), liveKeyIds: ['k'] })).toBe('missingKey');
    expect(stateOf({ status: status(['x']) })).toBe('noKeys');
    expect(stateOf({ status: status(['k'], hoursAgo(8 * 24)), liveKeyIds: ['k'] })).toBe('noReport');
    expect(stateOf({ status: status(['k']), liveKeyIds: ['k'], disclosed: new Map([['k', hoursAgo(25)]]) })).toBe('rotationOverdue');
  });

  it('puts an overdue rotation before a missing key, and no keys before a missing key', () => {
    const both = { status: status(['k', 'x']), liveKeyIds: ['k'], disclosed: new Map([['k', hoursAgo(30)]]) };
    expect(stateOf(both)).toBe('rotationOverdue');
    expect(stateOf({ status: status(['x', 'y']) })).toBe('noKeys');
  });

  it('counts a disclosed key as superseded once a later status no longer reports it', () => {
    expect(stateOf({ status: status(['new']), liveKeyIds: ['k', 'new'], disclosed: new Map([['k', hoursAgo(30)]]) })).toBe('covered');
    expect(stateOf({ status: status(['k'], hoursAgo(40)), liveKeyIds: ['k'], disclosed: new Map([['k', hoursAgo(30)]]) })).toBe(
      'rotationOverdue',
    );
  });

  it('leaves out a device with nothing to unlock, and flags stale keys and the key limit', () => {
    expect(coverageOf(facts({ status: status([], hoursAgo(1), 'off') }), RULES)).toBeUndefined();
    const many = Array.from({ length: 180 }, (_, i) => `k${i}`);
    expect(coverageOf(facts({ status: status(['k0']), liveKeyIds: many }), RULES)).toMatchObject({
      state: 'covered',
      flags: ['staleKeys', 'nearKeyLimit'],
      liveKeyCount: 180,
    });
  });
});

describe('csvCell', () => {
  it('turns what a spreadsheet would run into text, and quotes what RFC 4180 needs quoted', () => {
    expect(['=1+1', '+1', '-1', '@SUM(A1)', '\tx', 'plain', 'a,b', 'say "hi"'].map(csvCell)).toEqual([
      "'=1+1",
      "'+1",
      "'-1",
      "'@SUM(A1)",
      "'\tx",
      'plain',
      '"a,b"',
      '"say ""hi"""',
    ]);
  });
});
