/**
 * A connection's read buffer: bytes read from the socket and not yet parsed, shared by the HTTP
 * codec and, after an upgrade, the WebSocket. It starts small and grows only to hold one request
 * head or one frame, charging the growth to the server's input budget.
 *
 * @module
 */

import type { MemoryBudget } from "./memory_budget.ts";

/** Bytes every connection reads into; what an idle connection holds. */
export const BASE_READ_SIZE = 1024;

/** What a connection reading a burst grows its buffer to (if the input budget allows). */
export const BURST_READ_SIZE = 16 * 1024;

/** The unparsed bytes of one connection: `bytes[start..end]`. */
export class ReadBuffer {
  /** The buffer; `bytes[start..end]` is what has been read and not yet consumed. */
  bytes: Uint8Array;
  /** Offset of the first unconsumed byte. */
  start = 0;
  /** Offset just past the last byte read. */
  end = 0;
  readonly #base: Uint8Array;
  readonly #budget: MemoryBudget;
  /** Bytes of growth over the base buffer, charged to the budget. */
  #charged = 0;

  /** A buffer of {@linkcode BASE_READ_SIZE} bytes, growing against `budget`. */
  constructor(budget: MemoryBudget) {
    this.#budget = budget;
    this.#base = new Uint8Array(BASE_READ_SIZE);
    this.bytes = this.#base;
  }

  /** Unconsumed bytes. */
  get length(): number {
    return this.end - this.start;
  }

  /** Bytes held over the base buffer (charged to the budget). */
  get charged(): number {
    return this.#charged;
  }

  /**
   * Make room for `total` unconsumed bytes from `start` (moving them to the front, or growing the
   * buffer). False, with nothing changed, when growing would pass the input budget.
   */
  ensure(total: number): boolean {
    if (this.start + total <= this.bytes.length) return true;
    if (total <= this.bytes.length) {
      this.#compact();
      return true;
    }
    const extra = total - BASE_READ_SIZE;
    if (!this.#budget.reserve(extra - this.#charged)) return false;
    const grown = new Uint8Array(total);
    grown.set(this.bytes.subarray(this.start, this.end));
    this.#charged = extra;
    this.end -= this.start;
    this.start = 0;
    this.bytes = grown;
    return true;
  }

  /**
   * The free space to read into (the whole buffer when it is empty, without a new view). Pass
   * the number of bytes read to {@linkcode ReadBuffer.commit}.
   */
  space(): Uint8Array {
    if (this.start === this.end) {
      this.start = this.end = 0;
      return this.bytes;
    }
    if (this.end === this.bytes.length) this.#compact();
    if (this.end === this.bytes.length) throw new RangeError("Read buffer is full");
    return this.bytes.subarray(this.end);
  }

  /** `n` bytes were read into {@linkcode ReadBuffer.space}. */
  commit(n: number): void {
    this.end += n;
  }

  /** Read once from `conn` into the free space; the number of bytes, or null at the end. */
  async fill(conn: Deno.Conn): Promise<number | null> {
    const n = await conn.read(this.space());
    if (n !== null) this.end += n;
    return n;
  }

  /** Grow to {@linkcode BURST_READ_SIZE} for a burst of reads, if the input budget allows. */
  grow(): void {
    if (this.bytes.length < BURST_READ_SIZE) this.ensure(BURST_READ_SIZE);
  }

  /** Go back to the base buffer when what is left fits in it, giving the growth back. */
  shrink(): void {
    if (this.bytes === this.#base || this.length > BASE_READ_SIZE) return;
    this.#base.set(this.bytes.subarray(this.start, this.end));
    this.end -= this.start;
    this.start = 0;
    this.bytes = this.#base;
    this.#budget.release(this.#charged);
    this.#charged = 0;
  }

  /** Drop everything and give the growth back (the connection is closing). */
  discard(): void {
    this.start = this.end = 0;
    this.bytes = this.#base;
    this.#budget.release(this.#charged);
    this.#charged = 0;
  }

  #compact(): void {
    this.bytes.copyWithin(0, this.start, this.end);
    this.end -= this.start;
    this.start = 0;
  }
}
