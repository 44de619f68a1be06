import { type Operation, permissionsFor } from '../auth/permissions';
import { type ErrorStatus, errorRefs } from './errors';
import type { ParameterName } from './parameters';
import { ref } from './reference';
import type { HttpMethodName, OperationExtensions, OperationObject, RequestBodyObject, ResponseObject } from './types';

// One operation of the document, from a short spec: what it does, the permission (from the permission
// matrix, shared/auth/permissions.ts) and the parameters and responses that differ from the common
// ones. The same spec is documented once per path form (with and without /v1.0 or /beta, ...).

/** What an operation says beyond what every operation has. */
export interface OperationSpec {
  readonly method: HttpMethodName;
  /** The operationId's stem; the path form is appended, since API Management wants them unique. */
  readonly action: string;
  readonly summary: string;
  readonly description: string;
  /** Which entry of the permission matrix allows it; listed in the description and in x-permissions. */
  readonly permission: Operation;
  /** Besides client-request-id, which every operation takes. */
  readonly parameters?: readonly ParameterName[];
  readonly requestBody?: RequestBodyObject;
  /** The success responses by status. */
  readonly success: Readonly<Record<string, ResponseObject>>;
  /** Besides the errors any operation can answer (COMMON_ERRORS). */
  readonly errors?: readonly ErrorStatus[];
  readonly extensions?: OperationExtensions;
}

/** What any authenticated operation can answer: a bad request, no or a wrong token, throttling, a bug, storage away. */
const COMMON_ERRORS: readonly ErrorStatus[] = [400, 401, 403, 429, 500, 503];

/** What an operation with a request body can answer besides (shared/http/body.ts). */
export const BODY_ERRORS: readonly ErrorStatus[] = [413, 415];

/** Where operations are documented: `route` names them (an item is named by its collection), `path` is the URL. */
export interface PathForm {
  readonly route: string;
  readonly path: string;
  readonly tag: string;
}

/** `v1.0/bitlocker/recoveryKeys` as `v1_0_bitlocker_recoveryKeys`: API Management's operation names allow no dots. */
const slug = (route: string): string =>
  route
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .join('_');

/** The OperationObject of `spec` at one path form: operationId `{action}_{slug of the route}`, permissions spelt out. */
export function operation(spec: OperationSpec, form: PathForm): OperationObject {
  const permissions = permissionsFor[spec.permission];
  return {
    operationId: `${spec.action}_${slug(form.route)}`,
    summary: `${spec.summary} (${form.path})`,
    description:
      permissions.length === 0
        ? `${spec.description}\n\nPermission: none; a signed-in user (a delegated token).`
        : `${spec.description}\n\nPermission: ${permissions.length > 1 ? 'one of ' : ''}${permissions.join(', ')}.`,
    tags: [form.tag],
    parameters: [...(spec.parameters ?? []), 'clientRequestId'].map((name) => ref('parameters', name)),
    ...(spec.requestBody && { requestBody: spec.requestBody }),
    responses: { ...spec.success, ...errorRefs([...COMMON_ERRORS, ...(spec.errors ?? [])]) },
    'x-permissions': [...permissions],
    ...spec.extensions,
  };
}
