import { DATE_TIME_OFFSET_RANGE } from '../odata/dateTimeOffset';
import { VOLUME_TYPES } from '../recoveryKeys/model';
import { COLLECTION_CONTEXT } from '../recoveryKeys/representation';
import { CLOCK_SKEW_MS, describeRecoveryKeyInput, ODATA_TYPE, ROTATION_ANNOTATIONS } from '../recoveryKeys/schema';
import { deriveObjectSchemas, type PropertyHints } from './joiSchema';
import { collectionSchema } from './collectionSchema';
import { ref } from './reference';
import type { SchemaObject } from './types';

// The bitlockerRecoveryKey schemas, derived from the joi schema that validates request bodies. The
// hints below are only what joi's custom rules check and its description cannot show.

const HEX_GUID = '[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}';
const LOWER_GUID = '[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}';

/** Graph's numeric volumeType: its position in Graph's enum, counting from 1. */
export const VOLUME_TYPE_NUMBERS: readonly number[] = VOLUME_TYPES.map((_, i) => i + 1);

/** The example key ID of Graph's bitlockerRecoveryKey documentation. */
export const EXAMPLE_KEY_ID = 'b465e4e8-e4e8-b465-e8e4-65b4e8e465b4';
/** A valid recovery password (every group divisible by 11), for examples only. */
export const EXAMPLE_RECOVERY_PASSWORD = '496298-461032-321464-595518-463221-173943-033616-139579';

const guidHint = (what: string): PropertyHints[string] => ({
  request: {
    pattern: `^(?:${HEX_GUID}|\\{${HEX_GUID}\\})$`,
    maxLength: 38,
    description: `${what}: a GUID in any case, with or without braces.`,
  },
  response: { format: 'uuid', pattern: `^${LOWER_GUID}$`, maxLength: 36, description: `${what}: a lowercase GUID without braces.` },
});

const KEY_AVAILABILITY =
  'A stored password is returned only by GET of one key with $select=key to a caller holding BitLockerKey.Read.All ' +
  '(each such read is audited first); never by the list. PATCH and POST answer with key only when the request body ' +
  "carried it (the caller's own value, echoed), and with no key property otherwise.";

/** What joi's custom rules check on each bitlockerRecoveryKey property, and how responses differ from requests. */
export const RECOVERY_KEY_HINTS: PropertyHints = {
  '@odata.type': {
    request: { description: `Optional; when present it must be ${ODATA_TYPE}.` },
    response: { description: 'Always present.' },
  },
  id: guidHint('The recovery key ID (the BitLocker key-protector ID shown on the recovery screen)'),
  deviceId: guidHint('The Entra ID deviceId of the device'),
  key: {
    request: {
      pattern: '^[0-9]{6}(-[0-9]{6}){7}$',
      maxLength: 55,
      example: EXAMPLE_RECOVERY_PASSWORD,
      description: 'The 48-digit recovery password: 8 groups of 6 digits joined by "-", each group divisible by 11 and below 720896.',
    },
    response: { description: `The 48-digit recovery password. ${KEY_AVAILABILITY}` },
  },
  volumeType: {
    request: {
      oneOf: [
        { type: 'string', enum: [...VOLUME_TYPES, ...VOLUME_TYPE_NUMBERS.map(String)] },
        { type: 'integer', enum: [...VOLUME_TYPE_NUMBERS] },
      ],
      description: `One of ${VOLUME_TYPES.join(', ')}, or Graph's numbers ${VOLUME_TYPE_NUMBERS.join(', ')} in that order, as a number or a string.`,
    },
    response: { type: 'string', enum: [...VOLUME_TYPES], description: 'Always the name, never the number.' },
  },
  createdDateTime: {
    request: {
      format: 'date-time',
      // The longest ISO 8601 form accepted: seven fractional digits and a numeric offset.
      maxLength: 33,
      description:
        'When the key was first escrowed. Set by the server on creation unless given (imports keep their dates); ' +
        `never in the future (${CLOCK_SKEW_MS / 60_000} minutes of clock skew allowed); cannot change afterwards. ` +
        `Must be ${DATE_TIME_OFFSET_RANGE} (.NET's DateTimeOffset).`,
    },
    response: { description: 'When the key was first escrowed, in ISO 8601 UTC with milliseconds.' },
  },
};

