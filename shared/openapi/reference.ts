import type { Reference } from './types';

/** The kinds of component this document refers to by `$ref`. */
export type ComponentKind = 'schemas' | 'responses' | 'parameters' | 'headers';

/** A reference to a component, `{ $ref: '#/components/{kind}/{name}' }`; the document's test resolves every one. */
export const ref = (kind: ComponentKind, name: string): Reference => ({ $ref: `#/components/${kind}/${name}` });
