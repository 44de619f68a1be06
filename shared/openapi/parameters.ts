import { COVERAGE_STATES } from '../coverage/model';
import { SUPPORTED_AUDIT_FILTERS } from '../audit/query';
import { permissionsFor } from '../auth/permissions';
import { DEFAULT_PAGE_SIZE, ITEM_SELECTABLE_PROPERTIES, MAX_TOP, SELECTABLE_PROPERTIES } from '../odata/listQuery';
import {
  MAX_REVEAL_REASON_TEXT,
  MAX_REVEAL_TICKET,
  REVEAL_REASON_CODES,
  REVEAL_REASON_HEADER,
  REVEAL_TICKET_HEADER,
} from '../revealReasons';
import { EXAMPLE_KEY_ID, keyIdParameterSchema } from './recoveryKeySchemas';
import type { ParameterObject, SchemaObject } from './types';

// components/parameters: the query options and request headers, each described once with the limits
// its parser enforces (imported from the parser, never restated). Operations name them by key.

function selectParameter(selectable: readonly string[], description: string): ParameterObject {
  return {
    name: '$select',
    in: 'query',
    description: `${description} Comma-separated; names are case-sensitive.`,
    style: 'form',
    explode: false,
    schema: { type: 'array', items: { type: 'string', enum: [...selectable] } },
  };
}

/** The query and header parameters, by the name operations refer to them with. */
export const PARAMETERS = {
  filter: {
    name: '$filter',
    in: 'query',
    description:
      "One of: deviceId eq '{guid}' (Graph's), id eq '{guid}', startswith(id,'{hex prefix}') (the first characters of " +
      'the key ID shown on the recovery screen). Anything else is a 400 that says what is supported.',
    schema: { type: 'string' },
    example: "deviceId eq '1cf1b1b6-7a54-4c2e-9e4b-8f3a2d1c0b9a'",
  },
  auditFilter: {
    name: '$filter',
    in: 'query',
    description: `${SUPPORTED_AUDIT_FILTERS}. Anything else is a 400.`,
    schema: { type: 'string' },
    example: "activityDisplayName eq 'Read BitLocker key' and activityDateTime ge 2026-11-01T00:00:00Z",
  },
  top: {
    name: '$top',
    in: 'query',
    description: 'Page size; in digits.',
    schema: { type: 'integer', minimum: 1, maximum: MAX_TOP, default: DEFAULT_PAGE_SIZE },
  },
  listSelect: selectParameter(SELECTABLE_PROPERTIES, 'Properties to return; key cannot be selected on the list.'),
  itemSelect: selectParameter(
    ITEM_SELECTABLE_PROPERTIES,
    `Properties to return; key returns the recovery password and needs ${permissionsFor.readKey.join(' or ')} (the read is audited first).`,
  ),
  itemDeviceId: {
    name: 'deviceId',
    in: 'query',
    description:
      "The service's own option: which device's key, when several devices hold the key id (a device's claim beside another " +
      "device's record; the list shows each with its deviceId). Without it such a read is a 409 naming the devices.",
    schema: { type: 'string', format: 'uuid' },
  },
  deletedTop: {
    name: '$top',
    in: 'query',
    description: 'Page size; in digits. The only other option is $skiptoken.',
    schema: { type: 'integer', minimum: 1, maximum: MAX_TOP, default: DEFAULT_PAGE_SIZE },
  },
  skipToken: {
    name: '$skiptoken',
    in: 'query',
    description: 'Opaque; take it from @odata.nextLink together with the filter it was issued for.',
    schema: { type: 'string', minLength: 1 },
  },
  coverageFilter: {
    name: '$filter',
    in: 'query',
    description: `state eq '{state}', one of ${COVERAGE_STATES.join(', ')}. Anything else is a 400.`,
    schema: { type: 'string' },
    example: "state eq 'missingKey'",
  },
  deviceId: {
    name: 'deviceId',
    in: 'path',
    required: true,
    description: 'The Entra device id (a GUID; a malformed one is a 400).',
    schema: { type: 'string', format: 'uuid' },
  },
  revealId: {
    name: 'id',
    in: 'path',
    required: true,
    description: "A reveal request's or grant's id (a GUID; a malformed one is a 400, another tenant's a 404).",
    schema: { type: 'string', format: 'uuid' },
  },
  clientRequestId: {
    name: 'client-request-id',
    in: 'header',
    description: 'Echoed in the response and in innerError of an error; printable ASCII, at most 128 characters.',
    schema: { type: 'string', maxLength: 128 },
  },
  revealReason: {
    name: REVEAL_REASON_HEADER,
    in: 'header',
    description:
      `Why the key is read (with $select=key): one of the codes, optionally followed by ':' and at most ${MAX_REVEAL_REASON_TEXT} printable ASCII characters, ` +
      "e.g. lostPin:user locked out after a BIOS update. Recorded in the read's audit entry (additionalDetails RevealReason). " +
      'Malformed: 400. Required when the service runs with REQUIRE_REVEAL_REASON=true (else a 400 that lists the codes).',
    schema: { type: 'string', pattern: `^(${REVEAL_REASON_CODES.join('|')})(:[\\x20-\\x7e]{0,${MAX_REVEAL_REASON_TEXT}})?$` },
    example: 'lostPin:user locked out after a BIOS update',
  },
  revealTicket: {
    name: REVEAL_TICKET_HEADER,
    in: 'header',
    description: `The helpdesk ticket the key is read for (with $select=key); printable ASCII, at most ${MAX_REVEAL_TICKET} characters. Recorded in the read's audit entry (additionalDetails RevealTicket).`,
    schema: { type: 'string', maxLength: MAX_REVEAL_TICKET, pattern: '^[\\x20-\\x7e]*$' },
    example: 'INC0012345',
  },
  ifMatch: {
    name: 'If-Match',
    in: 'header',
    description: 'An ETag: apply only if the stored version matches (else 412). *: only if the key exists.',
    schema: { type: 'string' },
  },
  ifNoneMatch: {
    name: 'If-None-Match',
    in: 'header',
    description: '*: apply only if the key does not exist yet (else 412).',
    schema: { type: 'string', enum: ['*'] },
  },
} satisfies Record<string, ParameterObject>;

/** A parameter an operation may name: one of PARAMETERS, or `keyId`, the `{id}` path segment. */
export type ParameterName = keyof typeof PARAMETERS | 'keyId';

/**
 * The `{id}` path parameter: the same rules as a body's id, so its schema is taken from the derived
 * request schemas (`schemas`: components/schemas). Throws if they have no id property.
 */
export function keyIdParameter(schemas: Record<string, SchemaObject>): ParameterObject {
  return {
    name: 'id',
    in: 'path',
    required: true,
    description: 'The recovery key ID; a GUID in any case, with or without braces (a malformed one is a 400).',
    schema: keyIdParameterSchema(schemas),
    example: EXAMPLE_KEY_ID,
  };
}
