import { auditUnavailable } from '../../../shared/audit/store';
import { StorageError } from '../../../shared/storage/storageError';

// The audit trail's 503 carries a mark in its log details, which graphHandler writes to the
// dependencyFailure line: the "audit records could not be written" alert rule (infra/resources.bicep)
// counts the lines with `cause.audit`, since the failed call alone (`POST $batch`) names no table.

describe('auditUnavailable', () => {
  it("keeps the failed storage call's details and marks them as the audit table's", () => {
    const details = { call: 'POST $batch', code: 'ServerBusy', status: 503, tries: 3, ms: 2_400 };
    const error = auditUnavailable(new StorageError('throttled', 'busy', 'The audit record', 7, details));
    expect({ status: error.status, headers: error.headers, logDetails: error.logDetails }).toEqual({
      status: 503,
      headers: { 'Retry-After': '7' },
      logDetails: { ...details, audit: 'table' },
    });
  });

  it('marks a failure that is not a storage outcome too, so that no refused operation goes uncounted', () => {
    expect(auditUnavailable(new TypeError('fetch failed')).logDetails).toEqual({ audit: 'table' });
  });
});
