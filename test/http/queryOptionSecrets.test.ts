import { READ, READ_BASIC, token } from '../support/client';
import { recoveryPassword } from '../support/fixtures';
import { AUDIT_READ } from '../support/audit';
import { type LocalHost, stopLocalHosts } from '../../scripts/devhost/localHost';
import { type CapturedHost, startCapturedHost } from '../support/capturedHost';
import { COLLECTION } from '../support/keys';

// A recovery password pasted into a query option is refused, and the refusal repeats some of the
// option's text. Masking must see the whole password before the message is cut: a cut first left about
// six of its eight groups in the body, past the mask that looks for all eight. No 6-digit group of a
// password sent may appear in any response body, nor in anything the host prints.

jest.setTimeout(60_000);

let running: CapturedHost;
let host: LocalHost;

beforeAll(async () => {
  running = await startCapturedHost();
  host = running.host;
});
afterAll(() => stopLocalHosts());

/** Each group of each password (with its neighbours' separators, any spelling), as a test of a text. */
const groupsIn = (text: string, passwords: readonly string[]): string[] =>
  passwords.flatMap((password) => password.split('-')).filter((group) => text.includes(group));

/** Where a password may go: every query option the lists take, in the spellings a client might paste it. */
function placements(password: string): string[] {
  const bare = password.replace(/-/g, '');
  return [
    `$filter=${encodeURIComponent(password)}`,
    `$filter=${encodeURIComponent(`deviceId eq '${password}'`)}`,
    `$filter=${encodeURIComponent(`id eq ${password}`)}`,
    `$filter=${encodeURIComponent(`startswith(id,'${password}')`)}`,
    `$filter=${encodeURIComponent(`key eq '${password}'`)}`,
    `$filter=${encodeURIComponent(`${password} eq 1`)}`,
    `$filter=${encodeURIComponent(`deviceId eq '${bare}'`)}`,
    `$select=${encodeURIComponent(password)}`,
    `$select=${encodeURIComponent(`id,${password}`)}`,
    `$select=${encodeURIComponent(bare)}`,
    `$top=${encodeURIComponent(password)}`,
    `$top=${encodeURIComponent(bare)}`,
    `$top=${encodeURIComponent(`1${password}`)}`,
    `$orderby=${encodeURIComponent(password)}`,
    `$skiptoken=${encodeURIComponent(password)}`,
  ];
}

it('no group of a password sent in $filter, $select or $top comes back in a body or reaches the log', async () => {
  const [basic, reader, auditor] = await Promise.all([
    token({ scopes: [READ_BASIC] }),
    token({ roles: [READ] }),
    token({ roles: [AUDIT_READ] }),
  ]);
  const passwords: string[] = [];
  const refused: { request: string; status: number; groups: string[] }[] = [];
  const paths = [COLLECTION, '/v1.0/auditLogs/directoryAudits', '/v1.0/informationProtection/bitlocker/coverageReport'];
  for (const path of paths) {
    const password = recoveryPassword();
    passwords.push(password);
    for (const query of placements(password)) {
      for (const bearer of path === COLLECTION ? [basic, reader] : [auditor, basic]) {
        const reply = await fetch(new URL(`${path}?${query}`, host.url), { headers: { Authorization: `Bearer ${bearer}` } });
        const text = await reply.text();
        refused.push({ request: `${path}?${query}`, status: reply.status, groups: groupsIn(text, [password]) });
      }
    }
  }
  // In the path too, with a digit before it (which the plain mask does not see): the request log line.
  const inPath = recoveryPassword();
  passwords.push(inPath);
  for (const spelling of [`1${inPath}`, `1${inPath.replace(/-/g, '')}`]) {
    const reply = await fetch(new URL(`${COLLECTION}/${spelling}`, host.url), { headers: { Authorization: `Bearer ${reader}` } });
    refused.push({ request: `${COLLECTION}/${spelling}`, status: reply.status, groups: groupsIn(await reply.text(), [inPath]) });
  }
  expect(refused.filter((r) => r.groups.length > 0)).toEqual([]);
  // Refusals, nearly all of them with a message that quotes the option (a 404 only for a report not yet computed).
  expect(refused.filter((r) => r.status !== 400 && r.status !== 403 && r.status !== 404)).toEqual([]);
  expect(refused.filter((r) => r.status === 400).length).toBeGreaterThan(refused.length / 2);

  const captured = await running.stopAndCollect();
  expect(captured).toMatch(/request-id|requestId|GET /);
  expect(groupsIn(captured, passwords)).toEqual([]);
});
