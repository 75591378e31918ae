/**
 * Timeouts that are armed, moved and cancelled on every connection: a request head's, a
 * keep-alive's, a write's, a close handshake's. In Deno 2.9 a `setTimeout` and its
 * `clearTimeout` cost about 2.8 µs (each timer is a Node `Timeout` object), and one WebSocket's
 * life took six timers and twelve clears. A {@linkcode Deadline} is filed under a 50 ms tick
 * instead, and one shared interval, running only while a deadline is armed, fires those whose time
 * has come: arming costs a clock read and an array push, cancelling a field write. A deadline
 * never fires early, and at most a tick (plus the event loop's delay) late.
 *
 * @module
 */

/** The resolution of every deadline, in ms. */
export const TICK_MS = 50;

/**
 * One timeout that can be armed again and again; arming it again moves it.
 *
 * @example
 * ```ts
 * import { Deadline } from "./deadline.ts";
 *
 * const deadline = new Deadline(() => console.log("too late"));
 * deadline.arm(10_000);
 * deadline.arm(5_000); // moved: it fires once, in 5 s
 * deadline.cancel();
 * ```
 */
export class Deadline {
  /** Deadlines by the tick they fire at (a moved or cancelled one stays, skipped, in its old). */
  static #ticks = new Map<number, Deadline[]>();
  /** Deadlines armed now. */
  static #armed = 0;
  /** The first tick not yet fired. */
  static #next = 0;
  static #interval: ReturnType<typeof setInterval> | undefined;

  readonly #fire: () => void;
  /** The tick this deadline fires at, or -1 when it is not armed. */
  #tick = -1;

  /** A deadline that calls `fire` when it expires (not armed yet). */
  constructor(fire: () => void) {
    this.#fire = fire;
  }

  /** Whether it is armed. */
  get armed(): boolean {
    return this.#tick >= 0;
  }

  /** Fire in `ms` milliseconds (at most a tick later), instead of when it was armed for. */
  arm(ms: number): void {
    // Never a tick already fired (a deadline armed while others fire goes in the next one).
    const tick = Math.max(Math.ceil((Date.now() + ms) / TICK_MS), Deadline.#next);
    if (tick === this.#tick) return;
    if (this.#tick < 0) Deadline.#armed++;
    this.#tick = tick;
    const list = Deadline.#ticks.get(tick);
    if (list === undefined) Deadline.#ticks.set(tick, [this]);
    else list.push(this);
    if (Deadline.#interval === undefined) Deadline.#start();
  }

  /** Do not fire (nothing happens if it is not armed). */
  cancel(): void {
    if (this.#tick < 0) return;
    this.#tick = -1;
    if (--Deadline.#armed === 0) Deadline.#stop();
  }

  static #start(): void {
    Deadline.#next = Math.floor(Date.now() / TICK_MS);
    Deadline.#interval = setInterval(Deadline.#fireDue, TICK_MS);
  }

  static #stop(): void {
    clearInterval(Deadline.#interval);
    Deadline.#interval = undefined;
    Deadline.#ticks.clear();
  }

  static #fireDue(): void {
    const now = Math.floor(Date.now() / TICK_MS);
    const ticks = Deadline.#ticks;
    for (let tick = Deadline.#next; tick <= now; tick++) {
      Deadline.#next = tick + 1;
      const list = ticks.get(tick);
      if (list === undefined) continue;
      ticks.delete(tick);
      for (const deadline of list) {
        if (deadline.#tick !== tick) continue; // cancelled, or moved to a later tick
        deadline.#tick = -1;
        Deadline.#armed--;
        try {
          deadline.#fire();
        } catch (error) {
          reportError(error); // as an error thrown in a timer would be
        }
      }
    }
    if (Deadline.#armed === 0 && Deadline.#interval !== undefined) Deadline.#stop();
  }
}
