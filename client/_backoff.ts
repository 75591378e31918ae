/**
 * Reconnect delays: exponential backoff with full jitter.
 *
 * @module
 */

/** The knobs of {@linkcode backoffDelay}. */
export interface Backoff {
  initialDelayMs: number;
  maxDelayMs: number;
  backoffFactor: number;
}

/**
 * The delay before reconnect attempt `attempt` (1, 2, …): a uniformly random whole number of ms
 * in `[0, cap]`, where `cap = min(maxDelayMs, initialDelayMs × backoffFactor^(attempt − 1))`
 * ("full jitter", so that clients dropped together do not come back together).
 */
export function backoffDelay(attempt: number, backoff: Backoff, random: () => number): number {
  const cap = Math.min(
    backoff.maxDelayMs,
    backoff.initialDelayMs * backoff.backoffFactor ** (attempt - 1),
  );
  return Math.round(Math.min(Math.max(random(), 0), 1) * cap);
}
