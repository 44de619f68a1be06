import '../support/functionsCore';
import { randomUUID } from 'node:crypto';
import type { AuditSource } from '../../shared/audit/model';
import type { Caller } from '../../shared/auth/caller';
import { resetSettings } from '../../shared/config';
import type { GraphError } from '../../shared/errors/graphError';
import { createRecoveryKey } from '../../shared/recoveryKeys/service';
import { useRevealClock } from '../../shared/reveal/clock';
import { activeApproval, createRevealRequest, decideRevealRequest, getRevealRequest } from '../../shared/reveal/requests';
import { keyBody } from '../support/fixtures';
import { asyncRefusal as refusal } from '../support/refusal';

// Reveal requests against the run's Azurite, in process: what needs a clock moved by hours (an approval
// expiring, a pending request lapsing) or a second tenant (which the host's token check would refuse
// before any request is looked up).

const HOUR = 3_600_000;
const TENANT = '00000000-0000-0000-0000-000000000000';

const caller = (roles: string[], tid = TENANT): Caller => ({
  oid: randomUUID(),
  tid,
  delegated: true,
  upn: 'agent@contoso.local',
  permissions: new Set(roles.map((role) => role.toLowerCase())),
});
const sourceOf = (who: Caller): AuditSource => ({ caller: who, requestId: randomUUID() });

const requester = caller(['BitLockerKey.Read.All']);
const approver = caller(['BitLockerKey.Approve.All']);
let keyId: string;
let now = Date.now();

beforeAll(async () => {
  delete process.env.REVEAL_APPROVAL_HOURS;
  resetSettings();
  useRevealClock(() => now);
  const body = keyBody();
  keyId = (
    await createRecoveryKey(
      { id: body.id!, deviceId: body.deviceId!, key: body.key!, volumeType: 'operatingSystemVolume' },
      sourceOf(caller(['BitLockerKey.ReadWrite.All'])),
    )
  ).stored.id;
});

afterAll(() => useRevealClock(undefined));

const ask = () => createRevealRequest(requester, { keyId, reason: 'lostPin' }, sourceOf(requester));

it('lets an approval serve its requester for REVEAL_APPROVAL_HOURS (8) and no longer', async () => {
  const request = await ask();
  const approved = await decideRevealRequest(approver, request.id, 'approved', sourceOf(approver));
  expect(new Date(approved.expirationDateTime).getTime()).toBe(now + 8 * HOUR);
  expect((await activeApproval(requester, keyId))?.id).toBe(request.id);
  now += 8 * HOUR - 1_000;
  expect((await activeApproval(requester, keyId))?.id).toBe(request.id);
  now += 1_000;
  expect(await activeApproval(requester, keyId)).toBeUndefined();
  const shown = await getRevealRequest(requester, request.id);
  expect(shown.status).toBe('approved');
  const again = await refusal(decideRevealRequest(approver, request.id, 'approved', sourceOf(approver)));
  expect({ status: again.status, message: again.message }).toEqual({
    status: 409,
    message: 'The reveal request is already expired; it can no longer be approved or denied.',
  });
});

it('lets a pending request lapse after REVEAL_APPROVAL_HOURS: it can no longer be approved', async () => {
  const request = await ask();
  now += 8 * HOUR;
  const late = await refusal(decideRevealRequest(approver, request.id, 'approved', sourceOf(approver)));
  expect(late.status).toBe(409);
  expect(late.message).toMatch(/already expired/);
  expect(await activeApproval(requester, keyId)).toBeUndefined();
});

it("keeps a request id to its tenant: another tenant's caller finds nothing to read or decide", async () => {
  const request = await ask();
  const stranger = caller(['BitLockerKey.Approve.All', 'BitLockerKey.Read.All'], randomUUID());
  const read = await refusal(getRevealRequest(stranger, request.id));
  expect({ status: read.status, message: read.message }).toEqual({ status: 404, message: `No reveal request '${request.id}' was found.` });
  expect((await refusal(decideRevealRequest(stranger, request.id, 'approved', sourceOf(stranger)))).status).toBe(404);
  expect(await activeApproval({ ...requester, tid: stranger.tid }, keyId)).toBeUndefined();
  // Still pending for its own tenant's approver.
  expect((await decideRevealRequest(approver, request.id, 'denied', sourceOf(approver))).status).toBe('denied');
});

it('of two concurrent approvals, lets one win and answers the other 409', async () => {
  const request = await ask();
  const second = caller(['BitLockerKey.Approve.All']);
  const outcomes = await Promise.allSettled([
    decideRevealRequest(approver, request.id, 'approved', sourceOf(approver)),
    decideRevealRequest(second, request.id, 'approved', sourceOf(second)),
  ]);
  expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
  const lost = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
  expect((lost.reason as GraphError).status).toBe(409);
});
