/**
 * The clock seam: where rooms take the time and set their timers, so that tests can run them on
 * a virtual clock instead of real time.
 *
 * @module
 */

/** The longest timer `setTimeout` can hold (2^31 − 1 ms); rooms clamp longer requests to it. */
export const MAX_TIMER_MS = 0x7fffffff;

/** An opaque timer handle, as {@linkcode Clock.setTimeout} returns it. */
export type TimerHandle = unknown;

/**
 * Time and timers. The system clock is `Date.now()` and the global timers; the test kit's
 * `VirtualClock` moves only when told to.
 *
 * @example A clock that never fires, for a room whose timers must not run
 * ```ts
 * import type { Clock } from "./clock.ts";
 *
 * const frozen: Clock = { now: () => 0, setTimeout: () => 0, clearTimeout() {} };
 * ```
 */
export interface Clock {
  /** Milliseconds (only differences mean anything; the system clock's are wall-clock ms). */
  now(): number;
  /** Call `callback` once after `ms` milliseconds. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /** Cancel a timer; `undefined` and fired timers are ignored. */
  clearTimeout(handle: TimerHandle | undefined): void;
}

/**
 * The real clock: `Date.now()` (which V8 answers without a call into Deno, unlike
 * `performance.now()`: rooms read the time on every message), `setTimeout`, `clearTimeout`.
 *
 * @example
 * ```ts
 * import { SYSTEM_CLOCK } from "./clock.ts";
 *
 * const start = SYSTEM_CLOCK.now();
 * SYSTEM_CLOCK.clearTimeout(SYSTEM_CLOCK.setTimeout(() => {}, 1000));
 * ```
 */
export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as number | undefined),
};
