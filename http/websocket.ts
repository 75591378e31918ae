/**
 * A strict RFC 6455 server WebSocket on a raw TCP connection, with the part of the browser
 * `WebSocket` API a room uses (`readyState`, `bufferedAmount`, `binaryType`, `send`, `close`,
 * `onopen`/`onmessage`/`onclose`/`onerror`, `addEventListener`).
 *
 * What it enforces, each answered with a close frame as the RFC says:
 * - 1002: an unmasked client frame, reserved bits, an unknown opcode, a fragmented or over-125-byte
 *   control frame, a continuation without a message, a new message inside a fragmented one, a bad
 *   close frame payload or code, a 64-bit length with its top bit set;
 * - 1007: a text message (or close reason) that is not valid UTF-8;
 * - 1009: a message over `maxMessageBytes`, decided from the frame headers before any byte of it
 *   is buffered, however it is fragmented;
 * - 1013: buffering the message would pass the server's input budget;
 * - 1008: the server's output budget is spent and this client has the largest stalled queue.
 *
 * Heartbeats follow Deno's `idleTimeout`: a ping after `idleTimeout / 2` seconds with nothing
 * received, close 1001 at `idleTimeout`. A close handshake the peer does not finish within
 * {@linkcode CLOSE_TIMEOUT_MS} ends the TCP connection.
 *
 * @module
 */

import { giveBuffer, takeBuffer } from "./_buffer_pool.ts";
import type { ReadBuffer } from "./_read_buffer.ts";
import {
  decodeUtf8,
  encodeUtf8,
  fitCloseReason,
  headerSize,
  MAX_CONTROL_PAYLOAD,
  Op,
  unmask,
  validCloseCode,
  writeHeader,
  writeShortAscii,
} from "./_ws_codec.ts";
import type { MemoryBudget } from "./memory_budget.ts";

/**
 * How long a close handshake may take before the TCP connection is closed anyway, in ms (what
 * Node's `ws` waits too). A client shed for the output budget gets {@linkcode SHED_TIMEOUT_MS}.
 */
export const CLOSE_TIMEOUT_MS = 30_000;

/** How long a client shed for the output budget has to read its close frame, in ms. */
export const SHED_TIMEOUT_MS = 1000;

/** A queue this large (bytes not yet written) makes a socket a candidate for output shedding. */
const HEAVY_QUEUE = 64 * 1024;

/** A heavy queue must have been heavy this long (ms) to be shed: slow, not just busy. */
const STALLED_MS = 50;

/** Why the front closed a client, for metrics. */
export type FrontCloseKind =
  | "too_big"
  | "protocol"
  | "invalid_utf8"
  | "input_budget"
  | "output_budget";

/** What every socket of one server shares: budgets, and where to report what it closed. */
export interface SocketHost {
  /** Server-wide budget for frames and fragmented messages still arriving. */
  readonly input: MemoryBudget;
  /** Server-wide budget for frames queued for clients. */
  readonly output: MemoryBudget;
  /** Sockets whose queue is at least 64 KiB (maintained by the sockets). */
  readonly heavy: Set<FrontWebSocket>;
  /** The front closed a client for `kind`; `detail` is the close reason. */
  report(kind: FrontCloseKind, detail: string, socket: FrontWebSocket): void;
  /** An event handler threw. */
  handlerError(error: unknown): void;
}

/** Options of a {@linkcode FrontWebSocket}. */
export interface FrontWebSocketOptions {
  /**
   * Seconds without a frame from the client after which it is pinged (half of this) and closed
   * with 1001 (all of it); `0` turns heartbeats off.
   * @default {30}
   */
  idleTimeout?: number;
  /**
   * Largest message a client may send, in bytes, however fragmented; larger closes it with 1009.
   * @default {67108864}
   */
  maxMessageBytes?: number;
}

/** The event passed to `onmessage` (only `data` and `type` are set). */
class FrontMessageEvent {
  readonly type = "message";
  readonly data: string | ArrayBuffer | Blob;
  readonly target: FrontWebSocket;
  constructor(data: string | ArrayBuffer | Blob, target: FrontWebSocket) {
    this.data = data;
    this.target = target;
  }
}

