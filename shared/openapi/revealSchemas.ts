import { MAX_REVEAL_TICKET, REVEAL_REASON_CODES } from '../revealReasons';
import { ref } from './reference';
import type { SchemaObject } from './types';

// components/schemas of reveal requests, bulk grants and self-service devices (functions/revealRequests.ts,
// functions/revealGrants.ts, functions/myDevices.ts); bodies are checked by shared/reveal/schema.ts.

const GUID: SchemaObject = { type: 'string', format: 'uuid' };
const DATE_TIME: SchemaObject = { type: 'string', format: 'date-time' };
const REASON: SchemaObject = {
  type: 'string',
  description: `One of ${REVEAL_REASON_CODES.join(', ')}, optionally followed by ':' and printable ASCII text.`,
};
const TICKET: SchemaObject = { type: 'string', maxLength: MAX_REVEAL_TICKET };
const PERSON: SchemaObject = {
  type: 'object',
  properties: { id: { type: 'string' }, userPrincipalName: { type: 'string' } },
  required: ['id'],
};

export function revealSchemas(): Record<string, SchemaObject> {
  return {
    revealRequestInput: {
      type: 'object',
      additionalProperties: false,
      required: ['keyId', 'reason'],
      properties: { keyId: GUID, reason: REASON, ticket: TICKET },
    },
    revealRequest: {
      type: 'object',
      properties: {
        id: GUID,
        keyId: GUID,
        deviceId: GUID,
        status: { type: 'string', enum: ['pending', 'approved', 'denied', 'expired'] },
        reason: REASON,
        ticket: { ...TICKET, nullable: true },
        requestedBy: PERSON,
        createdDateTime: DATE_TIME,
        decidedBy: { ...PERSON, nullable: true },
        decidedDateTime: { ...DATE_TIME, nullable: true },
        expirationDateTime: {
          ...DATE_TIME,
          description: 'Until when an approval lets its requester read the key (a pending request lapses then).',
        },
      },
    },
    revealRequestCollection: { type: 'object', properties: { value: { type: 'array', items: ref('schemas', 'revealRequest') } } },
    revealGrantInput: {
      type: 'object',
      additionalProperties: false,
      required: ['deviceGroupId', 'granteeGroupId', 'reason', 'hours'],
      properties: {
        deviceGroupId: GUID,
        granteeGroupId: GUID,
        reason: REASON,
        ticket: TICKET,
        hours: { type: 'integer', minimum: 1, description: 'At most REVEAL_APPROVAL_HOURS.' },
      },
    },
    revealGrant: {
      type: 'object',
      properties: {
        id: GUID,
        deviceGroupId: GUID,
        granteeGroupId: GUID,
        reason: REASON,
        ticket: { ...TICKET, nullable: true },
        grantedBy: PERSON,
        createdDateTime: DATE_TIME,
        expirationDateTime: DATE_TIME,
        status: { type: 'string', enum: ['active', 'expired'] },
      },
    },
    deviceWithKeysCollection: {
      type: 'object',
      properties: {
        value: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              deviceId: GUID,
              displayName: { type: 'string', nullable: true },
              recoveryKeys: {
                type: 'array',
                items: { type: 'object', properties: { id: GUID, volumeType: { type: 'string' }, createdDateTime: DATE_TIME } },
              },
            },
          },
        },
      },
    },
  };
}
