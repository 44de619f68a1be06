import '../support/functionsCore';
import { bodyText, handlerRequest, quietContext } from '../support/inProcess';
import type { HttpHandler, HttpRequest, HttpResponseInit } from '@azure/functions';
import { directoryAuditsHandler } from '../../functions/auditLogs';
import { collectionHandler, itemHandler } from '../../functions/recoveryKeys';
import { keySpellings, newOid, secretsIn, targetFilter } from '../support/audit';
import { token, type GraphJson } from '../support/client';
import { type KeyBody, keyBody, recoveryPassword } from '../support/fixtures';
import { recordOf } from '../support/storage';
import { COLLECTION } from '../support/keys';

// The permission matrix of the spec ("Operations", "Who may see a password" and "Audit trail"), as a
// table: every operation against every permission, granted as an app role and as a delegated scope, in
// Graph's spellings, and in combinations. Each case asserts the status AND the body: no response but an
// allowed key read ($select=key with Read.All) holds a stored recovery password; a write may echo only
// the password its own request carried. The expectations come from the grid below, copied from the spec,
// never from the app's own permissionsFor: a test that derived them from the code under test would prove
// nothing. The handlers are called in-process (fast) against the run's Azurite. The matrix's device column
// is test/pure/auth/permissions.test.ts's.