/** The instance annotations of a key's rotation, beside its properties whatever $select chose. */
const ROTATION_ANNOTATION_SCHEMAS: Record<string, SchemaObject> = {
  [ROTATION_ANNOTATIONS.disclosedDateTime]: {
    type: 'string',
    format: 'date-time',
    description: 'Instance annotation: when the key was first revealed (ROTATE_AFTER_REVEAL); its device should replace it.',
  },
  [ROTATION_ANNOTATIONS.disclosedBy]: {
    type: 'string',
    description: 'Instance annotation: who first revealed the key (a UPN, or object or app id); not shown to a device.',
  },
  [ROTATION_ANNOTATIONS.supersededBy]: {
    type: 'string',
    format: 'uuid',
    description: 'Instance annotation: the successor escrowed with @escrow.replaces; the key is retired.',
  },
  [ROTATION_ANNOTATIONS.supersededDateTime]: {
    type: 'string',
    format: 'date-time',
    description: 'Instance annotation: when the successor was linked.',
  },
};

const CREATION_RULE = 'When a key is created, deviceId, key and volumeType are required.';

/** The components/schemas of the recovery key resource; throws if joi and the hints have drifted apart. */
export function recoveryKeySchemas(): Record<string, SchemaObject> {
  const derived = deriveObjectSchemas(describeRecoveryKeyInput(), RECOVERY_KEY_HINTS);
  return {
    bitlockerRecoveryKey: {
      ...derived.response,
      properties: { ...derived.response.properties, ...ROTATION_ANNOTATION_SCHEMAS },
      description: `A BitLocker recovery key as responses carry it (microsoft.graph.bitlockerRecoveryKey). key: ${KEY_AVAILABILITY}`,
    },
    bitlockerRecoveryKeyInput: {
      ...derived.request,
      // Instance annotations are read before joi sees the body (parseRecoveryKeyBody), so they are named here.
      properties: {
        ...derived.request.properties,
        '@odata.context': { description: 'Ignored: a client may send back the object it read.' },
        '@odata.etag': {
          type: 'string',
          maxLength: 256,
          description: 'Acts as If-Match on PATCH (412 when stale); with an If-Match of another ETag, 412. Ignored on POST.',
        },
        '@escrow.replaces': {
          type: 'string',
          format: 'uuid',
          description:
            'The id of the live key of the same device this key is escrowed to replace (single-use keys): the old key is retired ' +
            "(@escrow.supersededBy). 404 no such key, or another device's key to a device caller; 409 deleted, on another device, " +
            'already superseded or being replaced; nothing is stored then.',
        },
      },
      description: `A request body of PATCH or POST. Any property not listed is refused with 400, except other @odata.* instance annotations, which are ignored. ${CREATION_RULE}`,
    },
    bitlockerRecoveryKeyEntity: {
      allOf: [
        ref('schemas', 'bitlockerRecoveryKey'),
        {
          type: 'object',
          required: ['@odata.context'],
          properties: {
            '@odata.context': { type: 'string', description: `{base}/$metadata#${COLLECTION_CONTEXT}/$entity` },
            '@odata.etag': { type: 'string', description: 'The same value as the ETag header.' },
          },
        },
      ],
    },
    bitlockerRecoveryKeyCollection: collectionSchema('bitlockerRecoveryKey', COLLECTION_CONTEXT, 'Never includes key.'),
  };
}

/** The id segment of an item path: the same rules as a body's id. */
export function keyIdParameterSchema(schemas: Record<string, SchemaObject>): SchemaObject {
  const id = schemas.bitlockerRecoveryKeyInput?.properties?.id;
  if (!id || '$ref' in id) throw new Error('bitlockerRecoveryKeyInput has no id property');
  return id;
}
