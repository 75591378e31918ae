/**
 * Give a module's own memory a maximum, by rewriting its memory section's limits, so that
 * `memory.grow` past the per-room ceiling fails inside the guest instead of growing the host.
 *
 * @module
 */

import type { WasmModule } from "./module/module.ts";

const HAS_MAXIMUM = 0x01;
const SHARED = 0x02;

/** What {@linkcode limitMemory} found wrong with a module; the message is one line. */
export class MemoryLimitError extends Error {
  /** A module that cannot run under the ceiling. */
  constructor(message: string) {
    super(message);
    this.name = "MemoryLimitError";
  }
}

/**
 * Set the maximum of the module's (one) memory to at most `maxPages` 64 KiB pages, in place. A
 * module without a memory of its own is left as it is.
 *
 * @throws {MemoryLimitError} when the memory starts bigger than the ceiling, is shared, or the
 *   module declares more than one memory.
 */
export function limitMemory(module: WasmModule, maxPages: number): void {
  const memories = module.memories;
  if (memories.length === 0) return;
  if (memories.length !== 1) {
    throw new MemoryLimitError(`declares ${memories.length} memories, expected 1`);
  }
  const memory = memories[0];
  if (memory.flags & SHARED) throw new MemoryLimitError("its memory is shared");
  if (memory.min > maxPages) {
    throw new MemoryLimitError(
      `its memory starts at ${memory.min} pages, over the limit of ${maxPages} pages`,
    );
  }
  memory.max = Math.min(memory.max ?? maxPages, maxPages);
  memory.flags |= HAS_MAXIMUM;
}
