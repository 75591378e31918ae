/**
 * A budget of WebAssembly memory shared by every room of a process: a room's instance reserves
 * its initial memory when it is created and each page it grows by, and gives them back when it
 * is dropped.
 *
 * @module
 */

/** Bytes in a WebAssembly page. */
export const PAGE_BYTES = 65536;

/**
 * The default server-wide budget: half of the machine's memory (1 GiB when that cannot be read).
 *
 * @example
 * ```ts
 * import { defaultWasmMemoryBudget } from "./memory_budget.ts";
 *
 * const bytes = defaultWasmMemoryBudget(); // e.g. 12 GiB on a 24 GiB machine
 * ```
 */
export function defaultWasmMemoryBudget(): number {
  try {
    return Math.floor(Deno.systemMemoryInfo().total / 2);
  } catch {
    return 2 ** 30;
  }
}

/**
 * Pages of WebAssembly memory handed out, against a limit in bytes. A guest's `memory.grow` past
 * what is left returns -1 inside the guest; a room whose initial memory does not fit is refused.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WasmMemoryBudget } from "./memory_budget.ts";
 *
 * const budget = new WasmMemoryBudget(4 * 65536);
 * assert.equal(budget.reserve(3), true);
 * assert.equal(budget.reserve(2), false);
 * budget.release(3);
 * assert.equal(budget.usedBytes, 0);
 * ```
 */
export class WasmMemoryBudget {
  /** The budget, in bytes. */
  readonly limitBytes: number;
  #pages = 0;
  readonly #limitPages: number;

  /** A budget of `limitBytes` (rounded down to whole pages). */
  constructor(limitBytes: number) {
    if (!(limitBytes >= 0)) throw new RangeError(`Invalid WASM memory budget: ${limitBytes}`);
    this.limitBytes = limitBytes;
    this.#limitPages = Math.floor(limitBytes / PAGE_BYTES);
  }

  /** Bytes reserved now. */
  get usedBytes(): number {
    return this.#pages * PAGE_BYTES;
  }

  /** Pages still free. */
  get freePages(): number {
    return this.#limitPages - this.#pages;
  }

  /** Take `pages` if they fit; false (and nothing taken) when they do not. */
  reserve(pages: number): boolean {
    if (pages > this.#limitPages - this.#pages) return false;
    this.#pages += pages;
    return true;
  }

  /** Give back `pages` taken with {@linkcode reserve}. */
  release(pages: number): void {
    this.#pages = Math.max(0, this.#pages - pages);
  }
}
