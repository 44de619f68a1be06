import type Joi from 'joi';
import { badRequest } from '../errors/graphError';
import { DATE_TIME_OFFSET_RANGE, readDateTimeOffset, writeDateTimeOffset } from '../odata/dateTimeOffset';
import { normalizeGuid } from '../text/normalizeGuid';
import { escapeNonPrintableAscii } from '../text/quoteClientText';
import { builtOnFirstUse } from '../validation/lazyJoi';
import { type RecoveryKey, type RecoveryKeyInput, VOLUME_TYPES, type VolumeType } from './model';

// All validation of the recoveryKey resource lives here.

export const ODATA_TYPE = '#microsoft.graph.bitlockerRecoveryKey';

/** Clients' clocks drift; a createdDateTime this far ahead of ours is still accepted. */
export const CLOCK_SKEW_MS = 5 * 60 * 1000;

const RECOVERY_PASSWORD = /^[0-9]{6}(-[0-9]{6}){7}$/;

const VOLUME_TYPE_BY_NUMBER: Readonly<Record<string, VolumeType>> = {
  '1': 'operatingSystemVolume',
  '2': 'fixedDataVolume',
  '3': 'removableDataVolume',
  '4': 'unknownFutureValue',
};

const volumeTypeMessage = `{{#label}} must be one of ${VOLUME_TYPES.join(', ')} (or Graph's numbers 1 to 4)`;

/** The resource's joi schemas, built on first use (shared/validation/lazyJoi.ts says why). */
const schemas = builtOnFirstUse((Joi) => {
  const guid = Joi.string()
    .custom((value: string, helpers) => normalizeGuid(value) ?? helpers.error('guid.format'))
    .messages({
      'guid.format': '{{#label}} must be a GUID such as 2d7b3c6a-8f0e-4b1d-9a53-0c2e7f1d4b6e',
      'string.base': '{{#label}} must be a string (a GUID)',
      'string.empty': '{{#label}} must be a GUID, not empty',
    });

  const recoveryPassword = Joi.string()
    .custom((value: string, helpers) => {
      if (!RECOVERY_PASSWORD.test(value)) return helpers.error('key.format');
      const groups = value.split('-');
      for (let i = 0; i < groups.length; i++) {
        const group = Number(groups[i]);
        // Each group encodes one 16-bit word of the 128-bit key as word * 11.
        if (group % 11 !== 0 || group >= 720896) return helpers.error('key.group', { group: i + 1 });
      }
      return value;
    })
    .messages({
      'key.format': '{{#label}} must be a 48-digit recovery password: 8 groups of 6 digits joined by "-"',
      'key.group': '{{#label}} is not a valid recovery password: group {{#group}} must be divisible by 11 and below 720896',
      'string.base': '{{#label}} must be a string (the 48-digit recovery password)',
      'string.empty': '{{#label}} must be the 48-digit recovery password, not empty',
    });

  const volumeType = Joi.alternatives()
    .try(Joi.string(), Joi.number())
    .custom((value: string | number, helpers) => {
      const text = String(value);
      if ((VOLUME_TYPES as readonly string[]).includes(text)) return text;
      return VOLUME_TYPE_BY_NUMBER[text] ?? helpers.error('volumeType.invalid');
    })
    .messages({ 'volumeType.invalid': volumeTypeMessage, 'alternatives.types': volumeTypeMessage });

  const createdDateTime = Joi.string()
    .custom((value: string, helpers) => {
      const reading = readDateTimeOffset(value);
      if ('problem' in reading) return helpers.error(reading.problem === 'range' ? 'date.range' : 'date.format');
      if (reading.ms > Date.now() + CLOCK_SKEW_MS) return helpers.error('date.future');
      return writeDateTimeOffset(reading.ms);
    })
    .messages({
      'date.format': '{{#label}} must be an ISO 8601 date and time with a time zone, such as 2026-11-28T09:45:12Z',
      'date.range': `{{#label}} must be ${DATE_TIME_OFFSET_RANGE}`,
      'date.future': '{{#label}} must not be in the future',
      'string.base': '{{#label}} must be a string (an ISO 8601 date and time)',
    });

  const properties = {
    '@odata.type': Joi.string()
      .valid(ODATA_TYPE)
      .messages({ 'any.only': `{{#label}} must be ${ODATA_TYPE}` }),
    id: guid,
    deviceId: guid,
    key: recoveryPassword,
    volumeType,
    createdDateTime,
  };

  const inputSchema = Joi.object(properties).unknown(false).messages({
    'object.unknown':
      '{{#label}} is not a property of bitlockerRecoveryKey; allowed: id, createdDateTime, deviceId, key, volumeType, @odata.type',
  });

  // The complete key that a creation must end up with.
  const completeSchema = Joi.object({
    id: guid.required(),
    deviceId: guid.required(),
    key: recoveryPassword.required(),
    volumeType: volumeType.required(),
    createdDateTime: createdDateTime.required(),
  }).messages({ 'any.required': '{{#label}} is required when a recovery key is created' });

  const annotationsSchema = Joi.object({
    '@odata.context': Joi.any(),
    '@odata.etag': Joi.string().max(256).messages({
      'string.base': '{{#label}} must be a string: the @odata.etag (or ETag header) of a read',
      'string.empty': '{{#label}} must be the @odata.etag (or ETag header) of a read, not empty',
      'string.max': '{{#label}} is longer than any ETag of this service',
    }),
    // A successor names the key it replaces; the read-only annotations of a key read back are ignored.
    '@escrow.replaces': guid,
    ...Object.fromEntries(READ_ONLY_ANNOTATIONS.map((name) => [name, Joi.any()])),
  })
    .pattern(
      /^@odata\.(context|etag|type)$/i,
      Joi.any()
        .forbidden()
        .messages({ 'any.unknown': `{{#label}} is not an annotation of this service; names are case-sensitive: ${KNOWN_ANNOTATIONS}` }),
    )
    // An unknown @escrow.* (a misspelt @escrow.replaces) is refused by name: a successor must not be stored unlinked.
    .pattern(
      /^@escrow\./,
      Joi.any()
        .forbidden()
        .messages({ 'any.unknown': `{{#label}} is not an annotation of this service; names are case-sensitive: ${ESCROW_ANNOTATIONS}` }),
    )
    .unknown(true);

  return { inputSchema, completeSchema, annotationsSchema };
});

