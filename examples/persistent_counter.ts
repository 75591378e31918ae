/**
 * The shared counter, with the two hooks that let its rooms be snapshotted: `snapshot()` returns
 * the room's state as JSON, and the static `restore()` builds the service from it. Its rooms
 * hibernate (`--hibernate-after`), come back after a restart (`--state DIR`) and keep their
 * value across `jamsocket dev` reloads; without the hooks (`examples/counter.ts`) they start at
 * 0 each time.
 *
 * ```sh
 * deno run -A cli.ts serve examples/persistent_counter.ts --state ./state --hibernate-after 60
 * ```
 *
 * @module
 */

import {
  type ClientId,
  type JamsocketContext,
  MessageRecipient,
  type SavedState,
  type SimpleJamsocketService,
} from "../mod.ts";

/** What a room of the counter saves. */
interface CounterState {
  value: number;
}

/**
 * `increment` / `decrement` change the room's counter; every message broadcasts `new value: N`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PersistentCounter } from "./persistent_counter.ts";
 *
 * const counter = PersistentCounter.restore("lobby", {} as never, { value: 41 });
 * assert.deepEqual(counter.snapshot(), { value: 41 });
 * ```
 */
export class PersistentCounter implements SimpleJamsocketService {
  #value = 0;

  /** Build the counter of a room from what `snapshot()` returned. */
  static restore(_roomId: string, _ctx: JamsocketContext, state: SavedState): PersistentCounter {
    const counter = new PersistentCounter();
    const value = (state as Partial<CounterState>).value;
    if (!Number.isInteger(value)) {
      throw new TypeError(`Not a counter's state: ${JSON.stringify(state)}`);
    }
    counter.#value = value!;
    return counter;
  }

  /** The room's state. */
  snapshot(): CounterState {
    return { value: this.#value };
  }

  message(_client: ClientId, message: string, ctx: JamsocketContext): void {
    if (message === "increment") this.#value++;
    else if (message === "decrement") this.#value--;
    ctx.sendMessage(MessageRecipient.Broadcast, `new value: ${this.#value}`);
  }
}

export default PersistentCounter;
