import '../support/functionsCore';
import { handlerRequest, quietContext } from '../support/inProcess';
import { HttpRequest, InvocationContext, type HttpHandler, type HttpResponseInit } from '@azure/functions';
import { directoryAuditsHandler } from '../../functions/auditLogs';
import { collectionHandler, itemHandler } from '../../functions/recoveryKeys';
import { newOid } from '../support/audit';
import { token } from '../support/client';
import { keyBody } from '../support/fixtures';

// The permission matrix of the spec ("Operations" and "Audit trail"), as a table: every operation
// against every permission, granted as an app role and as a delegated scope, in Graph's spellings.
// The expectations come from the grid below, copied from the spec, never from the app's own
// permissionsFor: a test that derived them from the code under test would prove nothing.
// The handlers are called in-process (fast) against the run's Azurite.

// prettier-ignore
const SPEC_MATRIX = `
  operation          none   ReadBasic   Read    ReadWrite   AuditLog
  list               403    allow       allow   allow       403
  getMetadata        403    allow       allow   allow       403
  getKey             403    403         allow   403         403
  patchCollection    403    403         403     allow       403
  patchItem          403    403         403     allow       403
  post               403    403         403     allow       403
  delete             403    403         403     allow       403
  listAudits         403    403         403     403         allow
`;

/** The permission each column stands for, in the spec's spelling and in the other spellings Graph and clients use. */
const COLUMNS: Record<string, string[]> = {
  none: [],
  ReadBasic: ['BitLockerKey.ReadBasic.All', 'BitlockerKey.ReadBasic.All', 'BITLOCKERKEY.READBASIC.ALL'],
  Read: ['BitLockerKey.Read.All', 'BitlockerKey.Read.All', 'bitlockerkey.read.all'],
  ReadWrite: ['BitLockerKey.ReadWrite.All', 'BitlockerKey.ReadWrite.All', 'bitlockerkey.readwrite.all'],
  AuditLog: ['AuditLog.Read.All', 'Auditlog.Read.All', 'auditlog.read.all'],
};

type Expectation = 'allow' | '403';

function parseMatrix(text: string): Map<string, Map<string, Expectation>> {
  const [header, ...rows] = text.trim().split('\n').map((line) => line.trim().split(/\s+/));
  const columns = header!.slice(1);
  expect(columns).toEqual(Object.keys(COLUMNS));
  const matrix = new Map<string, Map<string, Expectation>>();
  for (const [operation, ...cells] of rows) {
    expect(cells).toHaveLength(columns.length);
    matrix.set(operation!, new Map(columns.map((column, i) => [column, cells[i] as Expectation])));
  }
  return matrix;
}

const MATRIX = parseMatrix(SPEC_MATRIX);

// ---- requests -------------------------------------------------------------------------------------------------

const COLLECTION = '/v1.0/informationProtection/bitlocker/recoveryKeys';
const context = (): InvocationContext => quietContext('permissionMatrix.test');
const request = handlerRequest;


const send = (handler: HttpHandler, req: HttpRequest): Promise<HttpResponseInit> => handler(req, context()) as Promise<HttpResponseInit>;

/** A stored key for the reads, and a fresh one for each DELETE (so that an allowed delete is a real 204). */
let shared: ReturnType<typeof keyBody>;
let setupWriter: string;

async function storeKey(): Promise<ReturnType<typeof keyBody>> {
  const body = keyBody();
  const response = await send(collectionHandler, request('PATCH', COLLECTION, setupWriter, body));
  if (response.status !== 200) throw new Error(`setup PATCH gave ${response.status}: ${String(response.body)}`);
  return body;
}

interface Outcome {
  response: HttpResponseInit;
  /** The recovery password this operation must not reveal when refused. */
  secret?: string;
  /** Whether the operation, when refused, left the key as it was (for writes). */
  untouched?: () => Promise<boolean>;
}

const exists = async (id: string): Promise<boolean> =>
  (await send(itemHandler, request('GET', `${COLLECTION}/${id}`, setupWriter, undefined, id))).status === 200;

