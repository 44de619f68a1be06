import type { AlternativeSecurityId } from './alternativeSecurityId';

/** A device as Microsoft Graph describes it (`GET /v1.0/devices`, the properties the proof needs). */
export interface DirectoryDevice {
  /** Graph's object id. */
  id?: string;
  deviceId: string;
  accountEnabled: boolean;
  alternativeSecurityIds: AlternativeSecurityId[];
}

/** Where devices are looked up: Microsoft Graph in Azure, a folder under `.local/` in development. */
export interface DeviceDirectory {
  /**
   * The device with this deviceId (lower-case GUID), or undefined when there is none.
   * Throws DirectoryUnavailable when the directory cannot answer: the proof then fails closed (503).
   */
  findDevice(deviceId: string): Promise<DirectoryDevice | undefined>;
}

/** The directory could not say whether the device exists; never a pass. */
export class DirectoryUnavailable extends Error {
  override name = 'DirectoryUnavailable';

  constructor(
    message: string,
    /** Seconds the directory asked us to wait, when it said. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}
