import { ACTIVITIES, ACTIVITY_NAMES } from '../audit/model';
import { LOGGED_BY } from '../audit/representation';
import { collectionSchema } from './collectionSchema';
import type { SchemaObject } from './types';

// Graph's directoryAudit, as shared/audit/representation.ts writes it. There is no validation schema
// to derive it from (the service only writes these); its enums come from the audit model.

const text: SchemaObject = { type: 'string' };
const nullableText: SchemaObject = { type: 'string', nullable: true };

const DIRECTORY_AUDIT: SchemaObject = {
  type: 'object',
  description: 'One audited write, delete or key read (microsoft.graph.directoryAudit). Never holds a recovery key or a token.',
  properties: {
    id: text,
    category: { type: 'string', enum: ['KeyManagement'] },
    correlationId: { type: 'string', format: 'uuid', description: 'The request-id of the audited request.' },
    result: { type: 'string', enum: ['success', 'failure'] },
    resultReason: {
      type: 'string',
      description: 'Why a refused operation was refused; empty on success (a write that changed nothing says so).',
    },
    activityDisplayName: { type: 'string', enum: [...ACTIVITY_NAMES] },
    activityDateTime: { type: 'string', format: 'date-time' },
    loggedByService: { type: 'string', enum: [LOGGED_BY] },
    operationType: { type: 'string', enum: [...new Set(Object.values(ACTIVITIES).map((activity) => activity.operationType))] },
    initiatedBy: {
      type: 'object',
      properties: {
        user: { type: 'object', nullable: true, properties: { id: nullableText, userPrincipalName: nullableText } },
        app: { type: 'object', nullable: true, properties: { appId: text, displayName: nullableText, servicePrincipalId: nullableText } },
      },
    },
    targetResources: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: text,
          displayName: text,
          type: { type: 'string', enum: ['BitLockerKey'] },
          modifiedProperties: {
            type: 'array',
            description:
              'On an add or update that changed something: each property it set or changed (deviceId, volumeType, createdDateTime), ' +
              'values as JSON text, oldValue null on an add. Never the recovery password, which cannot change.',
            items: { type: 'object', properties: { displayName: text, oldValue: nullableText, newValue: nullableText } },
          },
        },
      },
    },
    additionalDetails: {
      type: 'array',
      description:
        'DeviceId, TenantId, User-Agent, ocp-client-name and ocp-client-version, where known; PreviousDeviceId on a move; ' +
        'Key "key unchanged" on every successful update; RevealReason and RevealTicket on key reads that carried them; ' +
        'RefusedCount, Refusals, FirstRefusedDateTime and LastRefusedDateTime on a refusal summary. Client text is cut to a stated length, with control and bidi characters escaped as \\uXXXX.',
      items: { type: 'object', properties: { key: text, value: text } },
    },
  },
};

/** components/schemas of auditLogs/directoryAudits: one record and a page of them. */
export function directoryAuditSchemas(): Record<string, SchemaObject> {
  return {
    directoryAudit: DIRECTORY_AUDIT,
    directoryAuditCollection: collectionSchema('directoryAudit', 'auditLogs/directoryAudits', 'Newest first.'),
  };
}
