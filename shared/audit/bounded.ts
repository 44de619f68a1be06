import { clientText } from '../clientText';
import { MAX_REVEAL_REASON_TEXT, MAX_REVEAL_TICKET as MAX_TICKET, REVEAL_REASON_CODES } from '../revealReasons';
import type { AuditEvent } from './model';

// Every text of an audit record that a client chose or shaped, and the most of it a record keeps.
// A record's client text is thus at most ~1.2 KiB whatever the request carried (it was 3 × 512
// characters of headers alone), and none of it can hide or reorder what a reader sees
// (shared/clientText.ts).

/** `User-Agent`: long enough for a browser's or an SDK's. */
export const MAX_USER_AGENT = 256;
/** `ocp-client-name`, `ocp-client-version` (Graph SDKs send short names and semantic versions). */
export const MAX_CLIENT_HEADER = 64;
/** resultReason: our own message, which may repeat client text (a property name, a filter) in up to ten problems. */
export const MAX_RESULT_REASON = 512;
/** X-Reveal-Reason: the longest code, ':' and the free text (shared/revealReasons.ts); a refused read's longer value is cut. */
export const MAX_REVEAL_REASON = Math.max(...REVEAL_REASON_CODES.map((code) => code.length)) + 1 + MAX_REVEAL_REASON_TEXT;
/** X-Reveal-Ticket. */
export const MAX_REVEAL_TICKET = MAX_TICKET;

/**
 * The event with every client-controlled text masked, escaped and cut to its limit above. Applied as a
 * record is written and again as it is shown (rows written before these limits existed are bounded too).
 */
export function boundedEvent(event: AuditEvent): AuditEvent {
  const { source } = event;
  return {
    ...event,
    resultReason: clientText(event.resultReason, MAX_RESULT_REASON),
    source: {
      ...source,
      userAgent: clientText(source.userAgent, MAX_USER_AGENT),
      clientName: clientText(source.clientName, MAX_CLIENT_HEADER),
      clientVersion: clientText(source.clientVersion, MAX_CLIENT_HEADER),
      revealReason: clientText(source.revealReason, MAX_REVEAL_REASON),
      revealTicket: clientText(source.revealTicket, MAX_REVEAL_TICKET),
    },
  };
}
