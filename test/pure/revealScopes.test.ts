import { randomUUID } from 'node:crypto';
import { ConfigError, readSettings } from '../../shared/config';
import { parseRevealScopes } from '../../shared/reveal/scopeRules';
import { TtlCache } from '../../shared/reveal/ttlCache';

// REVEAL_SCOPES as the app loads it: rules in, or a refusal that names the setting and where the
// fault is (rule, line, column), never the value.

const A = randomUUID();
const B = randomUUID();

const refusalOf = (text: string): string => {
  try {
    readSettings({ REVEAL_SCOPES: text });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('the settings were accepted');
};

it('reads rules, lower-casing ids, approval false unless said', () => {
  expect(readSettings({ REVEAL_SCOPES: `[{"callerGroups":["${A.toUpperCase()}"],"deviceGroups":["${B}"]}]` }).revealScopes).toEqual([
    { callerGroups: [A], deviceGroups: [B], approval: false },
  ]);
  expect(parseRevealScopes(`[{"callerGroups":["${A}"],"deviceGroups":["${B}"],"approval":true}]`)[0].approval).toBe(true);
  expect(readSettings({}).revealScopes).toBeUndefined();
});

it.each([
  [
    'a syntax error, at its line and column',
    `[\n  {"callerGroups": ["${A}"],\n   "deviceGroups": ["${B}"]}\n  {}\n]`,
    /^REVEAL_SCOPES is not valid JSON at line 4, column 3$/,
  ],
  ['JSON cut short', `[{"callerGroups": ["${A}"]`, /^REVEAL_SCOPES is not valid JSON at line 1, column \d+$/],
  ['not an array', '{}', /^REVEAL_SCOPES must be a JSON array of rules/],
  ['a rule that is not an object', `[\n  1\n]`, /^REVEAL_SCOPES rule 1 \(at line 2, column 3\): must be an object$/],
  [
    'an empty list of groups',
    `[{"callerGroups": ["${A}"], "deviceGroups": ["${B}"]},\n {"callerGroups": [], "deviceGroups": ["${B}"]}]`,
    /^REVEAL_SCOPES rule 2 \(at line 2, column 2\): "callerGroups" must be a non-empty array/,
  ],
  [
    'a group id that is not a GUID',
    `[{"callerGroups": ["${A}"], "deviceGroups": ["Brazil"]}]`,
    /rule 1 \(at line 1, column 2\): "deviceGroups"\[0\] must be an Entra object id/,
  ],
  ['an unknown property', `[{"callerGroups": ["${A}"], "deviceGroups": ["${B}"], "aproval": true}]`, /"aproval" is not a rule property/],
  [
    'approval not a boolean',
    `[{"callerGroups": ["${A}"], "deviceGroups": ["${B}"], "approval": "yes"}]`,
    /"approval" must be true or false/,
  ],
])('refuses %s, naming where', (_what, text, message) => {
  const refused = refusalOf(text);
  expect(refused).toMatch(message);
  expect(refused).not.toContain(B);
});

it('refuses REVEAL_APPROVAL and REVEAL_APPROVAL_HOURS out of their values, by name', () => {
  expect(() => readSettings({ REVEAL_APPROVAL: 'always' })).toThrow("REVEAL_APPROVAL must be 'required' or 'rules'");
  expect(() => readSettings({ REVEAL_APPROVAL_HOURS: '0' })).toThrow('REVEAL_APPROVAL_HOURS must be a whole number from 1 to 168');
  expect(readSettings({}).revealApprovalHours).toBe(8);
  expect(readSettings({ SELF_SERVICE_REVEAL: 'true', REVEAL_APPROVAL: 'required' })).toMatchObject({
    selfServiceReveal: true,
    revealApproval: 'required',
  });
});

describe('TtlCache', () => {
  it('keeps a value its lifetime, never a failure, and shares one fetch among concurrent asks', async () => {
    let now = 0;
    const cache = new TtlCache<number>(1_000, 10, () => now);
    let fetches = 0;
    const fetch = () => Promise.resolve(++fetches);
    expect(await Promise.all([cache.get('a', fetch), cache.get('a', fetch)])).toEqual([1, 1]);
    now = 999;
    expect(await cache.get('a', fetch)).toBe(1);
    now = 1_000;
    expect(await cache.get('a', fetch)).toBe(2);
    await expect(cache.get('b', () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(await cache.get('b', fetch)).toBe(3);
  });
});
