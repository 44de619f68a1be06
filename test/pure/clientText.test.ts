import { clientText } from '../../shared/clientText';
import { boundedEvent, MAX_CLIENT_HEADER, MAX_RESULT_REASON, MAX_USER_AGENT } from '../../shared/audit/bounded';
import type { AuditEvent } from '../../shared/audit/model';

const KEY = '496298-461032-321464-595518-463221-173943-033616-139579';

describe('clientText: client text as an audit record holds it', () => {
  it('keeps ordinary text as it is, non-Latin scripts and emoji included', () => {
    expect(clientText('Mozilla/5.0 (Windows NT 10.0; Win64; x64) Ünïcødé 日本語 🔑', 256)).toBe(
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Ünïcødé 日本語 🔑',
    );
  });

  it.each([
    ['NUL', 'a\u0000b', 'a\\u0000b'],
    ['CR LF', 'line1\r\nInjected: yes', 'line1\\u000d\\u000aInjected: yes'],
    ['ESC (terminal sequences)', '\u001b[31mred', '\\u001b[31mred'],
    ['DEL and C1', '\u007f\u0085\u009b', '\\u007f\\u0085\\u009b'],
    ['right-to-left override', 'invoice\u202Efdp.exe', 'invoice\\u202efdp.exe'],
    ['bidi isolates and marks', '\u2066a\u2069\u200e\u200f\u061c', '\\u2066a\\u2069\\u200e\\u200f\\u061c'],
    ['line and paragraph separators', 'a\u2028b\u2029c', 'a\\u2028b\\u2029c'],
    ['zero-width space and BOM', '\u200bx\ufeff', '\\u200bx\\ufeff'],
    ['a lone surrogate', 'x\ud800y', 'x\\ud800y'],
    ['nothing of an escape already made (bounding twice changes nothing)', 'C:\\u202e', 'C:\\u202e'],
  ])('escapes %s', (_what, text, expected) => {
    expect(clientText(text, 256)).toBe(expected);
  });

  it('is idempotent: text bounded again (as a stored record is shown) stays as it was', () => {
    for (const text of ['a\u0000b\u202e\\u0041', `Evil${Buffer.from('\u202e').toString('latin1')}${'A'.repeat(500)}`, '🔑'.repeat(200)]) {
      const once = clientText(text, 64);
      expect(clientText(once, 64)).toBe(once);
    }
  });

  it('masks a recovery password and a token before anything else, even with control characters between its groups', () => {
    const masked = clientText(`key ${KEY.replace(/-/g, '\u0000')} and eyJhbGciOiJSUzI1NiJ9.eyJvaWQiOiJ4In0.c2ln`, 256);
    expect(masked).toBe('key [recovery password] and [token]');
  });

  it('cuts to the limit with an ellipsis, never splitting an escape or a surrogate pair', () => {
    for (let limit = 2; limit < 40; limit++) {
      for (const text of ['a'.repeat(100), '\u202e'.repeat(50), '🔑'.repeat(50), `ab${'\u0000🔑'.repeat(30)}`]) {
        const out = clientText(text, limit);
        expect(out.length).toBeLessThanOrEqual(limit);
        expect(out.endsWith('…')).toBe(true);
        const body = out.slice(0, -1);
        // Only whole escapes and whole pairs before the ellipsis.
        expect(body.replace(/\\u[0-9a-f]{4}/g, '')).not.toMatch(/\\/);
        expect(body).not.toMatch(/[\ud800-\udbff]$/);
      }
    }
    expect(clientText('x'.repeat(10), 10)).toBe('x'.repeat(10));
    expect(clientText('x'.repeat(11), 10)).toBe(`${'x'.repeat(9)}…`);
  });

  it('bounds every client text of an event to its stated length', () => {
    const huge = '\u202e'.repeat(5_000);
    const event: AuditEvent = {
      id: 'e',
      activity: 'read',
      at: new Date(),
      result: 'failure',
      resultReason: `400 badRequest: ${huge}`,
      source: {
        caller: { delegated: false, permissions: new Set() },
        requestId: 'r',
        userAgent: huge,
        clientName: huge,
        clientVersion: huge,
        revealReason: huge,
        revealTicket: huge,
      },
    };
    const bounded = boundedEvent(event);
    expect(bounded.resultReason.length).toBeLessThanOrEqual(MAX_RESULT_REASON);
    expect(bounded.source.userAgent!.length).toBeLessThanOrEqual(MAX_USER_AGENT);
    expect(bounded.source.clientName!.length).toBeLessThanOrEqual(MAX_CLIENT_HEADER);
    const all = [bounded.resultReason, ...Object.values(bounded.source).filter((v): v is string => typeof v === 'string')].join('');
    expect(all.length).toBeLessThan(1_300);
    expect(all).not.toMatch(/[\u202e]/);
  });
});
