/**
 * A clock that moves only when a test says so.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../util/clock.ts";

interface Pending {
  readonly due: number;
  readonly order: number;
  readonly callback: () => void;
}

/**
 * A virtual {@linkcode Clock}: `now()` starts at 0 and moves only with {@linkcode advance}, which
 * runs every timer that falls due on the way, in due order (timers due at the same instant run in
 * the order they were set). No test that uses it sleeps, and its runs are the same every time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VirtualClock } from "./virtual_clock.ts";
 *
 * const clock = new VirtualClock();
 * const fired: number[] = [];
 * clock.setTimeout(() => fired.push(clock.now()), 4000);
 * clock.advance(3999);
 * assert.deepEqual(fired, []);
 * clock.advance(1);
 * assert.deepEqual(fired, [4000]);
 * ```
 */
export class VirtualClock implements Clock {
  #now = 0;
  #order = 0;
  readonly #timers = new Map<number, Pending>();

  /** Milliseconds since the clock started. */
  now(): number {
    return this.#now;
  }

  /** Call `callback` once `ms` milliseconds of virtual time have passed. */
  setTimeout(callback: () => void, ms: number): TimerHandle {
    const order = this.#order++;
    this.#timers.set(order, { due: this.#now + Math.max(0, ms), order, callback });
    return order;
  }

  /** Cancel a timer. */
  clearTimeout(handle: TimerHandle | undefined): void {
    if (typeof handle === "number") this.#timers.delete(handle);
  }

  /** Timers set and not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** When the next timer falls due, or undefined when none is set. */
  nextDue(): number | undefined {
    return this.#next()?.due;
  }

  /**
   * Move the clock `ms` forward, running each timer as its time comes (the clock reads the timer's
   * due time while it runs). Timers that a callback sets run too if they fall due in the window.
   */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`advance expects ms >= 0, got ${ms}`);
    const end = this.#now + ms;
    while (true) {
      const next = this.#next();
      if (next === undefined || next.due > end) break;
      this.#timers.delete(next.order);
      this.#now = next.due;
      next.callback();
    }
    this.#now = end;
  }

  #next(): Pending | undefined {
    let best: Pending | undefined;
    for (const timer of this.#timers.values()) {
      if (best === undefined || timer.due < best.due) best = timer;
    }
    return best;
  }
}
