import { MAX_BODY_BYTES } from '../../http/body';
import { jsonResponseObject } from '../headers';
import { BODY_ERRORS, type OperationSpec } from '../operation';
import { pathItem } from '../pathItem';
import { ref } from '../reference';
import { REVEAL_TAG } from '../tags';
import type { PathItemObject } from '../types';

// Reveal requests, bulk grants and "my devices": functions/revealRequests.ts, revealGrants.ts, myDevices.ts.

const REQUEST = jsonResponseObject('The reveal request.', ref('schemas', 'revealRequest'));
const GRANT = jsonResponseObject('The bulk reveal grant.', ref('schemas', 'revealGrant'));
const DEVICES = jsonResponseObject('Devices, with their keys’ metadata where listed.', ref('schemas', 'deviceWithKeysCollection'));

const body = (schema: string, example: object) => ({
  required: true,
  description: `JSON, at most ${MAX_BODY_BYTES} bytes.`,
  content: { 'application/json': { schema: ref('schemas', schema), example } },
});

const REQUESTS: readonly OperationSpec[] = [
  {
    method: 'get',
    action: 'listRevealRequests',
    summary: 'List reveal requests',
    description: "An approver's pending requests of the tenant; for a reader without BitLockerKey.Approve.All, their own.",
    permission: 'readRevealRequests',
    success: { 200: jsonResponseObject('The requests.', ref('schemas', 'revealRequestCollection')) },
  },
  {
    method: 'post',
    action: 'createRevealRequest',
    summary: 'Ask for a key read to be approved',
    description:
      "201 pending, with Location. The key must exist and be in the caller's REVEAL_SCOPES. Audited as 'Request BitLocker key reveal'.",
    permission: 'requestReveal',
    requestBody: body('revealRequestInput', { keyId: 'b465e4e8-e4e8-b465-e8e4-65b4e8e465b4', reason: 'lostPin', ticket: 'INC0012345' }),
    success: { 201: jsonResponseObject('The pending request; Location is its URL.', ref('schemas', 'revealRequest'), 'Location') },
    errors: [...BODY_ERRORS, 404],
  },
];

const REQUEST_ITEM: readonly OperationSpec[] = [
  {
    method: 'get',
    action: 'getRevealRequest',
    summary: 'Get a reveal request',
    description: "One request of the caller's tenant: their own, or any for an approver; 404 otherwise.",
    permission: 'readRevealRequests',
    success: { 200: REQUEST },
    errors: [404],
  },
];

const decision = (action: string, verb: string): OperationSpec[] => [
  {
    method: 'post',
    action,
    summary: `${verb} a reveal request`,
    description: `403 for the requester; 409 when it is already approved, denied or expired. Audited as 'Decide BitLocker key reveal request'.`,
    permission: 'decideReveal',
    success: { 200: REQUEST },
    errors: [404, 409],
  },
];

const GRANTS: readonly OperationSpec[] = [
  {
    method: 'post',
    action: 'createRevealGrant',
    summary: 'Grant a time-boxed bulk reveal (mass recovery)',
    description:
      "Members of granteeGroupId may read the keys of devices in deviceGroupId for `hours` (at most REVEAL_APPROVAL_HOURS) without a request each. Audited as 'Grant bulk BitLocker key reveal'; each read names the grant.",
    permission: 'grantBulkReveal',
    requestBody: body('revealGrantInput', {
      deviceGroupId: '6f1c8d2e-2b0a-4c1e-9a53-0c2e7f1d4b6e',
      granteeGroupId: '9a2b3c4d-1e2f-4a5b-8c6d-7e8f9a0b1c2d',
      reason: 'bootConfigurationChanged:faulty update',
      hours: 4,
    }),
    success: { 201: jsonResponseObject('The grant; Location is its URL.', ref('schemas', 'revealGrant'), 'Location') },
    errors: [...BODY_ERRORS],
  },
];

/** A GET of a grant's item route, to an approver or a member of its grantee group. */
const grantRead = (action: string, summary: string, description: string, success: OperationSpec['success']): OperationSpec[] => [
  { method: 'get', action, summary, description, permission: 'readRevealRequests', success, errors: [404] },
];

const GRANT_ITEM = grantRead(
  'getRevealGrant',
  'Get a bulk reveal grant',
  'To an approver or a member of its grantee group; 404 otherwise.',
  {
    200: GRANT,
  },
);

const GRANT_QUEUE = grantRead(
  'listRevealGrantDevices',
  "List a bulk grant's devices (the queue)",
  "The device members of the grant's device group, for an agent to work through.",
  { 200: DEVICES },
);

const MY_DEVICES: readonly OperationSpec[] = [
  {
    method: 'get',
    action: 'listMyDevices',
    summary: "List the signed-in user's devices",
    description:
      'The devices the user is a registered owner of in Entra ID, with their keys’ metadata (SELF_SERVICE_REVEAL=true; 403 otherwise). ' +
      'A key is then read with GET recoveryKeys/{id}?$select=key and X-Reveal-Reason.',
    permission: 'selfService',
    success: { 200: DEVICES },
  },
];

const withId = ([path, item]: [string, PathItemObject]): [string, PathItemObject] => [
  path,
  { ...item, parameters: [ref('parameters', 'revealId')] },
];

/** Each form of the reveal routes. */
export function revealPaths(
  requestRoutes: readonly string[],
  grantRoutes: readonly string[],
  myDevicesRoutes: readonly string[],
): [string, PathItemObject][] {
  const form = (route: string, path: string) => ({ route, path, tag: REVEAL_TAG });
  return [
    ...requestRoutes.flatMap((route) => [
      pathItem(form(route, `/${route}`), REQUESTS),
      withId(pathItem(form(route, `/${route}/{id}`), REQUEST_ITEM)),
      withId(pathItem(form(`${route}/approve`, `/${route}/{id}/approve`), decision('approveRevealRequest', 'Approve'))),
      withId(pathItem(form(`${route}/deny`, `/${route}/{id}/deny`), decision('denyRevealRequest', 'Deny'))),
    ]),
    ...grantRoutes.flatMap((route) => [
      pathItem(form(route, `/${route}`), GRANTS),
      withId(pathItem(form(route, `/${route}/{id}`), GRANT_ITEM)),
      withId(pathItem(form(route, `/${route}/{id}/devices`), GRANT_QUEUE)),
    ]),
    ...myDevicesRoutes.map((route) => pathItem(form(route, `/${route}`), MY_DEVICES)),
  ];
}
