import '../support/functionsCore';
import type { HttpResponseInit } from '@azure/functions';
import { collectionHandler, itemHandler } from '../../functions/recoveryKeys';
import { resetSettings } from '../../shared/config';
import { REVEAL_REASON_CODES } from '../../shared/revealReasons';
import { AUDIT_READ, auditsOf, detailOf, newOid } from '../support/audit';
import { READ, WRITE, token, type GraphJson } from '../support/client';
import { keyBody, type KeyBody } from '../support/fixtures';
import { COLLECTION } from '../support/keys';
import { bodyJson, bodyText, handlerRequest, quietContext } from '../support/inProcess';

// X-Reveal-Reason and X-Reveal-Ticket on a key read: checked by a joi schema,
// recorded in the read's audit entry, required with REQUIRE_REVEAL_REASON=true. In-process, so that
// this file can change the setting without touching the run's shared host.

const context = () => quietContext('revealReason.test');
const requestIdOf = (response: HttpResponseInit): string => (response.headers as Record<string, string>)['request-id'];

let reader: string;
let auditor: string;
let stored: KeyBody;

const readKey = (headers: Record<string, string> = {}) =>
  itemHandler(handlerRequest('GET', `${COLLECTION}/${stored.id}?$select=key`, reader, undefined, stored.id, headers), context());

function setRequireRevealReason(value: string | undefined): void {
  if (value === undefined) delete process.env.REQUIRE_REVEAL_REASON;
  else process.env.REQUIRE_REVEAL_REASON = value;
  resetSettings();
}

/** The audit entry of the response's request. */
async function entryOf(response: HttpResponseInit) {
  const events = await auditsOf(stored.id!, auditor, "activityDisplayName eq 'Read BitLocker key'");
  const entry = events.find((event) => event.correlationId === requestIdOf(response));
  expect(entry).toBeDefined();
  return entry!;
}

/** A 400 whose message names every code, with no key in the body. */
function expectRefusedListingCodes(response: HttpResponseInit): void {
  expect(response.status).toBe(400);
  const text = bodyText(response);
  expect((JSON.parse(text) as GraphJson).error.code).toBe('badRequest');
  for (const code of REVEAL_REASON_CODES) expect(text).toContain(code);
  expect(text).not.toContain(stored.key);
}

beforeAll(async () => {
  const writer = await token({ roles: [WRITE], claims: { oid: newOid() } });
  [reader, auditor] = await Promise.all([
    token({ roles: [READ], claims: { oid: newOid() } }),
    token({ roles: [AUDIT_READ], claims: { oid: newOid() } }),
  ]);
  stored = keyBody();
  expect((await collectionHandler(handlerRequest('PATCH', COLLECTION, writer, stored), context())).status).toBe(200);
});

afterAll(() => setRequireRevealReason(undefined));

it('exports the codes from one module, in MBAM’s order', () => {
  expect(REVEAL_REASON_CODES).toEqual([
    'bootConfigurationChanged',
    'firmwareChanged',
    'operatingSystemFilesModified',
    'lostStartupKey',
    'lostPin',
    'tpmReset',
    'lostPassphrase',
    'lostSmartCard',
    'dataRecovery',
    'other',
  ]);
});

describe('by default (REQUIRE_REVEAL_REASON unset)', () => {
  beforeAll(() => setRequireRevealReason(undefined));

  it('records the reason and the ticket of a key read in its audit entry', async () => {
    const response = await readKey({ 'x-reveal-reason': 'lostPin:user locked out after a BIOS update', 'x-reveal-ticket': 'INC0012345' });
    expect(response.status).toBe(200);
    expect(bodyJson(response).key).toBe(stored.key);
    const entry = await entryOf(response);
    expect(entry.result).toBe('success');
    expect(detailOf(entry, 'RevealReason')).toBe('lostPin:user locked out after a BIOS update');
    expect(detailOf(entry, 'RevealTicket')).toBe('INC0012345');
  });

  it.each(REVEAL_REASON_CODES.map((code) => [code]))('accepts the code %s alone', async (code) => {
    const response = await readKey({ 'x-reveal-reason': code });
    expect(response.status).toBe(200);
    expect(detailOf(await entryOf(response), 'RevealReason')).toBe(code);
  });

  it('reads without a reason, and records none', async () => {
    const response = await readKey();
    expect(response.status).toBe(200);
    const entry = await entryOf(response);
    expect(detailOf(entry, 'RevealReason')).toBeUndefined();
    expect(detailOf(entry, 'RevealTicket')).toBeUndefined();
  });

  it.each([
    ['an unknown code', 'forgotPassword'],
    ['a code in another case', 'LOSTPIN'],
    ['a code with trailing text but no colon', 'lostPin user locked out'],
    ['free text past 200 characters', `other:${'x'.repeat(201)}`],
    ['a control character in the text', 'other:line\u0001break'],
    ['Latin-1 bytes in the text (UTF-8 as a header carries it)', `other:${Buffer.from('caf\u00e9').toString('latin1')}`],
  ])('answers 400 listing the codes to %s, and audits the refused read with the reason escaped', async (_what, reason) => {
    const response = await readKey({ 'x-reveal-reason': reason });
    expectRefusedListingCodes(response);
    const entry = await entryOf(response);
    expect(entry.result).toBe('failure');
    expect(entry.resultReason).toMatch(/^400 badRequest: /);
    expect(detailOf(entry, 'RevealReason')).not.toMatch(/\p{Cc}/u);
  });

  it('keeps free text of exactly 200 characters', async () => {
    const reason = `dataRecovery:${'y'.repeat(200)}`;
    const response = await readKey({ 'x-reveal-reason': reason });
    expect(response.status).toBe(200);
    expect(detailOf(await entryOf(response), 'RevealReason')).toBe(reason);
  });

  it.each([
    ['longer than 64 characters', 'T'.repeat(65)],
    ['with a control character', 'INC\u00010001'],
  ])('answers 400 to a ticket %s', async (_what, ticket) => {
    const response = await readKey({ 'x-reveal-reason': 'tpmReset', 'x-reveal-ticket': ticket });
    expect(response.status).toBe(400);
    expect(bodyJson(response).error.message).toContain('X-Reveal-Ticket');
    expect(bodyText(response)).not.toContain(stored.key);
  });
});

describe('with REQUIRE_REVEAL_REASON=true', () => {
  beforeAll(() => setRequireRevealReason('true'));

  it('answers a key read without a reason with 400 listing the codes, and audits it', async () => {
    const response = await readKey({ 'x-reveal-ticket': 'INC0012345' });
    expectRefusedListingCodes(response);
    expect(bodyJson(response).error.message).toContain('X-Reveal-Reason');
    const entry = await entryOf(response);
    expect(entry.result).toBe('failure');
    expect(detailOf(entry, 'RevealTicket')).toBe('INC0012345');
  });

  it('reads with a valid reason', async () => {
    const response = await readKey({ 'x-reveal-reason': 'firmwareChanged' });
    expect(response.status).toBe(200);
    expect(bodyJson(response).key).toBe(stored.key);
  });

  it('still reads metadata without a reason (only key reads need one)', async () => {
    const response = await itemHandler(handlerRequest('GET', `${COLLECTION}/${stored.id}`, reader, undefined, stored.id), context());
    expect(response.status).toBe(200);
    expect(bodyText(response)).not.toContain(stored.key);
  });
});
