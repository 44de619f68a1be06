import { expect } from '@jest/globals';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalPathAndQuery, canonicalString } from '../../shared/auth/device/canonical';
import { vectors } from '../support/deviceVectors';

// Line 3 of the EntraDevice canonical string is the path and query in one canonical form
// (test/vectors/canonical-path.json), so that a device's proof survives the re-escaping done on the
// way: the service parses the request line with WHATWG URL, which escapes a raw `'` in a query.

interface Case {
  why: string;
  sent: string;
  canonical: string;
}
const { cases } = JSON.parse(readFileSync(join(__dirname, '../vectors/canonical-path.json'), 'utf8')) as { cases: Case[] };

/** What the service signs for a request line: WHATWG URL's path and query, canonical. */
const asTheServiceSeesIt = (target: string): string => {
  const url = new URL(target, 'https://escrow.example');
  return canonicalPathAndQuery(`${url.pathname}${url.search}`);
};

it.each(cases.map((c) => [c.why, c] as const))('%s', (_, c) => {
  expect(canonicalPathAndQuery(c.sent)).toBe(c.canonical);
  expect(canonicalPathAndQuery(c.canonical)).toBe(c.canonical);
});

it('a raw quote and %27 sign the same canonical string; the vectors are already canonical', () => {
  const raw = vectors.accepted.find((v) => v.pathAndQuery.includes("'"));
  expect(raw?.canonical.split('\n')[2]).toBe(vectors.accepted[0].pathAndQuery);
  for (const vector of vectors.accepted) {
    expect(canonicalString({ ...vector, body: Buffer.from(vector.body, 'utf8') })).toBe(vector.canonical);
  }
});

it('the service reaches the client’s canonical form for any query, whatever it leaves raw', () => {
  // What can stand on a request line: no controls or spaces (they end it), no '#' (it ends the target for any parser).
  const special = fc.constantFrom(...'\'!*()%~"<>`{}|^[]\\$&=+;:@,/?');
  const queryText = fc.array(fc.oneof(special, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }))).map((parts) => parts.join(''));
  fc.assert(
    fc.property(
      queryText.filter((q) => ![...q].some((c) => c === '#' || c <= ' ' || c === '\x7f')),
      (query) => {
        const target = `/v1.0/informationProtection/bitlocker/recoveryKeys?${query}`;
        const client = canonicalPathAndQuery(target);
        expect(asTheServiceSeesIt(target)).toBe(client);
        expect(asTheServiceSeesIt(client)).toBe(client);
        expect(canonicalPathAndQuery(client)).toBe(client);
      },
    ),
    { numRuns: 500 },
  );
});
