// A merge join of scans that each yield at most one item per device, in ascending device-id order
// (Table Storage's PartitionKey order, every key a lower-case GUID): the items of one device from every
// scan at once, in device-id order. Holds one item per scan.

export type Scans<T extends Record<string, { deviceId: string }>> = { [K in keyof T]: AsyncIterator<T[K]> };
export type Joined<T extends Record<string, { deviceId: string }>> = { deviceId: string } & { [K in keyof T]?: T[K] };

export async function* mergeByDevice<T extends Record<string, { deviceId: string }>>(scans: Scans<T>): AsyncGenerator<Joined<T>> {
  const names = Object.keys(scans) as (keyof T)[];
  const heads = new Map<keyof T, T[keyof T]>();
  const advance = async (name: keyof T): Promise<void> => {
    const next = await scans[name].next();
    if (next.done) heads.delete(name);
    else heads.set(name, next.value);
  };
  await Promise.all(names.map(advance));
  while (heads.size > 0) {
    const deviceId = [...heads.values()].map((item) => item.deviceId).reduce((a, b) => (b < a ? b : a));
    const joined = { deviceId } as Joined<T>;
    const taken = names.filter((name) => heads.get(name)?.deviceId === deviceId);
    for (const name of taken) (joined as Record<keyof T, unknown>)[name] = heads.get(name);
    await Promise.all(taken.map(advance));
    yield joined;
  }
}
