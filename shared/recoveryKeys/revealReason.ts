import { badRequest } from '../errors/graphError';
import { builtOnFirstUse } from '../validation/lazyJoi';
import {
  MAX_REVEAL_REASON_TEXT,
  MAX_REVEAL_TICKET,
  PRINTABLE_ASCII,
  REVEAL_REASON_CODES,
  REVEAL_REASON_HEADER,
  REVEAL_TICKET_HEADER,
} from '../revealReasons';

// Validation of the two headers of a key read (README "Security model"). Header values are bytes, and
// browsers send only Latin-1, so the free text and the ticket are printable ASCII: nothing in them can
// break a record or a reader's screen, and their length is the length a reader sees.

const CODE_LIST = REVEAL_REASON_CODES.join(', ');

/** `{code}` or `{code}:{text}`: a key read's reason, as a header or a reveal request carries it. */
export const REVEAL_REASON_PATTERN = new RegExp(`^(?:${REVEAL_REASON_CODES.join('|')})(?::[\\x20-\\x7e]{0,${MAX_REVEAL_REASON_TEXT}})?$`);

/** The two headers' schemas, built on first use (shared/validation/lazyJoi.ts says why). */
const schemas = builtOnFirstUse((Joi) => {
  const schema = Joi.object<RevealContext>({
    reason: Joi.string()
      .pattern(REVEAL_REASON_PATTERN)
      .messages({
        'string.pattern.base': `${REVEAL_REASON_HEADER} must be one of the codes ${CODE_LIST}, optionally followed by ':' and at most ${MAX_REVEAL_REASON_TEXT} printable ASCII characters`,
        'string.empty': `${REVEAL_REASON_HEADER} is empty; it must be one of the codes ${CODE_LIST}`,
        'any.required': `A key read needs ${REVEAL_REASON_HEADER}: one of the codes ${CODE_LIST}, optionally followed by ':' and at most ${MAX_REVEAL_REASON_TEXT} characters of text`,
      }),
    ticket: Joi.string()
      .max(MAX_REVEAL_TICKET)
      .pattern(PRINTABLE_ASCII)
      .messages({
        'string.max': `${REVEAL_TICKET_HEADER} must be at most ${MAX_REVEAL_TICKET} characters`,
        'string.pattern.base': `${REVEAL_TICKET_HEADER} must be printable ASCII`,
        'string.empty': `${REVEAL_TICKET_HEADER} is empty; leave it out or name the ticket`,
      }),
  });

  const requiredReason = schema.fork(['reason'], (reason) => reason.required());
  return { schema, requiredReason };
});

export interface RevealContext {
  reason?: string;
  ticket?: string;
}

/**
 * The reason and ticket of a key read, checked: 400 badRequest (listing the codes) when either is
 * malformed, or when `requireReason` (setting REQUIRE_REVEAL_REASON) and the reason is missing.
 */
export function parseRevealHeaders(headers: { get(name: string): string | null }, requireReason: boolean): RevealContext {
  const given = {
    reason: headers.get(REVEAL_REASON_HEADER) ?? undefined,
    ticket: headers.get(REVEAL_TICKET_HEADER) ?? undefined,
  };
  const { schema, requiredReason } = schemas();
  const result = (requireReason ? requiredReason : schema).validate(given, { abortEarly: false });
  if (result.error) throw badRequest(result.error.details.map((d) => d.message).join('; '));
  return result.value;
}
