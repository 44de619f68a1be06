// The device inventory: the Windows devices Entra ID and Intune know, as Graph lists them, by Entra
// device id (a key's deviceId, Intune's azureADDeviceId).

export type InventorySource = 'entra' | 'intune';
export const INVENTORY_SOURCES: readonly InventorySource[] = ['entra', 'intune'];

/** GET /v1.0/devices: the fields the inventory keeps. */
export interface EntraDevice {
  deviceId: string;
  displayName?: string;
  accountEnabled?: boolean;
  approximateLastSignInDateTime?: string;
  trustType?: string;
}

/** GET /v1.0/deviceManagement/managedDevices: the fields the inventory keeps. */
export interface IntuneDevice {
  /** Intune's own id of the managed device (one Entra device can be enrolled more than once). */
  id: string;
  azureADDeviceId: string;
  deviceName?: string;
  isEncrypted?: boolean;
  lastSyncDateTime?: string;
  userPrincipalName?: string;
}

/** One device as both sources know it. */
export interface InventoryDevice {
  deviceId: string;
  entra?: EntraDevice;
  /** Its Intune enrolments, most recently synced first. */
  intune: IntuneDevice[];
}

export const displayNameOf = (device: InventoryDevice): string | undefined => device.entra?.displayName ?? device.intune[0]?.deviceName;
export const ownerOf = (device: InventoryDevice): string | undefined => device.intune.find((d) => d.userPrincipalName)?.userPrincipalName;
/** Encrypted per Intune's compliance data (any enrolment says so). */
export const encryptedPerIntune = (device: InventoryDevice): boolean => device.intune.some((d) => d.isEncrypted === true);
