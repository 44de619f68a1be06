import type { GraphClient } from '../graph/client';
import { getPage } from '../graph/paging';
import { normalizeGuid } from '../text/normalizeGuid';
import type { EntraDevice, IntuneDevice, InventorySource } from './model';

// The two Graph lists the inventory reads, and what it keeps of each item. Windows devices only: the
// escrow is BitLocker's. Entra ID pages at most 999 devices; Intune chooses its own page size.

const WINDOWS = encodeURIComponent("operatingSystem eq 'Windows'");

export const FIRST_PAGE: Readonly<Record<InventorySource, string>> = {
  entra: `/v1.0/devices?$select=deviceId,displayName,accountEnabled,approximateLastSignInDateTime,trustType,operatingSystem&$filter=${WINDOWS}&$top=999`,
  intune: `/v1.0/deviceManagement/managedDevices?$select=id,azureADDeviceId,deviceName,isEncrypted,lastSyncDateTime,userPrincipalName,operatingSystem&$filter=${WINDOWS}`,
};

/** Intune's azureADDeviceId of a device that is not registered in Entra ID. */
const NO_ENTRA_DEVICE = '00000000-0000-0000-0000-000000000000';

export interface InventoryPage {
  entra: EntraDevice[];
  intune: IntuneDevice[];
  /** Items without a usable id: Entra devices without a GUID deviceId, Intune devices not registered in Entra ID. */
  unmapped: number;
  nextPath?: string;
}

type Item = Record<string, unknown>;
const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
const flag = (value: unknown): boolean | undefined => (typeof value === 'boolean' ? value : undefined);

function entraDevice(item: Item): EntraDevice | undefined {
  const deviceId = normalizeGuid(text(item.deviceId) ?? '');
  if (!deviceId) return undefined;
  return {
    deviceId,
    displayName: text(item.displayName),
    accountEnabled: flag(item.accountEnabled),
    approximateLastSignInDateTime: text(item.approximateLastSignInDateTime),
    trustType: text(item.trustType),
  };
}

function intuneDevice(item: Item): IntuneDevice | undefined {
  const azureADDeviceId = normalizeGuid(text(item.azureADDeviceId) ?? '');
  const id = normalizeGuid(text(item.id) ?? '');
  if (!azureADDeviceId || azureADDeviceId === NO_ENTRA_DEVICE || !id) return undefined;
  return {
    id,
    azureADDeviceId,
    deviceName: text(item.deviceName),
    isEncrypted: flag(item.isEncrypted),
    lastSyncDateTime: text(item.lastSyncDateTime),
    userPrincipalName: text(item.userPrincipalName),
  };
}

/** One page of `source`'s list at `path`; throws GraphCallFailed as getPage does. */
export async function listInventoryPage(graph: GraphClient, source: InventorySource, path: string): Promise<InventoryPage> {
  const page = await getPage(graph, path);
  const items = page.value.filter((item): item is Item => typeof item === 'object' && item !== null);
  const entra = source === 'entra' ? items.map(entraDevice).filter((d): d is EntraDevice => d !== undefined) : [];
  const intune = source === 'intune' ? items.map(intuneDevice).filter((d): d is IntuneDevice => d !== undefined) : [];
  return { entra, intune, unmapped: page.value.length - entra.length - intune.length, nextPath: page.nextPath };
}
