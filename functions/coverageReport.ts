import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { authorizeRequest } from '../shared/auth';
import type { CoverageRow } from '../shared/coverage/model';
import { coverageReportPage } from '../shared/coverage/reportPage';
import { parseReportQuery } from '../shared/coverage/reportQuery';
import { graphHandler } from '../shared/http/handler';
import { ALL_METHODS, dispatchByMethod } from '../shared/http/methods';
import { publicUrlOf, type RequestContext } from '../shared/http/requestContext';
import { COVERAGE_REPORT_ROUTES } from '../shared/http/routes';
import { jsonResponse } from '../shared/http/responses';
import { onlyVisible } from '../shared/reveal/scopes';

/**
 * GET {route}: the latest escrow coverage report (BitLockerKey.ReadBasic.All and up): generatedDateTime,
 * the count per state, one page of devices ($filter=state eq '<state>', $top, @odata.nextLink).
 * Names, owners and key ids; never a recovery password. A scoped user (REVEAL_SCOPES) sees only the
 * rows of devices in their scope; the summary and trend stay tenant-wide counts, which name no device
 * and no key.
 */
export async function getCoverageReport(
  request: HttpRequest,
  requestContext: RequestContext,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authorizeRequest(request, requestContext, context, 'readCoverage');
  const query = parseReportQuery(request.query);
  const shown = (rows: readonly CoverageRow[]) => onlyVisible(caller, rows);
  const body = await coverageReportPage(query, publicUrlOf(request, requestContext), requestContext.serviceRoot, shown);
  return jsonResponse(requestContext, 200, body);
}

export const coverageReportHandler = graphHandler(dispatchByMethod({ GET: getCoverageReport }));

for (const route of COVERAGE_REPORT_ROUTES) {
  const name = `coverageReport-${route.replace(/[^A-Za-z0-9]+/g, '-')}`;
  app.http(name, { methods: ALL_METHODS, authLevel: 'anonymous', route, handler: coverageReportHandler });
}
