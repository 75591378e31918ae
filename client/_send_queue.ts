/**
 * The bounded queue of sends waiting for a connection.
 *
 * @module
 */

import { utf8Length } from "../util/utf8.ts";
import { JamsocketClientError } from "./client_error.ts";

/** What a client can send: text, or bytes. */
export type Sendable = string | ArrayBuffer | ArrayBufferView<ArrayBuffer>;

/**
 * Messages sent while no connection is open, in order, bounded by count and by bytes (text counts
 * its UTF-8 length). Bytes are copied when queued, so the caller may reuse its buffer.
 */
export class SendQueue {
  readonly #maxMessages: number;
  readonly #maxBytes: number;
  #items: (string | Uint8Array<ArrayBuffer>)[] = [];
  #bytes = 0;

  constructor(maxMessages: number, maxBytes: number) {
    this.#maxMessages = maxMessages;
    this.#maxBytes = maxBytes;
  }

  /** Bytes queued. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Messages queued. */
  get length(): number {
    return this.#items.length;
  }

  /** Queue `data`, or throw a `"queue-full"` error and queue nothing. */
  push(data: Sendable): void {
    const item = typeof data === "string" ? data : copyBytes(data);
    const size = typeof item === "string" ? utf8Length(item) : item.byteLength;
    if (this.#items.length >= this.#maxMessages) {
      throw new JamsocketClientError(
        "queue-full",
        `Cannot queue a message while connecting: ${this.#items.length} messages are queued, ` +
          `the most maxQueuedMessages allows`,
      );
    }
    if (this.#bytes + size > this.#maxBytes) {
      throw new JamsocketClientError(
        "queue-full",
        `Cannot queue a message of ${size} bytes while connecting: ${this.#bytes} bytes are ` +
          `queued and maxQueuedBytes is ${this.#maxBytes}`,
      );
    }
    this.#items.push(item);
    this.#bytes += size;
  }

  /** Take every queued message, oldest first, leaving the queue empty. */
  drain(): (string | Uint8Array<ArrayBuffer>)[] {
    const items = this.#items;
    this.#items = [];
    this.#bytes = 0;
    return items;
  }
}

function copyBytes(data: ArrayBuffer | ArrayBufferView<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  if (data instanceof ArrayBuffer) return new Uint8Array(data.slice(0));
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
}
