import { TableClient } from '@azure/data-tables';
import { STORAGE_REQUEST_BUDGET_MS, STORAGE_TRY_TIMEOUT_MS } from '../../shared/storage/callLimits';
import { TABLES } from '../../shared/storage/layout';
import { AUDIT_READ, auditsOf } from '../support/audit';
import { type ApiResponse, call, callOn, expectGraphError, READ, tokenWith, WRITE } from '../support/client';
import { startCountingProxy, type CountingProxy, type HangWhen } from '../support/countingProxy';
import { keyBody, newId } from '../support/fixtures';
import { COLLECTION } from '../support/keys';
import { startLocalHost, stopLocalHosts, type LocalHost } from '../../scripts/devhost/localHost';

// One storage deadline per request (shared/storage/requestDeadline.ts, entered by graphHandler): a
// request whose storage answers some calls and hangs on others ends with Graph's 503 within the
// request's storage budget, not after a budget per call. A private host's storage goes through a
// proxy in front of the run's Azurite (support/countingProxy.ts) that answers the request's first
// storage call and then hangs on the calls after it.

jest.setTimeout(60_000);

const STORAGE_UNREACHABLE = 'Storage is unreachable; try again shortly.';
const AUDIT_UNAVAILABLE = 'The audit trail could not be written, so the operation was not carried out; try again shortly.';

/**
 * What the client may wait: the request's storage budget plus room for the rest of the request on a machine
 * whose cores other processes hold (3 s). The calls in a row that the deadline cuts would take over 6 s
 * without it; which call was cut, and after how long, is pinned from the host's own log below.
 */
const BOUND_MS = STORAGE_REQUEST_BUDGET_MS + 3_000;

let proxy: CountingProxy;
let host: LocalHost;
let writer: string;
let reader: string;
let auditor: string;

/** How the proxy treats the storage calls of the request under test; `answer` outside of it. */
let mode: 'answer' | 'hangAfterFirst' | 'answerOnlyRetries' = 'answer';
let seen = 0;
const triedOnce = new Set<string>();
const hangWhen: HangWhen = (_request, tryId) => {
  if (mode === 'answer') return false;
  if (++seen === 1) return false;
  if (mode === 'hangAfterFirst') return true;
  // answerOnlyRetries: the first try of each call hangs (for the per-try timeout), its retry is answered.
  const first = !triedOnce.has(tryId);
  triedOnce.add(tryId);
  return first;
};

function testMode(next: typeof mode): void {
  mode = next;
  seen = 0;
  triedOnce.clear();
}

beforeAll(async () => {
  proxy = await startCountingProxy(undefined, 20, hangWhen);
  host = await startLocalHost({ STORAGE_CONNECTION_STRING: proxy.connectionString });
  [writer, reader, auditor] = await Promise.all([tokenWith(WRITE), tokenWith(READ), tokenWith(AUDIT_READ)]);
  // Warm-up: the host creates each table on first use, so that the PATCHes below make only their own calls.
  const body = keyBody();
  expect((await callOn(host.url, 'PATCH', `${COLLECTION}/${body.id}`, { token: writer, body })).status).toBe(200);
});

afterAll(async () => {
  await stopLocalHosts();
  await proxy?.close();
}, 30_000);

/** A PATCH of a new key through the proxy in `next` mode, timed from send to the end of the body. */
async function timedPatch(next: typeof mode): Promise<{ response: ApiResponse; ms: number; body: ReturnType<typeof keyBody> }> {
  await proxy.settled();
  testMode(next);
  proxy.reset();
  const body = keyBody({ deviceId: newId() });
  const started = Date.now();
  const response = await callOn(host.url, 'PATCH', `${COLLECTION}/${body.id}`, { token: writer, body });
  const ms = Date.now() - started;
  testMode('answer');
  return { response, ms, body };
}

/** The host's dependencyFailure log line for a response (shared/http/handler.ts). */
function dependencyFailureOf(response: ApiResponse): {
  status: number;
  cause: { call: string; code?: string; tries: number; ms: number; audit?: string };
} {
  const line = host
    .output()
    .split('\n')
    .find((text) => text.includes('"dependencyFailure"') && text.includes(response.headers.get('request-id')!));
  return JSON.parse(line!.slice(line!.indexOf('{'))) as ReturnType<typeof dependencyFailureOf>;
}