/** A request body's rules as joi describes them; the OpenAPI document derives its schemas from this. */
export const describeRecoveryKeyInput = (): Joi.Description => schemas().inputSchema.describe();

const MAX_REPORTED_PROBLEMS = 10;

const options: Joi.ValidationOptions = { abortEarly: false, convert: true, errors: { wrap: { label: '' } } };

/**
 * `value` as `schema` converts it; otherwise GraphError 400 badRequest naming the first
 * MAX_REPORTED_PROBLEMS problems, client text made printable.
 */
export function validatedOrBadRequest<T>(schema: Joi.Schema<T>, value: unknown): T {
  const result = schema.validate(value, options);
  if (result.error) {
    // Every problem is named, up to a point: a body of a thousand unknown names must not become an error of a thousand lines.
    const { details } = result.error;
    const shownDetails = details.slice(0, MAX_REPORTED_PROBLEMS).map((d) => d.message);
    const more = details.length - shownDetails.length;
    throw badRequest(escapeNonPrintableAscii(shownDetails.join('; ') + (more > 0 ? `; and ${more} more problems` : '')));
  }
  return result.value;
}

/** A request body, checked and normalised: every rule of the resource except those that need the stored key. */
export function parseRecoveryKeyInput(body: unknown, urlId?: string): RecoveryKeyInput {
  const { '@odata.type': _type, ...input } = validatedOrBadRequest<RecoveryKeyInput & { '@odata.type'?: string }>(
    schemas().inputSchema,
    body,
  );
  if (urlId !== undefined && input.id !== undefined && input.id !== urlId) {
    throw badRequest(`id in the body (${input.id}) differs from the id in the URL (${urlId})`);
  }
  return input;
}

