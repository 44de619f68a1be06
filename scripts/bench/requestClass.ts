// What a Table service request costs the service, read from its URL alone: the classes of Microsoft's
// "Design for querying" guidance. A point query names one entity; a partition query names one
// PartitionKey (with or without a RowKey range); a key-range query bounds PartitionKey on both sides;
// anything else reads every partition of the table: a scan, whose cost grows with the table.
// Shared by the tests' counting proxy and the benchmark.

export const REQUEST_CLASSES = ['point', 'partition', 'key-range', 'scan', 'batch', 'table'] as const;
export type RequestClass = (typeof REQUEST_CLASSES)[number];

/** The `and`-joined conditions of a filter outside any parentheses; none for a filter with a top-level `or`. */
function topLevelConditions(filter: string): string[] {
  const conditions: string[] = [];
  let depth = 0;
  let quoted = false;
  let from = 0;
  for (let at = 0; at < filter.length; at++) {
    const c = filter[at];
    if (c === "'") quoted = !quoted;
    if (quoted) continue;
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (depth > 0) continue;
    // An 'or' at the top: no one condition holds for every row read.
    if (filter.slice(at, at + 4).toLowerCase() === ' or ') return [];
    if (filter.slice(at, at + 5).toLowerCase() === ' and ') {
      conditions.push(filter.slice(from, at).trim());
      from = at + 5;
    }
  }
  conditions.push(filter.slice(from).trim());
  return conditions.map((c) => c.replace(/^\((.*)\)$/, '$1'));
}

/** The class of one Table service request, from its method and path with query (as the proxy sees it). */
export function requestClassOf(method: string, pathAndQuery: string): RequestClass {
  const url = new URL(pathAndQuery, 'http://storage');
  const last = decodeURIComponent(url.pathname.slice(url.pathname.lastIndexOf('/') + 1));
  if (last === '$batch') return 'batch';
  if (/^Tables(\(.*\))?$/.test(last)) return 'table';
  if (/\(PartitionKey='.*',RowKey='.*'\)$/.test(last)) return 'point';
  if (method !== 'GET') return 'point'; // an insert: POST to the table, one entity
  const filter = url.searchParams.get('$filter');
  if (filter === null) return 'scan';
  const conditions = topLevelConditions(filter);
  if (conditions.some((c) => /^PartitionKey eq '/.test(c))) return 'partition';
  const lower = conditions.some((c) => /^PartitionKey (ge|gt) '/.test(c));
  const upper = conditions.some((c) => /^PartitionKey (le|lt) '/.test(c));
  return lower && upper ? 'key-range' : 'scan';
}
