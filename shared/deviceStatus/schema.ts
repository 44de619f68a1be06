import { validatedOrBadRequest } from '../recoveryKeys/schema';
import { VOLUME_TYPES } from '../recoveryKeys/model';
import { normalizeGuid } from '../text/normalizeGuid';
import { PRINTABLE_ASCII } from '../revealReasons';
import { builtOnFirstUse } from '../validation/lazyJoi';
import { type DeviceStatusInput, PROTECTION_STATUSES } from './model';

// All validation of the deviceStatus resource lives here. The bounds are a real device's and then some:
// Windows mounts at most a few dozen volumes, and BitLocker's own limit is 200 protectors.

export const MAX_VOLUMES = 64;
/** Over all volumes of one status. */
export const MAX_RECOVERY_PASSWORD_IDS = 200;
const MAX_PROTECTOR_TYPES = 16;
const MAX_TEXT = 260;

/** The volume types a disk can have (1 to 3, Graph's numbers, or their names); not unknownFutureValue. */
const DISK_VOLUME_TYPES = VOLUME_TYPES.slice(0, 3);

const schemas = builtOnFirstUse((Joi) => {
  const text = (max: number) =>
    Joi.string().max(max).pattern(PRINTABLE_ASCII).messages({ 'string.pattern.base': '{{#label}} must be printable ASCII' });
  const volumeTypeMessage = `{{#label}} must be one of ${DISK_VOLUME_TYPES.join(', ')} (or Graph's numbers 1 to 3)`;
  const volumeType = Joi.alternatives()
    .try(Joi.string(), Joi.number())
    .custom((value: string | number, helpers) => {
      const name = DISK_VOLUME_TYPES.find((type, i) => value === type || String(value) === String(i + 1));
      return name ?? helpers.error('volumeType.invalid');
    })
    .messages({ 'volumeType.invalid': volumeTypeMessage, 'alternatives.types': volumeTypeMessage });
  const keyId = Joi.string()
    .custom((value: string, helpers) => normalizeGuid(value) ?? helpers.error('guid.format'))
    .messages({ 'guid.format': '{{#label}} must be a key id (a GUID such as 2d7b3c6a-8f0e-4b1d-9a53-0c2e7f1d4b6e)' });
  const volume = Joi.object({
    volumeType: volumeType.required(),
    protectionStatus: Joi.string()
      .valid(...PROTECTION_STATUSES)
      .required(),
    recoveryPasswordIds: Joi.array().items(keyId).max(MAX_RECOVERY_PASSWORD_IDS).unique().default([]),
    mountPoint: text(MAX_TEXT),
    encryptionPercentage: Joi.number().min(0).max(100),
    keyProtectorTypes: Joi.array().items(text(64)).max(MAX_PROTECTOR_TYPES),
  }).unknown(false);
  const status = Joi.object({
    volumes: Joi.array().items(volume).max(MAX_VOLUMES).required(),
    clientVersion: text(64),
    // A client sending back what it read carries these; they are not the status.
    '@odata.context': Joi.any().strip(),
    deviceId: Joi.any().strip(),
    lastReportedDateTime: Joi.any().strip(),
  })
    .unknown(false)
    .custom((value: DeviceStatusInput, helpers) => {
      const ids = value.volumes.flatMap((v) => v.recoveryPasswordIds);
      if (ids.length > MAX_RECOVERY_PASSWORD_IDS) return helpers.error('status.ids', { count: ids.length });
      if (new Set(ids).size < ids.length) return helpers.error('status.repeated');
      return value;
    })
    .messages({
      'status.ids': `recoveryPasswordIds must name at most ${MAX_RECOVERY_PASSWORD_IDS} keys over all volumes, not {{#count}}`,
      'status.repeated': 'a recovery password id is reported on more than one volume',
      'object.unknown':
        '{{#label}} is not a property of a device status; allowed: volumes (volumeType, protectionStatus, recoveryPasswordIds, mountPoint, encryptionPercentage, keyProtectorTypes), clientVersion',
    });
  return { status };
});

/** A PUT body, checked and normalized (volume types as names, key ids lower-case); 400 naming the problems otherwise. */
export const parseDeviceStatus = (body: unknown): DeviceStatusInput => validatedOrBadRequest<DeviceStatusInput>(schemas().status, body);
