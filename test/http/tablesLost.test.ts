import { TableServiceClient } from '@azure/data-tables';
import { startAzuriteTables, type RunningAzurite } from '../../scripts/devhost/azurite';
import { startLocalHost, stopLocalHosts, type LocalHost } from '../../scripts/devhost/localHost';
import { DIRECTORY_AUDITS, AUDIT_READ } from '../support/audit';
import { callOn, expectGraphError, READ_BASIC, tokenWith, WRITE } from '../support/client';
import { keyBody } from '../support/fixtures';
import { item } from '../support/keys';
import { TABLES } from '../../shared/storage/layout';

// Tables that vanish under a running service (a storage account recreated, an in-memory Azurite
// restarted): storage's TableNotFound is not a key's absence. The requests that meet it answer 503
// with Retry-After, never 404 or 500, and the service creates the tables again by itself.

let azurite: RunningAzurite;
let host: LocalHost;

beforeAll(async () => {
  azurite = await startAzuriteTables({ port: 0, inMemory: true, silent: true });
  host = await startLocalHost({ STORAGE_CONNECTION_STRING: azurite.connectionString });
}, 60_000);

afterAll(async () => {
  await stopLocalHosts();
  await azurite?.stop();
}, 30_000);

it('answers 503 while the tables are missing, then recreates them', async () => {
  const [writer, reader, auditor] = await Promise.all([tokenWith(WRITE), tokenWith(READ_BASIC), tokenWith(AUDIT_READ)]);
  const before = keyBody();
  expect((await callOn(host.url, 'PATCH', item(before.id!), { token: writer, body: before })).status).toBe(200);

  const service = TableServiceClient.fromConnectionString(azurite.connectionString, { allowInsecureConnection: true });
  for (const table of Object.values(TABLES)) await service.deleteTable(table);

  // The first request meets the missing table: a 503, and the service forgets every table it created,
  // so the requests after it create them again (the audit trail starts empty: storage lost it).
  expectGraphError(await callOn(host.url, 'GET', item(before.id!), { token: reader }), 503, 'serviceNotAvailable');
  const audits = await callOn(host.url, 'GET', DIRECTORY_AUDITS, { token: auditor });
  expect({ status: audits.status, value: audits.json.value }).toEqual({ status: 200, value: [] });

  const after = keyBody();
  const escrowed = await callOn(host.url, 'PATCH', item(after.id!), { token: writer, body: after });
  expect({ status: escrowed.status, id: escrowed.json.id }).toEqual({ status: 200, id: after.id });
  const read = await callOn(host.url, 'GET', item(after.id!), { token: reader });
  expect({ status: read.status, id: read.json.id, key: read.json.key }).toEqual({ status: 200, id: after.id, key: undefined });
  // The key stored before the loss is gone with its table: an honest 404 now that the table exists.
  expectGraphError(await callOn(host.url, 'GET', item(before.id!), { token: reader }), 404, 'itemNotFound');
}, 60_000);
