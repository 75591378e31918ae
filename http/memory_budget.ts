/**
 * Server-wide memory budgets for what the front buffers: input (request heads, WebSocket frames
 * and fragmented messages still arriving) and output (frames queued for clients).
 *
 * @module
 */

/**
 * A server-wide budget of bytes. Holders {@linkcode MemoryBudget.reserve} before they buffer and
 * {@linkcode MemoryBudget.release} once the bytes are gone; `used` never exceeds `limit` through
 * `reserve`. Output is charged with {@linkcode MemoryBudget.charge}, which may pass the limit: the
 * queue's owner then sheds the clients with the largest stalled queues (see `websocket.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBudget } from "./memory_budget.ts";
 *
 * const budget = new MemoryBudget(100);
 * assert.equal(budget.reserve(60), true);
 * assert.equal(budget.reserve(60), false);
 * budget.release(60);
 * assert.equal(budget.used, 0);
 * ```
 */
export class MemoryBudget {
  /** Most bytes that may be held at once. */
  readonly limit: number;
  /** Bytes held now. */
  used = 0;
  /** Largest `used` seen. */
  peak = 0;
  /** Reservations refused because the budget was full. */
  refused = 0;

  /** A budget of `limit` bytes (`Infinity` for none). */
  constructor(limit: number) {
    this.limit = limit;
  }

  /** Take `bytes` if they fit; false (and nothing taken) if they would pass the limit. */
  reserve(bytes: number): boolean {
    if (this.used + bytes > this.limit) {
      this.refused++;
      return false;
    }
    this.charge(bytes);
    return true;
  }

  /** Take `bytes` whether or not they fit; true while `used` stays within the limit. */
  charge(bytes: number): boolean {
    this.used += bytes;
    if (this.used > this.peak) this.peak = this.used;
    return this.used <= this.limit;
  }

  /** Give back `bytes` taken earlier. */
  release(bytes: number): void {
    this.used -= bytes;
  }
}

/**
 * The default server-wide input budget: 64 MiB of request heads, frames and fragmented messages
 * still arriving, across every connection.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_INPUT_BUDGET } from "./memory_budget.ts";
 *
 * assert.equal(DEFAULT_INPUT_BUDGET, 64 * 1024 * 1024);
 * ```
 */
export const DEFAULT_INPUT_BUDGET = 64 * 1024 * 1024;

/**
 * The default server-wide output budget: 256 MiB of frames queued for clients, across every
 * connection.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_OUTPUT_BUDGET } from "./memory_budget.ts";
 *
 * assert.equal(DEFAULT_OUTPUT_BUDGET, 256 * 1024 * 1024);
 * ```
 */
export const DEFAULT_OUTPUT_BUDGET = 256 * 1024 * 1024;
