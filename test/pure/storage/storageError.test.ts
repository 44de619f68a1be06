import { RestError } from '@azure/core-rest-pipeline';
import { ensureCreated } from '../../../shared/storage/createdTables';
import { noteFailure } from '../../../shared/storage/failure';
import {
  isStorageError,
  StorageError,
  storageErrorKindOf,
  toStorageError,
  type StorageErrorKind,
} from '../../../shared/storage/storageError';
import { storageFailure, storageRequest } from '../../support/storageAnswers';

// What a storage failure means to a use case (the StorageError kind), what a client is told (the message,
// when to come back) and what the log gets (the details), for every answer Table Storage gives.

const NOW = Date.parse('2026-03-02T09:00:00Z');

beforeEach(() => jest.useFakeTimers({ now: NOW }));
afterEach(() => jest.useRealTimers());

/** A StorageError as plain fields, for one deep equality (Jest compares Errors by message alone). */
function fieldsOf(error: unknown) {
  if (!(error instanceof StorageError)) throw new Error(`not a StorageError: ${String(error)}`);
  const { name, kind, message, subject, retryAfterSeconds, details } = error;
  return { name, kind, message, subject, retryAfterSeconds, details };
}

const noAnswer = (code: string): RestError => new RestError(`connect ${code}`, { code, request: storageRequest() });

function credentialFailure(name: string): Error {
  const error = new Error('DefaultAzureCredential failed to retrieve a token');
  error.name = name;
  return error;
}

describe('storageErrorKindOf: what a failure means to a use case', () => {
  test.each([
    [401, 'denied'],
    [403, 'denied'],
    [404, 'gone'],
    [409, 'exists'],
    [412, 'versionMoved'],
    [429, 'throttled'],
    [503, 'throttled'],
    [408, 'unavailable'],
    [500, 'unavailable'],
    [502, 'unavailable'],
    [504, 'unavailable'],
  ] as [number, StorageErrorKind][])('%i is %s', (status, kind) => {
    expect(storageErrorKindOf(storageFailure(status, 'AnyCode'))).toBe(kind);
  });

  test.each([400, 405, 413, 501])('%i is no storage outcome a use case acts on: a bug to surface', (status) => {
    expect(storageErrorKindOf(storageFailure(status, 'AnyCode'))).toBeUndefined();
  });

  test('no answer at all is unavailable', () => {
    expect(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND'].map((code) => storageErrorKindOf(noAnswer(code)))).toEqual(
      Array(4).fill('unavailable'),
    );
  });

  test.each(['CredentialUnavailableError', 'AuthenticationError', 'AggregateAuthenticationError'])(
    'no token for storage (%s) is unavailable',
    (name) => {
      expect(storageErrorKindOf(credentialFailure(name))).toBe('unavailable');
    },
  );

  test('anything else is no storage failure', () => {
    expect([new TypeError('x is undefined'), new Error('boom'), 'text', undefined].map(storageErrorKindOf)).toEqual(
      Array(4).fill(undefined),
    );
  });

  test('a StorageError keeps its own kind, whatever its message says', () => {
    expect(storageErrorKindOf(new StorageError('exists', 'Storage is unreachable.', 'The key'))).toBe('exists');
  });

  test('isStorageError answers for a StorageError and a raw RestError alike', () => {
    const gone = storageFailure(404, 'ResourceNotFound');
    expect([
      isStorageError(gone, 'gone'),
      isStorageError(toStorageError(gone), 'exists', 'gone'),
      isStorageError(gone, 'exists', 'versionMoved'),
      isStorageError(new Error('not storage'), 'gone'),
    ]).toEqual([true, true, false, false]);
  });
});

describe('a missing table (TableNotFound)', () => {
  test.each([
    ['in the x-ms-error-code header of a 404', storageFailure(404, 'TableNotFound')],
    ['as the code of a transaction', new RestError('TableNotFound', { code: 'TableNotFound', statusCode: 404 })],
  ])('%s is unavailable, not an entity gone, and the tables are created again', async (where, error) => {
    const create = jest.fn(() => Promise.resolve());
    await ensureCreated(where, create);
    await ensureCreated(where, create);
    expect(create).toHaveBeenCalledTimes(1);

    expect(storageErrorKindOf(error)).toBe('unavailable');
    await ensureCreated(where, create);
    expect(create).toHaveBeenCalledTimes(2);
  });
});

