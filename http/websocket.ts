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
 * the server's close timeout (30 s by default) ends the TCP connection.
 *
 * @module
 */

import { decodeUtf8, fitCloseReason, MAX_CONTROL_PAYLOAD, Op } from "./_ws_codec.ts";
import type { ReadBuffer } from "./_read_buffer.ts";
import { type Beating, type Heartbeats, onBeat } from "./_ws_heartbeat.ts";
import {
  FrameReader,
  type FrameSink,
  type FrontCloseKind,
  onClose,
  onMessage,
  onPing,
  onViolation,
} from "./_ws_reader.ts";
import {
  FrameWriter,
  onDrained,
  onShed,
  onWriteFailed,
  type OutputShedder,
  type WriterOwner,
} from "./_ws_writer.ts";
import type { MemoryBudget } from "./memory_budget.ts";
import { Deadline } from "../util/deadline.ts";

export type { FrontCloseKind };

/**
 * How long a close handshake may take by default before the TCP connection is closed anyway, in
 * ms (what Node's `ws` waits too). A client shed for the output budget gets
 * {@linkcode SHED_TIMEOUT_MS}.
 */
export const CLOSE_TIMEOUT_MS = 30_000;

/**
 * How long a client shed for the output budget, or closed for not answering pings, has to read
 * its close frame, in ms.
 */
export const SHED_TIMEOUT_MS = 1000;

/** Unsent output (bytes) past which a ping's pong waits for the queue to drain. */
const PONG_BACKLOG = 64 * 1024;

/** What every socket of one server shares: budgets, and where to report what it closed. */
export interface SocketHost {
  /** Server-wide budget for messages still arriving. */
  readonly input: MemoryBudget;
  /** Server-wide budget for frames queued for clients, and who is shed when it is spent. */
  readonly shedder: OutputShedder;
  /** How long a close handshake may take before the connection is cut, in ms. */
  readonly closeTimeoutMs: number;
  /** The heartbeat intervals. */
  readonly heartbeats: Heartbeats;
  /** The front closed a client for `kind`; `reason` is the close reason. */
  report(kind: FrontCloseKind, reason: string, socket: FrontWebSocket): void;
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

/** The event passed to `onmessage` (`type`, `data` and `target` only: cheaper than a DOM event). */
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
 * `close` fires once: when the close handshake ends (or the connection drops) after a close the
 * application started or the client started; at once when the front itself closes the client (a
 * broken rule, a budget, no answer to pings), while the close frame and the TCP connection
 * follow in the background.
 *
 * @example
 * ```ts ignore
 * const { socket, response } = upgradeWebSocket(request, { idleTimeout: 60 });
 * socket.onmessage = (event) => socket.send(event.data);
 * return response;
 * ```
 */
export class FrontWebSocket implements FrameSink, WriterOwner, Beating {
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
  /** Called once, when the client has left. */
  onclose: ((event: CloseEvent) => void) | null = null;
  /** Called before `close` when the client stopped answering pings. */
  onerror: ((event: Event) => void) | null = null;

  #state: number = CONNECTING;
  readonly #host: SocketHost;
  readonly #idleMs: number;
  readonly #maxMessage: number;
  #conn: Deno.Conn | undefined;
  #rb: ReadBuffer | undefined;
  #reader: FrameReader | undefined;
  #writer: FrameWriter | undefined;
  #listeners: Map<string, { listener: Listener; once: boolean }[]> | undefined;
  #lastSeen = 0;
  #pinged = false;
  #closeSent = false;
  #sentCode: number | undefined;
  #sentReason = "";
  #closeReceived = false;
  /** End the connection once everything queued is written (the handshake is over). */
  #endWhenDrained = false;
  /** The close handshake completed: the client closes its end at once (see `#closeConn`). */
  #cleanEnd = false;
  /** A read is pending on the connection. */
  #reading = false;
  #closeCode = 1005;
  #closeReason = "";
  #wasClean = false;
  #closeFired = false;
  /**
   * Open: the end of a close handshake (or a shed) that takes too long. Closed: the end of the
   * wait for the client's EOF, when the connection is closed at its read's end. Made on first use.
   */
  #cut: Deadline | undefined;
  #onEnd: (() => void) | undefined;
  /** The latest ping not answered yet (see `[onPing]`), and its length; -1 when none is owed. */
  #owedPong: Uint8Array | undefined;
  #owedPongLength = -1;

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
    return this.#writer?.buffered ?? 0;
  }