type Listener = (event: Event) => void;

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/**
 * One server-side WebSocket connection. Created by `upgradeWebSocket()` in the CONNECTING state;
 * the HTTP server attaches the TCP connection once the 101 answer is written.
 *
 * @example
 * ```ts ignore
 * const { socket, response } = upgradeWebSocket(request, { idleTimeout: 60 });
 * socket.onmessage = (event) => socket.send(event.data);
 * return response;
 * ```
 */
export class FrontWebSocket {
  /** The connection is not yet open. */
  static readonly CONNECTING = CONNECTING;
  /** The connection is open. */
  static readonly OPEN = OPEN;
  /** The closing handshake has started. */
  static readonly CLOSING = CLOSING;
  /** The connection is closed. */
  static readonly CLOSED = CLOSED;
  /** The connection is not yet open. */
  readonly CONNECTING = CONNECTING;
  /** The connection is open. */
  readonly OPEN = OPEN;
  /** The closing handshake has started. */
  readonly CLOSING = CLOSING;
  /** The connection is closed. */
  readonly CLOSED = CLOSED;

  /** The request URL. */
  readonly url: string;
  /** The subprotocol chosen (none are negotiated). */
  readonly protocol = "";
  /** Extensions negotiated (none). */
  readonly extensions = "";
  /** How binary messages are delivered. */
  binaryType: BinaryType = "blob";
  /** Called once the connection is open. */
  onopen: ((event: Event) => void) | null = null;
  /** Called with each message. */
  onmessage: ((event: MessageEvent) => void) | null = null;
  /** Called once, when the connection has closed. */
  onclose: ((event: CloseEvent) => void) | null = null;
  /** Called before `close` when the connection failed (heartbeat timeout). */
  onerror: ((event: Event) => void) | null = null;

  #state: number = CONNECTING;
  readonly #host: SocketHost;
  readonly #idleMs: number;
  readonly #maxMessage: number;
  #conn: Deno.Conn | undefined;
  #rb: ReadBuffer | undefined;
  #listeners: Map<string, { listener: Listener; once: boolean }[]> | undefined;

  // Input.
  /** Opcode of the fragmented message in progress (0: none). */
  #fragOpcode = 0;
  #fragments: Uint8Array[] = [];
  #fragBytes = 0;
  /** Payload bytes still to skip (of a frame being discarded). */
  #skip = 0;
  /** After a close frame was sent: frames are parsed only to find the peer's close. */
  #draining = false;
  /** The byte stream cannot be parsed any more: discard everything until the end. */
  #discardAll = false;
  #lastSeen = 0;
  #pinged = false;

  // Output.
  #out: Uint8Array | undefined;
  #outLength = 0;
  #inFlight = 0;
  #writing = false;
  #flushQueued = false;
  /** Inside #process: replies are written once it returns. */
  #processing = false;
  #writeBuffer: Uint8Array | undefined;
  #writeDone = 0;
  #heavySince = 0;
  #closeSent = false;
  /** Close the connection once the queue is written (after the close handshake). */
  #endAfterFlush = false;
  #closeCode = 1005;
  #closeReason = "";
  #wasClean = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  /** Called once the TCP connection is closed. */
  #onEnd: (() => void) | undefined;

  /** A socket for `url`, not yet attached to a connection. */
  constructor(url: string, host: SocketHost, options: FrontWebSocketOptions = {}) {
    this.url = url;
    this.#host = host;
    this.#idleMs = (options.idleTimeout ?? 30) * 1000;
    this.#maxMessage = options.maxMessageBytes ?? 64 * 1024 * 1024;
  }

  /** CONNECTING, OPEN, CLOSING or CLOSED. */
  get readyState(): number {
    return this.#state;
  }

  /** Bytes queued and not yet written to the connection. */
  get bufferedAmount(): number {
    return this.#outLength + this.#inFlight;
  }

  /**
   * Take over `conn` after the 101 answer was written: `rb` holds whatever the client sent after
   * its request head. Fires `open` (unless `close()` came first), then reads frames until the
   * end; `onEnd` is called once the TCP connection has closed.
   */
  attach(conn: Deno.Conn, rb: ReadBuffer, onEnd: () => void): void {
    this.#conn = conn;
    this.#rb = rb;
    this.#onEnd = onEnd;
    this.#lastSeen = Date.now();
    if (this.#state === CONNECTING) {
      this.#state = OPEN;
      if (this.#idleMs > 0) this.#schedule(this.#idleMs / 2);
      this.#dispatch("open", new Event("open"));
    } else {
      // close() was called before the connection opened: finish that close now.
      this.#sendClose(this.#closeCode, this.#closeReason);
    }
    void this.#readLoop();
  }

  /** The upgrade never happened (the handler answered something else): fire `close` (1006). */
  abandon(): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    this.#dispatch("close", new CloseEvent("close", { code: 1006, reason: "", wasClean: false }));
  }

