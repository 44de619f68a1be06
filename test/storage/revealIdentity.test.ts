import '../support/functionsCore';
import { HttpRequest } from '@azure/functions';
import { randomUUID } from 'node:crypto';
import { limitRevealsPerHour } from '../../shared/alerts/revealChecks';
import type { AuditSource } from '../../shared/audit/model';
import { type Caller, callerFromClaims } from '../../shared/auth/caller';
import { resetSettings } from '../../shared/config';
import type { StoredRecoveryKey } from '../../shared/recoveryKeys/model';
import { keyNotFound } from '../../shared/recoveryKeys/notFound';
import { createRecoveryKey } from '../../shared/recoveryKeys/service';
import { createRevealRequest, decideRevealRequest } from '../../shared/reveal/requests';
import { keyBody } from '../support/fixtures';
import { asyncRefusal as refusal } from '../support/refusal';

// One identity, however its token spells its ids: Entra ID writes object ids lower-case, Windows and
// other issuers write `{GUID}` in upper case. The per-user reveal count and the rule that nobody decides
// their own request must see one caller, not three, on the run's Azurite, in process.

const TENANT = '00000000-0000-0000-0000-00000000abcd';

/** A user's token claims with the object id and tenant written `spell`'s way. */
const userWith = (oid: string, spell: (id: string) => string, roles: string[]): Caller =>
  callerFromClaims({ oid: spell(oid), tid: spell(TENANT), scp: 'user_impersonation', roles, upn: 'agent@contoso.local' });

const SPELLINGS: Record<string, (id: string) => string> = {
  plain: (id) => id,
  upper: (id) => id.toUpperCase(),
  braced: (id) => `{${id.toUpperCase()}}`,
};

const sourceOf = (who: Caller): AuditSource => ({ caller: who, requestId: randomUUID() });

let key: StoredRecoveryKey;

beforeAll(async () => {
  process.env.REVEAL_LIMIT_PER_HOUR = '2';
  resetSettings();
  const body = keyBody();
  key = (
    await createRecoveryKey(
      { id: body.id!, deviceId: body.deviceId!, key: body.key!, volumeType: 'operatingSystemVolume' },
      sourceOf(userWith(randomUUID(), SPELLINGS.plain, ['BitLockerKey.ReadWrite.All'])),
    )
  ).stored;
});

afterAll(() => {
  delete process.env.REVEAL_LIMIT_PER_HOUR;
  resetSettings();
});

it('counts the hourly reveals of one user under every spelling of their ids: the third read of a limit of 2 is refused', async () => {
  const oid = randomUUID();
  const request = new HttpRequest({ method: 'GET', url: `http://localhost/v1.0/informationProtection/bitlocker/recoveryKeys/${key.id}` });
  const read = (spelling: string) => {
    const caller = userWith(oid, SPELLINGS[spelling], ['BitLockerKey.Read.All']);
    return limitRevealsPerHour({ caller, key, request, source: sourceOf(caller), absent: () => keyNotFound(key.id) });
  };
  await read('plain');
  await read('braced');
  const third = await refusal(read('upper'));
  expect({ status: third.status, code: third.code, message: third.message }).toEqual({
    status: 429,
    code: 'tooManyRequests',
    message: 'Too many recovery key reads this hour: this user may read 2 keys an hour. Try again after the hour ends.',
  });
});

it('refuses a requester who decides their own reveal request under another spelling of their ids', async () => {
  const oid = randomUUID();
  const requester = userWith(oid, SPELLINGS.plain, ['BitLockerKey.Read.All', 'BitLockerKey.Approve.All']);
  const request = await createRevealRequest(requester, { keyId: key.id, reason: 'lostPin' }, sourceOf(requester));
  expect(request.requestedBy.id).toBe(oid);
  for (const spelling of ['braced', 'upper']) {
    const again = userWith(oid, SPELLINGS[spelling], ['BitLockerKey.Approve.All']);
    const own = await refusal(decideRevealRequest(again, request.id, 'approved', sourceOf(again)));
    expect({ status: own.status, message: own.message }).toEqual({
      status: 403,
      message: 'You cannot approve or deny your own reveal request: another holder of BitLockerKey.Approve.All must decide it.',
    });
  }
  // Another approver still can.
  const approver = userWith(randomUUID(), SPELLINGS.braced, ['BitLockerKey.Approve.All']);
  expect((await decideRevealRequest(approver, request.id, 'approved', sourceOf(approver))).status).toBe('approved');
});
