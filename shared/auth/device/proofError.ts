/**
 * The checks of the EntraDevice proof (README "Escrow from devices"), each named so that a refusal
 * can say which one failed. Every one of them is answered 401 InvalidAuthenticationToken with
 * `WWW-Authenticate: EntraDevice`.
 */
export type DeviceProofCheck =
  'scheme' | 'timestamp' | 'certificate' | 'signature' | 'nonce' | 'unknownDevice' | 'disabledDevice' | 'certificateNotOnDevice';

/** A device proof that fails one check. Its message says which, and never repeats the certificate. */
export class DeviceProofError extends Error {
  override name = 'DeviceProofError';

  constructor(
    readonly check: DeviceProofCheck,
    message: string,
  ) {
    super(message);
  }
}
