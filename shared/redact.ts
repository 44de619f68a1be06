// Text a client controls (a header, a URL segment or property name that an error message repeats) can
// hold a recovery password or a token pasted in the wrong place. Audit records and logs are read by
// more people than the keys are, so such text is masked before it is stored, shown or logged.

/** 8 groups of 6 digits, joined by '-', by another single separator or by nothing: a recovery password, valid or not. */
const RECOVERY_PASSWORD_LIKE = /(?<![0-9])[0-9]{6}(?:[^0-9A-Za-z]?[0-9]{6}){7}(?![0-9])/g;
/**
 * Part of one: two groups or more joined the same way, or twelve digits or more in a row. Seven groups
 * leave 65,536 candidates for the eighth, nothing against a disk image; two groups are a sixth of it.
 * A ticket or a serial number that long is masked too: no stored text needs one to be read.
 */
const RECOVERY_PASSWORD_PART = /(?<![0-9])[0-9]{6}(?:[^0-9A-Za-z]?[0-9]{6})+(?![0-9])|[0-9]{12,}/g;
/** A JWT (header and payload at least): base64url of '{"' starts with 'eyJ'. */
const JWT_LIKE = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?/g;

/** `text` with anything shaped like a recovery password, part of one, or a token masked. */
export function withoutSecrets(text: string): string;
export function withoutSecrets(text: string | undefined): string | undefined;
export function withoutSecrets(text: string | undefined): string | undefined {
  return text
    ?.replace(RECOVERY_PASSWORD_LIKE, '[recovery password]')
    .replace(JWT_LIKE, '[token]')
    .replace(RECOVERY_PASSWORD_PART, '[digits]');
}

/** Eight groups of six digits as above, wherever they are, even among more digits ('1' before a pasted password). */
const RECOVERY_PASSWORD_ANYWHERE = /[0-9]{6}(?:[^0-9A-Za-z]?[0-9]{6}){7}/;
/** A run of six digits or more: a whole group of a recovery password, or more. */
const DIGIT_RUN = /[0-9]{6,}/g;

/**
 * `message` as withoutSecrets masks it and, when `source` (the text the client sent) held a recovery
 * password, with every run of six digits or more masked too. A message that repeats a fragment of the
 * client's text (a token a parser stopped at, an option cut to its first characters) can hold groups of
 * the password without the whole of it, which the mask above no longer recognises.
 */
export function withoutSecretsFrom(message: string, source: string): string {
  const masked = withoutSecrets(message);
  return RECOVERY_PASSWORD_ANYWHERE.test(source) ? masked.replace(DIGIT_RUN, '[digits]') : masked;
}
