import { busyMs, longestChain, tableOf } from '../../scripts/bench/requestChain';

// How the benchmark and the request-count tests line storage requests up: "in a row" must count
// round trips the caller waits for one after another, and only those.

describe('longestChain: requests in a row', () => {
  test('none, one, and requests that touch end to start are a chain', () => {
    expect(longestChain([])).toBe(0);
    expect(longestChain([[0, 5]])).toBe(1);
    expect(
      longestChain([
        [0, 5],
        [5, 9],
        [9, 12],
      ]),
    ).toBe(3);
  });

  test('a > (b | c) > d is 3 in a row, whichever of b and c ends first', () => {
    expect(
      longestChain([
        [0, 4],
        [5, 9],
        [5, 12],
        [13, 15],
      ]),
    ).toBe(3);
    expect(
      longestChain([
        [13, 15],
        [5, 12],
        [0, 4],
        [6, 9],
      ]),
    ).toBe(3);
  });

  test('requests all in flight at once are 1 in a row', () => {
    expect(
      longestChain([
        [0, 10],
        [1, 9],
        [2, 8],
        [3, 11],
      ]),
    ).toBe(1);
  });
});

describe('busyMs: time with a request in flight', () => {
  test('the union of the intervals, gaps left out', () => {
    expect(busyMs([])).toBe(0);
    expect(
      busyMs([
        [0, 4],
        [2, 6],
        [10, 11],
      ]),
    ).toBe(7);
  });
});

describe('tableOf: the table a Table service request is about', () => {
  test.each([
    ["/devstoreaccount1/RecoveryKeys(PartitionKey='a',RowKey='b')", 'RecoveryKeys'],
    ['/devstoreaccount1/RecoveryKeysByDevice()?$filter=x', 'RecoveryKeysByDevice'],
    ['/devstoreaccount1/$batch', '$batch'],
    ['/devstoreaccount1/Tables', 'Tables'],
  ])('%s is %s', (path, table) => {
    expect(tableOf(path)).toBe(table);
  });
});
