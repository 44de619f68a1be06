import { requestClassOf } from '../../scripts/bench/requestClass';

// The counting proxy's classes, from URLs as @azure/data-tables sends them (the filter encoded in the query).

const query = (filter: string): string => `/devstoreaccount1/AuditLog()?$filter=${encodeURIComponent(filter)}`;

describe('requestClassOf', () => {
  it.each([
    ['GET', "/devstoreaccount1/RecoveryKeys(PartitionKey='a',RowKey='recoveryKey')", 'point'],
    ['PUT', "/devstoreaccount1/AuditLog(PartitionKey='s03',RowKey='t-1')", 'point'],
    ['MERGE', "/devstoreaccount1/RecoveryKeysByDevice(PartitionKey='d',RowKey='k')", 'point'],
    ['POST', '/devstoreaccount1/$batch', 'batch'],
    ['POST', '/devstoreaccount1/Tables', 'table'],
    ['POST', '/devstoreaccount1/AuditLog', 'point'],
    ['GET', query("PartitionKey eq 's03' and RowKey ge 't' and RowKey lt 'u'"), 'partition'],
    ['GET', query("(PartitionKey eq 'k') and (RowKey eq 'recoveryKey' or RowKey ge 'claim-')"), 'partition'],
    ['GET', query("PartitionKey ge 'a' and PartitionKey lt 'a~' and RowKey eq 'recoveryKey'"), 'key-range'],
    ['GET', query("PartitionKey gt 'a'"), 'scan'],
    ['GET', query("PartitionKey eq 'a' or PartitionKey eq 'b'"), 'scan'],
    ['GET', query("targetResources eq 'x' and RowKey eq 'PartitionKey eq '''"), 'scan'],
    ['GET', query("RowKey eq 'recoveryKey' and deletedDateTime gt ''"), 'scan'],
    ['GET', '/devstoreaccount1/AuditLog()', 'scan'],
  ])('%s %s is %s', (method, url, expected) => {
    expect(requestClassOf(method, url)).toBe(expected);
  });
});