describe('toStorageError: what the client is told and the log gets', () => {
  const unknownCall = { call: 'unknown', code: 'RestError' };

  test.each([
    [412, 'UpdateConditionNotSatisfied', { kind: 'versionMoved', message: 'The recovery key has changed since it was read.' }],
    [409, 'EntityAlreadyExists', { kind: 'exists', message: 'The recovery key already exists.' }],
    [404, 'ResourceNotFound', { kind: 'gone', message: 'The recovery key was not found.' }],
  ])('%i %s: an outcome of the entity, with no wait and no details', (status, code, expected) => {
    expect(fieldsOf(toStorageError(storageFailure(status, code)))).toEqual({
      name: 'StorageError',
      subject: 'The recovery key',
      retryAfterSeconds: undefined,
      details: undefined,
      ...expected,
    });
  });

  test.each([401, 403])("%i: storage refused the service's credentials, come back in 10 s", (status) => {
    expect(fieldsOf(toStorageError(storageFailure(status, 'AuthorizationFailure')))).toEqual({
      name: 'StorageError',
      kind: 'denied',
      message: "Storage refused the service's credentials; try again later.",
      subject: 'The recovery key',
      retryAfterSeconds: 10,
      details: unknownCall,
    });
  });

  test.each([
    ['500', storageFailure(500, 'InternalError')],
    ['no answer', noAnswer('ECONNREFUSED')],
  ])('%s: storage is unreachable, come back in 10 s', (_, error) => {
    expect(fieldsOf(toStorageError(error))).toEqual({
      name: 'StorageError',
      kind: 'unavailable',
      message: 'Storage is unreachable; try again shortly.',
      subject: 'The recovery key',
      retryAfterSeconds: 10,
      details: unknownCall,
    });
  });

  test.each([
    ['no Retry-After: 5 s', {}, 5],
    ['Retry-After: 7', { 'retry-after': '7' }, 7],
    ['retry-after-ms: 1500, rounded up', { 'retry-after-ms': '1500' }, 2],
    ['retry-after-ms: 0, at least 1 s', { 'retry-after-ms': '0' }, 1],
    ['an HTTP date 42 s ahead', { 'retry-after': new Date(NOW + 42_000).toUTCString() }, 42],
    ['Retry-After: 3600, capped at 300 s', { 'retry-after': '3600' }, 300],
  ])("throttled with %s: the storage's wait passed on", (_, headers, seconds) => {
    expect(fieldsOf(toStorageError(storageFailure(503, 'ServerBusy', headers)))).toEqual({
      name: 'StorageError',
      kind: 'throttled',
      message: 'Storage is busy; try again shortly.',
      subject: 'The recovery key',
      retryAfterSeconds: seconds,
      details: unknownCall,
    });
  });

  test("the details are the call policy's notes on the failure, when it saw it", () => {
    const error = storageFailure(503, 'ServerBusy');
    const noted = { call: 'POST $batch', code: 'ServerBusy', status: 503, tries: 3, ms: 3_000 };
    noteFailure(error, noted);
    expect(fieldsOf(toStorageError(error)).details).toEqual(noted);
  });

  test('no token for storage: unavailable, and the log says the token was the call that failed', () => {
    expect(fieldsOf(toStorageError(credentialFailure('CredentialUnavailableError'), 'The audit trail'))).toEqual({
      name: 'StorageError',
      kind: 'unavailable',
      message: 'Storage is unreachable; try again shortly.',
      subject: 'The audit trail',
      retryAfterSeconds: 10,
      details: { call: 'token', code: 'CredentialUnavailableError' },
    });
  });

  test("the subject names what the call was about in the entity's outcomes", () => {
    expect(fieldsOf(toStorageError(storageFailure(404, 'ResourceNotFound'), 'The device')).message).toBe('The device was not found.');
  });

  test('a StorageError, and anything that is no storage failure, pass through as they are', () => {
    const already = new StorageError('gone', 'The device was not found.', 'The device');
    const bug = new TypeError('x is undefined');
    const badRequest = storageFailure(400, 'InvalidInput');
    expect([toStorageError(already), toStorageError(bug), toStorageError(badRequest), toStorageError('text')]).toEqual([
      already,
      bug,
      badRequest,
      'text',
    ]);
    expect(toStorageError(already)).toBe(already);
    expect(toStorageError(badRequest)).toBe(badRequest);
  });
});
