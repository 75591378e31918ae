/**
 * Bounding a call in time, on the monotonic clock.
 *
 * @module
 */

/** A call did not answer in time. */
export class DeadlineError extends Error {
  /** What was waited for. */
  readonly what: string;

  /** `what` did not answer within `ms`. */
  constructor(what: string, ms: number) {
    super(`${what} did not answer within ${ms} ms`);
    this.name = "DeadlineError";
    this.what = what;
  }
}

/**
 * Resolve as `promise` does, or reject with a {@linkcode DeadlineError} after `ms`. The promise's
 * late result is ignored: a caller that timed out must act as if the call failed (and, where the
 * call may have succeeded anyway, never as if it did not happen).
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(what, ms)), ms);
  });
  promise.catch(() => {});
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
