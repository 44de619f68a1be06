import { MAX_BODY_BYTES } from '../../http/body';
import { jsonResponseObject } from '../headers';
import { BODY_ERRORS, type OperationSpec } from '../operation';
import { pathItem } from '../pathItem';
import { ref } from '../reference';
import { COVERAGE_TAG } from '../tags';
import type { PathItemObject } from '../types';

// The device statuses ({route}/{deviceId}) and the coverage report: functions/deviceStatuses.ts and
// functions/coverageReport.ts.

const STATUS = jsonResponseObject('The device status as stored.', ref('schemas', 'deviceStatus'));

const STATUS_OPERATIONS: readonly OperationSpec[] = [
  {
    method: 'get',
    action: 'getDeviceStatus',
    summary: "Get a device's BitLocker status",
    description: 'What the device last reported of its volumes and their recovery-password protectors; 404 if it never reported.',
    permission: 'readDeviceStatus',
    success: { 200: STATUS },
    errors: [404],
  },
  {
    method: 'put',
    action: 'putDeviceStatus',
    summary: "Report a device's BitLocker status",
    description:
      'Replaces the status whole. A device (EntraDevice proof) may write only its own. Naming a key escrowed for another device is a 409; ' +
      "a management tool's status for a device the inventory does not know is a 404. Audited as 'Update BitLocker device status'.",
    permission: 'writeDeviceStatus',
    requestBody: {
      required: true,
      description: `JSON, at most ${MAX_BODY_BYTES} bytes.`,
      content: {
        'application/json': {
          schema: ref('schemas', 'deviceStatusInput'),
          example: {
            volumes: [
              { volumeType: 1, protectionStatus: 'on', recoveryPasswordIds: ['b465e4e8-e4e8-b465-e8e4-65b4e8e465b4'], mountPoint: 'C:' },
            ],
          },
        },
      },
    },
    success: { 200: STATUS },
    errors: [...BODY_ERRORS, 404, 409],
  },
];

const REPORT_OPERATIONS: readonly OperationSpec[] = [
  {
    method: 'get',
    action: 'getCoverageReport',
    summary: 'Get the escrow coverage report',
    description:
      'The latest computed report: generatedDateTime, a count per state, and a page of devices; follow @odata.nextLink. ' +
      '404 until a report was computed (npm run coverage or COVERAGE_SCHEDULE). Never a recovery password.',
    permission: 'readCoverage',
    parameters: ['coverageFilter', 'top', 'skipToken'],
    success: { 200: jsonResponseObject('The report, one page of devices.', ref('schemas', 'coverageReport')) },
    errors: [404],
  },
];

/** The item path of each device-status route, and each coverage-report route. */
export function coveragePaths(deviceStatusRoutes: readonly string[], coverageRoutes: readonly string[]): [string, PathItemObject][] {
  return [
    ...deviceStatusRoutes.map((route): [string, PathItemObject] => {
      const [path, item] = pathItem({ route, path: `/${route}/{deviceId}`, tag: COVERAGE_TAG }, STATUS_OPERATIONS);
      return [path, { ...item, parameters: [ref('parameters', 'deviceId')] }];
    }),
    ...coverageRoutes.map((route) => pathItem({ route, path: `/${route}`, tag: COVERAGE_TAG }, REPORT_OPERATIONS)),
  ];
}
