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
