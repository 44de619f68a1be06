import type { TagObject } from './types';

// The tags that group the document's operations (API Management and Swagger UI list operations by tag).

/** microsoft.graph.bitlockerRecoveryKey: the recovery-key collection and items. */
export const RECOVERY_KEY_TAG = 'bitlockerRecoveryKey';
/** directory/deletedItems: deleted keys. */
export const DELETED_ITEMS_TAG = 'deletedItems';
/** auditLogs/directoryAudits. */
export const DIRECTORY_AUDIT_TAG = 'directoryAudit';
/** Device statuses and the escrow coverage report. */
export const COVERAGE_TAG = 'coverage';
/** Reveal requests, bulk grants and self-service devices. */
export const REVEAL_TAG = 'reveal';
/** The document itself and the health probe. */
export const METADATA_TAG = 'openapi';

/** The document's `tags`, in the order a reader meets them. */
export const TAGS: TagObject[] = [
  { name: RECOVERY_KEY_TAG, description: 'microsoft.graph.bitlockerRecoveryKey' },
  { name: DELETED_ITEMS_TAG, description: 'Deleted recovery keys (directory/deletedItems): list, read, restore, purge.' },
  { name: DIRECTORY_AUDIT_TAG, description: 'microsoft.graph.directoryAudit: the audit trail of recovery-key operations.' },
  { name: COVERAGE_TAG, description: "Devices' BitLocker statuses and the escrow coverage report." },
  { name: REVEAL_TAG, description: 'Who may reveal which key: approval requests, bulk grants for mass recovery, self-service devices.' },
  { name: METADATA_TAG, description: 'This description of the API, and the health probe.' },
];
