import { REVEAL_REASON_CODES, type RevealReasonCode } from '../../shared/revealReasons';

// The service's reason codes of X-Reveal-Reason (recorded as the read's RevealReason), in words.
// Typed by the code list, so that a new code cannot ship without its words.

const WORDS: Record<RevealReasonCode, string> = {
  lostPin: 'The user forgot the PIN',
  lostPassphrase: 'The user forgot the password',
  lostStartupKey: 'The startup key (USB) is lost',
  lostSmartCard: 'The smart card is lost',
  bootConfigurationChanged: 'Boot configuration changed',
  firmwareChanged: 'Firmware or BIOS changed',
  operatingSystemFilesModified: 'Operating system files changed',
  tpmReset: 'The TPM was reset or replaced',
  dataRecovery: 'Recovering data from the disk',
  other: 'Other (say why in the details)',
};

export const REVEAL_REASONS: readonly { code: string; words: string }[] = REVEAL_REASON_CODES.map((code) => ({ code, words: WORDS[code] }));

/** The X-Reveal-Reason value: the code, then `:` and the details when there are any. */
export function revealReasonHeader(code: string, details: string): string {
  const text = details.trim();
  return text ? `${code}:${text}` : code;
}

/** A recorded RevealReason in words: `lostPin:called from home` -> `The user forgot the PIN: called from home`. */
export function reasonInWords(recorded: string): string {
  const at = recorded.indexOf(':');
  const code = at < 0 ? recorded : recorded.slice(0, at);
  const words = REVEAL_REASONS.find((reason) => reason.code === code)?.words.replace(/ \(.*\)$/, '') ?? code;
  return at < 0 ? words : `${words}: ${recorded.slice(at + 1)}`;
}
