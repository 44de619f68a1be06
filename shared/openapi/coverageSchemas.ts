import { COVERAGE_FLAGS, COVERAGE_STATES } from '../coverage/model';
import { PROTECTION_STATUSES } from '../deviceStatus/model';
import { MAX_RECOVERY_PASSWORD_IDS, MAX_VOLUMES } from '../deviceStatus/schema';
import { VOLUME_TYPES } from '../recoveryKeys/model';
import { ref } from './reference';
import type { SchemaObject } from './types';

// components/schemas of the device statuses and the coverage report (functions/deviceStatuses.ts,
// functions/coverageReport.ts). The bounds come from the validation schema's constants.

const GUID: SchemaObject = { type: 'string', format: 'uuid' };
const DATE_TIME: SchemaObject = { type: 'string', format: 'date-time' };
const KEY_IDS: SchemaObject = { type: 'array', items: GUID };

const volume = (input: boolean): SchemaObject => ({
  type: 'object',
  additionalProperties: false,
  required: ['volumeType', 'protectionStatus'],
  properties: {
    volumeType: input
      ? {
          oneOf: [
            { type: 'string', enum: [...VOLUME_TYPES.slice(0, 3), '1', '2', '3'] },
            { type: 'integer', enum: [1, 2, 3] },
          ],
        }
      : { type: 'string', enum: VOLUME_TYPES.slice(0, 3) },
    protectionStatus: { type: 'string', enum: [...PROTECTION_STATUSES] },
    recoveryPasswordIds: {
      ...KEY_IDS,
      maxItems: MAX_RECOVERY_PASSWORD_IDS,
      description: "Key ids of the volume's recovery-password protectors.",
    },
    mountPoint: { type: 'string', maxLength: 260 },
    encryptionPercentage: { type: 'number', minimum: 0, maximum: 100 },
    keyProtectorTypes: { type: 'array', maxItems: 16, items: { type: 'string', maxLength: 64 } },
  },
});

export function coverageSchemas(): Record<string, SchemaObject> {
  const summary: SchemaObject = {
    type: 'object',
    properties: Object.fromEntries(
      [...COVERAGE_STATES, 'devices', 'notEncrypted', ...COVERAGE_FLAGS].map((name) => [name, { type: 'integer', minimum: 0 }]),
    ),
  };
  return {
    deviceStatusInput: {
      type: 'object',
      additionalProperties: false,
      required: ['volumes'],
      description: `At most ${MAX_VOLUMES} volumes and ${MAX_RECOVERY_PASSWORD_IDS} recovery password ids over all of them.`,
      properties: {
        volumes: { type: 'array', maxItems: MAX_VOLUMES, items: volume(true) },
        clientVersion: { type: 'string', maxLength: 64 },
      },
    },
    deviceStatus: {
      type: 'object',
      description:
        'The last status the device reported, with its name and owner from the device inventory; no volumes for a device the inventory knows that never reported.',
      properties: {
        '@odata.context': { type: 'string' },
        deviceId: GUID,
        displayName: { type: 'string', description: "From the device inventory (Entra ID's displayName, else Intune's deviceName)." },
        userPrincipalName: { type: 'string', description: "The owner, from the device inventory (Intune's userPrincipalName)." },
        lastReportedDateTime: { ...DATE_TIME, description: 'When the service stored the status; absent if it never reported.' },
        clientVersion: { type: 'string' },
        volumes: { type: 'array', items: volume(false) },
      },
    },
    coverageRow: {
      type: 'object',
      description: 'One device of the report. Never a recovery password.',
      properties: {
        deviceId: GUID,
        displayName: { type: 'string' },
        userPrincipalName: { type: 'string' },
        state: { type: 'string', enum: [...COVERAGE_STATES] },
        flags: { type: 'array', items: { type: 'string', enum: [...COVERAGE_FLAGS] } },
        lastReportedDateTime: DATE_TIME,
        liveKeyCount: { type: 'integer', minimum: 0 },
        missingKeyIds: KEY_IDS,
        staleKeyIds: KEY_IDS,
        overdueKeyIds: KEY_IDS,
      },
    },
    coverageSummary: summary,
    coverageReport: {
      type: 'object',
      required: ['generatedDateTime', 'summary', 'value'],
      properties: {
        '@odata.context': { type: 'string' },
        generatedDateTime: DATE_TIME,
        summary: ref('schemas', 'coverageSummary'),
        trend: {
          type: 'array',
          description: "Each day's last summary, oldest first, up to 90 days; on the first page only.",
          items: { type: 'object' },
        },
        value: { type: 'array', items: ref('schemas', 'coverageRow') },
        '@odata.nextLink': { type: 'string', format: 'uri' },
      },
    },
  };
}
