import { badRequest } from '../errors/graphError';
import { normalizeGuid } from '../text/normalizeGuid';
import { quoteClientText } from '../text/quoteClientText';
import { differentCase, type KeyFilter, parseKeyFilter } from './filter';
import { INVALID_SKIP_TOKEN_MESSAGE } from './skipToken';

// The query options of GET {collection} and GET {collection}/{id}. Option names are matched exactly
// (lowercase, with the '$'); anything unknown or repeated is a 400 that lists what is supported, so a
// client never gets a silently unfiltered or unpaged answer to a query it thought it asked.

export const SELECTABLE_PROPERTIES = ['id', 'createdDateTime', 'deviceId', 'volumeType'] as const;
export type SelectableProperty = (typeof SELECTABLE_PROPERTIES)[number];

/** On a single key, `key` can be selected too: that is how the recovery password is read. */
export const ITEM_SELECTABLE_PROPERTIES = [...SELECTABLE_PROPERTIES, 'key'] as const;
export type ItemSelectableProperty = (typeof ITEM_SELECTABLE_PROPERTIES)[number];

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_TOP = 1000;

export interface ListQuery {
  filter?: KeyFilter;
  top: number;
  select?: SelectableProperty[];
  /** As the client sent it; decodeSkipToken checks it against the filter. */
  skipToken?: string;
}

export interface ItemSelect {
  includeKey: boolean;
  select?: ItemSelectableProperty[];
  /** The service's own `deviceId` option: which device's key, when several devices hold the id. */
  deviceId?: string;
}

const LIST_OPTIONS = ['$filter', '$top', '$select', '$skiptoken'] as const;
const ITEM_OPTIONS = ['$select', 'deviceId'] as const;
const PAGE_OPTIONS = ['$top', '$skiptoken'] as const;

const READ_KEY_HINT = 'the recovery key can only be read one at a time, with GET .../recoveryKeys/{id}?$select=key';

/** 'filter', '$FILTER' or '$Filter' for '$filter': the supported option a name was probably meant to be. */
function meantOption(name: string, supported: readonly string[]): string | undefined {
  const withDollar = name.startsWith('$') ? name : `$${name}`;
  return supported.includes(withDollar) ? withDollar : differentCase(withDollar, supported);
}

function unsupportedOption(name: string, supported: readonly string[], where: string): string {
  const meant = meantOption(name, supported);
  const hint = meant ? `; did you mean '${meant}'? (option names are lowercase and start with '$')` : '';
  return `The query option ${quoteClientText(name)} is not supported ${where}${hint}. Supported: ${supported.join(', ')}.`;
}

/** The value of each supported option present; refuses unknown and repeated options. */
export function singleOptions<T extends string>(query: URLSearchParams, supported: readonly T[], where: string): Map<T, string> {
  const options = new Map<T, string>();
  for (const [name, value] of query) {
    if (!(supported as readonly string[]).includes(name)) throw badRequest(unsupportedOption(name, supported, where));
    const option = name as T;
    if (options.has(option)) {
      throw badRequest(`The query option ${option} is given more than once; give it once. Supported: ${supported.join(', ')}.`);
    }
    options.set(option, value);
  }
  return options;
}

/**
 * Refuses any query option on a resource that takes none, naming the properties its answer always holds:
 * a client that asked for `$select` learns what it gets instead.
 */
export function refuseQueryOptions(query: URLSearchParams, where: string, answered: readonly string[]): void {
  for (const name of query.keys()) {
    throw badRequest(
      `The query option ${quoteClientText(name)} is not supported ${where}: it takes no query options. Its answer always holds ${answered.join(', ')}.`,
    );
  }
}

/** OData's system query options (OData 4.01 part 2, section 5.1), named without their '$'. */
const SYSTEM_OPTIONS = [
  'filter',
  'top',
  'skip',
  'select',
  'expand',
  'orderby',
  'count',
  'search',
  'skiptoken',
  'deltatoken',
  'format',
  'compute',
  'apply',
  'index',
  'levels',
  'schemaversion',
  'id',
];

/**
 * The query options as the parsers read them. Graph documents the '$' of system query options as optional
 * on /beta only: there (`dollarOptional`) a bare `filter`, `top`, `select`, `skiptoken`, ... is read as its
 * '$' form, and the same option given both ways is a 400. Elsewhere names stay as sent, so a bare name is
 * refused as unknown (with a "did you mean '$filter'?").
 */
