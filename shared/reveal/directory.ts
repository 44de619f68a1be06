import { serviceUnavailable, type GraphError } from '../errors/graphError';
import { GraphClient } from '../graph/client';
import { serviceCredential } from '../graph/credential';
import { GraphCallFailed } from '../graph/errors';
import { getPage } from '../graph/paging';
import { settings } from '../config';
import { normalizeGuid } from '../text/normalizeGuid';
import { withoutSecrets } from '../redact';
import { TtlCache } from './ttlCache';

// What the reveal rules ask Microsoft Graph (application permissions GroupMember.Read.All and
// Device.Read.All on the service's identity):
//   GET /v1.0/users/{oid}/transitiveMemberOf?$select=id&$top=999          a caller's groups (on an overage)
//   GET /v1.0/devices?$filter=deviceId eq '{deviceId}'&$select=id          a key's device: the Entra
//                                      deviceId a key carries is not the device's directory object id
//   GET /v1.0/devices/{id}/transitiveMemberOf?$select=id&$top=999          its groups and administrative units
//   GET /v1.0/devices/{id}/registeredOwners?$select=id                     its owners (self-service)
//   GET /v1.0/users/{oid}/ownedDevices?$select=id,deviceId,displayName     a user's devices ("My devices")
//   GET /v1.0/groups/{id}/transitiveMembers/microsoft.graph.device?$select=id,deviceId,displayName
//                                      a bulk grant's devices (the queue)
// Every answer is kept MEMBERSHIP_TTL_MS; a failure is never kept and never answered from the cache:
// Graph down is a 503, never an allow.

/** How long an answer of Graph is trusted: a membership or ownership change takes effect here within it. */
export const MEMBERSHIP_TTL_MS = 5 * 60_000;
/** Entries per cache; beyond it the oldest go (one more Graph call each). */
const MAX_ENTRIES = 20_000;
/** Pages of one collection read at most (999 ids each): a user in more than ~50,000 groups is refused rather than read forever. */
const MAX_PAGES = 50;

/** A device as "My devices" shows it. */
export interface OwnedDevice {
  /** The Entra deviceId (what keys carry). */
  deviceId: string;
  displayName?: string;
}

export interface RevealDirectory {
  /** Object ids (lower-case) of the groups and administrative units the user is a transitive member of. */
  userGroups(oid: string): Promise<ReadonlySet<string>>;
  /** Object ids of the groups and administrative units the device (by Entra deviceId) is in; undefined when Entra does not know it. */
  deviceGroups(deviceId: string): Promise<ReadonlySet<string> | undefined>;
  /** Object ids of the device's registered owners; undefined when Entra does not know it. */
  deviceOwners(deviceId: string): Promise<ReadonlySet<string> | undefined>;
  /** The devices the user is a registered owner of. */
  ownedDevices(oid: string): Promise<readonly OwnedDevice[]>;
  /** The devices that are transitive members of a group. */
  groupDevices(groupId: string): Promise<readonly OwnedDevice[]>;
}

/**
 * The 503 of a membership check whose directory could not answer. The cause (a credential's or Graph's
 * own error text) names internals the caller has no use for: it goes to the log line only, masked.
 */
export function directoryUnavailable(error: GraphCallFailed): GraphError {
  const unavailable = serviceUnavailable(
    'Microsoft Graph could not be reached to check the reveal scope; try again later.',
    error.retryAfterSeconds ?? 10,
  );
  unavailable.logDetails = {
    dependency: 'graph',
    ...(error.status !== undefined && { graphStatus: error.status }),
    cause: withoutSecrets(error.message),
  };
  return unavailable;
}

const idsOf = (values: unknown[]): string[] =>
  values.flatMap((value) => {
    const id = (value as { id?: unknown } | null)?.id;
    return typeof id === 'string' ? [id.toLowerCase()] : [];
  });

/** Reads Graph (no cache); GraphCallFailed becomes the 503 of directoryUnavailable. */
export class GraphRevealDirectory implements RevealDirectory {
  constructor(private readonly graph: GraphClient) {}

