import { type OperationSpec, operation, type PathForm } from './operation';
import type { PathItemObject, Reference, ResponseObject } from './types';

// A path item: the operations of one URL, plus the HEAD that every GET has (shared/http/methods.ts
// dispatchByMethod answers HEAD as GET without the body) and a word on the methods it refuses.

/** Said of every path: other methods are a 405 with Allow, which no operation lists. */
export const UNSUPPORTED_METHODS = 'Methods not listed here are answered 405 (components/responses/methodNotAllowed) with an Allow header.';

/**
 * `item` with the HEAD of its GET, if it has one: GET's status codes and headers, no body, operationId
 * `{action}Head_...`. `$select=key` is refused on HEAD.
 */
export function withHead(item: PathItemObject): PathItemObject {
  const get = item.get;
  if (!get) return item;
  const responses = Object.fromEntries(
    Object.entries(get.responses).map(([status, response]): [string, ResponseObject | Reference] => {
      if ('$ref' in response) return [status, response];
      const { content: _body, ...headersOnly } = response;
      return [status, headersOnly];
    }),
  );
  return {
    ...item,
    head: {
      ...get,
      operationId: get.operationId.replace(/^[^_]+/, '$&Head'),
      summary: `HEAD: ${get.summary}`,
      description: `The GET's status and headers (ETag, Content-Type, Content-Length, request-id) without its body. $select=key is a 400 on HEAD: only a GET reads a key.\n\n${get.description ?? ''}`,
      responses,
    },
  };
}

/** The `[path, PathItemObject]` entry of `form` holding `specs`' operations (and the HEAD of its GET). */
export function pathItem(form: PathForm, specs: readonly OperationSpec[]): [string, PathItemObject] {
  return [
    form.path,
    withHead({ description: UNSUPPORTED_METHODS, ...Object.fromEntries(specs.map((spec) => [spec.method, operation(spec, form)])) }),
  ];
}
