import { request, REVEAL_GRANTS, type Page } from './api';
import { deviceKeysUrl } from './approvals';
import { button, byId, h } from './dom';
import { explain, showProblem } from './explain';
import type { KeyRow } from './results';
import { READ_KEY, type Session } from './session';

// Mass recovery: the devices of a bulk grant, worked through one by one. Reveals go through the same
// dialog (reason, ticket) and are each audited with the grant; "done" is this page's note only.

interface QueueDevice {
  deviceId: string;
  displayName: string | null;
}

export function setUpQueue(session: Session, reveal: (row: KeyRow) => void): void {
  if (!session.permissions.has(READ_KEY)) return;
  byId('queue').hidden = false;
  const status = byId('queue-status');
  const rows = byId('queue-rows');
  let total = 0;
  const progress = (): void => {
    const done = rows.querySelectorAll('input[type=checkbox]:checked').length;
    status.textContent = `${done} of ${total} devices done.`;
  };

  const showKeys = (device: QueueDevice, cell: HTMLElement) => () =>
    void (async () => {
      try {
        const page = await request<Page<KeyRow>>('GET', deviceKeysUrl(device.deviceId), { token: await session.accessToken() });
        cell.replaceChildren(
          ...page.value.map((key) => button(`Reveal ${key.id.slice(0, 8)}`, () => reveal(key), { 'aria-label': `Reveal key ${key.id}` })),
        );
      } catch (error) {
        showProblem(byId('problem'), explain(error, 'list the keys of queued devices'));
      }
    })();

  byId<HTMLFormElement>('queue-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      try {
        const id = byId<HTMLInputElement>('queue-grant').value.trim();
        const page = await request<Page<QueueDevice>>('GET', `${REVEAL_GRANTS}/${encodeURIComponent(id)}/devices`, {
          token: await session.accessToken(),
        });
        total = page.value.length;
        rows.replaceChildren(
          ...page.value.map((device) => {
            const actions = h('td', {});
            actions.append(button('Show keys', showKeys(device, actions)));
            const done = h('input', { type: 'checkbox', 'aria-label': `Done: ${device.displayName ?? device.deviceId}` });
            done.addEventListener('change', progress);
            return h(
              'tr',
              {},
              h('td', {}, device.displayName ?? ''),
              h('td', { class: 'mono' }, device.deviceId),
              actions,
              h('td', {}, done),
            );
          }),
        );
        byId('queue-table').hidden = total === 0;
        progress();
      } catch (error) {
        showProblem(byId('problem'), explain(error, 'open mass-recovery queues'));
      }
    })();
  });
}