  /**
   * Take over `conn` after the 101 answer was written: `rb` holds whatever the client sent after
   * its request head. Fires `open` (unless `close()` came first), then reads frames until the
   * end; `onEnd` is called once the TCP connection has closed.
   */
  attach(conn: Deno.Conn, rb: ReadBuffer, onEnd: () => void): void {
    const host = this.#host;
    this.#conn = conn;
    this.#rb = rb;
    this.#onEnd = onEnd;
    this.#reader = new FrameReader(this, host.input, this.#maxMessage);
    this.#writer = new FrameWriter(conn, this, host.shedder);
    this.#lastSeen = Date.now();
    if (this.#state === CONNECTING) {
      this.#state = OPEN;
      if (this.#idleMs > 0) host.heartbeats.add(this, this.#idleMs);
      this.#dispatch("open", new Event("open"));
    } else {
      // close() came before the connection opened: do that close now.
      this.#sendClose(this.#closeCode, this.#closeReason);
    }
    void this.#readLoop();
  }

  /** The upgrade never happened (the handler answered something else): fire `close` (1006). */
  abandon(): void {
    if (this.#state === CLOSED || this.#conn !== undefined) return;
    this.#state = CLOSED;
    this.#fireClose(1006, "", false);
  }

  /** Queue a text or binary message. Ignored once closing; throws while connecting. */
  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void {
    const writer = this.#openWriter();
    if (writer === undefined) return;
    if (typeof data === "string") writer.text(data);
    else if (data instanceof Uint8Array) writer.frame(Op.Binary, data);
    else if (ArrayBuffer.isView(data)) {
      writer.frame(Op.Binary, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    } else if (data instanceof Blob) {
      throw new TypeError("Sending a Blob is not supported by this WebSocket");
    } else writer.frame(Op.Binary, new Uint8Array(data));
  }

  /**
   * Queue a text message given as UTF-8 that the caller has checked (e.g. relayed from another
   * node); it is copied before this returns. Ignored once closing; throws while connecting.
   */
  sendText(utf8: Uint8Array): void {
    this.#openWriter()?.frame(Op.Text, utf8);
  }

  /** The writer, while the socket is open; undefined once closing; throws while connecting. */
  #openWriter(): FrameWriter | undefined {
    if (this.#state === OPEN) return this.#writer!;
    if (this.#state === CONNECTING) {
      throw new DOMException("'readyState' not OPEN", "InvalidStateError");
    }
    return undefined;
  }

  /**
   * Start the closing handshake with `code` (default 1000) and `reason` (cut to 123 bytes). Frames
   * already queued are sent first; the connection ends when the client answers, or after the
   * server's close timeout.
   */
  close(code?: number, reason?: string): void {
    if (this.#state === CLOSING || this.#state === CLOSED) return;
    const connecting = this.#state === CONNECTING;
    this.#state = CLOSING;
    this.#closeCode = code ?? 1000;
    this.#closeReason = reason ?? "";
    if (!connecting) this.#sendClose(this.#closeCode, this.#closeReason);
  }

  /** Listen for `open`, `message`, `close` or `error`. */
  addEventListener(
    type: string,
    listener: Listener,
    options?: boolean | AddEventListenerOptions,
  ): void {
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

  /** Cut the connection now, without a handshake (the server is stopping and time is up). */
  terminate(): void {
    this.#end(1006, "");
    this.#closeConn();
  }

  // ---- what the reader, the writer and the heartbeat report (symbol keys: not public API) -----

  /** A whole message from the reader. */
  [onMessage](opcode: number, bytes: Uint8Array, start: number, end: number): void {
    this.#message(opcode, bytes, start, end);
  }

  /**
   * A ping from the reader: answer it, unless {@linkcode PONG_BACKLOG} bytes are still unsent.
   * Then only the latest ping is answered, once the queue has drained (RFC 6455 §5.5.3 allows
   * it): a client that floods pings and reads nothing cannot queue pongs without end.
   */
  [onPing](bytes: Uint8Array, start: number, end: number): void {
    if (this.#state !== OPEN) return;
    const writer = this.#writer!;
    if (writer.buffered < PONG_BACKLOG) return writer.frame(Op.Pong, bytes.subarray(start, end));
    const owed = this.#owedPong ??= new Uint8Array(MAX_CONTROL_PAYLOAD);
    owed.set(bytes.subarray(start, end));
    this.#owedPongLength = end - start;
  }

  /** A close frame from the reader. */
  [onClose](code: number, reason: string): void {
    this.#peerClosed(code, reason);
  }

  /** A broken rule, from the reader. */
  [onViolation](code: number, reason: string, kind: FrontCloseKind): void {
    this.#frontClose(code, reason, kind);
  }

  /** The writer is shed for the output budget. */
  [onShed](reason: string): void {
    this.#shed(reason);
  }

  /** The writer could not write: the connection is gone. */
  [onWriteFailed](): void {
    this.#end(1006, "");
  }

  /** The writer has written everything. */
  [onDrained](): void {
    if (this.#owedPongLength >= 0 && this.#state === OPEN) {
      this.#writer!.frame(Op.Pong, this.#owedPong!.subarray(0, this.#owedPongLength));
      this.#owedPongLength = -1;
      return;
    }
    this.#endIfDone();
  }

  /** A heartbeat tick: ping after half the idle timeout of silence, close 1001 at all of it. */
  [onBeat](now: number): void {
    if (this.#state !== OPEN) return;
    const silent = now - this.#lastSeen;
    const idle = this.#idleMs;
    if (silent >= idle) {
      this.#dispatch("error", new ErrorEvent("error", { message: "No response from ping frame." }));
      this.#frontClose(1001, "No response from ping frame.");
      // A dead peer does not answer: no handshake to wait for, and little time for the write.
      this.#endWhenDrained = true;
      this.#cutAfter(SHED_TIMEOUT_MS);
      this.#endIfDone();
    } else if (silent >= idle / 2 && !this.#pinged) {
      this.#pinged = true;
      this.#writer!.frame(Op.Ping, new Uint8Array(0));
    }
  }

  // ---- input ----------------------------------------------------------------------------------

  async #readLoop(): Promise<void> {
    const conn = this.#conn!;
    const rb = this.#rb!;
    const reader = this.#reader!;
    try {
      if (rb.length > 0) this.#handle(rb);
      while (this.#state !== CLOSED) {
        // The rest of a large frame is read straight into its own buffer.
        const direct = rb.length === 0 ? reader.partSpace() : undefined;
        const space = direct ?? rb.space();
        this.#reading = true;
        let n: number | null;
        try {
          n = await conn.read(space);
        } finally {
          this.#reading = false;
        }
        if (this.#state === CLOSED) return this.#closeConn();
        if (n === null) {
          if (this.#closeReceived) this.#end(this.#closeCode, this.#closeReason);
          else this.#end(1006, "");
          return;
        }
        this.#lastSeen = Date.now();
        this.#pinged = false;
        if (direct !== undefined) {
          this.#handle(undefined, n);
          rb.shrink();
          continue;
        }
        rb.commit(n);
        this.#handle(rb);
        // A read that filled the buffer: a burst, read it in larger pieces (unless the next read
        // goes straight into a large frame). A small read into an empty buffer: back to the base.
        if (n === space.length && reader.partSpace() === undefined) rb.grow();
        else if (rb.start === rb.end && n < rb.bytes.length / 8) rb.shrink();
      }
    } catch {
      if (this.#state === CLOSED) this.#closeConn();
      else this.#end(1006, "");
    }
  }

  /**
   * Handle what was read (into `rb`, or `direct` bytes straight into a large frame); replies
   * queued meanwhile go out in one write right after.
   */
  #handle(rb: ReadBuffer | undefined, direct = 0): void {
    const writer = this.#writer!;
    writer.hold();
    try {
      if (rb === undefined) this.#reader!.partRead(direct);
      else this.#reader!.process(rb);
    } finally {
      writer.release();
    }
  }

  #message(opcode: number, bytes: Uint8Array, start: number, end: number): void {
    if (this.#state !== OPEN) return;
    let data: string | ArrayBuffer | Blob;
    if (opcode === Op.Text) {
      const text = decodeUtf8(bytes, start, end);
      if (text === undefined) {
        return this.#reader!.violate(1007, "Text message is not valid UTF-8", "invalid_utf8");
      }
      data = text;
    } else if (this.binaryType === "arraybuffer") {
      const whole = start === 0 && end === bytes.length && bytes.byteOffset === 0 &&
        bytes.buffer.byteLength === end;
      data = whole ? bytes.buffer as ArrayBuffer : bytes.slice(start, end).buffer;
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

  /** A valid close frame from the client. */
  #peerClosed(code: number, reason: string): void {
    if (this.#closeReceived) return;
    this.#closeReceived = true;
    this.#reader!.draining = true;
    // As in browsers, the close event carries the code and reason of the close frame received.
    this.#wasClean = true;
    this.#closeCode = code;
    this.#closeReason = reason;
    if (!this.#closeSent) {
      // The client started the handshake: echo its code and reason.
      this.#state = CLOSING;
      this.#sendClose(code === 1005 ? undefined : code, reason);
    }
    this.#endWhenDrained = true;
    this.#cleanEnd = true;
    this.#endIfDone();
  }

  /**
   * The front closes the client itself (a broken rule, a budget, a heartbeat timeout): the close
   * frame goes out, and the application hears of it at once.
   */
  #frontClose(code: number, reason: string, kind?: FrontCloseKind): void {
    if (this.#closeSent || this.#state !== OPEN) return;
    if (kind !== undefined) this.#host.report(kind, reason, this);
    this.#state = CLOSING;
    this.#closeCode = code;
    this.#closeReason = reason;
    this.#sendClose(code, reason);
    this.#fireClose(code, reason, false);
  }

  /**
   * Shed for the output budget: what is queued and not yet being written is dropped, a close
   * frame (1008) follows what is in flight, and the client has {@linkcode SHED_TIMEOUT_MS} to
   * read it. A client already closing loses its queue too, and gets its close frame again.
   */
  #shed(reason: string): void {
    if (this.#state === CLOSED) return;
    this.#host.report("output_budget", reason, this);
    const dropped = this.#writer!.drop();
    if (this.#closeSent) {
      // Nothing is queued after a close frame: if anything was dropped, the close frame was too.
      if (dropped > 0) this.#queueCloseFrame(this.#sentCode, this.#sentReason);
    } else {
      this.#state = CLOSING;
      this.#closeCode = 1008;
      this.#closeReason = reason;
      this.#sendClose(1008, reason);
      this.#fireClose(1008, reason, false);
    }
    this.#cutAfter(SHED_TIMEOUT_MS);
  }

  /** End the connection after `ms` at most (never later than the close timeout). */
  #cutAfter(ms: number): void {
    this.#cutDeadline().arm(Math.min(ms, this.#host.closeTimeoutMs));
  }

  #cutDeadline(): Deadline {
    return this.#cut ??= new Deadline(() =>
      this.#state === CLOSED ? this.#closeConn() : this.#end(this.#closeCode, this.#closeReason)
    );
  }

  // ---- output and the end ---------------------------------------------------------------------

  #sendClose(code: number | undefined, reason: string): void {
    if (this.#closeSent || this.#writer === undefined) return;
    this.#closeSent = true;
    this.#reader!.draining = true;
    this.#queueCloseFrame(code, reason);
    this.#cutAfter(this.#host.closeTimeoutMs);
  }

  #queueCloseFrame(code: number | undefined, reason: string): void {
    this.#sentCode = code;
    this.#sentReason = reason;
    if (code === undefined) return this.#writer!.frame(Op.Close, new Uint8Array(0));
    const text = fitCloseReason(reason);
    const payload = new Uint8Array(2 + text.length);
    payload[0] = code >>> 8;
    payload[1] = code & 0xff;
    payload.set(text, 2);
    this.#writer!.frame(Op.Close, payload);
  }

  /** End the connection if the handshake is over and everything queued is written. */
  #endIfDone(): void {
    if (this.#endWhenDrained && this.#writer!.idle) this.#end(this.#closeCode, this.#closeReason);
  }

  /** Close the TCP connection and give everything back; fires `close` if it has not fired. */
  #end(code: number, reason: string): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    if (this.#idleMs > 0) this.#host.heartbeats.delete(this, this.#idleMs);
    this.#cut?.cancel();
    if (this.#cleanEnd && this.#reading && this.#conn !== undefined) {
      // Closing with a read pending makes Deno reject it with an `Interrupted` error, whose stack
      // trace costs more than the rest of a close (8 µs a connection). After a clean handshake
      // the client closes its end at once: send our FIN, and close when the read sees its EOF.
      try {
        this.#conn.closeWrite();
        this.#cutDeadline().arm(this.#host.closeTimeoutMs);
      } catch {
        this.#closeConn();
      }
    } else {
      this.#closeConn();
    }
    this.#rb?.discard();
    this.#reader?.release();
    this.#writer?.end();
    this.#fireClose(code, reason, this.#wasClean);
  }

  /** Close the TCP connection (once), and say so. */
  #closeConn(): void {
    this.#cut?.cancel();
    const onEnd = this.#onEnd;
    this.#onEnd = undefined;
    try {
      this.#conn?.close();
    } catch {
      // already closed
    }
    onEnd?.();
  }

  #fireClose(code: number, reason: string, wasClean: boolean): void {
    if (this.#closeFired) return;
    this.#closeFired = true;
    this.#dispatch("close", new CloseEvent("close", { code, reason, wasClean }));
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