const OPERATIONS: Record<string, (bearer: string) => Promise<Outcome>> = {
  list: async (bearer) => ({
    response: await send(collectionHandler, request('GET', `${COLLECTION}?$filter=${encodeURIComponent(`id eq '${shared.id}'`)}`, bearer)),
  }),
  getMetadata: async (bearer) => ({ response: await send(itemHandler, request('GET', `${COLLECTION}/${shared.id}`, bearer, undefined, shared.id)) }),
  getKey: async (bearer) => ({
    response: await send(itemHandler, request('GET', `${COLLECTION}/${shared.id}?$select=key`, bearer, undefined, shared.id)),
    secret: shared.key,
  }),
  patchCollection: async (bearer) => {
    const body = keyBody();
    return { response: await send(collectionHandler, request('PATCH', COLLECTION, bearer, body)), untouched: async () => !(await exists(body.id!)) };
  },
  patchItem: async (bearer) => {
    const body = keyBody();
    return {
      response: await send(itemHandler, request('PATCH', `${COLLECTION}/${body.id}`, bearer, body, body.id)),
      untouched: async () => !(await exists(body.id!)),
    };
  },
  post: async (bearer) => {
    const body = keyBody();
    return { response: await send(collectionHandler, request('POST', COLLECTION, bearer, body)), untouched: async () => !(await exists(body.id!)) };
  },
  delete: async (bearer) => {
    const victim = await storeKey();
    return {
      response: await send(itemHandler, request('DELETE', `${COLLECTION}/${victim.id}`, bearer, undefined, victim.id)),
      untouched: () => exists(victim.id!),
    };
  },
  listAudits: async (bearer) => ({
    response: await send(directoryAuditsHandler, request('GET', `/v1.0/auditLogs/directoryAudits?$top=1`, bearer)),
  }),
};

// ---- the grants under test --------------------------------------------------------------------------------------

interface Grant {
  column: string;
  description: string;
  mint: () => Promise<string>;
}

const grants: Grant[] = [
  { column: 'none', description: 'a token with neither roles nor scp', mint: () => token({ claims: { oid: newOid() } }) },
  { column: 'none', description: 'an app token with unrelated roles', mint: () => token({ roles: ['User.Read.All', 'Device.Read.All'], claims: { oid: newOid() } }) },
  { column: 'none', description: 'a delegated token with unrelated scopes', mint: () => token({ scopes: ['User.Read', 'Directory.Read.All'], claims: { oid: newOid() } }) },
  {
    column: 'none',
    description: 'near misses of every name (no .All, a prefix, a suffix)',
    mint: () => token({ roles: ['BitLockerKey.Read', 'BitLockerKey.ReadWrite', 'BitLockerKey.Read.AllX', 'XAuditLog.Read.All', 'AuditLog.Read'], claims: { oid: newOid() } }),
  },
  ...Object.entries(COLUMNS).flatMap(([column, spellings]) =>
    spellings.flatMap((spelling): Grant[] => [
      { column, description: `app role ${spelling}`, mint: () => token({ roles: [spelling], claims: { oid: newOid() } }) },
      { column, description: `delegated scope ${spelling}`, mint: () => token({ scopes: [spelling], claims: { oid: newOid() } }) },
    ]),
  ),
];

const cases = grants.flatMap((grant) =>
  [...MATRIX.keys()].map((operation) => ({ ...grant, operation, expected: MATRIX.get(operation)!.get(grant.column)! })),
);

beforeAll(async () => {
  setupWriter = await token({ roles: ['BitLockerKey.ReadWrite.All'], claims: { oid: newOid() } });
  shared = await storeKey();
});

describe('the spec matrix itself', () => {
  it('covers every operation with one expectation per permission', () => {
    expect([...MATRIX.keys()].sort()).toEqual(Object.keys(OPERATIONS).sort());
    // The rules the spec states in words, checked against the grid so that a typo in it shows.
    const allowed = (operation: string): string[] => [...MATRIX.get(operation)!].filter(([, e]) => e === 'allow').map(([c]) => c);
    expect(allowed('getKey')).toEqual(['Read']);
    expect(allowed('listAudits')).toEqual(['AuditLog']);
    for (const write of ['patchCollection', 'patchItem', 'post', 'delete']) expect(allowed(write)).toEqual(['ReadWrite']);
    for (const read of ['list', 'getMetadata']) expect(allowed(read)).toEqual(['ReadBasic', 'Read', 'ReadWrite']);
    for (const operation of MATRIX.keys()) expect(MATRIX.get(operation)!.get('none')).toBe('403');
  });
});

describe('every operation with every grant', () => {
  it.each(cases.map((c) => [c.operation, c.expected, c.description, c] as const))('%s: %s with %s', async (_operation, _expected, _description, c) => {
    const outcome = await OPERATIONS[c.operation]!(await c.mint());
    const { status } = outcome.response;
    const text = outcome.response.body === undefined ? '' : String(outcome.response.body);
    if (c.expected === 'allow') {
      // Allowed: a success, or a 404 for something absent; never 401 or 403.
      expect({ status, ok: (status! >= 200 && status! < 300) || status === 404, body: text.slice(0, 300) }).toMatchObject({ ok: true });
      if (c.operation === 'getKey') expect(JSON.parse(text).key).toBe(shared.key);
    } else {
      expect({ status, body: text.slice(0, 300) }).toMatchObject({ status: 403 });
      const json = JSON.parse(text);
      expect(json.error.code).toBe('authorization_error');
      expect(json.error.innerError['request-id']).toBe((outcome.response.headers as Record<string, string>)['request-id']);
      if (outcome.secret) expect(text).not.toContain(outcome.secret);
      if (outcome.untouched) expect(await outcome.untouched()).toBe(true);
    }
  });
});