  /** Queue a text or binary message. Ignored once closing; throws while connecting. */
  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void {
    if (this.#state !== OPEN) {
      if (this.#state === CONNECTING) {
        throw new DOMException("'readyState' not OPEN", "InvalidStateError");
      }
      return;
    }
    if (typeof data === "string") this.#queueText(data);
    else if (data instanceof Uint8Array) this.#queueBytes(Op.Binary, data);
    else if (ArrayBuffer.isView(data)) {
      this.#queueBytes(Op.Binary, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    } else if (data instanceof Blob) {
      throw new TypeError("Sending a Blob is not supported by this WebSocket");
    } else this.#queueBytes(Op.Binary, new Uint8Array(data));
  }

  /**
   * Start the closing handshake with `code` (default 1000) and `reason` (cut to 123 bytes). Frames
   * already queued are sent first; the connection ends when the client answers, or after
   * {@linkcode CLOSE_TIMEOUT_MS}.
   */
  close(code?: number, reason?: string): void {
    if (this.#state === CLOSING || this.#state === CLOSED) return;
    const wasConnecting = this.#state === CONNECTING;
    this.#state = CLOSING;
    this.#closeCode = code ?? 1000;
    this.#closeReason = reason ?? "";
    if (!wasConnecting) this.#sendClose(this.#closeCode, this.#closeReason);
  }

  /** Listen for `open`, `message`, `close` or `error`. */
  addEventListener(type: string, listener: Listener, options?: boolean | AddEventListenerOptions) {
    const once = typeof options === "object" && options.once === true;
    this.#listeners ??= new Map();
    const list = this.#listeners.get(type) ?? [];
    if (!list.some((entry) => entry.listener === listener)) list.push({ listener, once });
    this.#listeners.set(type, list);
  }

  /** Stop listening. */
  removeEventListener(type: string, listener: Listener): void {
    const list = this.#listeners?.get(type);
    if (list) this.#listeners!.set(type, list.filter((entry) => entry.listener !== listener));
  }

  /** Bytes queued, for the server's shedding. */
  get backlog(): number {
    return this.#outLength + this.#inFlight;
  }

  /** Whether this socket's queue has been heavy for long enough to count as stalled. */
  stalled(now: number): boolean {
    return this.#heavySince > 0 && now - this.#heavySince >= STALLED_MS;
  }

  /**
   * Drop this client for the output budget: what is queued and not yet being written is dropped,
   * a close frame (1008) follows what is in flight.
   */
  shed(reason: string): void {
    if (this.#closeSent || this.#state !== OPEN) return;
    this.#dropQueue();
    this.#host.report("output_budget", reason, this);
    this.#closeCode = 1008;
    this.#closeReason = reason;
    this.#state = CLOSING;
    this.#sendClose(1008, reason, SHED_TIMEOUT_MS);
  }

  // ---- input ----------------------------------------------------------------------------------

  async #readLoop(): Promise<void> {
    const conn = this.#conn!;
    const rb = this.#rb!;
    try {
      if (rb.length > 0) this.#processAndFlush(rb);
      while (this.#state !== CLOSED) {
        const n = await conn.read(rb.space());
        if (n === null) {
          this.#end(
            this.#wasClean ? this.#closeCode : 1006,
            this.#wasClean ? this.#closeReason : "",
          );
          return;
        }
        rb.commit(n);
        this.#lastSeen = Date.now();
        this.#pinged = false;
        this.#processAndFlush(rb);
        if (rb.start === rb.end && n < 1024) rb.shrink();
      }
    } catch {
      this.#end(1006, "");
    }
  }

  /** Handle what was read; replies queued meanwhile are written at once, not in a microtask. */
  #processAndFlush(rb: ReadBuffer): void {
    this.#processing = true;
    try {
      this.#process(rb);
    } finally {
      this.#processing = false;
    }
    if (this.#flushQueued) {
      this.#flushQueued = false;
      if (!this.#writing && this.#outLength > 0 && this.#state !== CLOSED) this.#startWrite();
    }
  }

