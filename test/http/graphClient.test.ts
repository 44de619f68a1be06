import {
  type AuthProviderCallback,
  Client,
  type Context,
  GraphError,
  HTTPMessageHandler,
  type Middleware,
} from '@microsoft/microsoft-graph-client';
import { baseUrl, READ, READ_BASIC, tokenWith, WRITE, type GraphJson } from '../support/client';
import { keyBody, newId } from '../support/fixtures';
import { escrowKeys, keyBodies, sorted } from '../support/keys';

// Microsoft's own Graph JavaScript SDK (@microsoft/microsoft-graph-client 3.0.7) against the local host:
// the same calls a Graph user makes, with only the base URL changed.
//
// One thing the SDK does not do over plain http: its AuthenticationHandler attaches the bearer token
// only to https URLs of graph.microsoft.com or of a `customHosts` entry, compared by hostname without
// the port (isValidEndpoint in src/GraphRequestUtil.ts), and strips any Authorization header
// otherwise. A deployed Function App is https, where Client.init with customHosts: [its hostname]
// works as is. Against the plain-http local host, the client is built with the SDK's documented
// custom middleware chain instead: a few lines that add the token, then the SDK's own
// HTTPMessageHandler (global fetch; Node 20 needs no polyfill). Request building, query options,
// response parsing and GraphError are all the SDK's.

const COLLECTION = '/informationProtection/bitlocker/recoveryKeys';

/** Adds the bearer token to every request, whatever its scheme. */
class BearerToken implements Middleware {
  private next?: Middleware;

  constructor(private readonly token: string) {}

  async execute(context: Context): Promise<void> {
    const options = (context.options ??= {});
    const authorization = `Bearer ${this.token}`;
    if (options.headers instanceof Headers) options.headers.set('Authorization', authorization);
    else options.headers = { ...(options.headers as Record<string, string> | undefined), Authorization: authorization };
    await this.next!.execute(context);
  }

  setNext(next: Middleware): void {
    this.next = next;
  }
}

function graphClient(token: string): Client {
  return Client.initWithMiddleware({
    baseUrl: baseUrl(),
    defaultVersion: 'v1.0',
    middleware: [new BearerToken(token), new HTTPMessageHandler()],
  });
}

async function graphErrorOf(request: Promise<unknown>): Promise<GraphError> {
  const error = await request.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GraphError);
  return error as GraphError;
}

let writer: string;
let reader: string;
let basicReader: string;
beforeAll(async () => {
  [writer, reader, basicReader] = await Promise.all([tokenWith(WRITE), tokenWith(READ), tokenWith(READ_BASIC)]);
});

