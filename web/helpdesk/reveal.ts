import { KEYS, request } from './api';
import { byId, h } from './dom';
import { explain, showProblem } from './explain';
import { REVEAL_REASON_HEADER, REVEAL_TICKET_HEADER } from '../../shared/revealReasons';
import { MAX_REVEAL_REASON_TEXT, MAX_REVEAL_TICKET, PRINTABLE_ASCII } from '../../shared/revealReasons';
import { REVEAL_REASONS, revealReasonHeader } from './reasons';
import type { DeviceNames } from './deviceNames';
import type { KeyRow } from './results';
import type { Session } from './session';

/** Reveals a key after asking why, shows it for `revealSeconds`, and hides it when the page is left. */
export interface Revealer {
  open(row: KeyRow): void;
  hide(): void;
}

export function setUpReveal(session: Session, revealSeconds: number, names: DeviceNames): Revealer {
  const dialog = byId<HTMLDialogElement>('reveal-dialog');
  const form = byId<HTMLFormElement>('reveal-form');
  const reason = byId<HTMLSelectElement>('reveal-reason');
  const details = byId<HTMLInputElement>('reveal-details');
  const ticket = byId<HTMLInputElement>('reveal-ticket');
  const dialogProblem = byId('reveal-problem');
  const confirm = byId<HTMLButtonElement>('reveal-confirm');
  const section = byId('revealed');
  const keyText = byId('revealed-key');
  const status = byId('revealed-status');
  const countdown = byId('revealed-countdown');
  const note = byId('reveal-note');

  reason.replaceChildren(
    h('option', { value: '' }, 'Choose a reason'),
    ...REVEAL_REASONS.map((r) => h('option', { value: r.code }, r.words)),
  );
  let target: KeyRow | undefined;
  let shownKey: string | undefined;
  let timers: number[] = [];

  const hide = (): void => {
    // Timeouts and intervals share one id pool (HTML standard), so clearTimeout ends both.
    for (const timer of timers) clearTimeout(timer);
    timers = [];
    if (shownKey === undefined) return;
    shownKey = undefined;
    keyText.replaceChildren();
    status.textContent = '';
    section.hidden = true;
    note.textContent = 'The key was hidden. Reveal it again if the user still needs it.';
  };

  const show = (row: KeyRow, key: string): void => {
    hide();
    shownKey = key;
    note.textContent = '';
    byId('revealed-id').textContent = `${row.id} of ${names.describe(row.deviceId)}`;
    // The 8 groups of 6 digits as the recovery screen asks for them, spaced, never as one long number.
    keyText.replaceChildren(...key.split('-').flatMap((group, i) => [...(i ? [' '] : []), h('span', { class: 'group' }, group)]));
    section.hidden = false;
    const hideAt = Date.now() + revealSeconds * 1000;
    const tick = (): void => {
      countdown.textContent = `Hidden in ${Math.max(0, Math.ceil((hideAt - Date.now()) / 1000))} s.`;
    };
    tick();
    timers = [window.setTimeout(hide, revealSeconds * 1000), window.setInterval(tick, 1000)];
    byId('revealed-title').focus();
  };

  const open = (row: KeyRow): void => {
    target = row;
    form.reset();
    showProblem(dialogProblem, undefined);
    byId('reveal-dialog-id').textContent = `${row.id} of ${names.describe(row.deviceId)}`;
    dialog.showModal();
    reason.focus();
  };

  const problemOfInput = (): string | undefined => {
    if (!reason.value) return 'Choose a reason.';
    if (!PRINTABLE_ASCII.test(details.value) || details.value.length > MAX_REVEAL_REASON_TEXT)
      return `Details: up to ${MAX_REVEAL_REASON_TEXT} characters without accents or line breaks.`;
    if (!PRINTABLE_ASCII.test(ticket.value) || ticket.value.length > MAX_REVEAL_TICKET)
      return `Ticket: up to ${MAX_REVEAL_TICKET} characters without accents.`;
    return undefined;
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const row = target;
    const problem = problemOfInput();
    if (!row || problem) {
      showProblem(dialogProblem, problem ? { message: problem } : undefined);
      return;
    }
    const headers: Record<string, string> = { [REVEAL_REASON_HEADER]: revealReasonHeader(reason.value, details.value) };
    if (ticket.value.trim()) headers[REVEAL_TICKET_HEADER] = ticket.value.trim();
    confirm.disabled = true;
    void (async () => {
      try {
        const token = await session.accessToken();
        // Always the row's device: when several devices hold the id, each has its own password.
        const url = `${KEYS}/${encodeURIComponent(row.id)}?$select=key&deviceId=${encodeURIComponent(row.deviceId)}`;
        const found = await request<{ key?: string }>('GET', url, { token, headers });
        dialog.close();
        if (found.key) show(row, found.key);
        else showProblem(byId('problem'), { message: 'The service returned no key for this ID.' });
      } catch (error) {
        showProblem(dialogProblem, explain(error, 'reveal recovery keys'));
      } finally {
        confirm.disabled = false;
      }
    })();
  });
  byId('reveal-cancel').addEventListener('click', () => dialog.close());

  byId('revealed-hide').addEventListener('click', hide);
  byId('revealed-copy').addEventListener('click', () => {
    if (shownKey === undefined) return;
    navigator.clipboard.writeText(shownKey).then(
      () => (status.textContent = 'Copied.'),
      () => (status.textContent = 'Copying was not allowed by the browser: read the key out instead.'),
    );
  });
  // Leaving the page (another tab, minimised, navigated away) hides the key at once.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') hide();
  });
  window.addEventListener('pagehide', hide);

  return { open, hide };
}
