// The reason codes of X-Reveal-Reason (the service records them as the read's RevealReason), in words.
// The codes follow the causes BitLocker itself names for entering recovery.

export const REVEAL_REASONS: readonly { code: string; words: string }[] = [
  { code: 'lostPin', words: 'The user forgot the PIN' },
  { code: 'lostPassphrase', words: 'The user forgot the password' },
  { code: 'lostStartupKey', words: 'The startup key (USB) is lost' },
  { code: 'lostSmartCard', words: 'The smart card is lost' },
  { code: 'bootConfigurationChanged', words: 'Boot configuration changed' },
  { code: 'firmwareChanged', words: 'Firmware or BIOS changed' },
  { code: 'operatingSystemFilesModified', words: 'Operating system files changed' },
  { code: 'tpmReset', words: 'The TPM was reset or replaced' },
  { code: 'dataRecovery', words: 'Recovering data from the disk' },
  { code: 'other', words: 'Other (say why in the details)' },
];

export const MAX_DETAILS = 200;
export const MAX_TICKET = 64;

/** Header values are Latin-1 to fetch and printable ASCII to the service. */
export const PRINTABLE = /^[\x20-\x7e]*$/;

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
