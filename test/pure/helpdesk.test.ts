import { ConfigError, readSettings } from '../../shared/config';
import { helpdeskPageConfig } from '../../shared/helpdesk/pageConfig';
import { ApiError } from '../../web/helpdesk/api';
import { explain } from '../../web/helpdesk/explain';
import { reasonInWords, REVEAL_REASONS, revealReasonHeader } from '../../web/helpdesk/reasons';
import { parseSearch } from '../../web/helpdesk/search';

// The console's pure parts: what a search box's text asks for, reasons in words, errors in words,
// and the page's configuration under each setting.

describe('parseSearch', () => {
  it.each([
    ['1A2B3C4D', { kind: 'keyPrefix', prefix: '1a2b3c4d' }],
    [' {1a2b3c4d} ', { kind: 'keyPrefix', prefix: '1a2b3c4d' }],
    ['1a2b3c4d5e', { kind: 'keyPrefix', prefix: '1a2b3c4d-5e' }],
    ['1a2b-3c4d-5e6f-70', { kind: 'keyPrefix', prefix: '1a2b3c4d-5e6f-70' }],
    ['1A2B3C4D 5E6F 7081 92A3 B4C5D6E7F809', { kind: 'guid', id: '1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809' }],
    ['{1A2B3C4D-5E6F-7081-92A3-B4C5D6E7F809}', { kind: 'guid', id: '1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809' }],
  ])('reads %j as %j', (text, expected) => {
    expect(parseSearch(text)).toEqual(expected);
  });

  it.each([
    ['', /at least the first 8/],
    ['1a2b3c4', /at least 8 characters.*7 is too few/],
    ['1a2b3c4g', /only the digits 0 to 9 and the letters A to F/],
    ['1a2b3c4d5e6f7081 92a3b4c5d6e7f8091', /33 characters; an ID has 32/],
  ])('refuses %j in words', (text, problem) => {
    const search = parseSearch(text);
    expect(search.kind === 'invalid' && search.problem).toMatch(problem);
  });
});

describe('reveal reasons', () => {
  it('offers the ten codes of X-Reveal-Reason, each in words', () => {
    expect(REVEAL_REASONS.map((r) => r.code).sort()).toEqual(
      [
        'bootConfigurationChanged',
        'dataRecovery',
        'firmwareChanged',
        'lostPassphrase',
        'lostPin',
        'lostSmartCard',
        'lostStartupKey',
        'operatingSystemFilesModified',
        'other',
        'tpmReset',
      ].sort(),
    );
    expect(REVEAL_REASONS.every((r) => r.words.length > 5 && r.words !== r.code)).toBe(true);
  });

  it('sends the code alone or followed by the details, and reads a recorded reason back in words', () => {
    expect(revealReasonHeader('lostPin', '  ')).toBe('lostPin');
    expect(revealReasonHeader('other', ' laptop swapped ')).toBe('other:laptop swapped');
    expect(reasonInWords('lostPin')).toBe('The user forgot the PIN');
    expect(reasonInWords('other:laptop: swapped')).toBe('Other: laptop: swapped');
    expect(reasonInWords('somethingNew')).toBe('somethingNew');
  });
});

describe('explain', () => {
  it('says what a 403, a 429 and a 503 mean, with the request-id', () => {
    expect(explain(new ApiError(403, 'Missing BitLockerKey.Read.All', 'authorization_error', 'r-1'), 'reveal recovery keys')).toEqual({
      message:
        'You may not reveal recovery keys: your account lacks the role it needs. Ask an admin if you should have it. (Missing BitLockerKey.Read.All)',
      requestId: 'r-1',
    });
    expect(explain(new ApiError(429, 'Too many', 'tooManyRequests', 'r-2', 17), 'reveal recovery keys')).toEqual({
      message: 'Too many keys were revealed from your account in the last minute. Try again in 17 seconds.',
      requestId: 'r-2',
    });
    expect(explain(new ApiError(503, 'busy', 'serviceNotAvailable', 'r-3', 1), 'find keys').message).toBe(
      'The service is busy or cannot reach its storage. Try again in 1 second.',
    );
    expect(explain(new ApiError(500, 'internals', 'generalException', 'r-4'), 'find keys')).toEqual({
      message: 'The service failed. Report it to the admins with the request-id below.',
      requestId: 'r-4',
    });
  });
});

describe('helpdesk settings and page configuration', () => {
  const entra = {
    AUTH_MODE: 'entra',
    AUTH_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    AUTH_AUDIENCE: 'api://bitlocker-escrow,0b7d3f3e-2c6a-4d8e-9f10-6a1b2c3d4e5f',
    HELPDESK_CLIENT_ID: 'A1B2C3D4-0000-4000-8000-000000000001',
  };

  it('signs in locally in local mode, whatever else is set, and hides keys after 60 seconds by default', () => {
    expect(helpdeskPageConfig(readSettings({ ...entra, AUTH_MODE: 'local' }))).toEqual({ signIn: 'local', revealSeconds: 60 });
  });

  it('signs in with MSAL at the tenant, asking for the API scope, in entra mode', () => {
    expect(helpdeskPageConfig(readSettings({ ...entra, HELPDESK_REVEAL_SECONDS: '30' }))).toEqual({
      signIn: 'entra',
      revealSeconds: 30,
      clientId: 'a1b2c3d4-0000-4000-8000-000000000001',
      authority: 'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47',
      scopes: ['api://bitlocker-escrow/user_impersonation'],
    });
    const byClientId = helpdeskPageConfig(readSettings({ ...entra, AUTH_AUDIENCE: '0b7d3f3e-2c6a-4d8e-9f10-6a1b2c3d4e5f' }));
    expect(byClientId.signIn === 'entra' && byClientId.scopes).toEqual(['api://0b7d3f3e-2c6a-4d8e-9f10-6a1b2c3d4e5f/user_impersonation']);
    const chosen = helpdeskPageConfig(readSettings({ ...entra, HELPDESK_API_SCOPE: 'api://escrow/Helpdesk.Use' }));
    expect(chosen.signIn === 'entra' && chosen.scopes).toEqual(['api://escrow/Helpdesk.Use']);
  });

  it('names what is missing for an Entra sign-in, never falling back to a development one', () => {
    expect(helpdeskPageConfig(readSettings({ AUTH_MODE: 'entra' }))).toEqual({
      signIn: 'unconfigured',
      revealSeconds: 60,
      missing: ['HELPDESK_CLIENT_ID', 'AUTH_TENANT_ID', 'AUTH_AUDIENCE or HELPDESK_API_SCOPE'],
    });
  });

  it.each([
    [{ HELPDESK_CLIENT_ID: 'helpdesk' }, 'HELPDESK_CLIENT_ID'],
    [{ HELPDESK_REVEAL_SECONDS: '0' }, 'HELPDESK_REVEAL_SECONDS'],
    [{ HELPDESK_REVEAL_SECONDS: '601' }, 'HELPDESK_REVEAL_SECONDS'],
    [{ HELPDESK_REVEAL_SECONDS: '2.5' }, 'HELPDESK_REVEAL_SECONDS'],
    [{ HELPDESK_API_SCOPE: 'user_impersonation' }, 'HELPDESK_API_SCOPE'],
  ])('refuses %j, naming the setting', (env, name) => {
    expect(() => readSettings(env)).toThrow(ConfigError);
    expect(() => readSettings(env)).toThrow(name);
  });
});
