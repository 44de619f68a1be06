import { RouteTable, decodePathSegment, matchRoute, splitPath } from '../../scripts/devhost/host/routeTable';
import { RouteTemplateError, parseRouteTemplate, withRoutePrefix } from '../../scripts/devhost/host/routeTemplate';

const ALL = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

function match(template: string, path: string): Record<string, string> | undefined {
  return matchRoute(parseRouteTemplate(template), path);
}

describe('route templates: matching', () => {
  it('matches literal segments case-insensitively', () => {
    expect(match('v1.0/informationProtection/bitlocker', '/V1.0/INFORMATIONPROTECTION/BitLocker')).toEqual({});
  });

  it('does not match a path with a different literal', () => {
    expect(match('v1.0/recoveryKeys', '/v1.0/recoveryKey')).toBeUndefined();
  });

  it('does not match a path with more or fewer segments than the template', () => {
    expect(match('a/b', '/a')).toBeUndefined();
    expect(match('a/b', '/a/b/c')).toBeUndefined();
  });

  it('ignores one trailing slash on the request path', () => {
    expect(match('a/{id}', '/a/1/')).toEqual({ id: '1' });
  });

  it('does not let a parameter match an empty segment', () => {
    expect(match('a/{id}/b', '/a//b')).toBeUndefined();
  });

  it('binds parameters by the name written in the template', () => {
    expect(match('keys/{keyId}/devices/{deviceId}', '/keys/k1/devices/d2')).toEqual({ keyId: 'k1', deviceId: 'd2' });
  });

  it('percent-decodes parameter values, including UTF-8 sequences', () => {
    expect(match('a/{name}', '/a/hello%20w%C3%B6rld')).toEqual({ name: 'hello wörld' });
  });

  it('keeps an encoded slash encoded, as Kestrel does, so it never splits a segment', () => {
    expect(match('a/{name}', '/a/x%2Fy')).toEqual({ name: 'x%2Fy' });
  });

  it('matches encoded literal characters after decoding', () => {
    expect(match('v1.0/keys', '/v1%2E0/keys')).toEqual({});
  });

  it('leaves a malformed percent sequence as it was', () => {
    expect(decodePathSegment('bad%E0%A4zz')).toBe('bad%E0%A4zz');
  });

  it('lets an optional trailing parameter be absent or present', () => {
    expect(match('items/{id?}', '/items')).toEqual({});
    expect(match('items/{id?}', '/items/7')).toEqual({ id: '7' });
  });

  it('gives a catch-all the rest of the path, slashes included', () => {
    expect(match('files/{*path}', '/files/a/b%20c/d')).toEqual({ path: 'a/b c/d' });
  });

  it('lets a catch-all match no segments at all, without binding a value', () => {
    expect(match('{*path}', '/')).toEqual({});
    expect(match('files/{**path}', '/files')).toEqual({});
  });

  it('treats a template of only a catch-all as matching any path', () => {
    expect(match('{*path}', '/v1.0/nothing/here')).toEqual({ path: 'v1.0/nothing/here' });
  });
});

describe('route templates: registration errors', () => {
  it.each([
    // Inline constraints are not supported (the app uses none): refused, never ignored.
    ['a constraint', 'a/{id:guid}'],
    ['a constraint on a catch-all', 'f/{*rest:regex(^[a-z/]+$)}'],
    ['doubled braces', 'a/{{x}}'],
    ['an optional parameter before the last segment', 'a/{id?}/b'],
    ['a catch-all before the last segment', '{*rest}/b'],
    ['a parameter name used twice', '{id}/x/{ID}'],
    ['a literal and a parameter in one segment', 'files/{name}.json'],
    ['an unclosed brace', 'a/{id'],
    ['a stray closing brace', 'a/id}'],
    ['an empty segment', 'a//b'],
    ['a default value', 'a/{id=5}'],
    ['an optional catch-all', '{*rest?}'],
  ])('rejects %s', (_label, template) => {
    expect(() => parseRouteTemplate(template)).toThrow(RouteTemplateError);
  });

  it('accepts a leading slash and a trailing slash on the template', () => {
    expect(match('/a/b/', '/a/b')).toEqual({});
  });
});