  /** Parse every complete frame in the buffer. */
  #process(rb: ReadBuffer): void {
    const bytes = rb.bytes;
    const end = rb.end;
    let pos = rb.start;
    while (pos < end) {
      if (this.#discardAll) {
        pos = end;
        break;
      }
      if (this.#skip > 0) {
        const skipped = Math.min(this.#skip, end - pos);
        this.#skip -= skipped;
        pos += skipped;
        continue;
      }
      if (end - pos < 2) break;
      const b0 = bytes[pos];
      const b1 = bytes[pos + 1];
      let length = b1 & 0x7f;
      let head = 2;
      if (length === 126) {
        if (end - pos < 4) break;
        length = (bytes[pos + 2] << 8) | bytes[pos + 3];
        head = 4;
      } else if (length === 127) {
        if (end - pos < 10) break;
        const high = ((bytes[pos + 2] << 24) | (bytes[pos + 3] << 16) | (bytes[pos + 4] << 8) |
          bytes[pos + 5]) >>> 0;
        const low = ((bytes[pos + 6] << 24) | (bytes[pos + 7] << 16) | (bytes[pos + 8] << 8) |
          bytes[pos + 9]) >>> 0;
        if (high >= 0x80000000) {
          rb.start = end;
          return this.#fail(1002, "Frame length has its most significant bit set");
        }
        // Past 2^53 the length is not exact, but it is then far over any message limit.
        length = high * 0x100000000 + low;
        head = 10;
      }
      const opcode = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      const total = head + 4 + length;
      const error = this.#check(b0, b1, opcode, fin, length);
      if (error !== undefined) {
        // The frame's payload is skipped, not buffered, so its length costs nothing.
        this.#skip = Math.max(0, total - (end - pos));
        pos = Math.min(end, pos + total);
        rb.start = pos;
        error();
        continue;
      }
      if (this.#draining && opcode !== Op.Close) {
        this.#skip = Math.max(0, total - (end - pos));
        pos = Math.min(end, pos + total);
        continue;
      }
      if (end - pos < total) {
        rb.start = pos;
        if (!rb.ensure(total)) {
          this.#skip = total - (end - pos);
          rb.start = end;
          return this.#refuseInput(length);
        }
        return;
      }
      const payload = pos + head + 4;
      pos += total;
      unmask(bytes, payload, pos, payload - 4);
      rb.start = pos;
      this.#frame(opcode, fin, bytes, payload, pos);
    }
    rb.start = pos;
  }

