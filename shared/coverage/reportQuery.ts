import { badRequest } from '../errors/graphError';
import { parsePageQuery } from '../odata';
import { quoteClientText } from '../text/quoteClientText';
import { COVERAGE_STATES, type CoverageState } from './model';

// The query options of GET coverageReport: $filter=state eq '<state>', $top and $skiptoken.

export interface ReportQuery {
  state?: CoverageState;
  top: number;
  skipToken?: string;
}

const STATE_FILTER = /^\s*state\s+eq\s+'([A-Za-z]+)'\s*$/;

export function parseReportQuery(query: URLSearchParams): ReportQuery {
  const filters = query.getAll('$filter');
  if (filters.length > 1) throw badRequest('The query option $filter is given more than once; give it once.');
  const rest = new URLSearchParams(query);
  rest.delete('$filter');
  const page = parsePageQuery(rest, 'on the coverage report');
  if (filters.length === 0) return page;
  const state = STATE_FILTER.exec(filters[0])?.[1];
  if (!state || !(COVERAGE_STATES as readonly string[]).includes(state)) {
    throw badRequest(
      `$filter ${quoteClientText(filters[0])} is not supported on the coverage report; use state eq '<state>', one of ${COVERAGE_STATES.join(', ')}.`,
    );
  }
  return { ...page, state: state as CoverageState };
}
