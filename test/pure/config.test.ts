import { ConfigError, DEVELOPMENT_STORAGE, readSettings } from '../../shared/config';
import { describeStorageCall } from '../../shared/storage/failure';

// Settings added for running in Azure: where storage is, the public base of links, and local modes refused there.

describe('storage settings', () => {
  it('defaults to development storage', () => {
    expect(readSettings({}).storage).toEqual({ connectionString: DEVELOPMENT_STORAGE });
  });

  it('takes STORAGE_TABLE_ENDPOINT as an https endpoint, without a trailing slash', () => {
    expect(readSettings({ STORAGE_TABLE_ENDPOINT: 'https://escrow.table.core.windows.net/' }).storage).toEqual({
      tableEndpoint: 'https://escrow.table.core.windows.net',
    });
    // Azurite's path-style endpoint names the account in its path.
    expect(readSettings({ STORAGE_TABLE_ENDPOINT: 'https://127.0.0.1:10002/devstoreaccount1' }).storage).toEqual({
      tableEndpoint: 'https://127.0.0.1:10002/devstoreaccount1',
    });
  });

  it.each([
    ['http://escrow.table.core.windows.net', /STORAGE_TABLE_ENDPOINT must be an https URL/],
    ['escrow.table.core.windows.net', /STORAGE_TABLE_ENDPOINT must be an absolute URL/],
    ['https://escrow.table.core.windows.net/RecoveryKeys', /table service's endpoint/],
    ['https://escrow.table.core.windows.net/?sv=2024&sig=abc', /must not carry a query/],
  ])('refuses STORAGE_TABLE_ENDPOINT=%s', (value, message) => {
    expect(() => readSettings({ STORAGE_TABLE_ENDPOINT: value })).toThrow(message);
  });

  it('refuses both storage settings, naming both and neither value', () => {
    const secret = 'AccountKey=c2VjcmV0';
    const attempt = () => readSettings({ STORAGE_TABLE_ENDPOINT: 'https://a.table.core.windows.net', STORAGE_CONNECTION_STRING: secret });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/STORAGE_CONNECTION_STRING .*STORAGE_TABLE_ENDPOINT/);
    expect(attempt).not.toThrow(/c2VjcmV0/);
  });
});

describe('PUBLIC_BASE_URL', () => {
  it('is kept with its path and without a trailing slash', () => {
    expect(readSettings({ PUBLIC_BASE_URL: 'https://api.contoso.com/escrow/' }).publicBaseUrl).toBe('https://api.contoso.com/escrow');
    expect(readSettings({ PUBLIC_BASE_URL: 'https://API.contoso.com' }).publicBaseUrl).toBe('https://api.contoso.com');
    expect(readSettings({}).publicBaseUrl).toBeUndefined();
  });

  it.each(['http://api.contoso.com', 'https://api.contoso.com/?a=b', 'https://user:pw@api.contoso.com', 'not a url'])(
    'refuses %s',
    (value) => {
      expect(() => readSettings({ PUBLIC_BASE_URL: value })).toThrow(/PUBLIC_BASE_URL/);
    },
  );
});

describe('local modes in Azure', () => {
  it.each(['WEBSITE_SITE_NAME', 'WEBSITE_POD_NAME', 'LEGION_SERVICE_HOST', 'CONTAINER_APP_NAME'])(
    'refuses the local modes under any hosted Functions runtime: %s set',
    (variable) => {
      expect(() => readSettings({ AUTH_MODE: 'local', [variable]: 'x' })).toThrow(`AUTH_MODE=local is refused: ${variable} is set`);
      expect(() => readSettings({ DEVICE_AUTH: 'local', [variable]: 'x' })).toThrow(`DEVICE_AUTH=local is refused: ${variable} is set`);
    },
  );

  it('refuses AUTH_MODE=local and DEVICE_AUTH=local when WEBSITE_INSTANCE_ID is set, saying why', () => {
    expect(() => readSettings({ AUTH_MODE: 'local', WEBSITE_INSTANCE_ID: 'x' })).toThrow(
      /AUTH_MODE=local is refused: WEBSITE_INSTANCE_ID is set, so this runs in Azure/,
    );
    expect(() => readSettings({ DEVICE_AUTH: 'LOCAL', WEBSITE_INSTANCE_ID: 'x' })).toThrow(/DEVICE_AUTH=local is refused/);
  });

  it('allows them outside Azure and entra mode inside', () => {
    expect(readSettings({ AUTH_MODE: 'local', DEVICE_AUTH: 'local' }).auth.mode).toBe('local');
    expect(readSettings({ AUTH_MODE: 'entra', WEBSITE_INSTANCE_ID: 'x' }).auth.mode).toBe('entra');
  });
});

describe('describeStorageCall', () => {
  it.each([
    ['GET', "https://a.table.core.windows.net/RecoveryKeys(PartitionKey='1b2c',RowKey='k')", 'GET RecoveryKeys(entity)'],
    ['GET', 'https://a.table.core.windows.net/AuditLog()?$filter=x', 'GET AuditLog(query)'],
    ['POST', 'https://a.table.core.windows.net/Tables', 'POST Tables'],
    ['POST', 'https://127.0.0.1:1/devstoreaccount1/$batch', 'POST $batch'],
  ])('%s %s is %s, with no key or id', (method, url, expected) => {
    expect(describeStorageCall({ method, url })).toBe(expected);
  });
});
