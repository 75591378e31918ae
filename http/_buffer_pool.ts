/**
 * Reusable output buffers. Allocating an `ArrayBuffer` in Deno 2.9 costs about 1 µs (4 µs for
 * 16 KiB), more than encoding a small frame, so the write path takes buffers from here and gives
 * them back once written.
 *
 * @module
 */

/** Size of a pooled buffer; larger needs get a buffer of their own. */
export const POOLED_SIZE = 16 * 1024;

/** Most free buffers kept (4 MiB). */
const MAX_FREE = 256;

const free: Uint8Array[] = [];

/** A buffer of at least `size` bytes: a pooled one when `size` fits, else a new one. */
export function takeBuffer(size: number): Uint8Array {
  if (size <= POOLED_SIZE) return free.pop() ?? new Uint8Array(POOLED_SIZE);
  return new Uint8Array(size);
}

/** Give a buffer back once nothing refers to it any more (pooled sizes only are kept). */
export function giveBuffer(buffer: Uint8Array): void {
  if (buffer.length === POOLED_SIZE && free.length < MAX_FREE) free.push(buffer);
}
