import '../support/functionsCore';
import { collectionHandler, itemHandler } from '../../functions/recoveryKeys';
import { notFoundHandler } from '../../functions/notFound';
import { READ, READ_BASIC, tokenWith, WRITE } from '../support/client';
import { keyBody } from '../support/fixtures';
import { bodyJson, handlerRequest, quietContext } from '../support/inProcess';
import { registeredHttpFunctions } from '../../scripts/devhost/host/functionsCore';

// The handlers called directly with the library's own request and context objects, as the Functions
// worker calls them; storage is the test run's Azurite.

const logs: string[] = [];
const context = () => quietContext('test', logs);

describe('registrations', () => {
  it('registers the collection and item of every path form, and a catch-all last resort', () => {
    const routes = registeredHttpFunctions()
      .map((f) => f.route)
      .sort();
    expect(routes).toEqual(
      [
        '{*path}',
        ...['', 'v1.0/', 'beta/'].flatMap((v) =>
          ['bitlocker/recoveryKeys', 'informationProtection/bitlocker/recoveryKeys'].flatMap((p) => [`${v}${p}`, `${v}${p}/{id}`]),
        ),
      ].sort(),
    );
    for (const fn of registeredHttpFunctions()) expect(fn.authLevel).toBe('anonymous');
  });
});

describe('recovery key handlers, called as the worker calls them', () => {
  it('PATCH on the collection stores the key and returns it with an ETag', async () => {
    const body = keyBody();
    const response = await collectionHandler(
      handlerRequest('PATCH', '/v1.0/bitlocker/recoveryKeys', await tokenWith(WRITE), body),
      context(),
    );
    expect(response.status).toBe(200);
    const json = bodyJson(response);
    expect(json).toMatchObject({ id: body.id, key: body.key, deviceId: body.deviceId });
    expect((response.headers as Record<string, string>).ETag).toBe(json['@odata.etag']);
  });

  it('GET on an item returns metadata without the key, and the key only to Read.All with $select=key', async () => {
    const body = keyBody();
    await collectionHandler(handlerRequest('PATCH', '/bitlocker/recoveryKeys', await tokenWith(WRITE), body), context());
    const path = `/bitlocker/recoveryKeys/${body.id}`;
    const metadata = bodyJson(await itemHandler(handlerRequest('GET', path, await tokenWith(READ_BASIC), undefined, body.id), context()));
    expect(metadata.id).toBe(body.id);
    expect(metadata).not.toHaveProperty('key');
    const refused = await itemHandler(
      handlerRequest('GET', `${path}?$select=key`, await tokenWith(READ_BASIC), undefined, body.id),
      context(),
    );
    expect(refused.status).toBe(403);
    const withKey = bodyJson(
      await itemHandler(handlerRequest('GET', `${path}?$select=key`, await tokenWith(READ), undefined, body.id), context()),
    );
    expect(withKey.key).toBe(body.key);
  });

  it('refuses a PATCH without a token before reading the body', async () => {
    const response = await collectionHandler(handlerRequest('PATCH', '/bitlocker/recoveryKeys', undefined, { nonsense: 1 }), context());
    expect(response.status).toBe(401);
    expect(bodyJson(response).error.code).toBe('InvalidAuthenticationToken');
  });

  it('answers a method the item does not support with 405 and Allow', async () => {
    const response = await itemHandler(handlerRequest('PUT', '/bitlocker/recoveryKeys/x', await tokenWith(WRITE), {}), context());
    expect(response.status).toBe(405);
    expect((response.headers as Record<string, string>).Allow).toBe('GET, HEAD, PATCH, DELETE');
  });

  it('answers paths no function serves with a Graph 404', async () => {
    const response = await notFoundHandler(handlerRequest('GET', '/nowhere', undefined), context());
    expect(response.status).toBe(404);
    expect(bodyJson(response).error.code).toBe('itemNotFound');
  });

  it('never writes the key or the token into its log lines', async () => {
    const token = await tokenWith(WRITE);
    const body = keyBody();
    logs.length = 0;
    await collectionHandler(handlerRequest('PATCH', '/bitlocker/recoveryKeys', token, body), context());
    expect(logs.length).toBeGreaterThan(0);
    for (const line of logs) {
      expect(line).not.toContain(body.key);
      expect(line).not.toContain(token);
    }
  });
});