// Instance annotations (OData JSON format 4.01, section 18) are not properties: a client that sends back
// the object it just read carries @odata.context and @odata.etag. @odata.type stays with the properties,
// where its value is checked; any other @odata.* annotation is ignored, as OData lets a service do. A
// case slip of a known one is refused, so that a precondition meant as @odata.etag is never silently dropped.
// This service's own annotations (@escrow.*, shared/recoveryKeys/representation.ts) are read the same way:
// @escrow.replaces is the one a client sends; those a read answers with are ignored when sent back.
const isInstanceAnnotation = (name: string): boolean =>
  (name.startsWith('@odata.') && name !== '@odata.type') || name.startsWith('@escrow.');

/** The instance annotations of a key's rotation that a read carries (representation.ts) and a write ignores. */
export const ROTATION_ANNOTATIONS = {
  disclosedDateTime: '@escrow.disclosedDateTime',
  disclosedBy: '@escrow.disclosedBy',
  supersededBy: '@escrow.supersededBy',
  supersededDateTime: '@escrow.supersededDateTime',
} as const;

const READ_ONLY_ANNOTATIONS: readonly string[] = Object.values(ROTATION_ANNOTATIONS);

const KNOWN_ANNOTATIONS = '@odata.context, @odata.etag, @odata.type';

const ESCROW_ANNOTATIONS = `@escrow.replaces, and ignored when sent back: ${READ_ONLY_ANNOTATIONS.join(', ')}`;

/** A request body split into the key's properties and the @odata.etag it carried, if any. */
export interface RecoveryKeyBody {
  input: RecoveryKeyInput;
  /** The body's @odata.etag: a precondition like If-Match (shared/http/preconditions.ts). */
  etag?: string;
  /** The body's @escrow.replaces: the key this one is escrowed to replace (shared/recoveryKeys/rotation.ts). */
  replaces?: string;
}

/**
 * A write's JSON body: its instance annotations read (@odata.context and unknown @odata.* ignored,
 * @odata.etag returned), the rest checked as parseRecoveryKeyInput does. Unknown properties, property
 * annotations (`key@odata.type`) and misspelt annotations are still refused by name.
 */
export function parseRecoveryKeyBody(body: Record<string, unknown>, urlId?: string): RecoveryKeyBody {
  const entries = Object.entries(body);
  const input = parseRecoveryKeyInput(Object.fromEntries(entries.filter(([name]) => !isInstanceAnnotation(name))), urlId);
  const annotations = validatedOrBadRequest<{ '@odata.etag'?: string; '@escrow.replaces'?: string }>(
    schemas().annotationsSchema,
    Object.fromEntries(entries.filter(([name]) => isInstanceAnnotation(name))),
  );
  return {
    input,
    ...(annotations['@odata.etag'] !== undefined && { etag: annotations['@odata.etag'] }),
    ...(annotations['@escrow.replaces'] !== undefined && { replaces: annotations['@escrow.replaces'] }),
  };
}

/** The key a creation stores: all of its properties must be there. */
export function requireComplete(candidate: Partial<RecoveryKey>): RecoveryKey {
  return validatedOrBadRequest<RecoveryKey>(schemas().completeSchema, candidate);
}

/** The key id of an item route (its `{id}` parameter), normalised; 400 if it is not a GUID. */
export const keyIdOf = (request: { params: Readonly<Record<string, string | undefined>> }): string =>
  parseKeyIdSegment(request.params.id ?? '');

/** The id segment of an item URL, normalised; 400 if it is not a GUID. */
export function parseKeyIdSegment(segment: string): string {
  const id = normalizeGuid(segment);
  if (!id) throw badRequest(`'${escapeNonPrintableAscii(segment.slice(0, 64))}' is not a valid recovery key id: use a GUID.`);
  return id;
}