  /** A frame header that breaks a rule gives the failure to run; undefined when it is fine. */
  #check(
    b0: number,
    b1: number,
    opcode: number,
    fin: boolean,
    length: number,
  ): (() => void) | undefined {
    if (this.#draining) {
      // Only the peer's close frame matters now; anything odd ends the parsing.
      const bad = (b1 & 0x80) === 0 || (b0 & 0x70) !== 0 ||
        (opcode === Op.Close && (!fin || length > MAX_CONTROL_PAYLOAD));
      return bad ? () => this.#discardAll = true : undefined;
    }
    if ((b1 & 0x80) === 0) return () => this.#fail(1002, "Client frames must be masked");
    if ((b0 & 0x70) !== 0) {
      return () => this.#fail(1002, "Reserved bits set without a negotiated extension");
    }
    if (opcode >= 0x8) {
      if (opcode > Op.Pong) return () => this.#fail(1002, `Unknown opcode ${opcode}`);
      if (!fin) return () => this.#fail(1002, "Control frames must not be fragmented");
      if (length > MAX_CONTROL_PAYLOAD) {
        return () =>
          this.#fail(1002, `Control frame of ${length} bytes is over ${MAX_CONTROL_PAYLOAD}`);
      }
      return undefined;
    }
    if (opcode === Op.Continuation) {
      if (this.#fragOpcode === 0) {
        return () => this.#fail(1002, "Continuation frame without a message to continue");
      }
      if (this.#fragBytes + length > this.#maxMessage) {
        const at = this.#fragBytes + length;
        return () => this.#tooBig(`Message of at least ${at} bytes`);
      }
      return undefined;
    }
    if (opcode > Op.Binary) return () => this.#fail(1002, `Unknown opcode ${opcode}`);
    if (this.#fragOpcode !== 0) {
      return () => this.#fail(1002, "New message before the fragmented one ended");
    }
    if (length > this.#maxMessage) {
      return () =>
        this.#tooBig(fin ? `Message of ${length} bytes` : `Message of at least ${length} bytes`);
    }
    return undefined;
  }

  #frame(opcode: number, fin: boolean, bytes: Uint8Array, start: number, end: number): void {
    switch (opcode) {
      case Op.Text:
      case Op.Binary:
        if (fin) return this.#deliver(opcode, bytes, start, end);
        this.#fragOpcode = opcode;
        return this.#addFragment(bytes, start, end);
      case Op.Continuation: {
        this.#addFragment(bytes, start, end);
        if (!fin || this.#fragOpcode === 0) return; // not the end, or refused for the budget
        const message = this.#takeFragments();
        return this.#deliver(message.opcode, message.bytes, 0, message.bytes.length);
      }
      case Op.Ping:
        if (this.#state === OPEN) this.#queueBytes(Op.Pong, bytes.subarray(start, end));
        return;
      case Op.Pong:
        return;
      case Op.Close:
        return this.#closeFrame(bytes, start, end);
    }
  }

  #addFragment(bytes: Uint8Array, start: number, end: number): void {
    const length = end - start;
    if (length === 0) return;
    if (!this.#host.input.reserve(length)) return this.#refuseInput(this.#fragBytes + length);
    this.#fragments.push(bytes.slice(start, end));
    this.#fragBytes += length;
  }

  #takeFragments(): { opcode: number; bytes: Uint8Array } {
    const opcode = this.#fragOpcode;
    const parts = this.#fragments;
    let bytes: Uint8Array;
    if (parts.length === 1) bytes = parts[0];
    else {
      bytes = new Uint8Array(this.#fragBytes);
      let at = 0;
      for (const part of parts) {
        bytes.set(part, at);
        at += part.length;
      }
    }
    this.#releaseFragments();
    return { opcode, bytes };
  }

  #releaseFragments(): void {
    this.#host.input.release(this.#fragBytes);
    this.#fragments = [];
    this.#fragBytes = 0;
    this.#fragOpcode = 0;
  }

  #deliver(opcode: number, bytes: Uint8Array, start: number, end: number): void {
    if (this.#state !== OPEN) return;
    let data: string | ArrayBuffer | Blob;
    if (opcode === Op.Text) {
      const text = decodeUtf8(bytes, start, end);
      if (text === undefined) {
        return this.#fail(1007, "Text message is not valid UTF-8", "invalid_utf8");
      }
      data = text;
    } else if (this.binaryType === "arraybuffer") {
      data = start === 0 && end === bytes.length && bytes.byteOffset === 0 &&
          bytes.buffer.byteLength === end
        ? bytes.buffer as ArrayBuffer
        : bytes.slice(start, end).buffer;
    } else data = new Blob([bytes.slice(start, end)]);
    const event = new FrontMessageEvent(data, this) as unknown as MessageEvent;
    const handler = this.onmessage;
    if (handler !== null) {
      try {
        handler.call(this, event);
      } catch (error) {
        this.#host.handlerError(error);
      }
    }
    if (this.#listeners !== undefined) this.#emit("message", event as unknown as Event);
  }

  #closeFrame(bytes: Uint8Array, start: number, end: number): void {
    let code = 1005;
    let reason = "";
    if (end - start === 1) return this.#fail(1002, "Close frame with a 1-byte payload");
    if (end - start >= 2) {
      code = (bytes[start] << 8) | bytes[start + 1];
      if (!validCloseCode(code)) return this.#fail(1002, `Invalid close code ${code}`);
      const text = decodeUtf8(bytes, start + 2, end);
      if (text === undefined) {
        return this.#fail(1007, "Close reason is not valid UTF-8", "invalid_utf8");
      }
      reason = text;
    }
    this.#wasClean = true;
    if (!this.#closeSent) {
      // The client started the handshake: echo its code and reason, and end once written.
      this.#closeCode = code;
      this.#closeReason = reason;
      this.#state = CLOSING;
      this.#sendClose(code === 1005 ? undefined : code, reason);
    }
    this.#draining = true;
    this.#discardAll = true;
    this.#endAfterFlush = true;
    this.#maybeEnd();
  }

  /** Fail the connection (RFC 6455 §7.1.7): close frame with `code`, then wait for the end. */
  #fail(code: number, reason: string, kind: FrontCloseKind = "protocol"): void {
    this.#releaseFragments();
    if (this.#closeSent) {
      this.#discardAll = true;
      return;
    }
    this.#host.report(kind, reason, this);
    this.#closeCode = code;
    this.#closeReason = reason;
    this.#state = CLOSING;
    this.#sendClose(code, reason);
  }

  #tooBig(what: string): void {
    this.#fail(1009, `${what} is over the limit of ${this.#maxMessage}`, "too_big");
  }

  #refuseInput(bytes: number): void {
    this.#fail(
      1013,
      `Server input budget spent; a message of ${bytes} bytes cannot be buffered now, try again later`,
      "input_budget",
    );
  }

  // ---- output ---------------------------------------------------------------------------------

  #queueText(text: string): void {
    const short = text.length;
    if (short <= 64) {
      const out = this.#reserve(2 + short);
      const at = this.#outLength;
      const written = writeShortAscii(out, at + 2, text);
      if (written >= 0) {
        writeHeader(out, at, Op.Text, written);
        return this.#queued(2 + written);
      }
    }
    this.#queueBytes(Op.Text, encodeUtf8(text));
  }

  #queueBytes(opcode: number, payload: Uint8Array): void {
    const length = payload.length;
    const size = headerSize(length) + length;
    const out = this.#reserve(size);
    const at = writeHeader(out, this.#outLength, opcode, length);
    out.set(payload, at);
    this.#queued(size);
  }

  /** The output buffer, with at least `bytes` free after `#outLength`. */
  #reserve(bytes: number): Uint8Array {
    const out = this.#out;
    if (out === undefined) return this.#out = takeBuffer(bytes);
    if (out.length - this.#outLength >= bytes) return out;
    const grown = takeBuffer(Math.max(out.length * 2, this.#outLength + bytes));
    grown.set(out.subarray(0, this.#outLength));
    giveBuffer(out);
    return this.#out = grown;
  }

  /** `bytes` more were written to the output buffer: charge them and schedule a write. */
  #queued(bytes: number): void {
    this.#outLength += bytes;
    const host = this.#host;
    const within = host.output.charge(bytes);
    if (this.#heavySince === 0 && this.#outLength + this.#inFlight >= HEAVY_QUEUE) {
      this.#heavySince = Date.now();
      host.heavy.add(this);
    }
    if (!within) shedOutput(host);
    if (!this.#writing && !this.#flushQueued) {
      this.#flushQueued = true;
      if (!this.#processing) queueMicrotask(this.#flush);
    }
  }

  readonly #flush = (): void => {
    if (!this.#flushQueued) return; // written already, at the end of #processAndFlush
    this.#flushQueued = false;
    if (!this.#writing && this.#outLength > 0 && this.#state !== CLOSED) this.#startWrite();
  };

  /** Write the whole output buffer; more queued meanwhile is written when it completes. */
  #startWrite(): void {
    const buffer = this.#out!;
    const length = this.#outLength;
    this.#out = undefined;
    this.#outLength = 0;
    this.#inFlight = length;
    this.#writing = true;
    this.#writeBuffer = buffer;
    this.#writeDone = 0;
    this.#conn!.write(length === buffer.length ? buffer : buffer.subarray(0, length)).then(
      this.#onWritten,
      this.#onWriteFailed,
    );
  }

  readonly #onWritten = (n: number): void => {
    if (this.#state === CLOSED) return;
    const buffer = this.#writeBuffer!;
    const length = this.#inFlight;
    this.#writeDone += n;
    if (this.#writeDone < length) {
      this.#conn!.write(buffer.subarray(this.#writeDone, length)).then(
        this.#onWritten,
        this.#onWriteFailed,
      );
      return;
    }
    this.#writeBuffer = undefined;
    this.#inFlight = 0;
    this.#host.output.release(length);
    giveBuffer(buffer);
    if (this.#heavySince > 0 && this.#outLength < HEAVY_QUEUE) {
      this.#heavySince = 0;
      this.#host.heavy.delete(this);
    }
    if (this.#outLength > 0) return this.#startWrite();
    this.#writing = false;
    this.#maybeEnd();
  };

  readonly #onWriteFailed = (): void => {
    this.#writing = false;
    this.#end(1006, "");
  };

  /** Drop what is queued and not yet being written. */
  #dropQueue(): void {
    if (this.#out !== undefined) {
      this.#host.output.release(this.#outLength);
      giveBuffer(this.#out);
      this.#out = undefined;
      this.#outLength = 0;
    }
  }

  #sendClose(code: number | undefined, reason: string, timeoutMs = CLOSE_TIMEOUT_MS): void {
    if (this.#closeSent || this.#conn === undefined) return;
    this.#closeSent = true;
    this.#draining = true;
    this.#releaseFragments();
    clearTimeout(this.#timer);
    if (code === undefined) this.#queueBytes(Op.Close, new Uint8Array(0));
    else {
      const text = fitCloseReason(reason);
      const payload = new Uint8Array(2 + text.length);
      payload[0] = code >>> 8;
      payload[1] = code & 0xff;
      payload.set(text, 2);
      this.#queueBytes(Op.Close, payload);
    }
    this.#closeTimer = setTimeout(() => this.#end(this.#closeCode, this.#closeReason), timeoutMs);
  }

  /** End the connection if the handshake is done and everything queued is written. */
  #maybeEnd(): void {
    if (this.#endAfterFlush && !this.#writing && this.#outLength === 0) {
      this.#end(this.#closeCode, this.#closeReason);
    }
  }

  // ---- heartbeat and the end ------------------------------------------------------------------

  #schedule(ms: number): void {
    this.#timer = setTimeout(this.#heartbeat, Math.max(1, ms));
  }

  readonly #heartbeat = (): void => {
    if (this.#state !== OPEN) return;
    const silent = Date.now() - this.#lastSeen;
    const idle = this.#idleMs;
    if (silent >= idle) {
      this.#dispatch("error", new ErrorEvent("error", { message: "No response from ping frame." }));
      if (this.#state !== OPEN) return;
      this.#closeCode = 1001;
      this.#closeReason = "No response from ping frame.";
      this.#state = CLOSING;
      this.#sendClose(1001, this.#closeReason);
      this.#endAfterFlush = true;
      this.#maybeEnd();
      return;
    }
    if (silent >= idle / 2 && !this.#pinged) {
      this.#pinged = true;
      this.#queueBytes(Op.Ping, new Uint8Array(0));
      return this.#schedule(idle - silent);
    }
    this.#schedule((this.#pinged ? idle : idle / 2) - silent);
  };

  /** Close the TCP connection and fire `close` once. */
  #end(code: number, reason: string): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    clearTimeout(this.#timer);
    clearTimeout(this.#closeTimer);
    try {
      this.#conn?.close();
    } catch {
      // already closed
    }
    this.#rb?.discard();
    this.#releaseFragments();
    this.#dropQueue();
    if (this.#inFlight > 0) {
      this.#host.output.release(this.#inFlight);
      this.#inFlight = 0;
    }
    if (this.#heavySince > 0) {
      this.#heavySince = 0;
      this.#host.heavy.delete(this);
    }
    this.#onEnd?.();
    this.#dispatch("close", new CloseEvent("close", { code, reason, wasClean: this.#wasClean }));
  }

  #dispatch(type: string, event: Event): void {
    const handler = type === "open"
      ? this.onopen
      : type === "close"
      ? this.onclose
      : type === "error"
      ? this.onerror
      : undefined;
    if (handler) {
      try {
        (handler as Listener).call(this, event);
      } catch (error) {
        this.#host.handlerError(error);
      }
    }
    if (this.#listeners !== undefined) this.#emit(type, event);
  }

  #emit(type: string, event: Event): void {
    const list = this.#listeners!.get(type);
    if (list === undefined || list.length === 0) return;
    for (const entry of [...list]) {
      if (entry.once) this.removeEventListener(type, entry.listener);
      try {
        entry.listener.call(this, event);
      } catch (error) {
        this.#host.handlerError(error);
      }
    }
  }
}

/**
 * The output budget is spent: close the clients with the largest stalled queues until it is not
 * (a client whose queue is merely busy, not stalled, is left alone).
 */
function shedOutput(host: SocketHost): void {
  const now = Date.now();
  while (host.output.used > host.output.limit) {
    let worst: FrontWebSocket | undefined;
    for (const socket of host.heavy) {
      if (socket.stalled(now) && (worst === undefined || socket.backlog > worst.backlog)) {
        worst = socket;
      }
    }
    if (worst === undefined) return;
    host.heavy.delete(worst);
    worst.shed(
      `Server output budget of ${host.output.limit} bytes spent; this client is the slowest reader`,
    );
  }
}
