import { MY_DEVICES, request, type Page } from './api';
import { button, byId, h, utcDateTime } from './dom';
import { explain, showProblem } from './explain';
import type { KeyRow } from './results';
import type { Session } from './session';

// Self-service: a user without a helpdesk role sees their own devices (Entra registered owner) and
// reveals a key with the same dialog as the helpdesk (a reason is required).

interface MyDevice {
  deviceId: string;
  displayName: string | null;
  recoveryKeys: { id: string; volumeType: string; createdDateTime: string }[];
}

export async function showMyDevices(session: Session, reveal: (row: KeyRow) => void): Promise<void> {
  byId('my-devices').hidden = false;
  const status = byId('my-devices-status');
  try {
    const page = await request<Page<MyDevice>>('GET', MY_DEVICES, { token: await session.accessToken() });
    const rows = page.value.flatMap((device) =>
      device.recoveryKeys.map((key) => {
        const row: KeyRow = { id: key.id, deviceId: device.deviceId, volumeType: key.volumeType, createdDateTime: key.createdDateTime };
        return h(
          'tr',
          {},
          h('td', {}, device.displayName ?? device.deviceId),
          h('td', { class: 'mono' }, key.id),
          h('td', {}, key.volumeType),
          h('td', {}, utcDateTime(key.createdDateTime)),
          h(
            'td',
            {},
            button('Reveal', () => reveal(row), { 'aria-label': `Reveal key ${key.id}` }),
          ),
        );
      }),
    );
    byId('my-devices-rows').replaceChildren(...rows);
    byId('my-devices-table').hidden = rows.length === 0;
    status.textContent = rows.length ? '' : 'No device of yours has an escrowed recovery key.';
  } catch (error) {
    showProblem(byId('problem'), explain(error, 'see your devices'));
  }
}
