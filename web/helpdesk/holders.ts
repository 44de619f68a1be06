// A key id prefix that several keys share. One enrolled device can write up to MAX_KEYS_PER_DEVICE keys
// whose ids start like someone else's; listed by id or date alone, such decoys push the real key off the
// page. So the rows are grouped by the device that holds them, devices with the fewest matches first
// (a real device has one key with that prefix; a flood has many), newest first within a device.

export interface HeldRow {
  id: string;
  deviceId: string;
  createdDateTime: string;
}

export interface Holder {
  deviceId: string;
  count: number;
}

/** The rows in holder order, and each holding device with how many of the rows it holds, in the same order. */
export function byHolder<T extends HeldRow>(rows: readonly T[]): { rows: T[]; holders: Holder[] } {
  const counts = new Map<string, number>();
  const newest = new Map<string, string>();
  for (const row of rows) {
    counts.set(row.deviceId, (counts.get(row.deviceId) ?? 0) + 1);
    if ((newest.get(row.deviceId) ?? '') < row.createdDateTime) newest.set(row.deviceId, row.createdDateTime);
  }
  const deviceOrder = (a: string, b: string): number =>
    counts.get(a)! - counts.get(b)! || newest.get(b)!.localeCompare(newest.get(a)!) || a.localeCompare(b);
  const sorted = [...rows].sort(
    (a, b) => deviceOrder(a.deviceId, b.deviceId) || b.createdDateTime.localeCompare(a.createdDateTime) || a.id.localeCompare(b.id),
  );
  const holders = [...counts.keys()].sort(deviceOrder).map((deviceId) => ({ deviceId, count: counts.get(deviceId)! }));
  return { rows: sorted, holders };
}
