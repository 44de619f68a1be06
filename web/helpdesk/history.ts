import { AUDITS, listUrl, odataString, type Page, request } from './api';
import type { DeviceNames } from './deviceNames';
import { byId, h, utcDateTime } from './dom';
import { explain, showProblem } from './explain';
import { Pager } from './pager';
import { reasonInWords } from './reasons';
import type { Session } from './session';

/** The parts of Graph's directoryAudit the history shows. */
interface DirectoryAudit {
  activityDateTime: string;
  activityDisplayName: string;
  result: string;
  resultReason: string;
  initiatedBy: { user: { userPrincipalName: string | null } | null; app: { appId: string } | null };
  additionalDetails: { key: string; value: string }[];
}

const HISTORY_PAGE_SIZE = 50;

const detail = (event: DirectoryAudit, key: string): string => event.additionalDetails.find((d) => d.key === key)?.value ?? '';

function who(event: DirectoryAudit, names: DeviceNames): string | HTMLElement {
  const user = event.initiatedBy.user?.userPrincipalName;
  if (user) return user;
  if (event.initiatedBy.app) return `application ${event.initiatedBy.app.appId}`;
  // A device escrowing its own key signs as itself: neither a user nor an app.
  const deviceId = detail(event, 'InitiatedByDeviceId');
  const deviceName = detail(event, 'InitiatedByDeviceName');
  if (deviceId) return deviceName ? `device ${deviceName} (${deviceId})` : names.label(deviceId);
  return 'unknown';
}

function rowOf(event: DirectoryAudit, names: DeviceNames): HTMLTableRowElement {
  const reason = detail(event, 'RevealReason');
  const result = event.result === 'success' ? 'Done' : `Refused: ${event.resultReason}`;
  return h(
    'tr',
    {},
    h('td', {}, utcDateTime(event.activityDateTime)),
    h('td', {}, who(event, names)),
    h('td', {}, event.activityDisplayName),
    h('td', {}, result),
    h('td', {}, reason ? reasonInWords(reason) : ''),
    h('td', {}, detail(event, 'RevealTicket')),
  );
}

export interface History {
  show(keyId: string): void;
  /** Hides the trail shown, at once (a new search). */
  clear(): void;
}

/** A key's audit trail: who read, changed or deleted it, when, why; newest first, as the service lists it. */
export function setUpHistory(session: Session, names: DeviceNames): History {
  const section = byId('history');
  const table = byId('history-table');
  const summary = byId('history-summary');
  const title = byId('history-title');
  const problem = byId('problem');
  const fail = (error: unknown): void => showProblem(problem, explain(error, 'read the audit trail'));
  const pager = new Pager<DirectoryAudit>(
    byId<HTMLButtonElement>('history-more'),
    async (url) => request<Page<DirectoryAudit>>('GET', url, { token: await session.accessToken() }),
    () => {
      const count = pager.items.length;
      summary.textContent =
        count === 0
          ? 'Nothing recorded for this key.'
          : `${pager.hasMore ? 'The latest' : 'All'} ${count} recorded event${count === 1 ? '' : 's'}, newest first.`;
      table.hidden = count === 0;
      byId('history-rows').replaceChildren(...pager.items.map((event) => rowOf(event, names)));
    },
    fail,
  );

  let shown = 0;
  const clear = (): void => {
    shown++;
    section.hidden = true;
    byId('history-rows').replaceChildren();
    summary.textContent = '';
  };
  const show = (keyId: string): void => {
    const generation = ++shown;
    showProblem(problem, undefined);
    const filter = `targetResources/any(t:t/id eq ${odataString(keyId)})`;
    void pager.reset([listUrl(AUDITS, { $filter: filter, $top: String(HISTORY_PAGE_SIZE) })]).then(() => {
      if (generation !== shown) return; // a new search cleared it while this page was loading
      title.textContent = `History of key ${keyId}`;
      section.hidden = false;
      title.focus();
    }, fail);
  };
  return { show, clear };
}
