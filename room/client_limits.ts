/**
 * Per-client limits: frame size, message rate, and how far a client may fall behind.
 *
 * @module
 */

/**
 * Limits every client of a room is held to. Breaking one closes that client only.
 *
 * @example
 * ```ts
 * import { type ClientLimits, DEFAULT_CLIENT_LIMITS } from "./client_limits.ts";
 *
 * const strict: ClientLimits = { ...DEFAULT_CLIENT_LIMITS, maxMessagesPerSecond: 20 };
 * ```
 */
export interface ClientLimits {
  /** Largest frame accepted, in bytes; a larger one closes the client with 1009. */
  readonly maxMessageBytes: number;
  /**
   * Frames a client may send per second (bursts up to that many); more closes it with 1008.
   * `0` turns the limit off.
   */
  readonly maxMessagesPerSecond: number;
  /**
   * Bytes that may wait in a client's send queue (`bufferedAmount`). A client that reads so
   * slowly that its queue passes this mark is closed with 1008, which bounds the memory one
   * client can hold.
   */
  readonly maxBufferedBytes: number;
  /** Largest per-client data (from the auth hook or `ctx.setClientData`), as JSON text. */
  readonly maxClientDataBytes: number;
}

/**
 * The most bytes of messages a room holds while its service is busy (an async hook, a time-sliced
 * guest, a hibernated room waking): a message that would pass it closes its sender with 1013.
 * Without it, one client sending to a room whose hook awaited for 4 s had it queue 822 MB.
 */
export const MAX_QUEUED_BYTES = 16 * 1024 * 1024;

/**
 * The defaults: 1 MiB frames, no rate limit, 4 MiB of queued output and 16 KiB of data per client.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_CLIENT_LIMITS } from "./client_limits.ts";
 *
 * assert.equal(DEFAULT_CLIENT_LIMITS.maxMessageBytes, 1024 * 1024);
 * ```
 */
export const DEFAULT_CLIENT_LIMITS: ClientLimits = {
  maxMessageBytes: 1024 * 1024,
  maxMessagesPerSecond: 0,
  maxBufferedBytes: 4 * 1024 * 1024,
  maxClientDataBytes: 16 * 1024,
};

/**
 * A token bucket: `rate` tokens per second, holding at most `rate`. Each frame takes one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RateLimiter } from "./client_limits.ts";
 *
 * let now = 0;
 * const limiter = new RateLimiter(2, () => now);
 * assert.equal(limiter.take(), true);
 * assert.equal(limiter.take(), true);
 * assert.equal(limiter.take(), false);
 * now = 500;
 * assert.equal(limiter.take(), true);
 * ```
 */
export class RateLimiter {
  readonly #rate: number;
  readonly #now: () => number;
  #tokens: number;
  #last: number;

  /** A full bucket of `rate` tokens, refilled continuously; `now` returns milliseconds. */
  constructor(rate: number, now: () => number = performance.now.bind(performance)) {
    this.#rate = rate;
    this.#now = now;
    this.#tokens = rate;
    this.#last = now();
  }

  /** Take a token; false when the bucket is empty. */
  take(): boolean {
    const now = this.#now();
    this.#tokens = Math.min(this.#rate, this.#tokens + ((now - this.#last) * this.#rate) / 1000);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }
}