// prettier-ignore
const SPEC_MATRIX = `
  operation              none   ReadBasic   Read    ReadWrite   AuditLog
  list                   403    allow       allow   allow       403
  getMetadata            403    allow       allow   allow       403
  getKey                 403    403         allow   403         403
  patchCollectionNew     403    403         403     allow       403
  patchCollectionIdOnly  403    403         403     allow       403
  patchItemNew           403    403         403     allow       403
  patchItemEmpty         403    403         403     allow       403
  patchItemVolumeType    403    403         403     allow       403
  patchItemSameKey       403    403         403     allow       403
  patchItemOtherKey      403    403         403     allow       403
  post                   403    403         403     allow       403
  postExisting           403    403         403     allow       403
  delete                 403    403         403     allow       403
  listAudits             403    403         403     403         allow
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
  const [header, ...rows] = text
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/));
  const columns = header.slice(1);
  expect(columns).toEqual(Object.keys(COLUMNS));
  const matrix = new Map<string, Map<string, Expectation>>();
  for (const [operation, ...cells] of rows) {
    expect(cells).toHaveLength(columns.length);
    matrix.set(operation, new Map(columns.map((column, i) => [column, cells[i] as Expectation])));
  }
  return matrix;
}

const MATRIX = parseMatrix(SPEC_MATRIX);

/** A grant of several columns allows what any of them allows (permissions only ever add up). */
const expectationFor = (operation: string, columns: readonly string[]): Expectation =>
  columns.some((column) => MATRIX.get(operation)!.get(column) === 'allow') ? 'allow' : '403';

// ---- requests -------------------------------------------------------------------------------------------------

const request = handlerRequest;

const send = (handler: HttpHandler, req: HttpRequest): Promise<HttpResponseInit> =>
  handler(req, quietContext('permissionMatrix.test')) as Promise<HttpResponseInit>;

/** The key every operation on an existing key works on; its password must only ever leave through an allowed key read. */
let shared: KeyBody;
/** Its ciphertext as first stored: no write of this file, allowed or refused, may change it. */
let sharedCiphertext: string;
let setupWriter: string;
/** Every password stored by this file: the needles of the body scans. */
const storedPasswords: string[] = [];

async function storeKey(): Promise<KeyBody> {
  const body = keyBody();
  storedPasswords.push(body.key!);
  const response = await send(collectionHandler, request('PATCH', COLLECTION, setupWriter, body));
  if (response.status !== 200) throw new Error(`setup PATCH gave ${response.status}: ${bodyText(response)}`);
  return body;
}

interface Outcome {
  response: HttpResponseInit;
  /** The status an allowed caller gets (a 409 is the allowed answer to a write the rules refuse). */
  allowedStatus: number;
  /** The recovery password the request itself carried: the one password its response may echo. */
  sent?: string;
  /** Whether the stored state is as this operation must leave it (refused: untouched; allowed: as the rules say). */
  stateHolds?: (allowed: boolean) => Promise<boolean>;
}

const sharedPasswordKept = async (): Promise<boolean> => (await recordOf(shared.id!))?.recoveryPasswordCiphertext === sharedCiphertext;

/** A write that would create `body`: allowed, it is stored; refused, nothing is. */
const created =
  (body: KeyBody) =>
  async (allowed: boolean): Promise<boolean> =>
    ((await recordOf(body.id!)) !== undefined) === allowed;

/** A write that creates a key with a password of the caller's own (remembered as stored, since it may be). */
function freshBody(): KeyBody {
  const body = keyBody();
  storedPasswords.push(body.key!);
  return body;
}

const patchShared = async (body: Record<string, unknown>, sent?: string, allowedStatus = 200): Promise<Outcome> => ({
  response: await send(itemHandler, request('PATCH', `${COLLECTION}/${shared.id}`, bearerOf.current, body, shared.id)),
  allowedStatus,
  sent,
  stateHolds: sharedPasswordKept,
});

/** The token of the case being run (operations read it rather than take it, to keep their table flat). */
const bearerOf = { current: '' };

const OPERATIONS: Record<string, () => Promise<Outcome>> = {
  list: async () => ({
    response: await send(
      collectionHandler,
      request('GET', `${COLLECTION}?$filter=${encodeURIComponent(`id eq '${shared.id}'`)}`, bearerOf.current),
    ),
    allowedStatus: 200,
  }),
  getMetadata: async () => ({
    response: await send(itemHandler, request('GET', `${COLLECTION}/${shared.id}`, bearerOf.current, undefined, shared.id)),
    allowedStatus: 200,
  }),
  getKey: async () => ({
    response: await send(itemHandler, request('GET', `${COLLECTION}/${shared.id}?$select=key`, bearerOf.current, undefined, shared.id)),
    allowedStatus: 200,
  }),
  patchCollectionNew: async () => {
    const body = freshBody();
    return {
      response: await send(collectionHandler, request('PATCH', COLLECTION, bearerOf.current, body)),
      allowedStatus: 200,
      sent: body.key,
      stateHolds: created(body),
    };
  },
  // The custody attack: a body that names an existing key and nothing else.
  patchCollectionIdOnly: async () => ({
    response: await send(collectionHandler, request('PATCH', COLLECTION, bearerOf.current, { id: shared.id })),
    allowedStatus: 200,
    stateHolds: sharedPasswordKept,
  }),
  patchItemNew: async () => {
    const body = freshBody();
    return {
      response: await send(itemHandler, request('PATCH', `${COLLECTION}/${body.id}`, bearerOf.current, body, body.id)),
      allowedStatus: 200,
      sent: body.key,
      stateHolds: created(body),
    };
  },
  patchItemEmpty: () => patchShared({}),
  patchItemVolumeType: () => patchShared({ volumeType: 2 }),
  patchItemSameKey: () => patchShared({ key: shared.key }, shared.key),
  // A different password under a stored id: refused for everyone (409 for a writer), and never stored.
  patchItemOtherKey: () => {
    const other = recoveryPassword();
    return patchShared({ key: other }, other, 409);
  },
  post: async () => {
    const body = freshBody();
    return {
      response: await send(collectionHandler, request('POST', COLLECTION, bearerOf.current, body)),
      allowedStatus: 201,
      sent: body.key,
      stateHolds: created(body),
    };
  },
  postExisting: async () => {
    const body = keyBody({ id: shared.id });
    return {
      response: await send(collectionHandler, request('POST', COLLECTION, bearerOf.current, body)),
      allowedStatus: 409,
      sent: body.key,
      stateHolds: sharedPasswordKept,
    };
  },
  delete: async () => {
    const victim = await storeKey();
    return {
      response: await send(itemHandler, request('DELETE', `${COLLECTION}/${victim.id}`, bearerOf.current, undefined, victim.id)),
      allowedStatus: 204,
      // A soft delete: the record stays, marked deleted (restorable), its ciphertext untouched.
      stateHolds: async (allowed) => {
        const record = await recordOf(victim.id!);
        return record !== undefined && (record.deletedDateTime !== undefined) === allowed;
      },
    };
  },
  listAudits: async () => ({
    response: await send(
      directoryAuditsHandler,
      request('GET', `/v1.0/auditLogs/directoryAudits?$top=50&$filter=${encodeURIComponent(targetFilter(shared.id!))}`, bearerOf.current),
    ),
    allowedStatus: 200,
  }),
};

// ---- the grants under test --------------------------------------------------------------------------------------

interface Grant {
  /** The matrix columns the grant holds; none for a token without any of them. */
  columns: string[];
  description: string;
  mint: () => Promise<string>;
}

const roles =
  (...names: string[]) =>
  () =>
    token({ roles: names, claims: { oid: newOid() } });
const scopes =
  (...names: string[]) =>
  () =>
    token({ scopes: names, claims: { oid: newOid() } });
const spelling = (column: string): string => COLUMNS[column][0];

const grants: Grant[] = [
  { columns: [], description: 'a token with neither roles nor scp', mint: () => token({ claims: { oid: newOid() } }) },
  { columns: [], description: 'an app token with unrelated roles', mint: roles('User.Read.All', 'Device.Read.All') },
  { columns: [], description: 'a delegated token with unrelated scopes', mint: scopes('User.Read', 'Directory.Read.All') },
  {
    columns: [],
    description: 'near misses of every name (no .All, a prefix, a suffix)',
    mint: roles('BitLockerKey.Read', 'BitLockerKey.ReadWrite', 'BitLockerKey.Read.AllX', 'XAuditLog.Read.All', 'AuditLog.Read'),
  },
  ...Object.entries(COLUMNS)
    .filter(([column]) => column !== 'none')
    .flatMap(([column, spellings]) =>
      spellings.flatMap((name): Grant[] => [
        { columns: [column], description: `app role ${name}`, mint: roles(name) },
        { columns: [column], description: `delegated scope ${name}`, mint: scopes(name) },
      ]),
    ),
  // Combinations: a writer that may also list, read the trail, or read keys.
  ...[
    ['ReadBasic', 'ReadWrite'],
    ['ReadWrite', 'AuditLog'],
    ['Read', 'ReadWrite'],
    ['Read', 'AuditLog'],
    ['ReadBasic', 'Read', 'ReadWrite', 'AuditLog'],
  ].map((columns): Grant => ({ columns, description: `app roles ${columns.join(' + ')}`, mint: roles(...columns.map(spelling)) })),
  {
    columns: ['Read', 'ReadWrite'],
    description: 'app role ReadWrite.All with delegated scope Read.All',
    mint: () => token({ roles: [spelling('ReadWrite')], scopes: [spelling('Read')], claims: { oid: newOid() } }),
  },
];

const cases = grants.flatMap((grant) =>
  [...MATRIX.keys()].map((operation) => ({ ...grant, operation, expected: expectationFor(operation, grant.columns) })),
);

beforeAll(async () => {
  setupWriter = await token({ roles: ['BitLockerKey.ReadWrite.All'], claims: { oid: newOid() } });
  shared = await storeKey();
  sharedCiphertext = (await recordOf(shared.id!))!.recoveryPasswordCiphertext as string;
});

describe('the spec matrix itself', () => {
  it('covers every operation with one expectation per permission', () => {
    expect([...MATRIX.keys()].sort()).toEqual(Object.keys(OPERATIONS).sort());
    // The rules the spec states in words, checked against the grid so that a typo in it shows.
    const allowed = (operation: string): string[] => [...MATRIX.get(operation)!].filter(([, e]) => e === 'allow').map(([c]) => c);
    expect(allowed('getKey')).toEqual(['Read']);
    expect(allowed('listAudits')).toEqual(['AuditLog']);
    for (const operation of MATRIX.keys()) {
      if (operation.startsWith('patch') || operation.startsWith('post') || operation === 'delete')
        expect(allowed(operation)).toEqual(['ReadWrite']);
      expect(MATRIX.get(operation)!.get('none')).toBe('403');
    }
    for (const read of ['list', 'getMetadata']) expect(allowed(read)).toEqual(['ReadBasic', 'Read', 'ReadWrite']);
  });
});

describe('every operation with every grant: the status, and what the body holds', () => {
  it.each(cases.map((c) => [c.operation, c.expected, c.description, c] as const))(
    '%s: %s with %s',
    async (_operation, _expected, _description, c) => {
      bearerOf.current = await c.mint();
      const outcome = await OPERATIONS[c.operation]();
      const { status } = outcome.response;
      const text = bodyText(outcome.response);
      const allowed = c.expected === 'allow';
      const keyRead = allowed && c.operation === 'getKey';

      if (allowed) {
        expect({ status, body: text.slice(0, 300) }).toMatchObject({ status: outcome.allowedStatus });
      } else {
        expect({ status, body: text.slice(0, 300) }).toMatchObject({ status: 403 });
        const json = JSON.parse(text) as GraphJson;
        expect(json.error.code).toBe('authorization_error');
        expect(json.error.innerError['request-id']).toBe((outcome.response.headers as Record<string, string>)['request-id']);
      }

      // The body: an allowed key read holds the shared key's password and no other; every other answer
      // holds none but, on a successful write, the one its own request carried.
      const echoable = outcome.sent !== undefined && allowed && status! < 300 ? keySpellings(outcome.sent) : [];
      const forbiddenNeedles = storedPasswords.flatMap(keySpellings).filter((needle) => !echoable.includes(needle));
      if (keyRead) {
        expect((JSON.parse(text) as GraphJson).key).toBe(shared.key);
        expect(
          secretsIn(
            text,
            forbiddenNeedles.filter((n) => !keySpellings(shared.key!).includes(n)),
          ),
        ).toEqual([]);
      } else {
        expect(secretsIn(text, forbiddenNeedles)).toEqual([]);
        // A write's key property is the request's own value, and absent when the request sent none.
        if (status! < 300 && text) {
          const json = JSON.parse(text) as GraphJson;
          if (outcome.sent === undefined) expect(json).not.toHaveProperty('key');
          else expect(json.key).toBe(outcome.sent);
        }
      }
      if (outcome.stateHolds) expect(await outcome.stateHolds(allowed && status! < 300)).toBe(true);
    },
  );
});
