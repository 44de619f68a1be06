import { InFlightLimit } from '../../shared/storage/inFlightLimit';
import { request } from './api';
import { h } from './dom';
import type { Session } from './session';

// Devices by name and owner, not only by GUID: the caller on the phone knows their laptop's name, and
// when several devices hold one key id (a cloned disk, or a squat) the name is how the helpdesk picks
// the caller's. Names come from the service's device status answer, which carries the device
// inventory's display name and owner.

export const DEVICE_STATUSES = '/v1.0/informationProtection/bitlocker/deviceStatuses';

export interface DeviceName {
  displayName?: string;
  owner?: string;
}

/** "LAPTOP-042 (ana@contoso.com)", or undefined when the service knows no name. */
export const nameText = ({ displayName, owner }: DeviceName): string | undefined =>
  displayName === undefined ? undefined : owner ? `${displayName} (${owner})` : displayName;

/**
 * Lookups in flight at once: a prefix search can list keys of many devices (decoys of many enrolled
 * devices among them), and each lookup is a few storage reads on the service.
 */
const LOOKUPS_IN_FLIGHT = 4;

/** Looks each device up once per page: a search of 25 keys of one device is one request. */
export class DeviceNames {
  private readonly known = new Map<string, Promise<DeviceName>>();
  private readonly lookups = new InFlightLimit(LOOKUPS_IN_FLIGHT);
  private readonly resolved = new Map<string, DeviceName>();

  constructor(private readonly session: Session) {}

  of(deviceId: string): Promise<DeviceName> {
    let lookup = this.known.get(deviceId);
    if (!lookup) {
      lookup = this.lookups.run(() => this.fetch(deviceId));
      this.known.set(deviceId, lookup);
    }
    return lookup;
  }

  /** The name as far as already known, for text written at once (a dialog's title): "NAME (owner), device <id>" or "device <id>". */
  describe(deviceId: string): string {
    const name = nameText(this.resolved.get(deviceId) ?? {});
    return name ? `${name}, device ${deviceId}` : `device ${deviceId}`;
  }

  /** The device id, with its name and owner filled in when they arrive. */
  label(deviceId: string): HTMLElement {
    const name = h('span', { class: 'device-name' });
    void this.of(deviceId).then((found) => {
      name.textContent = nameText(found) ?? '(name unknown)';
    });
    return h('span', { class: 'device' }, name, h('br'), h('span', { class: 'mono' }, deviceId));
  }

  private async fetch(deviceId: string): Promise<DeviceName> {
    let found: DeviceName = {};
    try {
      const answer = await request<{ displayName?: string; userPrincipalName?: string }>(
        'GET',
        `${DEVICE_STATUSES}/${encodeURIComponent(deviceId)}`,
        { token: await this.session.accessToken() },
      );
      found = { displayName: answer.displayName, owner: answer.userPrincipalName };
    } catch {
      // Unknown to the service (404), or not answered: the id alone is shown, as before.
    }
    this.resolved.set(deviceId, found);
    return found;
  }
}
