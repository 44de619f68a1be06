import { DELETED_COLLECTION_CONTEXT } from '../recoveryKeys/representation';
import { collectionSchema } from './collectionSchema';
import { ref } from './reference';
import type { SchemaObject } from './types';

/** components/schemas of directory/deletedItems: a deleted key is the key's metadata plus deletedDateTime, never key. */
export function deletedItemSchemas(): Record<string, SchemaObject> {
  return {
    deletedBitlockerRecoveryKey: {
      description:
        'A deleted recovery key (directory/deletedItems): restorable with its password until its retention ends. Never includes key.',
      allOf: [
        ref('schemas', 'bitlockerRecoveryKey'),
        {
          type: 'object',
          required: ['deletedDateTime'],
          properties: { deletedDateTime: { type: 'string', format: 'date-time', description: 'When the key was deleted, ISO 8601 UTC.' } },
        },
      ],
    },
    deletedBitlockerRecoveryKeyEntity: {
      allOf: [
        ref('schemas', 'deletedBitlockerRecoveryKey'),
        {
          type: 'object',
          required: ['@odata.context'],
          properties: {
            '@odata.context': { type: 'string', description: '{base}/$metadata#directory/deletedItems/$entity' },
            '@odata.etag': { type: 'string', description: 'The same value as the ETag header.' },
          },
        },
      ],
    },
    deletedBitlockerRecoveryKeyCollection: collectionSchema(
      'deletedBitlockerRecoveryKey',
      DELETED_COLLECTION_CONTEXT,
      'Never includes key.',
    ),
  };
}
