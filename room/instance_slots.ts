/**
 * A cap on the services alive at once (in-process WASM instances), where rooms over the cap
 * hibernate instead of being refused: a room that needs a service (a new room, or one waking) and
 * finds the cap reached makes the least recently used idle room hibernate, and waits for a slot if
 * every room is in the middle of an event.
 *
 * @module
 */

/** A room's engine while it holds a service, as {@linkcode InstanceSlots} sees it. */
export interface SlotHolder {
  /** {@linkcode InstanceSlots.use} at the holder's latest event: smaller is less recent. */
  readonly lastUse: number;
  /** Between events, with nothing waiting: hibernating now would free the slot. */
  readonly evictable: boolean;
  /**
   * Snapshot the service and free it (giving the slot back), unless an event comes first.
   * Resolves with whether it hibernated.
   */
  evict(): Promise<boolean>;
}

/**
 * Slots for services alive at once. A holder takes one before it builds or restores its service
 * and gives it back when it frees the service (hibernates or closes). At the cap, taking one makes
 * the least recently used evictable holder hibernate; its slot counts as free from then on, so
 * services alive can pass the cap by the hibernations under way (each a room between events, done
 * within microseconds). With no holder evictable, the taker waits, in order, for the next holder
 * to give its slot back or to finish its events.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InstanceSlots, type SlotHolder } from "./instance_slots.ts";
 *
 * const slots = new InstanceSlots(1);
 * const hibernate = (holder: SlotHolder) => (slots.give(holder), Promise.resolve(true));
 * const a: SlotHolder = { lastUse: slots.use(), evictable: true, evict: () => hibernate(a) };
 * const b: SlotHolder = { lastUse: slots.use(), evictable: true, evict: () => hibernate(b) };
 * assert.equal(slots.take(a), undefined); // taken at once
 * assert.equal(slots.take(b), undefined); // a hibernated to make room
 * assert.equal(slots.held, 1);
 * ```
 */
export class InstanceSlots {
  /** Most services alive at once. */
  readonly capacity: number;
  readonly #holders = new Set<SlotHolder>();
  /** Holders told to hibernate whose slot is not back yet. */
  readonly #evicting = new Set<SlotHolder>();
  readonly #waiting: { holder: SlotHolder; resolve: () => void }[] = [];
  #uses = 0;
  readonly #onEvict: ((holder: SlotHolder) => void) | undefined;

  /**
   * Slots for `capacity` services; `onEvict` is told of each holder that hibernated to make room
   * (to count it).
   */
  constructor(capacity: number, onEvict?: (holder: SlotHolder) => void) {
    if (!(capacity >= 1)) throw new RangeError(`capacity must be at least 1, got ${capacity}`);
    this.capacity = capacity;
    this.#onEvict = onEvict;
  }

  /** Services alive now (including those hibernating to make room). */
  get held(): number {
    return this.#holders.size;
  }

  /** Holders waiting for a slot. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** A number that grows with each call: a holder's {@linkcode SlotHolder.lastUse}. */
  use(): number {
    return ++this.#uses;
  }

  /**
   * Take a slot for `holder`: undefined when it has one now, or a Promise that resolves once it
   * has (holders wait in order).
   */
  take(holder: SlotHolder): Promise<void> | undefined {
    if (this.#holders.has(holder)) return undefined;
    if (this.#waiting.length === 0 && this.#free()) {
      this.#holders.add(holder);
      return undefined;
    }
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiting.push({ holder, resolve });
    return promise;
  }

  /** `holder` freed its service (or never built it): its slot goes to the first in line. */
  give(holder: SlotHolder): void {
    const waiter = this.#waiting.findIndex((entry) => entry.holder === holder);
    if (waiter >= 0) this.#waiting.splice(waiter, 1);
    this.#evicting.delete(holder);
    if (this.#holders.delete(holder)) this.#serve();
  }

  /** `holder` has finished its events: if someone waits, it may hibernate for them. */
  settled(holder: SlotHolder): void {
    if (this.#waiting.length === 0 || this.#evicting.has(holder) || !holder.evictable) return;
    this.#evict(holder);
    this.#serve();
  }

  /** Hand slots to those waiting, in order, while there are slots or holders to evict. */
  #serve(): void {
    while (this.#waiting.length > 0 && this.#free()) {
      const { holder, resolve } = this.#waiting.shift()!;
      this.#holders.add(holder);
      resolve();
    }
  }

  /** A slot is free now, or was made free by telling the least recently used holder to evict. */
  #free(): boolean {
    if (this.#holders.size - this.#evicting.size < this.capacity) return true;
    let coldest: SlotHolder | undefined;
    for (const holder of this.#holders) {
      if (this.#evicting.has(holder) || !holder.evictable) continue;
      if (coldest === undefined || holder.lastUse < coldest.lastUse) coldest = holder;
    }
    if (coldest === undefined) return false;
    this.#evict(coldest);
    return true;
  }

  #evict(holder: SlotHolder): void {
    this.#evicting.add(holder);
    void holder.evict().then((hibernated) => {
      // Not hibernated (an event came first): the holder keeps its slot.
      if (hibernated) this.#onEvict?.(holder);
      else this.#evicting.delete(holder);
    });
  }
}
