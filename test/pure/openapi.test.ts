import { expect } from '@jest/globals';
import '../support/functionsCore';
// The app's entry, which loads every function module (test/pure/functions/index.test.ts), so that a
// function added later without a path in the document fails here.
import '../../functions';
import { HttpRequest, type HttpResponseInit, InvocationContext } from '@azure/functions';
import Joi from 'joi';
import { CONSOLE_ROUTES } from '../../functions/helpdesk';
import { openApiHandler } from '../../functions/openapi';
import { type HttpFunctionDescriptor, registeredHttpFunctions } from '../../scripts/devhost/host/functionsCore';
import { permissionsFor } from '../../shared/auth/permissions';
import { GraphError } from '../../shared/errors/graphError';
import { ITEM_SELECTABLE_PROPERTIES, SELECTABLE_PROPERTIES } from '../../shared/odata/listQuery';
import { deriveObjectSchemas, type PropertyHints, SchemaDerivationError } from '../../shared/openapi/joiSchema';
import { RECOVERY_KEY_HINTS, VOLUME_TYPE_NUMBERS } from '../../shared/openapi/recoveryKeySchemas';
import {
  type ArraySchemaObject,
  HTTP_METHODS,
  type OpenApiDocument,
  type OperationObject,
  type ParameterObject,
  type PathItemObject,
  type Reference,
  type ResponseObject,
  type SchemaObject,
} from '../../shared/openapi/types';
import { VOLUME_TYPES } from '../../shared/recoveryKeys/model';
import { describeRecoveryKeyInput, parseRecoveryKeyInput, ROTATION_ANNOTATIONS } from '../../shared/recoveryKeys/schema';
import { recoveryPassword } from '../support/fixtures';
import { bodyText } from '../support/inProcess';

// The document against what the app really does: the routes it registers, the methods its handlers
// accept, the joi schema that validates bodies and the permission matrix.

const ORIGIN = 'http://127.0.0.1:7071';
const SOME_GUID = 'b465e4e8-e4e8-b465-e8e4-65b4e8e465b4';
const context = (): InvocationContext => new InvocationContext({ functionName: 'test', logHandler: () => undefined });

async function served(url = `${ORIGIN}/openapi.json`): Promise<{ response: HttpResponseInit; doc: OpenApiDocument }> {
  const response = await openApiHandler(new HttpRequest({ method: 'GET', url }), context());
  return { response, doc: JSON.parse(bodyText(response)) as OpenApiDocument };
}

let doc: OpenApiDocument;
beforeAll(async () => {
  doc = (await served()).doc;
});

const isReference = (value: unknown): value is Reference =>
  typeof value === 'object' && value !== null && typeof (value as Reference).$ref === 'string';

