import { ref } from './reference';
import type { SchemaObject } from './types';

// The OData collection page shared by the recovery keys, the deleted keys and the audit records.

/** A page of a collection as Graph writes it: `@odata.context`, `value` and, unless last, `@odata.nextLink`. */
export function collectionSchema(itemSchema: string, context: string, note?: string): SchemaObject {
  return {
    type: 'object',
    required: ['@odata.context', 'value'],
    properties: {
      '@odata.context': { type: 'string', description: `{base}/$metadata#${context}` },
      value: { type: 'array', items: ref('schemas', itemSchema), ...(note && { description: note }) },
      '@odata.nextLink': {
        type: 'string',
        format: 'uri',
        description: 'The next page, with an opaque $skiptoken; absent on the last page.',
      },
    },
  };
}
