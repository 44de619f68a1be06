import { KEYS, request, REVEAL_REQUESTS, type Page } from './api';
import { button, byId, h, utcDateTime } from './dom';
import { explain, showProblem } from './explain';
import { REVEAL_REASONS, reasonInWords } from './reasons';
import { APPROVE, READ_KEY, type Session } from './session';

// Two-person approval: an agent asks for a key's reveal to be approved; an approver (not the
// requester: the service refuses that) approves or denies. Readers see their own requests, approvers
// the tenant's pending ones.

interface RevealRequestRow {
  id: string;
  keyId: string;
  status: string;
  reason: string;
  ticket: string | null;
  requestedBy: { id: string; userPrincipalName?: string };
  createdDateTime: string;
}

export function setUpApprovals(session: Session): void {
  const canRead = session.permissions.has(READ_KEY);
  const canApprove = session.permissions.has(APPROVE);
  if (!canRead && !canApprove) return;
  byId('approvals').hidden = false;
  const form = byId<HTMLFormElement>('approval-form');
  form.hidden = !canRead;
  const status = byId('approvals-status');
  const table = byId('approvals-table');
  const rows = byId('approvals-rows');
  const reason = byId<HTMLSelectElement>('approval-reason');
  reason.replaceChildren(...REVEAL_REASONS.map((r) => h('option', { value: r.code }, r.words)));

  /** Reloads the list; `note`, a decision's or a request's own, stays in place of the empty list's text. */
  const refresh = async (note?: string): Promise<void> => {
    try {
      const page = await request<Page<RevealRequestRow>>('GET', REVEAL_REQUESTS, { token: await session.accessToken() });
      rows.replaceChildren(...page.value.map(row));
      table.hidden = page.value.length === 0;
      if (note !== undefined) status.textContent = note;
      else if (page.value.length === 0)
        status.textContent = canApprove ? 'No requests are waiting for approval.' : 'You have no reveal requests.';
    } catch (error) {
      showProblem(byId('problem'), explain(error, 'see reveal requests'));
    }
  };

  const decide = (id: string, verb: 'approve' | 'deny') => () =>
    void (async () => {
      try {
        const decided = await request<RevealRequestRow>('POST', `${REVEAL_REQUESTS}/${encodeURIComponent(id)}/${verb}`, {
          token: await session.accessToken(),
        });
        await refresh(`Request ${decided.id} is ${decided.status}.`);
      } catch (error) {
        showProblem(byId('problem'), explain(error, `${verb} reveal requests`));
      }
    })();

  function row(r: RevealRequestRow): HTMLTableRowElement {
    const actions =
      canApprove && r.status === 'pending'
        ? h('td', {}, button('Approve', decide(r.id, 'approve')), ' ', button('Deny', decide(r.id, 'deny')))
        : h('td', {});
    return h(
      'tr',
      { 'data-request': r.id },
      h('td', {}, utcDateTime(r.createdDateTime)),
      h('td', {}, r.requestedBy.userPrincipalName ?? r.requestedBy.id),
      h('td', { class: 'mono' }, r.keyId),
      h('td', {}, reasonInWords(r.reason)),
      h('td', {}, r.ticket ?? ''),
      h('td', {}, r.status),
      actions,
    );
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      try {
        const keyId = byId<HTMLInputElement>('approval-key').value.trim();
        const ticket = byId<HTMLInputElement>('approval-ticket').value.trim();
        const created = await request<RevealRequestRow>('POST', REVEAL_REQUESTS, {
          token: await session.accessToken(),
          body: { keyId, reason: reason.value, ...(ticket && { ticket }) },
        });
        showProblem(byId('problem'), undefined);
        await refresh(`Approval requested (${created.id}): ask an approver, then reveal the key.`);
      } catch (error) {
        showProblem(byId('problem'), explain(error, 'request reveal approvals'));
      }
    })();
  });
  byId('approvals-refresh').addEventListener('click', () => void refresh());
  void refresh();
}

/** The key list's link for a key id, used by the queue to find a device's keys. */
export const deviceKeysUrl = (deviceId: string): string =>
  `${KEYS}?${new URLSearchParams({ $filter: `deviceId eq '${deviceId.replace(/'/g, "''")}'` }).toString()}`;
