// The escrow coverage report's vocabulary: one state per device, and flags beside it.

/**
 * A device's state, the first that holds in this order:
 * - rotationOverdue: a key of it was disclosed (its password shown) more than ROTATION_DUE_HOURS ago
 *   and the device has not superseded it (it still reports it, or has not reported since);
 * - noKeys: encrypted (per Intune, or per its own status) and nothing escrowed;
 * - missingKey: its status reports a recovery password with no live escrowed key;
 * - noReport: no status within COVERAGE_STALE_DAYS (and nothing above);
 * - covered: every recovery password it reports is escrowed and live.
 */
export const COVERAGE_STATES = ['rotationOverdue', 'noKeys', 'missingKey', 'noReport', 'covered'] as const;
export type CoverageState = (typeof COVERAGE_STATES)[number];

export const COVERAGE_FLAGS = ['staleKeys', 'nearKeyLimit'] as const;
export type CoverageFlag = (typeof COVERAGE_FLAGS)[number];

/** nearKeyLimit from this many live keys on: Entra ID keeps at most 200 per device and refuses more. */
export const NEAR_KEY_LIMIT = 180;

/** One device's row of the report. Key ids and names; never a recovery password. */
export interface CoverageRow {
  deviceId: string;
  displayName?: string;
  userPrincipalName?: string;
  state: CoverageState;
  flags: CoverageFlag[];
  lastReportedDateTime?: string;
  liveKeyCount: number;
  /** Reported recovery-password ids with no live escrowed key (missingKey). */
  missingKeyIds: string[];
  /** Live escrowed keys the device no longer reports (staleKeys): candidates to retire. */
  staleKeyIds: string[];
  /** Disclosed keys past ROTATION_DUE_HOURS and not superseded (rotationOverdue). */
  overdueKeyIds: string[];
}

export type CoverageSummary = Record<CoverageState, number> & {
  /** Devices the report looked at: every state's count plus notEncrypted. */
  devices: number;
  /** Inventory devices with nothing to unlock (Intune says not encrypted, no status says otherwise, no keys): not listed. */
  notEncrypted: number;
  staleKeys: number;
  nearKeyLimit: number;
};

export const emptySummary = (): CoverageSummary => ({
  ...(Object.fromEntries(COVERAGE_STATES.map((state) => [state, 0])) as Record<CoverageState, number>),
  devices: 0,
  notEncrypted: 0,
  staleKeys: 0,
  nearKeyLimit: 0,
});

/** The latest report: what the API's first page shows besides its rows. */
export interface CoverageReportHead {
  reportId: string;
  generatedDateTime: string;
  summary: CoverageSummary;
}
