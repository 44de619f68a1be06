import { AWAITING, listUrl, type Page, request } from './api';
import { byId, h, utcDateTime } from './dom';
import { explain, showProblem } from './explain';
import { Pager } from './pager';
import type { Session } from './session';

// Single-use keys in the console: a key's place in its rotation (docs/helpdesk.md), from the instance
// annotations the service puts on every key it lists, and the keys awaiting rotation, longest first.

/** The annotations of a key's rotation, as the API writes them (docs/api.md "Single-use keys"). */
export interface RotationAnnotations {
  '@escrow.disclosedDateTime'?: string;
  '@escrow.disclosedBy'?: string;
  '@escrow.supersededBy'?: string;
  '@escrow.supersededDateTime'?: string;
}

/**
 * A key's rotation in words, each state after the one before: `Revealed <when> by <who>`, then
 * `Rotation required`, then `Rotated <when>` naming the successor to read instead. Empty for a key never revealed.
 */
export function rotationText(key: RotationAnnotations): string {
  const parts: string[] = [];
  const disclosed = key['@escrow.disclosedDateTime'];
  if (disclosed !== undefined) parts.push(`Revealed ${utcDateTime(disclosed)} by ${key['@escrow.disclosedBy'] ?? 'someone'}.`);
  const successor = key['@escrow.supersededBy'];
  if (successor !== undefined) {
    const when = key['@escrow.supersededDateTime'];
    parts.push(`Rotated${when === undefined ? '' : ` ${utcDateTime(when)}`}: read the successor ${successor}.`);
  } else if (disclosed !== undefined) {
    parts.push('Rotation required.');
  }
  return parts.join(' ');
}

interface AwaitingRow extends RotationAnnotations {
  id: string;
  deviceId: string;
}

/** The keys awaiting rotation: a button that lists them, longest waiting first, page by page. */
export function setUpAwaiting(session: Session): void {
  const show = byId<HTMLButtonElement>('awaiting-show');
  const table = byId('awaiting-table');
  const rows = byId('awaiting-rows');
  const summary = byId('awaiting-summary');
  const problem = byId('problem');
  const pager = new Pager<AwaitingRow>(
    byId<HTMLButtonElement>('awaiting-more'),
    async (url) => request<Page<AwaitingRow>>('GET', url, { token: await session.accessToken() }),
    () => {
      // The service's order is the point: longest waiting first.
      summary.textContent =
        pager.items.length === 0
          ? 'No key is awaiting rotation.'
          : `${pager.items.length} key(s) awaiting rotation, longest waiting first.`;
      table.hidden = pager.items.length === 0;
      rows.replaceChildren(
        ...pager.items.map((row) =>
          h('tr', {}, h('td', { class: 'mono' }, row.id), h('td', { class: 'mono' }, row.deviceId), h('td', {}, rotationText(row))),
        ),
      );
    },
    (error) => showProblem(problem, explain(error, 'list the keys awaiting rotation')),
  );
  show.addEventListener('click', () => {
    pager
      .reset([listUrl(AWAITING, { $top: '50' })])
      .catch((error: unknown) => showProblem(problem, explain(error, 'list the keys awaiting rotation')));
  });
}
