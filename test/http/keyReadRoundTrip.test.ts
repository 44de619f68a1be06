import { startLocalHost, stopLocalHosts, type LocalHost } from '../../scripts/devhost/localHost';
import { AUDIT_READ, auditsOf, detailOf, keySpellings, secretsIn, type DirectoryAudit } from '../support/audit';
import { type ApiResponse, callOn, READ, token, tokenWith, WRITE } from '../support/client';
import { type CountedRequest, requestsOf, startCountingProxy, type CountingProxy } from '../support/countingProxy';
import { keyBody, newId, type KeyBody } from '../support/fixtures';
import { item } from '../support/keys';

// A key read in one round trip: the read's audit record is written beside the record read, and the
// password waits for both (shared/audit/scope.ts recordAhead). A host of its own whose storage goes
// through a proxy that can hold or swallow transactions (the audit record is the read's only one),
// with REVEAL_LIMIT_PER_HOUR=1 for a reveal rule that refuses, and every reveal a plain read
// (ROTATE_AFTER_REVEAL=false; the disclosing first reveal is test/http/rotation.test.ts's).

jest.setTimeout(60_000);

/** How long a held transaction waits: far longer than a read takes on any machine. */
const HELD_MS = 1_500;

let proxy: CountingProxy;
let host: LocalHost;
let writer: string;
let reader: string;
let auditor: string;
/** What the proxy does to transactions ($batch: every audit write of a plain read) right now. */
let batches: 'forward' | 'hold' | 'swallow' = 'forward';

beforeAll(async () => {
  proxy = await startCountingProxy(
    undefined,
    20,
    (request) => batches === 'swallow' && request.table === '$batch',
    (request) => (batches === 'hold' && request.table === '$batch' ? HELD_MS : 0),
  );
  host = await startLocalHost({
    STORAGE_CONNECTION_STRING: proxy.connectionString,
    ROTATE_AFTER_REVEAL: 'false',
    REVEAL_LIMIT_PER_HOUR: '1',
  });
  [writer, reader, auditor] = await Promise.all([tokenWith(WRITE), tokenWith(READ), tokenWith(AUDIT_READ)]);
});

afterAll(async () => {
  batches = 'forward';
  await stopLocalHosts();
  await proxy?.close();
}, 30_000);

async function escrowed(): Promise<KeyBody> {
  const body = keyBody({ deviceId: newId() });
  expect((await callOn(host.url, 'PATCH', item(body.id!), { token: writer, body })).status).toBe(200);
  return body;
}

const reveal = (id: string, as = reader): Promise<ApiResponse> => callOn(host.url, 'GET', `${item(id)}?$select=key`, { token: as });

/** The key's read records, newest first, once the app's writes after its answers are done. */
async function readsOf(id: string): Promise<DirectoryAudit[]> {
  await proxy.settled();
  return (await auditsOf(id, auditor)).filter((event) => event.activityDisplayName === 'Read BitLocker key');
}

