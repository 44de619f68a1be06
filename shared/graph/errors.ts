/** A Graph call that did not produce a usable answer: unreachable, throttled beyond our budget, refused, or no token. */
export class GraphCallFailed extends Error {
  override name = 'GraphCallFailed';

  constructor(
    message: string,
    /** Graph's HTTP status, when it answered. */
    readonly status?: number,
    /** Seconds Graph asked us to wait, when it said. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}
