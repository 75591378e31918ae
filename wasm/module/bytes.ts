/**
 * Reading and writing the WebAssembly binary format's primitives: bytes, LEB128 integers, names.
 *
 * @module
 */

/**
 * A module that cannot be read, or cannot be rewritten: the message is one line, with the byte
 * offset (from the start of the module) where the problem is.
 *
 * @example
 * ```ts
 * import { WasmFormatError } from "./bytes.ts";
 *
 * const error = new WasmFormatError("malformed LEB128 number at byte offset 12");
 * ```
 */
export class WasmFormatError extends Error {
  /** A one-line description of what is wrong and where. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WasmFormatError";
  }
}

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/**
 * A cursor over a module's bytes. `base` is the offset of `bytes[0]` in the whole module, so that
 * errors name module offsets even when reading a section's body.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ByteReader } from "./bytes.ts";
 *
 * const reader = new ByteReader(new Uint8Array([0xe5, 0x8e, 0x26]));
 * assert.equal(reader.u32(), 624485);
 * ```
 */
export class ByteReader {
  /** The bytes read. */
  readonly bytes: Uint8Array;
  /** Offset of `bytes[0]` in the module. */
  readonly base: number;
  /** Position of the next byte to read, in `bytes`. */
  at: number;
  /** One past the last byte this reader may read. */
  readonly end: number;

  /** Read `bytes[start, end)`. */
  constructor(bytes: Uint8Array, start = 0, end = bytes.length, base = 0) {
    this.bytes = bytes;
    this.at = start;
    this.end = end;
    this.base = base;
  }

  /** The module offset of the next byte. */
  get offset(): number {
    return this.base + this.at;
  }

  /** True once every byte is read. */
  get done(): boolean {
    return this.at >= this.end;
  }

  /** One byte. */
  u8(): number {
    if (this.at >= this.end) throw this.error("unexpected end");
    return this.bytes[this.at++];
  }

  /** An unsigned LEB128 integer of at most 32 bits. */
  u32(): number {
    let value = 0;
    let shift = 0;
    const start = this.at;
    while (true) {
      if (this.at >= this.end || shift > 28) throw this.error("malformed LEB128 number", start);
      const byte = this.bytes[this.at++];
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) {
        if (value > 0xffffffff) throw this.error("LEB128 number too large", start);
        return value;
      }
      shift += 7;
    }
  }

  /** A signed LEB128 integer of at most `bits` bits (32 or 33), as a number. */
  sleb(bits = 32): number {
    let value = 0;
    let shift = 0;
    const start = this.at;
    while (true) {
      if (this.at >= this.end || shift >= bits + 7) {
        throw this.error("malformed LEB128 number", start);
      }
      const byte = this.bytes[this.at++];
      value += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if ((byte & 0x80) === 0) {
        if (byte & 0x40) value -= 2 ** shift;
        return value;
      }
    }
  }

  /** Skip a signed LEB128 integer of at most 64 bits (i64.const). */
  skipLeb(): void {
    const start = this.at;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.end) break;
      if ((this.bytes[this.at++] & 0x80) === 0) return;
    }
    throw this.error("malformed LEB128 number", start);
  }

  /** Skip `n` bytes. */
  skip(n: number): void {
    if (this.at + n > this.end) throw this.error("unexpected end");
    this.at += n;
  }

  /** The next `n` bytes (a view, not a copy). */
  take(n: number): Uint8Array {
    if (this.at + n > this.end) throw this.error("unexpected end");
    const view = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return view;
  }

  /** A length-prefixed UTF-8 name. */
  name(): string {
    const start = this.at;
    const bytes = this.take(this.u32());
    try {
      return decoder.decode(bytes);
    } catch {
      throw this.error("name is not valid UTF-8", start);
    }
  }

  /** An error naming the module offset of `at` (default: the current position). */
  error(problem: string, at = this.at): WasmFormatError {
    return new WasmFormatError(`${problem} at byte offset ${this.base + at}`);
  }
}

/**
 * A growable byte buffer that writes the binary format's primitives.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ByteWriter } from "./bytes.ts";
 *
 * const writer = new ByteWriter();
 * writer.u32(624485);
 * assert.deepEqual([...writer.finish()], [0xe5, 0x8e, 0x26]);
 * ```
 */
export class ByteWriter {
  #bytes: Uint8Array;
  /** Bytes written so far. */
  length = 0;

  /** An empty buffer with room for `capacity` bytes before it grows. */
  constructor(capacity = 256) {
    this.#bytes = new Uint8Array(capacity);
  }

  #reserve(n: number): void {
    if (this.length + n <= this.#bytes.length) return;
    const grown = new Uint8Array(Math.max(this.#bytes.length * 2, this.length + n));
    grown.set(this.#bytes.subarray(0, this.length));
    this.#bytes = grown;
  }

  /** One byte. */
  u8(byte: number): this {
    this.#reserve(1);
    this.#bytes[this.length++] = byte;
    return this;
  }

  /** Bytes as they are. */
  bytes(bytes: Uint8Array | readonly number[]): this {
    this.#reserve(bytes.length);
    this.#bytes.set(bytes, this.length);
    this.length += bytes.length;
    return this;
  }

  /** An unsigned LEB128 integer (up to 2^53). */
  u32(value: number): this {
    this.#reserve(8);
    do {
      let byte = value & 0x7f;
      value = Math.floor(value / 128);
      if (value !== 0) byte |= 0x80;
      this.#bytes[this.length++] = byte;
    } while (value !== 0);
    return this;
  }

  /** A signed LEB128 integer (i32, s33). */
  s32(value: number): this {
    this.#reserve(8);
    while (true) {
      const byte = value & 0x7f;
      value = Math.floor(value / 128);
      if ((value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0)) {
        this.#bytes[this.length++] = byte;
        return this;
      }
      this.#bytes[this.length++] = byte | 0x80;
    }
  }

  /** A signed 32-bit integer as a 5-byte LEB128, to be patched with {@linkcode patchS32}. */
  paddedS32(value: number): number {
    const at = this.length;
    this.#reserve(5);
    this.length += 5;
    this.patchS32(at, value);
    return at;
  }

  /** Overwrite the 5-byte LEB128 written by {@linkcode paddedS32} at `at`. */
  patchS32(at: number, value: number): void {
    for (let i = 0; i < 4; i++) {
      this.#bytes[at + i] = (value & 0x7f) | 0x80;
      value >>= 7;
    }
    this.#bytes[at + 4] = value & 0x7f;
  }

  /** A length-prefixed UTF-8 name. */
  name(text: string): this {
    const bytes = encoder.encode(text);
    return this.u32(bytes.length).bytes(bytes);
  }

  /** `bytes` prefixed with their length. */
  sized(bytes: Uint8Array): this {
    return this.u32(bytes.length).bytes(bytes);
  }

  /** The bytes written (a view of the buffer). */
  finish(): Uint8Array {
    return this.#bytes.subarray(0, this.length);
  }
}
