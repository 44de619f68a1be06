import { withoutSecrets } from '../redact';
import { REVEAL_REASON_PATTERN } from '../recoveryKeys/revealReason';
import { validatedOrBadRequest } from '../recoveryKeys/schema';
import { MAX_REVEAL_TICKET, PRINTABLE_ASCII, REVEAL_REASON_CODES } from '../revealReasons';
import { normalizeGuid } from '../text/normalizeGuid';
import { builtOnFirstUse } from '../validation/lazyJoi';
import type { RevealGrantInput, RevealRequestInput } from './model';

// All validation of the reveal-request and reveal-grant bodies. The reason is a key read's reason
// (X-Reveal-Reason's code[:text]) and the ticket a key read's ticket: a reader of the trail sees the
// same kinds of text for a request, its approval and the read it allowed. Both are stored, answered and
// alerted on: a recovery password or token pasted into them is masked here, as the audit trail masks it.

const schemas = builtOnFirstUse((Joi) => {
  const guid = (what: string) =>
    Joi.string()
      .custom((value: string, helpers) => normalizeGuid(value) ?? helpers.error('guid.format'))
      .messages({ 'guid.format': `{{#label}} must be ${what} (a GUID)` });
  const masked = (value: string): string => withoutSecrets(value);
  const reason = Joi.string()
    .pattern(REVEAL_REASON_PATTERN)
    .custom(masked)
    .required()
    .messages({
      'string.pattern.base': `{{#label}} must be one of the codes ${REVEAL_REASON_CODES.join(', ')}, optionally followed by ':' and text`,
    });
  const ticket = Joi.string()
    .max(MAX_REVEAL_TICKET)
    .pattern(PRINTABLE_ASCII)
    .custom(masked)
    .messages({ 'string.pattern.base': '{{#label}} must be printable ASCII' });
  const request = Joi.object<RevealRequestInput>({ keyId: guid('a recovery key id').required(), reason, ticket })
    .unknown(false)
    .messages({ 'object.unknown': '{{#label}} is not a property of a reveal request; allowed: keyId, reason, ticket' });
  const grant = Joi.object<RevealGrantInput>({
    deviceGroupId: guid('an Entra group or administrative unit id').required(),
    granteeGroupId: guid('an Entra group id').required(),
    reason,
    ticket,
    hours: Joi.number().integer().min(1).required(),
  })
    .unknown(false)
    .messages({
      'object.unknown': '{{#label}} is not a property of a reveal grant; allowed: deviceGroupId, granteeGroupId, reason, ticket, hours',
    });
  return { request, grant };
});

/** A POST revealRequests body, checked; 400 naming the problems otherwise. */
export const parseRevealRequest = (body: unknown): RevealRequestInput => validatedOrBadRequest(schemas().request, body);

/** A POST revealGrants body, checked (its hours against REVEAL_APPROVAL_HOURS by the use case); 400 otherwise. */
export const parseRevealGrant = (body: unknown): RevealGrantInput => validatedOrBadRequest(schemas().grant, body);