/** The value a local JSON pointer (`#/components/...`) names in the document, or undefined. */
function pointee(pointer: string): unknown {
  if (!pointer.startsWith('#/')) return undefined;
  let node: unknown = doc;
  for (const raw of pointer.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function resolved<T extends object>(value: T | Reference): T {
  if (!isReference(value)) return value;
  const target = pointee(value.$ref);
  if (target === undefined) throw new Error(`unresolved $ref ${value.$ref}`);
  return target as T;
}

function operationsOf(item: PathItemObject): [string, OperationObject][] {
  return HTTP_METHODS.flatMap((method) => (item[method] ? [[method.toUpperCase(), item[method]] as [string, OperationObject]] : []));
}

const allOperations = (): [string, string, OperationObject][] =>
  Object.entries(doc.paths).flatMap(([p, item]) => operationsOf(item).map(([m, op]) => [p, m, op] as [string, string, OperationObject]));

function parametersOf(item: PathItemObject, op: OperationObject): ParameterObject[] {
  return [...(item.parameters ?? []), ...(op.parameters ?? [])].map((p) => resolved(p));
}

const schema = (name: string): SchemaObject => resolved(doc.components.schemas[name]);
const propertyOf = (object: SchemaObject, name: string): SchemaObject => resolved(object.properties![name]);

describe('GET /openapi.json', () => {
  it('answers 200 with an OpenAPI 3.0.3 document, without a token', async () => {
    const { response, doc: served200 } = await served();
    expect(response.status).toBe(200);
    const headers = response.headers as Record<string, string>;
    expect(headers['Content-Type']).toMatch(/^application\/json\b/);
    expect(headers['request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(served200.openapi).toBe('3.0.3');
    expect(typeof served200.info.title).toBe('string');
    expect(typeof served200.info.version).toBe('string');
    expect(Object.keys(served200.paths).length).toBeGreaterThan(0);
    expect(served200.components.securitySchemes).toEqual({
      entraId: expect.objectContaining({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }),
    });
    expect(served200.security).toEqual([{ entraId: [] }]);
    expect(served200.paths['/openapi.json']?.get?.security).toEqual([]);
  });

  it("names the request's own origin as its server", async () => {
    expect((await served()).doc.servers).toEqual([{ url: ORIGIN }]);
    expect((await served('https://escrow.example.net/openapi.json?x=1')).doc.servers).toEqual([{ url: 'https://escrow.example.net' }]);
  });
});

describe('paths against the registered functions', () => {
  // The catch-all 404 and the helpdesk console's page and files are not API paths.
  const registered = (): HttpFunctionDescriptor[] =>
    registeredHttpFunctions().filter((fn) => !fn.route.includes('{*') && !CONSOLE_ROUTES.includes(fn.route));
  /** A route template as an OpenAPI path: `{id:guid}` and `{id?}` are both `{id}`. */
  const openApiPath = (route: string): string => `/${route.replace(/\{([^}:?]+)[^}]*\}/g, '{$1}')}`;

  it('documents every registered route, and nothing else', () => {
    expect(Object.keys(doc.paths).sort()).toEqual(
      registered()
        .map((fn) => openApiPath(fn.route))
        .sort(),
    );
  });

  /** The methods that reach the function and are not refused with 405 (the handlers dispatch by method). */
  async function supportedMethods(fn: HttpFunctionDescriptor): Promise<string[]> {
    const params = Object.fromEntries([...fn.route.matchAll(/\{([^}:?]+)[^}]*\}/g)].map((m) => [m[1], SOME_GUID]));
    const url = `${ORIGIN}/${fn.route.replace(/\{[^}]+\}/g, SOME_GUID)}`;
    const supported: string[] = [];
    for (const method of fn.methods) {
      // No token: a supported method stops at 401 (or answers, if anonymous) before touching storage.
      const response = (await fn.handler(new HttpRequest({ method, url, params }), context())) as HttpResponseInit;
      if (response.status !== 405) supported.push(method);
    }
    return supported.sort();
  }

  it('documents exactly the methods each function supports', async () => {
    for (const fn of registered()) {
      const documented = operationsOf(doc.paths[openApiPath(fn.route)])
        .map(([method]) => method)
        .sort();
      expect({ route: fn.route, methods: await supportedMethods(fn) }).toEqual({ route: fn.route, methods: documented });
    }
  });

  it('has collection GET, HEAD, PATCH, POST and item GET, HEAD, PATCH, DELETE on every path form', () => {
    const forms = Object.keys(doc.paths).filter((p) => p.endsWith('/recoveryKeys'));
    expect(forms).toHaveLength(6);
    for (const collection of forms) {
      expect(
        operationsOf(doc.paths[collection])
          .map(([m]) => m)
          .sort(),
      ).toEqual(['GET', 'HEAD', 'PATCH', 'POST']);
      expect(
        operationsOf(doc.paths[`${collection}/{id}`])
          .map(([m]) => m)
          .sort(),
      ).toEqual(['DELETE', 'GET', 'HEAD', 'PATCH']);
    }
  });
});

describe('the bitlockerRecoveryKey schemas, derived from joi', () => {
  const joiKeys = (): string[] => Object.keys(describeRecoveryKeyInput().keys as Record<string, unknown>).sort();

  it('have exactly the properties of the joi schema', () => {
    // Plus the instance annotations read before joi: the two a client sends back from a read, and a successor's.
    expect(Object.keys(schema('bitlockerRecoveryKeyInput').properties!).sort()).toEqual(
      [...joiKeys(), '@odata.context', '@odata.etag', '@escrow.replaces'].sort(),
    );
    // A response's: the properties and the annotations of a key's rotation.
    expect(Object.keys(schema('bitlockerRecoveryKey').properties!).sort()).toEqual(
      [...joiKeys(), ...Object.values(ROTATION_ANNOTATIONS)].sort(),
    );
    expect(schema('bitlockerRecoveryKeyInput').additionalProperties).toBe(false);
  });

  it('list VOLUME_TYPES as the names, and accept the numbers that joi maps to them', () => {
    expect(propertyOf(schema('bitlockerRecoveryKey'), 'volumeType').enum).toEqual([...VOLUME_TYPES]);
    const [names, numbers] = propertyOf(schema('bitlockerRecoveryKeyInput'), 'volumeType').oneOf!.map((s) => resolved(s));
    expect(names.enum).toEqual([...VOLUME_TYPES, '1', '2', '3', '4']);
    expect(numbers).toEqual({ type: 'integer', enum: [1, 2, 3, 4] });
    VOLUME_TYPE_NUMBERS.forEach((n, i) => {
      expect(parseRecoveryKeyInput({ volumeType: n }).volumeType).toBe(VOLUME_TYPES[i]);
      expect(parseRecoveryKeyInput({ volumeType: String(n) }).volumeType).toBe(VOLUME_TYPES[i]);
    });
    expect(() => parseRecoveryKeyInput({ volumeType: VOLUME_TYPE_NUMBERS.length + 1 })).toThrow(GraphError);
  });

  const joiAccepts = (body: Record<string, unknown>): boolean => {
    try {
      parseRecoveryKeyInput(body);
      return true;
    } catch {
      return false;
    }
  };

  it('describe GUIDs as joi accepts them: any case, braces optional', () => {
    const pattern = new RegExp(propertyOf(schema('bitlockerRecoveryKeyInput'), 'id').pattern!);
    const samples = [SOME_GUID, SOME_GUID.toUpperCase(), `{${SOME_GUID}}`, `{${SOME_GUID}`, SOME_GUID.replace(/-/g, ''), 'x', ''];
    for (const sample of samples) {
      expect({ sample, pattern: pattern.test(sample) }).toEqual({ sample, pattern: joiAccepts({ id: sample, deviceId: sample }) });
    }
  });

  it('describe the recovery password by a pattern that every valid one matches (divisibility is left to the text)', () => {
    const pattern = new RegExp(propertyOf(schema('bitlockerRecoveryKeyInput'), 'key').pattern!);
    for (let i = 0; i < 20; i++) expect(pattern.test(recoveryPassword())).toBe(true);
    for (const invalid of ['String', '496298-461032', '496298-461032-321464-595518-463221-173943-033616-13957x']) {
      expect(pattern.test(invalid)).toBe(false);
      expect(joiAccepts({ key: invalid })).toBe(false);
    }
  });

  it('say where key is returned, and offer $select of response properties only', () => {
    expect(propertyOf(schema('bitlockerRecoveryKey'), 'key').description).toMatch(/only.*\$select=key.*BitLockerKey\.Read\.All/);
    const selectable = (name: string): unknown => {
      const array = resolved(resolved<ParameterObject>(doc.components.parameters[name]).schema!) as ArraySchemaObject;
      return resolved(array.items).enum;
    };
    expect(selectable('listSelect')).toEqual([...SELECTABLE_PROPERTIES]);
    expect(selectable('itemSelect')).toEqual([...ITEM_SELECTABLE_PROPERTIES]);
    for (const name of ITEM_SELECTABLE_PROPERTIES) expect(joiKeys()).toContain(name);
  });
});

describe('deriveObjectSchemas', () => {
  const text: PropertyHints[string] = { request: {} };

  it('derives types, enums, limits, required-ness and additionalProperties from joi', () => {
    const derived = deriveObjectSchemas(
      Joi.object({
        kind: Joi.string().valid('a', 'b').required(),
        count: Joi.number().integer().min(1).max(4),
        code: Joi.string().length(3),
      }).describe(),
      { kind: text, count: text, code: text },
    );
    expect(derived.request).toEqual({
      type: 'object',
      properties: {
        kind: { type: 'string', enum: ['a', 'b'] },
        count: { type: 'integer', minimum: 1, maximum: 4 },
        code: { type: 'string', minLength: 3, maxLength: 3 },
      },
      required: ['kind'],
      additionalProperties: false,
    });
  });

  it('fails when joi gains a property the hints do not know (someone added it to the schema only)', () => {
    const real = describeRecoveryKeyInput();
    const grown = { ...real, keys: { ...(real.keys as object), serialNumber: Joi.string().describe() } };
    expect(() => deriveObjectSchemas(grown, RECOVERY_KEY_HINTS)).toThrow(SchemaDerivationError);
    expect(() => deriveObjectSchemas(grown, RECOVERY_KEY_HINTS)).toThrow(/without an OpenAPI hint: serialNumber/);
  });

  it('fails when a hint names a property joi does not have (someone removed it from the schema only)', () => {
    expect(() => deriveObjectSchemas(describeRecoveryKeyInput(), { ...RECOVERY_KEY_HINTS, legacyId: text })).toThrow(
      /joi does not have: legacyId/,
    );
  });

  it("fails when a hint contradicts joi's type, or leaves a custom rule unexplained", () => {
    expect(() => deriveObjectSchemas(Joi.object({ n: Joi.number() }).describe(), { n: { request: { type: 'string' } } })).toThrow(
      /types differ/,
    );
    const custom = Joi.object({ s: Joi.string().custom((value: string) => value) }).describe();
    expect(() => deriveObjectSchemas(custom, { s: text })).toThrow(/custom rule/);
  });

  it('fails on joi rules and types it cannot describe rather than leaving them out', () => {
    expect(() => deriveObjectSchemas(Joi.object({ e: Joi.string().email() }).describe(), { e: text })).toThrow(/rule 'email'/);
    expect(() => deriveObjectSchemas(Joi.object({ b: Joi.binary() }).describe(), { b: text })).toThrow(/type 'binary'/);
    expect(() => deriveObjectSchemas(Joi.object({ a: Joi.string().alphanum() }).describe(), { a: text })).toThrow(/rule 'alphanum'/);
    expect(() => deriveObjectSchemas(Joi.object({ p: Joi.string().pattern(/^ab$/i) }).describe(), { p: text })).toThrow(/flag-less/);
  });
});

describe('document structure', () => {
  it('has unique operationIds that Azure API Management accepts', () => {
    const ids = allOperations().map(([, , op]) => op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_]{1,80}$/);
  });

  it('resolves every $ref', () => {
    const refs: string[] = [];
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (typeof node === 'object' && node !== null) {
        if (isReference(node)) refs.push(node.$ref);
        Object.values(node).forEach(walk);
      }
    };
    walk(doc);
    expect(refs.length).toBeGreaterThan(0);
    expect(refs.filter((r) => pointee(r) === undefined)).toEqual([]);
  });

  it('declares each path parameter, required, and no other', () => {
    for (const [p, item] of Object.entries(doc.paths)) {
      for (const [, op] of operationsOf(item)) {
        const declared = parametersOf(item, op).filter((param) => param.in === 'path');
        expect(declared.map((param) => param.name).sort()).toEqual([...p.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort());
        for (const param of declared) expect(param.required).toBe(true);
        for (const param of parametersOf(item, op)) expect(param.schema).toBeDefined();
      }
    }
  });

  it('lists the permissions of each operation, and requires none for the document itself and the health probe', () => {
    const expected: Record<string, readonly string[]> = {
      listRecoveryKeys: permissionsFor.readMetadata,
      getRecoveryKey: permissionsFor.readMetadata,
      escrowRecoveryKey: permissionsFor.writeKey,
      createRecoveryKey: permissionsFor.writeKey,
      upsertRecoveryKey: permissionsFor.writeKey,
      deleteRecoveryKey: permissionsFor.writeKey,
      listDirectoryAudits: permissionsFor.readAudit,
      listDeletedRecoveryKeys: permissionsFor.readMetadata,
      getDeletedRecoveryKey: permissionsFor.readMetadata,
      restoreDeletedRecoveryKey: permissionsFor.writeKey,
      purgeDeletedRecoveryKey: permissionsFor.purgeKey,
      getDeviceStatus: permissionsFor.readDeviceStatus,
      putDeviceStatus: permissionsFor.writeDeviceStatus,
      getCoverageReport: permissionsFor.readCoverage,
      listRevealRequests: permissionsFor.readRevealRequests,
      createRevealRequest: permissionsFor.requestReveal,
      getRevealRequest: permissionsFor.readRevealRequests,
      approveRevealRequest: permissionsFor.decideReveal,
      denyRevealRequest: permissionsFor.decideReveal,
      createRevealGrant: permissionsFor.grantBulkReveal,
      getRevealGrant: permissionsFor.readRevealRequests,
      listRevealGrantDevices: permissionsFor.readRevealRequests,
      listMyDevices: permissionsFor.selfService,
      listAwaitingKeys: permissionsFor.readMetadata,
    };
    for (const [p, , op] of allOperations()) {
      if (p === '/openapi.json' || p === '/health') {
        expect(op['x-permissions']).toBeUndefined();
        expect(op.security).toEqual([]);
        continue;
      }
      // A HEAD is documented as its GET is, under the GET's action + 'Head'.
      const action = op.operationId.split('_')[0].replace(/Head$/, '');
      expect({ action, permissions: op['x-permissions'] }).toEqual({ action, permissions: [...(expected[action] ?? ['?'])] });
      if (action === 'getRecoveryKey') expect(op['x-key-permissions']).toEqual([...permissionsFor.readKey]);
    }
  });

  it("carries the headers the contract promises, and Graph's error shape on every error", () => {
    const statuses = new Set<string>();
    for (const [p, method, op] of allOperations()) {
      const names = parametersOf(doc.paths[p], op).map((param) => param.name);
      expect(names).toContain('client-request-id');
      if (method === 'PATCH' || method === 'DELETE') expect(names).toContain('If-Match');
      if (method === 'PATCH') expect(names).toContain('If-None-Match');
      for (const [status, value] of Object.entries(op.responses)) {
        statuses.add(status);
        const response = resolved<ResponseObject>(value);
        expect(Object.keys(response.headers ?? {})).toContain('request-id');
        const body = response.content?.['application/json']?.schema;
        if (Number(status) >= 400) expect(body).toEqual({ $ref: '#/components/schemas/graphError' });
        if (isReference(body) && body.$ref.endsWith('/bitlockerRecoveryKeyEntity'))
          expect(Object.keys(response.headers!)).toContain('ETag');
        if (status === '201') expect(Object.keys(response.headers!)).toContain('Location');
      }
    }
    for (const status of ['200', '201', '204', '400', '401', '403', '404', '409', '412', '413', '415', '429', '500', '503']) {
      expect(statuses).toContain(status);
    }
    // 405 belongs to methods the document does not list, so it is a component named by the paths.
    expect(resolved<ResponseObject>(doc.components.responses.methodNotAllowed).headers).toHaveProperty('Allow');
  });
});