/**
 * Nothing of the refused write is visible, and nothing is half-written: no record and no audit twin in
 * the key's partition (the store commits them together), the key is not found by id nor listed under its
 * device, and the audit trail shows no event for it (an AuditLog entry written ahead of the commit stays
 * hidden without its twin; a 503 from storage is not recorded as a refusal).
 */
async function expectNothingWritten(body: ReturnType<typeof keyBody>): Promise<void> {
  const keys = TableClient.fromConnectionString(process.env.STORAGE_CONNECTION_STRING!, TABLES.recoveryKeys, {
    allowInsecureConnection: true,
  });
  const rows: string[] = [];
  for await (const row of keys.listEntities({ queryOptions: { filter: `PartitionKey eq '${body.id}'` } })) rows.push(row.rowKey!);
  const [byId, byDevice, audits] = await Promise.all([
    call('GET', `${COLLECTION}/${body.id}`, { token: reader }),
    call('GET', `${COLLECTION}?$filter=${encodeURIComponent(`deviceId eq '${body.deviceId}'`)}`, { token: reader }),
    auditsOf(body.id!, auditor),
  ]);
  expectGraphError(byId, 404, 'itemNotFound');
  expect({ rows, listed: byDevice.json.value, audits }).toEqual({ rows: [], listed: [], audits: [] });
}

describe('one storage deadline per request', () => {
  it('ends a PATCH whose storage answers the first call and hangs on the next with a prompt 503, writing nothing', async () => {
    const { response, ms, body } = await timedPatch('hangAfterFirst');
    expectGraphError(response, 503, 'serviceNotAvailable');
    // The index entry and the audit entry hang side by side and are cut at the same deadline: either answer may win.
    expect([STORAGE_UNREACHABLE, AUDIT_UNAVAILABLE]).toContain(response.json.error.message);
    expect(response.headers.get('retry-after')).toBe('10');
    expect(ms).toBeLessThanOrEqual(BOUND_MS);
    await expectNothingWritten(body);
  });

  it('ends a PATCH whose every storage call is slow but answered within its own budget by the request deadline, writing nothing', async () => {
    // Each call after the first answers only on its second try, after a hung first try (the 2 s per-try
    // timeout): every call fits its own 4 s budget, but the read, the count of the device's keys
    // (MAX_KEYS_PER_DEVICE), the index entry with the audit rows, the commit and the confirmation in a row
    // would take over 8 s. The request's deadline cuts the index entry and the audit rows, which run side
    // by side: either answer may win.
    const { response, ms, body } = await timedPatch('answerOnlyRetries');
    const { message } = expectGraphError(response, 503, 'serviceNotAvailable');
    expect([STORAGE_UNREACHABLE, AUDIT_UNAVAILABLE]).toContain(message);
    expect(response.headers.get('retry-after')).toBe('10');
    expect(ms).toBeLessThanOrEqual(BOUND_MS);
    if (message === STORAGE_UNREACHABLE) {
      // The index entry's call was cut by the request's deadline, before its own per-try timeout.
      const failure = dependencyFailureOf(response);
      expect(failure.cause).toMatchObject({ code: 'ETIMEDOUT', tries: 1 });
      expect(failure.cause.ms).toBeLessThan(STORAGE_TRY_TIMEOUT_MS);
    }
    await expectNothingWritten(body);
  });

  it("marks the 503 of a write whose audit record could not be stored as the audit trail's, for the alert on it", async () => {
    // A device's daily repeat of an escrowed key: the record's read is answered, the audit rows' transaction hangs.
    const body = keyBody({ deviceId: newId() });
    expect((await callOn(host.url, 'PATCH', `${COLLECTION}/${body.id}`, { token: writer, body })).status).toBe(200);
    await proxy.settled();
    testMode('hangAfterFirst');
    proxy.reset();
    const response = await callOn(host.url, 'PATCH', `${COLLECTION}/${body.id}`, { token: writer, body });
    testMode('answer');
    expect(expectGraphError(response, 503, 'serviceNotAvailable').message).toBe(AUDIT_UNAVAILABLE);
    // infra/resources.bicep's audit-write alert counts dependencyFailure lines with cause.audit: a
    // `POST $batch` alone does not say which table failed.
    expect(dependencyFailureOf(response)).toMatchObject({ status: 503, cause: { call: 'POST $batch', audit: 'table' } });
  });

  it('leaves requests whose storage answers promptly alone', async () => {
    const { response, body } = await timedPatch('answer');
    expect({ status: response.status, id: response.json.id }).toEqual({ status: 200, id: body.id });
  });
});
