import type { HttpMethod } from '@azure/functions';
import { badRequest, methodNotAllowed } from '../errors/graphError';
import type { GraphOperation } from './handler';

/**
 * Functions register every method, so that an unsupported one reaches the app and gets Graph's 405
 * with Allow (or Graph's 404) rather than the host's empty 404.
 */
export const ALL_METHODS: HttpMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

export type MethodTable = Partial<Record<string, GraphOperation>>;

/**
 * One operation per method, and HEAD wherever there is a GET (RFC 9110 section 9.3.2): HEAD runs the GET
 * operation and answers its status and headers. The body is dropped by the host, as Kestrel does under the
 * Functions host (it writes no body for a HEAD and keeps the Content-Length the GET would have had);
 * scripts/devhost/host/server.ts does the same. Any other method is a 405 whose Allow lists HEAD too.
 */
export function dispatchByMethod(methods: MethodTable): GraphOperation {
  const table: MethodTable = methods.GET && !methods.HEAD ? { ...methods, HEAD: methods.GET } : methods;
  const allowed = ALL_METHODS.filter((method) => table[method]);
  return (request, requestContext, context) => {
    const operation = table[request.method.toUpperCase()];
    if (!operation) throw methodNotAllowed(request.method, allowed);
    return operation(request, requestContext, context);
  };
}

/**
 * Refuses a HEAD that asks for what only a GET may do (`$select=key`): its answer would either carry a
 * read that returns nothing (decrypted, rate-counted and audited) or headers unlike the GET's.
 */
export function refuseHead(method: string, what: string): void {
  if (method.toUpperCase() === 'HEAD') throw badRequest(`HEAD cannot ${what}; use GET.`);
}