/** The key's read records once there are any: a record written after the answer, once storage answers (within 10 s). */
async function readsOnceWritten(id: string): Promise<DirectoryAudit[]> {
  let reads: DirectoryAudit[] = [];
  for (let tries = 0; tries < 40 && reads.length === 0; tries++) {
    reads = await readsOf(id);
    if (reads.length === 0) await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return reads;
}

/** A reveal with the proxy doing `mode` to transactions; what went over the wire, and when the answer came. */
async function revealWith(
  mode: typeof batches,
  id: string,
): Promise<{ response: ApiResponse; answeredAt: number; seen: readonly CountedRequest[] }> {
  await proxy.settled();
  proxy.reset();
  batches = mode;
  try {
    const response = await reveal(id);
    const answeredAt = performance.now();
    batches = 'forward';
    return { response, answeredAt, seen: (await proxy.settled()).seen };
  } finally {
    batches = 'forward';
  }
}

it('reads the record while the audit record is being written, and answers only once it is stored', async () => {
  const body = await escrowed();
  const { response, answeredAt, seen } = await revealWith('hold', body.id!);
  expect({ status: response.status, key: response.json.key }).toEqual({ status: 200, key: body.key });
  const [read] = requestsOf({ seen }, 'partition RecoveryKeys');
  const [record, completed] = requestsOf({ seen }, 'batch $batch');
  expect({
    // The read went out while the record's transaction was held, and came back long before it.
    readDuringRecord: read.start > record.start - HELD_MS / 2 && read.start < record.end,
    readBeforeRecordStored: read.end < record.end - HELD_MS / 2,
    // The password waited for the record...
    answerAfterRecord: answeredAt >= record.end,
    // ...and not for its completion with the key's device, which needed the read.
    completionAfterRead: completed.start >= read.end,
    answerBeforeCompletion: answeredAt < completed.end,
  }).toEqual({
    readDuringRecord: true,
    readBeforeRecordStored: true,
    answerAfterRecord: true,
    completionAfterRead: true,
    answerBeforeCompletion: true,
  });
  // One record of the read, completed in place: the key's device and what let the read through.
  const [only, ...others] = await readsOf(body.id!);
  expect({ others, result: only.result, device: detailOf(only, 'DeviceId'), basis: detailOf(only, 'RevealBasis') }).toEqual({
    others: [],
    result: 'success',
    device: body.deviceId,
    basis: 'role',
  });
});

it('answers 503 with no password when the audit record cannot be stored, though the record was read; the trail says it failed', async () => {
  const body = await escrowed();
  const { response } = await revealWith('swallow', body.id!);
  expect({ status: response.status, code: response.json.error?.code }).toEqual({ status: 503, code: 'serviceNotAvailable' });
  expect(secretsIn(response.text, keySpellings(body.key!))).toEqual([]);
  // The record the read wrote ahead never arrived; its replacement, written once storage answers, says what happened.
  const reads = await readsOnceWritten(body.id!);
  expect(reads.map((event) => ({ result: event.result, reason: event.resultReason.split(':')[0] }))).toEqual([
    { result: 'failure', reason: '503 serviceNotAvailable' },
  ]);
});

it("answers a refusal with the trail's 503 when the record written ahead could not be stored: no refusal goes out unrecorded", async () => {
  const id = newId();
  const { response } = await revealWith('swallow', id);
  expect({ status: response.status, code: response.json.error?.code }).toEqual({ status: 503, code: 'serviceNotAvailable' });
  // The refusal's record replaces the one that never arrived, once storage answers.
  const reads = await readsOnceWritten(id);
  expect(reads.map((event) => ({ result: event.result, reason: event.resultReason.split(':')[0] }))).toEqual([
    { result: 'failure', reason: '404 itemNotFound' },
  ]);
});

it('leaves the refusal in place of the record written ahead: a 404 for a key that is not there', async () => {
  const id = newId();
  const response = await reveal(id);
  expect(response.status).toBe(404);
  const reads = await readsOf(id);
  expect(
    reads.map((event) => ({ result: event.result, reason: event.resultReason.split(':')[0], correlationId: event.correlationId })),
  ).toEqual([{ result: 'failure', reason: '404 itemNotFound', correlationId: response.headers.get('request-id') }]);
});

it('leaves the refusal in place of the record written ahead: a 429 of the hourly reveal limit', async () => {
  const body = await escrowed();
  const user = await token({ scopes: [READ], claims: { upn: `agent-${newId().slice(0, 8)}@contoso.example` } });
  expect((await reveal(body.id!, user)).status).toBe(200);
  const refused = await reveal(body.id!, user);
  expect({ status: refused.status, key: refused.json.key }).toEqual({ status: 429, key: undefined });
  // What Sentinel counts as a read (result success) is the one that happened; the refusal is its 429.
  const reads = await readsOf(body.id!);
  expect(reads.map((event) => `${event.result} ${event.resultReason.slice(0, 19)}`)).toEqual([
    'failure 429 tooManyRequests',
    expect.stringMatching(/^success/),
  ]);
  expect(reads.map((event) => event.correlationId)).not.toContain(undefined);
});
