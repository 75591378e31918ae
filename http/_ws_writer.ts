/**
 * The output half of the front's WebSocket: frames are encoded straight into a pooled buffer,
 * every frame queued in one tick goes out in one write, and what is queued is charged to the
 * server's output budget. When that budget is spent, {@linkcode OutputShedder} closes the
 * clients with the largest stalled queues (a queue that is merely busy, not stalled, is left
 * alone up to twice the budget).
 *
 * @module
 */

import { giveBuffer, POOLED_SIZE, takeBuffer } from "./_buffer_pool.ts";
import { encodeUtf8, headerSize, Op, writeHeader } from "./_ws_codec.ts";
import { writeShortAscii } from "../util/utf8.ts";
import type { MemoryBudget } from "./memory_budget.ts";

/** A queue this large (bytes not yet written) makes a writer a candidate for shedding. */
const HEAVY_QUEUE = 64 * 1024;

/** A heavy queue must have been heavy this long (ms) to be shed: slow, not just busy. */
const STALLED_MS = 50;

/** {@linkcode WriterOwner} method: shed this client. */
export const onShed: unique symbol = Symbol("onShed");
/** {@linkcode WriterOwner} method: writing failed. */
export const onWriteFailed: unique symbol = Symbol("onWriteFailed");
/** {@linkcode WriterOwner} method: everything queued has been written. */
export const onDrained: unique symbol = Symbol("onDrained");

/** What a writer tells its socket, under symbol keys (see `FrameSink`). */
export interface WriterOwner {
  /** The output budget is spent and this client is the slowest reader: close it. */
  [onShed](reason: string): void;
  /** Writing failed: the connection is gone. */
  [onWriteFailed](): void;
  /** Everything queued has been written. */
  [onDrained](): void;
}

/** A payload this large gets a buffer of its own (one write) instead of pooled chunks. */
const OWN_BUFFER = 64 * 1024;

/**
 * Queues and writes the frames of one connection. Frames go into a chain of pooled 16 KiB
 * chunks (a slow reader's queue grows by chunks, never by copying); each write takes one chunk.
 */
export class FrameWriter {
  readonly #conn: Deno.Conn;
  readonly #owner: WriterOwner;
  readonly #shedder: OutputShedder;
  /** Filled chunks waiting to be written, with the bytes used in each (made when needed). */
  #queue: Uint8Array[] | undefined;
  #lengths: number[] | undefined;
  /** The chunk being filled, after every chunk in the queue. */
  #tail: Uint8Array | undefined;
  #tailLength = 0;
  /** Bytes in the queue and the tail. */
  #staged = 0;
  #inFlight = 0;
  #inFlightBuffer: Uint8Array | undefined;
  #written = 0;
  #writing = false;
  #flushQueued = false;
  /** While the socket handles a read: replies are written when it is done, not in a microtask. */
  #held = false;
  #heavySince = 0;
  #ended = false;
  /** Callbacks for `write()`, made on the first write (an idle connection never needs them). */
  #onWritten: ((n: number) => void) | undefined;
  #onFailed: (() => void) | undefined;

  /** A writer for `conn`, telling `owner`, charging `shedder`'s budget. */
  constructor(conn: Deno.Conn, owner: WriterOwner, shedder: OutputShedder) {
    this.#conn = conn;
    this.#owner = owner;
    this.#shedder = shedder;
  }

  /** Bytes queued and not yet written to the connection. */
  get buffered(): number {
    return this.#staged + this.#inFlight;
  }

  /** Nothing queued, nothing being written. */
  get idle(): boolean {
    return !this.#writing && this.#staged === 0;
  }

  /** Whether this queue has been heavy long enough to count as stalled. */
  stalled(now: number): boolean {
    return this.#heavySince > 0 && now - this.#heavySince >= STALLED_MS;
  }

  /** Queue a text frame. */
  text(text: string): void {
    if (text.length <= 64) {
      const tail = this.#room(2 + text.length);
      const at = this.#tailLength;
      const written = writeShortAscii(tail, at + 2, text);
      if (written >= 0) {
        writeHeader(tail, at, Op.Text, written);
        this.#tailLength += 2 + written;
        return this.#queued(2 + written);
      }
    }
    this.frame(Op.Text, encodeUtf8(text));
  }

