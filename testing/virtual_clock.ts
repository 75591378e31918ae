/**
 * A clock that moves only when a test says so.
 *
 * @module
 */

import type { RoomEnvironment } from "../room/room_engine.ts";
import type { Clock, TimerHandle } from "../util/clock.ts";

/** The wall-clock time a virtual clock starts at: 2026-01-01T00:00:00Z. */
export const VIRTUAL_EPOCH_MS: number = Date.UTC(2026, 0, 1);

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

  /**
   * A room environment on this clock, for WASM guests: the wall clock reads
   * {@linkcode VIRTUAL_EPOCH_MS} plus the virtual time, the monotonic clock the virtual time, and
   * randomness is a fixed pseudo-random sequence from `seed` (the same every run).
   */
  environment(seed = 1): RoomEnvironment {
    let state = seed >>> 0;
    const nanoseconds = (ms: number) => BigInt(Math.round(ms * 1000)) * 1000n;
    return {
      clock: (id) => nanoseconds(id === 0 ? VIRTUAL_EPOCH_MS + this.#now : this.#now),
      random: (bytes) => {
        for (let i = 0; i < bytes.length; i++) {
          // mulberry32
          state = (state + 0x6d2b79f5) >>> 0;
          let t = Math.imul(state ^ (state >>> 15), 1 | state);
          t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
          bytes[i] = (t ^ (t >>> 14)) >>> 24;
        }
      },
    };
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