describe('route table: precedence and methods', () => {
  it('tries a literal route before a parameter route registered earlier', () => {
    const table = new RouteTable<string>();
    table.add('keys/{id}', ['GET'], 'item');
    table.add('keys/delta', ['GET'], 'delta');
    expect(table.match('GET', '/keys/delta')?.target).toBe('delta');
    expect(table.match('GET', '/keys/other')?.target).toBe('item');
  });

  it('tries a plain parameter before a catch-all in the same position', () => {
    const table = new RouteTable<string>();
    table.add('{*path}', ['GET'], 'fallback');
    table.add('{tenant}', ['GET'], 'tenant');
    expect(table.match('GET', '/contoso')?.target).toBe('tenant');
    expect(table.match('GET', '/contoso/more')?.target).toBe('fallback');
  });

  it('lets a catch-all fallback registered first lose to every real route', () => {
    const table = new RouteTable<string>();
    table.add('{*path}', ALL, 'notFound');
    table.add('v1.0/informationProtection/bitlocker/recoveryKeys', ALL, 'collection');
    table.add('v1.0/informationProtection/bitlocker/recoveryKeys/{id}', ALL, 'item');
    expect(table.match('GET', '/v1.0/informationProtection/bitlocker/recoveryKeys')?.target).toBe('collection');
    expect(table.match('PATCH', '/v1.0/informationProtection/bitlocker/recoveryKeys/abc')?.target).toBe('item');
    expect(table.match('GET', '/v1.0/informationProtection/bitlocker/nothing')?.target).toBe('notFound');
    expect(table.match('GET', '/')?.target).toBe('notFound');
  });

  it('tries the root route and an exact template before a catch-all that would match them with nothing', () => {
    for (const order of [
      ['{*path}', ''],
      ['', '{*path}'],
    ]) {
      const table = new RouteTable<string>();
      for (const template of order) table.add(template, ALL, template === '' ? 'root' : 'notFound');
      table.add('files', ALL, 'files');
      table.add('files/{*rest}', ALL, 'rest');
      expect(table.match('GET', '/')?.target).toBe('root');
      expect(table.match('GET', '/elsewhere')?.target).toBe('notFound');
      expect(table.match('GET', '/files')?.target).toBe('files');
      expect(table.match('GET', '/files/a/b')?.target).toBe('rest');
    }
  });

  it('tries a longer template before its own prefix with an optional tail', () => {
    const table = new RouteTable<string>();
    table.add('a/{x?}', ['GET'], 'optional');
    table.add('a/b/c', ['GET'], 'long');
    expect(table.match('GET', '/a/b/c')?.target).toBe('long');
    expect(table.match('GET', '/a/b')?.target).toBe('optional');
  });

  it('keeps registration order between routes of equal precedence', () => {
    const table = new RouteTable<string>();
    table.add('a/{x}', ['GET'], 'first');
    table.add('a/{y}', ['GET'], 'second');
    expect(table.match('GET', '/a/1')?.target).toBe('first');
  });

  it('skips a route whose template matches but whose methods do not include the request method', () => {
    const table = new RouteTable<string>();
    table.add('keys/{id}', ['GET'], 'get');
    table.add('{*path}', ['POST'], 'fallback');
    expect(table.match('POST', '/keys/1')?.target).toBe('fallback');
    expect(table.match('DELETE', '/keys/1')).toBeUndefined();
  });

  it('compares methods case-insensitively', () => {
    const table = new RouteTable<string>();
    table.add('keys', ['get'], 'keys');
    expect(table.match('GET', '/keys')?.target).toBe('keys');
    expect(table.match('get', '/keys')?.target).toBe('keys');
  });

  it('treats an empty method list as every method', () => {
    const table = new RouteTable<string>();
    table.add('keys', [], 'keys');
    expect(table.match('PROPFIND', '/keys')?.target).toBe('keys');
  });

  it('returns the decoded route values with the match', () => {
    const table = new RouteTable<string>();
    table.add('keys/{id}', ['GET'], 'item');
    expect(table.match('GET', '/keys/a%20b')?.params).toEqual({ id: 'a b' });
  });
});

describe('path helpers', () => {
  it('splits the root path into no segments', () => {
    expect(splitPath('/')).toEqual([]);
    expect(splitPath('')).toEqual([]);
  });

  it('prefixes routes with host.json routePrefix, or not at all when it is empty', () => {
    expect(withRoutePrefix('', 'v1.0/keys')).toBe('v1.0/keys');
    expect(withRoutePrefix('api', 'v1.0/keys')).toBe('api/v1.0/keys');
    expect(withRoutePrefix('/api/', '/v1.0/keys')).toBe('api/v1.0/keys');
  });
});
