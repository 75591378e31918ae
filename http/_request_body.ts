/**
 * A request's body, read from the connection only as the handler pulls it: `Content-Length` or
 * chunked, never buffered whole by the front.
 *
 * @module
 */

import { HttpError } from "./http_error.ts";
import { ChunkedDecoder, type RequestHead } from "./http1.ts";
import type { ReadBuffer } from "./_read_buffer.ts";

/** An unread request body at most this large is skipped to keep the connection; else it closes. */
const DRAIN_LIMIT = 64 * 1024;

/** A request's body, read from the connection only as the handler pulls it. */
export class RequestBody {
  readonly #head: RequestHead;
  readonly #rb: ReadBuffer;
  readonly #conn: Deno.Conn;
  readonly #idleMs: number;
  readonly #chunked: ChunkedDecoder | undefined;
  #remaining: number;
  #continued = false;
  #reading = false;
  #error: HttpError | undefined;

  constructor(head: RequestHead, rb: ReadBuffer, conn: Deno.Conn, idleMs: number) {
    this.#head = head;
    this.#rb = rb;
    this.#conn = conn;
    this.#idleMs = idleMs;
    this.#chunked = head.chunked ? new ChunkedDecoder() : undefined;
    this.#remaining = head.chunked ? Infinity : Math.max(0, head.contentLength);
  }

  /** Nothing of the body is left to read. */
  get done(): boolean {
    return this.#chunked ? this.#chunked.done : this.#remaining === 0;
  }

  /** The body as a stream, or null when there is none. */
  stream(): ReadableStream<Uint8Array> | null {
    if (this.done) return null;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const bytes = await this.#next();
        if (bytes === undefined) controller.close();
        else controller.enqueue(bytes);
      },
    });
  }

  /** The rest of the body can be skipped cheaply (read fully, or a small known rest). */
  canFinish(): boolean {
    return !this.#reading && (this.done || this.#remaining <= DRAIN_LIMIT);
  }

  /** Skip what the handler did not read; false when the connection cannot be reused. */
  async finish(): Promise<boolean> {
    try {
      while (!this.done) if ((await this.#next()) === undefined) return this.done;
      return true;
    } catch {
      return false;
    }
  }

  /** The body could not be read: malformed framing, or it ended early. */
  get error(): HttpError | undefined {
    return this.#error;
  }

  /** The next piece of the body; undefined at its end. */
  async #next(): Promise<Uint8Array | undefined> {
    try {
      return await this.#read();
    } catch (error) {
      if (error instanceof HttpError) this.#error ??= error;
      throw error;
    }
  }

  async #read(): Promise<Uint8Array | undefined> {
    const rb = this.#rb;
    if (this.#head.expectContinue && !this.#continued) {
      this.#continued = true;
      await this.#conn.write(new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n"));
    }
    this.#reading = true;
    try {
      while (!this.done) {
        if (this.#chunked) {
          const [used, from, to] = this.#chunked.feed(rb.bytes, rb.start, rb.end);
          rb.start += used;
          if (to > from) return rb.bytes.slice(from, to);
          if (used > 0) continue;
        } else if (rb.length > 0) {
          const take = Math.min(this.#remaining, rb.length);
          const bytes = rb.bytes.slice(rb.start, rb.start + take);
          rb.start += take;
          this.#remaining -= take;
          return bytes;
        }
        if (await this.#fill() === null) throw new HttpError(400, "Request body ended early");
      }
      return undefined;
    } finally {
      this.#reading = false;
    }
  }

  /**
   * Read more of the body. A read that waits longer than the idle timeout ends the connection
   * (408); a connection lost meanwhile is the client's doing (400), not a server error.
   */
  async #fill(): Promise<number | null> {
    let stalled = false;
    const timer = setTimeout(() => {
      stalled = true;
      try {
        this.#conn.close();
      } catch {
        // already closed
      }
    }, this.#idleMs);
    try {
      return await this.#rb.fill(this.#conn);
    } catch (error) {
      throw stalled
        ? new HttpError(408, `Request body stalled for more than ${this.#idleMs / 1000} s`)
        : new HttpError(400, "Connection lost while reading the request body", { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }
}
