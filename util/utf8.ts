/**
 * UTF-8 helpers for the message path.
 *
 * @module
 */

/**
 * The UTF-8 length of a string, without encoding it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { utf8Length } from "./utf8.ts";
 *
 * assert.equal(utf8Length("héllo"), 6);
 * ```
 */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    bytes += code < 0x800 ? 1 : 2;
    if (code >= 0xd800 && code <= 0xdbff) i++; // a surrogate pair: two units, four bytes
  }
  return bytes;
}

/** Longest input {@linkcode decodeShortAscii} and {@linkcode writeShortAscii} handle themselves. */
const SHORT = 64;

/**
 * Decode a short, pure-ASCII byte string without a `TextDecoder` (about 3× faster for the room
 * ids and short replies on the message path); `undefined` when the bytes are longer than 64 or
 * not all ASCII, for the caller to decode them properly.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeShortAscii } from "./utf8.ts";
 *
 * assert.equal(decodeShortAscii(new Uint8Array([104, 105])), "hi");
 * assert.equal(decodeShortAscii(new Uint8Array([0xc3, 0xa9])), undefined);
 * ```
 */
export function decodeShortAscii(bytes: Uint8Array): string | undefined {
  if (bytes.length > SHORT) return undefined;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] > 0x7f) return undefined;
  return String.fromCharCode.apply(null, bytes as unknown as number[]);
}

/**
 * Write `text` as UTF-8 at `bytes[at]` when it is at most 64 characters of ASCII (faster than a
 * `TextEncoder` for short strings); returns its length, or -1 when it is not (the caller encodes
 * it another way). `bytes` must have `text.length` bytes free.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeShortAscii } from "./utf8.ts";
 *
 * const bytes = new Uint8Array(8);
 * assert.equal(writeShortAscii(bytes, 1, "hi"), 2);
 * assert.deepEqual([...bytes.subarray(0, 3)], [0, 104, 105]);
 * assert.equal(writeShortAscii(bytes, 0, "é"), -1);
 * ```
 */
export function writeShortAscii(bytes: Uint8Array, at: number, text: string): number {
  const length = text.length;
  if (length > SHORT) return -1;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) return -1;
    bytes[at + i] = code;
  }
  return length;
}