  /** Queue a frame with `payload` (copied). */
  frame(opcode: number, payload: Uint8Array): void {
    const length = payload.length;
    const head = headerSize(length);
    if (length >= OWN_BUFFER) {
      this.#closeTail();
      const own = new Uint8Array(head + length);
      own.set(payload, writeHeader(own, 0, opcode, length));
      (this.#queue ??= []).push(own);
      (this.#lengths ??= []).push(own.length);
      return this.#queued(own.length);
    }
    let tail = this.#room(head);
    this.#tailLength = writeHeader(tail, this.#tailLength, opcode, length);
    for (let at = 0; at < length;) {
      if (this.#tailLength === tail.length) tail = this.#room(1);
      const take = Math.min(tail.length - this.#tailLength, length - at);
      tail.set(
        at === 0 && take === length ? payload : payload.subarray(at, at + take),
        this.#tailLength,
      );
      this.#tailLength += take;
      at += take;
    }
    this.#queued(head + length);
  }

  /** Hold writes while the socket handles what it read. */
  hold(): void {
    this.#held = true;
  }

  /** Stop holding: write what was queued meanwhile. */
  release(): void {
    this.#held = false;
    if (this.#flushQueued) this.#flush();
  }

  /** Drop what is queued and not yet being written; returns how many bytes that was. */
  drop(): number {
    const dropped = this.#staged;
    this.#shedder.output.release(dropped);
    for (const chunk of this.#queue ?? []) giveBuffer(chunk);
    if (this.#tail !== undefined) giveBuffer(this.#tail);
    this.#queue = undefined;
    this.#lengths = undefined;
    this.#tail = undefined;
    this.#tailLength = 0;
    this.#staged = 0;
    return dropped;
  }

  /** The connection is closed: give everything back. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.drop();
    this.#shedder.output.release(this.#inFlight);
    this.#inFlight = 0;
    this.#inFlightBuffer = undefined;
    this.#notHeavy();
  }

  /** The tail chunk, with at least `bytes` (at most 66) free in one piece. */
  #room(bytes: number): Uint8Array {
    const tail = this.#tail;
    if (tail !== undefined && tail.length - this.#tailLength >= bytes) return tail;
    this.#closeTail();
    this.#tailLength = 0;
    return this.#tail = takeBuffer(POOLED_SIZE);
  }

  /** Move the tail chunk, if it holds anything, to the queue. */
  #closeTail(): void {
    if (this.#tail === undefined || this.#tailLength === 0) return;
    (this.#queue ??= []).push(this.#tail);
    (this.#lengths ??= []).push(this.#tailLength);
    this.#tail = undefined;
    this.#tailLength = 0;
  }

  /** `bytes` more were queued: charge them and schedule the write. */
  #queued(bytes: number): void {
    this.#staged += bytes;
    const shedder = this.#shedder;
    const within = shedder.output.charge(bytes);
    if (this.#heavySince === 0 && this.#staged + this.#inFlight >= HEAVY_QUEUE) {
      this.#heavySince = Date.now();
      shedder.heavy.add(this);
    }
    if (!within) shedder.shed();
    if (this.#writing || this.#flushQueued) return;
    this.#flushQueued = true;
    if (!this.#held) queueMicrotask(this.#flushSoon ??= () => this.#flush());
  }

  #flushSoon: (() => void) | undefined;

  #flush(): void {
    if (!this.#flushQueued) return; // written already, when the hold was released
    this.#flushQueued = false;
    if (!this.#writing && this.#staged > 0 && !this.#ended) this.#write();
  }

  /** Write the first chunk; the next goes out once it completes. */
  #write(): void {
    let buffer: Uint8Array;
    let length: number;
    if (this.#queue !== undefined && this.#queue.length > 0) {
      buffer = this.#queue.shift()!;
      length = this.#lengths!.shift()!;
    } else {
      buffer = this.#tail!;
      length = this.#tailLength;
      this.#tail = undefined;
      this.#tailLength = 0;
    }
    this.#staged -= length;
    this.#inFlight = length;
    this.#inFlightBuffer = buffer;
    this.#written = 0;
    this.#writing = true;
    this.#onWritten ??= (n) => this.#wrote(n);
    this.#onFailed ??= () => this.#failed();
    this.#conn.write(length === buffer.length ? buffer : buffer.subarray(0, length)).then(
      this.#onWritten,
      this.#onFailed,
    );
  }

  #wrote(n: number): void {
    if (this.#ended) return;
    const buffer = this.#inFlightBuffer!;
    const length = this.#inFlight;
    this.#written += n;
    if (this.#written < length) {
      this.#conn.write(buffer.subarray(this.#written, length)).then(
        this.#onWritten,
        this.#onFailed,
      );
      return;
    }
    this.#inFlightBuffer = undefined;
    this.#inFlight = 0;
    this.#shedder.output.release(length);
    giveBuffer(buffer);
    if (this.#staged < HEAVY_QUEUE) this.#notHeavy();
    if (this.#staged > 0) return this.#write();
    this.#writing = false;
    this.#owner[onDrained]();
  }

  #failed(): void {
    this.#writing = false;
    if (!this.#ended) this.#owner[onWriteFailed]();
  }

  #notHeavy(): void {
    if (this.#heavySince === 0) return;
    this.#heavySince = 0;
    this.#shedder.heavy.delete(this);
  }

  /** Shed this writer's client (called by {@linkcode OutputShedder}). */
  shed(reason: string): void {
    this.#notHeavy();
    this.#owner[onShed](reason);
  }
}

/**
 * The server's output budget and the writers with heavy queues. Past the budget it closes the
 * writers with the largest queues among those stalled for 50 ms; past twice the budget, the
 * largest ones whether stalled or not.
 *
 * @example
 * ```ts ignore
 * const shedder = new OutputShedder(new MemoryBudget(256 * 1024 * 1024));
 * ```
 */
export class OutputShedder {
  /** The server-wide budget. */
  readonly output: MemoryBudget;
  /** Writers whose queue is 64 KiB or more. */
  readonly heavy: Set<FrameWriter> = new Set();
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** A shedder for `output`. */
  constructor(output: MemoryBudget) {
    this.output = output;
  }

  /** The budget is spent: shed until it is not, or look again once queues have had time. */
  shed(): void {
    const output = this.output;
    const now = Date.now();
    while (output.used > output.limit) {
      const hard = output.used > 2 * output.limit;
      let worst: FrameWriter | undefined;
      for (const writer of this.heavy) {
        if (
          (hard || writer.stalled(now)) && (worst === undefined || writer.buffered > worst.buffered)
        ) {
          worst = writer;
        }
      }
      if (worst === undefined) {
        if (this.heavy.size > 0 && this.#timer === undefined) {
          this.#timer = setTimeout(() => {
            this.#timer = undefined;
            this.shed();
          }, STALLED_MS);
        }
        return;
      }
      worst.shed(`Server output budget of ${output.limit} bytes spent; this client reads slowest`);
    }
  }

  /** Stop the pending look, if any (the server is stopping). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
