import { methodNotAllowed } from './graphError';
import type { GraphOperation } from './handler';

/** The operations of one path, by upper-case method. */
export type MethodTable = Partial<Record<string, GraphOperation>>;

/** One operation per method; any other method is Graph's 405 with an Allow header naming those of the table. */
export function dispatch(methods: MethodTable): GraphOperation {
  const allowed = Object.keys(methods);
  return (request, rc, context) => {
    const operation = methods[request.method.toUpperCase()];
    if (!operation) throw methodNotAllowed(request.method, allowed);
    return operation(request, rc, context);
  };
}
