// Why a recovery key is being revealed: the reason codes a key read may carry in X-Reveal-Reason.
// This module imports nothing, so a web console can import the list as is.

/**
 * The reason codes, after the recovery reasons of Microsoft BitLocker Administration and Monitoring
 * (MBAM)'s Helpdesk portal: what made BitLocker ask for the recovery key, or why the data is recovered.
 */
export const REVEAL_REASON_CODES = [
  'bootConfigurationChanged',
  'firmwareChanged',
  'operatingSystemFilesModified',
  'lostStartupKey',
  'lostPin',
  'tpmReset',
  'lostPassphrase',
  'lostSmartCard',
  'dataRecovery',
  'other',
] as const;

export type RevealReasonCode = (typeof REVEAL_REASON_CODES)[number];

/** `{code}` or `{code}:{free text}`: the reason of a key read (GET {collection}/{id}?$select=key). */
export const REVEAL_REASON_HEADER = 'X-Reveal-Reason';
/** The helpdesk ticket a key read is made for. */
export const REVEAL_TICKET_HEADER = 'X-Reveal-Ticket';

/** Characters of free text after `{code}:`. */
export const MAX_REVEAL_REASON_TEXT = 200;
/** Characters of X-Reveal-Ticket. */
export const MAX_REVEAL_TICKET = 64;

/** What the free text and the ticket may hold: printable ASCII (header values are Latin-1 to fetch; nothing in them can break a record or a screen). */
export const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