describe('the Microsoft Graph JavaScript SDK against the escrow service', () => {
  const deviceId = newId();
  let escrowed: ReturnType<typeof keyBody>[];
  beforeAll(async () => {
    escrowed = await escrowKeys(writer, keyBodies(3, { deviceId }));
  });

  it("lists a device's keys with .filter(), without the key, under v1.0 and beta", async () => {
    const client = graphClient(basicReader);
    const response = (await client.api(COLLECTION).filter(`deviceId eq '${deviceId}'`).get()) as GraphJson;
    expect(sorted(response.value.map((k) => k.id))).toEqual(sorted(escrowed.map((k) => k.id!)));
    for (const item of response.value) {
      expect(item).not.toHaveProperty('key');
      expect(item.deviceId).toBe(deviceId);
    }
    expect(response['@odata.context']).toBe(`${baseUrl()}/v1.0/$metadata#informationProtection/bitlocker/recoveryKeys`);

    const beta = (await client
      .api(COLLECTION)
      .version('beta')
      .filter(`deviceId eq '${deviceId}'`)
      .select(['id', 'deviceId'])
      .get()) as GraphJson;
    expect(beta['@odata.context']).toBe(`${baseUrl()}/beta/$metadata#informationProtection/bitlocker/recoveryKeys(id,deviceId)`);
    expect(beta.value).toHaveLength(3);
  });

  it('pages with .top(): the response carries @odata.nextLink on the same origin', async () => {
    const response = (await graphClient(basicReader).api(COLLECTION).filter(`deviceId eq '${deviceId}'`).top(2).get()) as GraphJson;
    expect(response.value).toHaveLength(2);
    expect(response['@odata.nextLink']).toMatch(new RegExp(`^${baseUrl().replace(/[.]/g, '\\.')}/v1\\.0/informationProtection/`));
  });

  it(".select('key') on one key returns the key, and only the key, to Read.All; .select([...]) adds properties", async () => {
    const [key] = escrowed;
    const response = (await graphClient(reader).api(`${COLLECTION}/${key.id}`).select('key').get()) as GraphJson;
    expect(response).toMatchObject({ key: key.key });
    expect(response).not.toHaveProperty('deviceId');
    const more = (await graphClient(reader)
      .api(`${COLLECTION}/${key.id}`)
      .select(['key', 'id', 'deviceId', 'volumeType'])
      .get()) as GraphJson;
    expect(more).toMatchObject({ id: key.id, deviceId, key: key.key, volumeType: 'operatingSystemVolume' });
    expect(response).not.toHaveProperty('value');
  });

  it("surfaces the service's 403 as a GraphError with statusCode 403 and code authorization_error", async () => {
    const [key] = escrowed;
    const error = await graphErrorOf(graphClient(basicReader).api(`${COLLECTION}/${key.id}`).select('key').get());
    expect(error.statusCode).toBe(403);
    expect(error.code).toBe('authorization_error');
    expect(error.message).toMatch(/BitLockerKey\.Read\.All/);
    expect(error.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(error.headers?.get('request-id')).toBe(error.requestId);
    expect(error.body).not.toContain(key.key);
  });

  it("escrows with the seed's PATCH through .api('/bitlocker/recoveryKeys').patch(body)", async () => {
    const body = keyBody({ volumeType: '1' });
    const stored = (await graphClient(writer).api('/bitlocker/recoveryKeys').patch(body)) as GraphJson;
    expect(stored).toMatchObject({ id: body.id, deviceId: body.deviceId, key: body.key, volumeType: 'operatingSystemVolume' });
    const read = (await graphClient(reader).api(`${COLLECTION}/${body.id}`).select('key').get()) as GraphJson;
    expect(read.key).toBe(body.key);
  });

  it('creates with .post(), deletes with .delete(), and reports the absent key as a 404 GraphError', async () => {
    const body = keyBody();
    const client = graphClient(writer);
    const created = (await client.api(COLLECTION).post(body)) as GraphJson;
    expect(created).toMatchObject({ id: body.id, key: body.key });
    const conflict = await graphErrorOf(client.api(COLLECTION).post(body));
    expect({ statusCode: conflict.statusCode, code: conflict.code }).toEqual({ statusCode: 409, code: 'conflict' });
    await client.api(`${COLLECTION}/${body.id}`).delete();
    const gone = await graphErrorOf(client.api(`${COLLECTION}/${body.id}`).get());
    expect({ statusCode: gone.statusCode, code: gone.code }).toEqual({ statusCode: 404, code: 'itemNotFound' });
  });

  it('with Client.init and customHosts over plain http, the SDK sends no token and the service answers 401', async () => {
    const authProvider = jest.fn((done: AuthProviderCallback) => done(null, reader));
    const client = Client.init({
      authProvider,
      baseUrl: baseUrl(),
      defaultVersion: 'v1.0',
      // The SDK compares hostnames without the port, and https URLs only.
      customHosts: new Set([new URL(baseUrl()).hostname]),
    });
    const error = await graphErrorOf(client.api(COLLECTION).filter(`deviceId eq '${deviceId}'`).get());
    expect({ statusCode: error.statusCode, code: error.code }).toEqual({ statusCode: 401, code: 'InvalidAuthenticationToken' });
    expect(authProvider).not.toHaveBeenCalled();
  });
});