  private async collection(path: string): Promise<unknown[]> {
    const items: unknown[] = [];
    let next: string | undefined = path;
    try {
      for (let pages = 0; next !== undefined; pages++) {
        if (pages === MAX_PAGES) throw new GraphCallFailed(`more than ${MAX_PAGES} pages at ${path.split('?')[0]}`, 200);
        const page = await getPage(this.graph, next);
        items.push(...page.value);
        next = page.nextPath;
      }
    } catch (error) {
      if (error instanceof GraphCallFailed) throw directoryUnavailable(error);
      throw error;
    }
    return items;
  }

  private async deviceObjectId(deviceId: string): Promise<string | undefined> {
    const filter = encodeURIComponent(`deviceId eq '${deviceId}'`);
    const [device] = idsOf(await this.collection(`/v1.0/devices?$filter=${filter}&$select=id`));
    return device;
  }

  async userGroups(oid: string): Promise<ReadonlySet<string>> {
    return new Set(idsOf(await this.collection(`/v1.0/users/${oid}/transitiveMemberOf?$select=id&$top=999`)));
  }

  async deviceGroups(deviceId: string): Promise<ReadonlySet<string> | undefined> {
    const id = await this.deviceObjectId(deviceId);
    if (id === undefined) return undefined;
    return new Set(idsOf(await this.collection(`/v1.0/devices/${id}/transitiveMemberOf?$select=id&$top=999`)));
  }

  async deviceOwners(deviceId: string): Promise<ReadonlySet<string> | undefined> {
    const id = await this.deviceObjectId(deviceId);
    if (id === undefined) return undefined;
    return new Set(idsOf(await this.collection(`/v1.0/devices/${id}/registeredOwners?$select=id`)));
  }

  private async devices(path: string): Promise<OwnedDevice[]> {
    return (await this.collection(path)).flatMap((value) => {
      const device = value as { deviceId?: unknown; displayName?: unknown } | null;
      const deviceId = typeof device?.deviceId === 'string' ? normalizeGuid(device.deviceId) : undefined;
      if (!deviceId) return [];
      return [{ deviceId, ...(typeof device?.displayName === 'string' && { displayName: device.displayName }) }];
    });
  }

  ownedDevices(oid: string): Promise<readonly OwnedDevice[]> {
    return this.devices(`/v1.0/users/${oid}/ownedDevices?$select=id,deviceId,displayName`);
  }

  groupDevices(groupId: string): Promise<readonly OwnedDevice[]> {
    return this.devices(`/v1.0/groups/${groupId}/transitiveMembers/microsoft.graph.device?$select=id,deviceId,displayName&$top=999`);
  }
}

/** Another directory's answers, each kept MEMBERSHIP_TTL_MS per instance; concurrent asks of one thing share one call. */
export class CachedRevealDirectory implements RevealDirectory {
  private readonly users: TtlCache<ReadonlySet<string>>;
  private readonly devices: TtlCache<ReadonlySet<string> | undefined>;
  private readonly owners: TtlCache<ReadonlySet<string> | undefined>;
  private readonly owned: TtlCache<readonly OwnedDevice[]>;
  private readonly members: TtlCache<readonly OwnedDevice[]>;

  constructor(
    private readonly inner: RevealDirectory,
    now: () => number = Date.now,
  ) {
    const cache = <V>() => new TtlCache<V>(MEMBERSHIP_TTL_MS, MAX_ENTRIES, now);
    this.users = cache();
    this.devices = cache();
    this.owners = cache();
    this.owned = cache();
    this.members = cache();
  }

  userGroups = (oid: string) => this.users.get(oid, () => this.inner.userGroups(oid));
  deviceGroups = (deviceId: string) => this.devices.get(deviceId, () => this.inner.deviceGroups(deviceId));
  deviceOwners = (deviceId: string) => this.owners.get(deviceId, () => this.inner.deviceOwners(deviceId));
  ownedDevices = (oid: string) => this.owned.get(oid, () => this.inner.ownedDevices(oid));
  groupDevices = (groupId: string) => this.members.get(groupId, () => this.inner.groupDevices(groupId));
}

let directory: RevealDirectory | undefined;

/** The process's directory: Graph (GRAPH_BASE_URL) behind the cache. */
export function revealDirectory(): RevealDirectory {
  directory ??= new CachedRevealDirectory(new GraphRevealDirectory(new GraphClient(settings().graphBaseUrl, serviceCredential())));
  return directory;
}

/** For tests that point the process at another directory (or back at Graph with `undefined`). */
export function useRevealDirectory(replacement: RevealDirectory | undefined): void {
  directory = replacement;
}