export function systemQueryOptions(query: URLSearchParams, dollarOptional: boolean): URLSearchParams {
  if (!dollarOptional) return query;
  const named = new URLSearchParams();
  for (const [name, value] of query) {
    const dollared = SYSTEM_OPTIONS.includes(name) ? `$${name}` : name;
    if (dollared !== name && query.has(dollared)) {
      throw badRequest(`The query option ${dollared} is given both as '${name}' and as '${dollared}'; give it once.`);
    }
    named.append(dollared, value);
  }
  return named;
}

export function parseTop(text: string): number {
  // Digits only: Number() alone would take ' 5', '1e2', '0x10' and '+5'.
  const top = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!(top >= 1 && top <= MAX_TOP)) {
    throw badRequest(`$top must be a whole number from 1 to ${MAX_TOP}, written in digits, not ${quoteClientText(text)}.`);
  }
  return top;
}

function selectProblem(name: string, selectable: readonly string[]): string {
  const listing = `Selectable: ${selectable.join(', ')}.`;
  if (name === '') return `$select has an empty property name. ${listing}`;
  if (name === 'key') return `$select=key is not supported on the list: ${READ_KEY_HINT}. ${listing}`;
  const meant = differentCase(name, selectable);
  if (meant) return `$select: unknown property ${quoteClientText(name)}; did you mean '${meant}'? (names are case-sensitive). ${listing}`;
  return `$select: ${quoteClientText(name)} is not a property that can be selected. ${listing}`;
}

/** The named properties in first-mention order, duplicates dropped; refuses any name not in `selectable`. */
function parseSelect<T extends string>(text: string, selectable: readonly T[]): T[] {
  const names = text.split(',').map((name) => name.trim());
  for (const name of names) {
    if (!(selectable as readonly string[]).includes(name)) throw badRequest(selectProblem(name, selectable));
  }
  return [...new Set(names as T[])];
}

export function parseSkipToken(text: string): string {
  // An empty token would read as "no token" further on and silently restart the list.
  if (text === '') throw badRequest(INVALID_SKIP_TOKEN_MESSAGE);
  return text;
}

/** The options of GET {collection}: $filter, $top, $select and $skiptoken, each at most once ('$' optional on /beta). */
export function parseListQuery(query: URLSearchParams, dollarOptional = false): ListQuery {
  const options = singleOptions(systemQueryOptions(query, dollarOptional), LIST_OPTIONS, 'when listing recovery keys');
  const filter = options.get('$filter');
  const top = options.get('$top');
  const select = options.get('$select');
  const skipToken = options.get('$skiptoken');
  return {
    ...(filter !== undefined && { filter: parseKeyFilter(filter) }),
    top: top === undefined ? DEFAULT_PAGE_SIZE : parseTop(top),
    ...(select !== undefined && { select: parseSelect(select, SELECTABLE_PROPERTIES) }),
    ...(skipToken !== undefined && { skipToken: parseSkipToken(skipToken) }),
  };
}

/** Paging alone, for lists that take no filter (directory/deletedItems): $top and $skiptoken, each at most once. */
export function parsePageQuery(query: URLSearchParams, where: string): Pick<ListQuery, 'top' | 'skipToken'> {
  const options = singleOptions(query, PAGE_OPTIONS, where);
  const top = options.get('$top');
  const skipToken = options.get('$skiptoken');
  return {
    top: top === undefined ? DEFAULT_PAGE_SIZE : parseTop(top),
    ...(skipToken !== undefined && { skipToken: parseSkipToken(skipToken) }),
  };
}

/** The options of GET {collection}/{id}: only $select, where `key` asks for the recovery password. */
export function parseItemSelect(query: URLSearchParams, dollarOptional = false): ItemSelect {
  const options = singleOptions(systemQueryOptions(query, dollarOptional), ITEM_OPTIONS, 'when reading one recovery key');
  const text = options.get('$select');
  const deviceText = options.get('deviceId');
  const deviceId = deviceText === undefined ? undefined : normalizeGuid(deviceText);
  if (deviceText !== undefined && deviceId === undefined) throw badRequest(`deviceId must be a GUID, not ${quoteClientText(deviceText)}.`);
  const named = deviceId === undefined ? {} : { deviceId };
  if (text === undefined) return { includeKey: false, ...named };
  const select = parseSelect(text, ITEM_SELECTABLE_PROPERTIES);
  return { includeKey: select.includes('key'), select, ...named };
}
