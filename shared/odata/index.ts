// OData query options of the recovery-key API: $filter, $top, $select and $skiptoken.

export { type KeyFilter, MAX_FILTER_LENGTH, MAX_PREFIX_LENGTH, parseKeyFilter, SUPPORTED_FILTERS } from './filter';
export {
  DEFAULT_PAGE_SIZE,
  ITEM_SELECTABLE_PROPERTIES,
  type ItemSelect,
  type ItemSelectableProperty,
  type ListQuery,
  MAX_TOP,
  parseItemSelect,
  parseListQuery,
  parsePageQuery,
  refuseQueryOptions,
  SELECTABLE_PROPERTIES,
  type SelectableProperty,
} from './listQuery';
export { nextLinkOf } from './nextLink';
export {
  continuationOf,
  decodeSkipToken,
  encodeSkipToken,
  INVALID_SKIP_TOKEN_MESSAGE,
  MAX_SKIP_TOKEN_LENGTH,
  type SkipTokenState,
} from './skipToken';
