import { COVERAGE, listUrl, odataString, type Page, request } from './api';
import { byId, button, h, utcDateTime } from './dom';
import { explain, showProblem } from './explain';
import { Pager } from './pager';
import type { Session } from './session';
import { COVERAGE_STATES, type CoverageRow, type CoverageState, type CoverageSummary } from '../../shared/coverage/model';
import { csvHeader, csvLine } from '../../shared/coverage/csv';

// The Coverage view: how many devices are in each state of the latest report (and how that went day by
// day), a state's devices with their names and owners, and the rows as CSV. Loaded when asked for:
// the report is an admin's question more than a helpdesk call's.

interface ReportPage extends Page<CoverageRow> {
  generatedDateTime: string;
  summary: CoverageSummary;
  trend?: { date: string; summary: CoverageSummary }[];
}

/** Devices per page of the table. */
export const COVERAGE_PAGE_SIZE = 50;

const LABELS: Readonly<Record<CoverageState, string>> = {
  rotationOverdue: 'Rotation overdue',
  noKeys: 'No keys escrowed',
  missingKey: 'Key missing',
  noReport: 'No recent report',
  covered: 'Covered',
};

const stateUrl = (state: CoverageState, top = COVERAGE_PAGE_SIZE): string =>
  listUrl(COVERAGE, { $filter: `state eq ${odataString(state)}`, $top: String(top) });

export function setUpCoverage(session: Session): void {
  const section = byId('coverage');
  const counts = byId('coverage-counts');
  const status = byId('coverage-status');
  const table = byId('coverage-table');
  const rows = byId('coverage-rows');
  const problem = byId('problem');
  let selected: CoverageState | undefined;

  /** The report's head as the last page answered it (every page carries it). */
  let head: ReportPage | undefined;
  const fetchPage = async (url: string): Promise<ReportPage> => {
    const page = await request<ReportPage>('GET', url, { token: await session.accessToken() });
    head = page;
    return page;
  };
  const render = (): void => {
    rows.replaceChildren(
      ...pager.items.map((row) =>
        h(
          'tr',
          {},
          h('td', {}, row.displayName ?? '(not in the inventory)'),
          h('td', {}, row.userPrincipalName ?? ''),
          h('td', { class: 'mono' }, row.deviceId),
          h('td', {}, row.flags.join(', ')),
          h('td', {}, row.lastReportedDateTime ? utcDateTime(row.lastReportedDateTime) : 'never'),
          h('td', {}, String(row.liveKeyCount)),
        ),
      ),
    );
    table.hidden = pager.items.length === 0;
  };
  const pager = new Pager<CoverageRow>(byId<HTMLButtonElement>('coverage-more'), fetchPage, render, (error) =>
    showProblem(problem, explain(error, 'read the coverage report')),
  );

  function showSummary(page: ReportPage): void {
    const total = COVERAGE_STATES.reduce((sum, state) => sum + page.summary[state], 0);
    counts.replaceChildren(
      ...COVERAGE_STATES.map((state) => {
        const count = page.summary[state];
        const share = total === 0 ? 0 : Math.round((count / total) * 100);
        const bar = h('span', { class: `coverage-bar state-${state}` });
        // Through the CSSOM: the page's CSP refuses style attributes.
        bar.style.width = `${share}%`;
        return h(
          'li',
          {},
          button(`${LABELS[state]}: ${count}`, () => void choose(state), { 'aria-pressed': String(state === selected) }),
          h('span', { class: 'coverage-track', 'aria-hidden': 'true' }, bar),
        );
      }),
    );
    const trend = page.trend ?? [];
    const days =
      trend.length > 1
        ? ` Trend over ${trend.length} days: ${trend.map((d) => `${d.date} ${d.summary.covered}/${d.summary.devices}`).join(', ')}.`
        : '';
    status.textContent = `Report of ${utcDateTime(page.generatedDateTime)}: ${page.summary.devices} devices, ${page.summary.notEncrypted} with nothing to unlock.${days}`;
  }

  async function choose(state: CoverageState): Promise<void> {
    selected = state;
    showProblem(problem, undefined);
    try {
      await pager.reset([stateUrl(state)]);
      // Set once the rows are in: the heading names what the table shows.
      if (head && selected === state) {
        showSummary(head);
        byId('coverage-list-title').textContent = `${LABELS[state]} (${head.summary[state]})`;
      }
    } catch (error) {
      showProblem(problem, explain(error, 'read the coverage report'));
    }
  }

  /** Every row of the selected state as CSV, built in the page from the API's pages (formula-looking cells as text). */
  async function download(): Promise<void> {
    if (!selected) return;
    let csv = csvHeader();
    let url: string | undefined = stateUrl(selected, 1000);
    while (url) {
      const page: ReportPage = await fetchPage(url);
      for (const row of page.value) csv += csvLine(row);
      url = page['@odata.nextLink'];
    }
    const link = h('a', { href: URL.createObjectURL(new Blob([csv], { type: 'text/csv' })), download: `coverage-${selected}.csv` });
    link.click();
    URL.revokeObjectURL(link.href);
  }

  byId('coverage-show').addEventListener('click', () => {
    section.hidden = false;
    void choose(selected ?? 'missingKey');
  });
  byId('coverage-csv').addEventListener(
    'click',
    () => void download().catch((error: unknown) => showProblem(problem, explain(error, 'download the coverage report'))),
  );
}
