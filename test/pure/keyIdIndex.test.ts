import { randomUUID } from 'node:crypto';
import { KeyIdIndex } from '../../shared/keyImport/keyIdIndex';

// The import's index of key ids (first line, digest of the row's values): what lets it tell a repeated
// row from a clash while streaming a file it never holds.

it('keeps each id first line through growth, and tells a repeat (same values) from a clash', () => {
  const index = new KeyIdIndex();
  const ids = Array.from({ length: 20_000 }, () => randomUUID());
  ids.forEach((id, i) => expect(index.add(id, i + 2, `values of ${id}`)).toBeUndefined());
  expect(index.size).toBe(ids.length);
  // 28 bytes an entry, at most twice that with the free slots.
  expect(index.bytes).toBeLessThanOrEqual(56 * ids.length + 28 * 1024);
  expect(ids.map((id) => index.firstLine(id))).toEqual(ids.map((_, i) => i + 2));
  expect(index.add(ids[7], 50_000, `values of ${ids[7]}`)).toEqual({ line: 9, same: true });
  expect(index.add(ids[7], 50_001, 'other values')).toEqual({ line: 9, same: false });
  expect(index.firstLine(randomUUID())).toBeUndefined();
});

it('ids that differ in one word only are different entries', () => {
  const index = new KeyIdIndex();
  const base = '0123abcd-0000-4000-8000-000000000000';
  const twins = [
    base,
    '0123abcd-0000-4000-8000-000000000001',
    '1123abcd-0000-4000-8000-000000000000',
    '0123abcd-0001-4000-8000-000000000000',
  ];
  twins.forEach((id, i) => expect(index.add(id, i + 2, 'v')).toBeUndefined());
  expect(twins.map((id) => index.firstLine(id))).toEqual([2, 3, 4, 5]);
});
