/**
 * Hibernation: a room with no events for a while is snapshotted and its service freed (a WASM
 * room's instance and memory) while its clients stay connected and its timer stays armed; the
 * next event (a client's, or the timer) restores it first.
 *
 * @module
 */

import type { Metrics } from "../http/metrics.ts";
import type { Room } from "../room/room.ts";
import { type Clock, SYSTEM_CLOCK, type TimerHandle } from "../util/clock.ts";
import { describeError, type Logger } from "../util/logger.ts";

/** What {@linkcode Hibernator} works with. */
export interface HibernationConfig {
  /** Milliseconds without events after which a room hibernates. */
  readonly afterMs: number;
  /** The rooms to watch (read at each sweep). */
  readonly rooms: () => Iterable<Room>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** The rooms' clock. @default {SYSTEM_CLOCK} */
  readonly clock?: Clock;
}

/**
 * Looks over the rooms every `afterMs / 4` (at most every second, at least every 10 ms) and
 * hibernates those that have been quiet for `afterMs` and can be snapshotted.
 *
 * @example
 * ```ts ignore
 * const hibernator = new Hibernator({ afterMs: 60_000, rooms: () => registry.rooms(), metrics, logger });
 * hibernator.start();
 * ```
 */
export class Hibernator {
  readonly #config: HibernationConfig;
  readonly #clock: Clock;
  readonly #sweepMs: number;
  #timer: TimerHandle | undefined;
  #running = false;
  /** Rooms whose snapshot failed, with their last activity then. */
  readonly #failed = new WeakMap<Room, number>();

  /** A hibernator under `config`; {@linkcode start} it. */
  constructor(config: HibernationConfig) {
    this.#config = config;
    this.#clock = config.clock ?? SYSTEM_CLOCK;
    this.#sweepMs = Math.max(10, Math.min(1000, config.afterMs / 4));
  }

  /** Start sweeping. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule();
  }

  /** Stop sweeping (hibernated rooms stay so). */
  stop(): void {
    this.#running = false;
    this.#clock.clearTimeout(this.#timer);
  }

  /** Hibernate every room quiet for long enough, now. Resolves with how many hibernated. */
  async sweep(): Promise<number> {
    const { afterMs, logger, metrics } = this.#config;
    const quiet = [...this.#config.rooms()].filter((room) =>
      room.canSnapshot && !room.hibernated && room.pending === 0 && room.quietMs >= afterMs &&
      this.#failed.get(room) !== room.lastActivity
    );
    const sizes = await Promise.all(quiet.map((room) =>
      room.hibernate().catch((error) => {
        // Tried again only once the room has had an event since.
        this.#failed.set(room, room.lastActivity);
        logger.warn(`Room "${room.id}" cannot hibernate: ${describeError(error)}`);
        return undefined;
      })
    ));
    let count = 0;
    sizes.forEach((size, i) => {
      if (size === undefined) return;
      count++;
      metrics.hibernations++;
      logger.debug(`Room "${quiet[i].id}" hibernated (${size} bytes of state)`);
    });
    return count;
  }

  #schedule(): void {
    this.#timer = this.#clock.setTimeout(() => {
      void this.sweep().finally(() => {
        if (this.#running) this.#schedule();
      });
    }, this.#sweepMs);
  }
}
