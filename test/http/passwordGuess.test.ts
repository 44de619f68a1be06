import { AUDIT_READ, auditsOf } from '../support/audit';
import { callOn, expectGraphError, token, WRITE } from '../support/client';
import { keyBody, recoveryPassword } from '../support/fixtures';
import { COLLECTION, item } from '../support/keys';
import { startLocalHost, stopLocalHosts, type LocalHost } from '../../scripts/devhost/localHost';

// A writer's password-guess oracle: PATCH {id} {"key": guess} answers 409 for a wrong guess and 200 for
// the right one. Comparisons are limited like key reads (KEY_READ_LIMIT_PER_MINUTE, per caller and per
// key) and audited as comparisons.

const LIMIT = 5;
let host: LocalHost;

beforeAll(async () => {
  host = await startLocalHost({ KEY_READ_LIMIT_PER_MINUTE: String(LIMIT) });
}, 60_000);

afterAll(() => stopLocalHosts());

const guess = (writer: string, id: string, key: string) => callOn(host.url, 'PATCH', item(id), { token: writer, body: { key } });

it('a writer guessing a stored password is stopped after the limit, the right guess included, and each guess is audited', async () => {
  const body = keyBody();
  const owner = await token({ roles: [WRITE] });
  expect((await callOn(host.url, 'PATCH', COLLECTION, { token: owner, body })).status).toBe(200);

  const guesser = await token({ roles: [WRITE] });
  const wrong = [];
  for (let i = 0; i < LIMIT; i++) wrong.push((await guess(guesser, body.id!, recoveryPassword())).status);
  expect(wrong).toEqual(Array.from({ length: LIMIT }, () => 409));
  const right = await guess(guesser, body.id!, body.key!);
  expect(expectGraphError(right, 429, 'tooManyRequests').message).toMatch(/compared/);
  expect(Number(right.headers.get('retry-after'))).toBeGreaterThan(0);

  // Another writer cannot take over the guessing of the same key: the key has its own limit.
  const accomplice = await token({ roles: [WRITE] });
  expectGraphError(await guess(accomplice, body.id!, body.key!), 429, 'tooManyRequests');

  const compares = (await auditsOf(body.id!, await token({ roles: [AUDIT_READ] }))).filter(
    (event) => event.activityDisplayName === 'Compare BitLocker key',
  );
  expect(compares.map((event) => event.result)).toEqual(Array.from({ length: LIMIT }, () => 'failure'));
});
