/**
 * One room's recording: lines formatted on the hot path and written at once as UTF-8 into a
 * buffer of the room's, appended to its file about every 250 ms (opening it only to write); and
 * the engine wrapper that records each event before handing it on. Lines become bytes as they
 * are made, so no string outlives its event: strings kept until a flush would survive the young
 * generation and cost the garbage collector more than the rest of recording.
 *
 * @module
 */

import type { RoomCrashError, RoomEngine } from "../room/room_engine.ts";
import { SnapshotForwarding } from "../room/room_snapshot.ts";
import type { ClientData, ClientId, MessageRecipient } from "../service.ts";
import type { Clock } from "../util/clock.ts";
import { writeShortAscii } from "../util/utf8.ts";
import { type RecordingHeader, toBase64 } from "./record_format.ts";

/** Unflushed bytes past which a room's recording is written out at once. */
const FLUSH_BYTES = 64 * 1024;
/** Bytes of a room's first buffer; each later one is sized after the flush before it. */
const FIRST_BUFFER_BYTES = 1024;
const NEWLINE = 0x0a;
const COMMA = 0x2c;
const QUOTE = 0x22;
const CLOSE_BRACKET = 0x5d;
/** Longest text written by the byte loop of {@linkcode RoomRecording.textLine}. */
const SHORT_TEXT = 256;
const encoder = new TextEncoder();
/** The start of the two lines that carry text, as bytes. */
const TEXT_IN = encoder.encode('["text",');
const TEXT_OUT = encoder.encode('["out:text",');

/**
 * An engine that records each event before handing it on. Snapshots go to the inner engine (a
 * restored room's recording starts at the restore).
 */
export class RecordingEngine extends SnapshotForwarding implements RoomEngine {
  readonly #inner: RoomEngine;
  readonly #recording: RoomRecording;

  constructor(inner: RoomEngine, recording: RoomRecording) {
    super(inner);
    this.#inner = inner;
    this.#recording = recording;
  }

  connect(client: ClientId, data?: ClientData): void {
    const recording = this.#recording;
    recording.beginEvent();
    recording.connect(client, data);
    try {
      this.#inner.connect(client, data);
    } finally {
      recording.endEvent();
    }
  }
  disconnect(client: ClientId): void {
    const recording = this.#recording;
    recording.entry(`["disconnect",${recording.beginEvent()},${client}]`);
    try {
      this.#inner.disconnect(client);
    } finally {
      recording.endEvent();
    }
  }
  message(client: ClientId, text: string): void {
    const recording = this.#recording;
    recording.beginEvent();
    recording.textLine(TEXT_IN, client, text);
    try {
      this.#inner.message(client, text);
    } finally {
      recording.endEvent();
    }
  }
  binary(client: ClientId, bytes: Uint8Array): void {
    const recording = this.#recording;
    recording.entry(`["binary",${recording.beginEvent()},${client},"${toBase64(bytes)}"]`);
    try {
      this.#inner.binary(client, bytes);
    } finally {
      recording.endEvent();
    }
  }
  timer(): void {
    const recording = this.#recording;
    recording.entry(`["timer",${recording.beginEvent()}]`);
    try {
      this.#inner.timer();
    } finally {
      recording.endEvent();
    }
  }
  get pending(): number {
    return this.#inner.pending;
  }
  get queuedBytes(): number {
    return this.#inner.queuedBytes;
  }
  async close(): Promise<void> {
    await this.#inner.close();
    this.#recording.end("closed");
  }
}

/** What a room's recording tells its recorder. */
export interface RecordingEvents {
  /** Writing failed: the recording stopped. */
  failed(error: unknown): void;
  /** The recording ended and its file is written. */
  closed(): void;
}

/** One room's recording file: lines buffered in memory, appended in the background. */
export class RoomRecording {
  /** Where the recording goes; a file is opened only while a flush writes to it. */
  readonly path: string;
  readonly #maxBytes: number;
  readonly #clock: Clock;
  readonly #start: number;
  readonly #events: RecordingEvents;
  /** Lines not yet written, as UTF-8; none until the first line after a flush. */
  #buffer: Uint8Array | undefined;
  /** Bytes used in `#buffer`. */
  #unflushed = 0;
  /** Bytes of the next buffer. */
  #nextBuffer = FIRST_BUFFER_BYTES;
  #size = 0;
  #ended = false;
  #broken = false;
  #created = false;
  /** The time of the event whose synchronous part runs, or -1. */
  #eventTime = -1;

  /** Record into `path` (which must not exist yet), starting with `header`. */
  constructor(
    path: string,
    header: RecordingHeader,
    maxBytes: number,
    clock: Clock,
    events: RecordingEvents,
  ) {
    this.path = path;
    this.#maxBytes = maxBytes;
    this.#clock = clock;
    this.#start = clock.now();
    this.#events = events;
    this.#push(JSON.stringify(header), Infinity);
  }

  /**
   * Milliseconds since the room started (the clock's resolution: whole ms for the system's).
   * While an event's synchronous part runs, its outputs and readings carry the event's time: one
   * clock reading per event instead of one per line (a reading costs 50 ns on a VM's clock).
   */
  time(): number {
    return this.#eventTime >= 0 ? this.#eventTime : this.#clock.now() - this.#start;
  }

  /** An event starts: read the clock once; until {@linkcode endEvent}, lines carry this time. */
  beginEvent(): number {
    return this.#eventTime = this.#clock.now() - this.#start;
  }

  /** The event's synchronous part is over (what it does later reads the clock again). */
  endEvent(): void {
    this.#eventTime = -1;
  }

  /** Append one entry (a JSON array, without its newline). */
  entry(line: string): void {
    if (this.#ended || this.#broken) return;
    if (!this.#push(line, this.#maxBytes)) this.end("size limit");
  }

  connect(client: ClientId, data: ClientData | undefined): void {
    const extra = data === undefined ? "" : `,${JSON.stringify(data)}`;
    this.entry(`["connect",${this.time()},${client}${extra}]`);
  }

  output(recipient: MessageRecipient, payload: string | Uint8Array): void {
    if (typeof payload === "string") this.textLine(TEXT_OUT, recipient, payload);
    else this.entry(`["out:binary",${this.time()},${recipient},"${toBase64(payload)}"]`);
  }

  /**
   * Append `[name,time,id,text]`, `tag` holding its start (`["name",`): what every message in
   * and out adds, written straight into the buffer, without a string of its own when `text` is
   * short printable ASCII with nothing to escape (most messages).
   */
  textLine(tag: Uint8Array, id: number, text: string): void {
    if (this.#ended || this.#broken) return;
    const time = this.time();
    if (!Number.isSafeInteger(time) || text.length > SHORT_TEXT) {
      return this.entry(`${decodeAscii(tag)}${time},${id},${JSON.stringify(text)}]`);
    }
    // Room for the tag, two numbers, and the text with every character escaped (\u00XX).
    const buffer = this.#room(tag.length + 48 + text.length * 6);
    const start = this.#unflushed;
    for (let i = 0; i < tag.length; i++) buffer[start + i] = tag[i];
    let at = writeInteger(buffer, start + tag.length, time);
    buffer[at++] = COMMA;
    at = writeInteger(buffer, at, id);
    buffer[at++] = COMMA;
    const plain = writePlainString(buffer, at, text);
    if (plain >= 0) at = plain;
    else {
      const json = JSON.stringify(text);
      const written = writeShortAscii(buffer, at, json);
      at += written >= 0 ? written : encoder.encodeInto(json, buffer.subarray(at)).written;
    }
    buffer[at++] = CLOSE_BRACKET;
    if (!this.#commit(at - start, this.#maxBytes)) this.end("size limit");
  }

  setTimer(ms: number): void {
    this.entry(`["out:timer",${this.time()},${ms}]`);
  }

  closeClient(client: ClientId, code: number, reason: string): void {
    this.entry(`["out:close",${this.time()},${client},${code},${JSON.stringify(reason)}]`);
  }

  crash(error: RoomCrashError): void {
    this.entry(
      `["out:crash",${this.time()},${JSON.stringify(error.kind)},${JSON.stringify(error.message)}]`,
    );
  }

  /**
   * Append what is buffered to the file: open, write, close, synchronously. A room keeps no
   * descriptor between flushes (10,000 recorded rooms must not take 10,000 descriptors from the
   * sockets), and Deno 2.9's async file ops cost the event loop more than the write itself
   * (`Deno.writeFile` of 300 bytes to a new file: 90 µs, `Deno.writeFileSync`: 12 µs; see
   * `docs/deno_facts.md`). A write that fails stops the recording, never the room.
   */
  flush(): void {
    const buffer = this.#buffer;
    if (buffer === undefined || this.#unflushed === 0) return;
    const bytes = buffer.subarray(0, this.#unflushed);
    // A busy room keeps its buffer (the write is done when the call returns); a quiet one gives
    // it back, so that idle recorded rooms hold none.
    const busy = this.#unflushed > FIRST_BUFFER_BYTES && buffer.length <= FLUSH_BYTES * 2;
    this.#nextBuffer = Math.min(Math.max(FIRST_BUFFER_BYTES, this.#unflushed * 2), FLUSH_BYTES * 2);
    this.#buffer = busy ? buffer : undefined;
    this.#unflushed = 0;
    try {
      const first = !this.#created;
      this.#created = true;
      Deno.writeFileSync(this.path, bytes, first ? { createNew: true } : { append: true });
    } catch (error) {
      this.#broken = true;
      this.#buffer = undefined;
      this.#events.failed(error);
    }
  }

  /** Stop recording: the last line says why, and everything is written. */
  end(reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    if (!this.#broken) {
      this.#push(`["end",${this.time()},${JSON.stringify(reason)}]`, Infinity);
      this.flush();
    }
    this.#events.closed();
  }

  /**
   * Append `line` and a newline as UTF-8, unless the recording would then pass `limit` bytes;
   * returns whether it did.
   */
  #push(line: string, limit: number): boolean {
    const buffer = this.#room(line.length * 3);
    const at = this.#unflushed;
    let written = writeShortAscii(buffer, at, line);
    if (written < 0) written = encoder.encodeInto(line, buffer.subarray(at)).written;
    return this.#commit(written, limit);
  }

  /** The buffer, with room for `bytes` and a newline past what is unflushed. */
  #room(bytes: number): Uint8Array {
    const buffer = this.#buffer;
    if (buffer !== undefined && buffer.length - this.#unflushed > bytes) return buffer;
    return this.#grow(bytes + 1);
  }

  /**
   * Keep the `written` bytes just put past what is unflushed, and a newline, unless the
   * recording would then pass `limit` bytes; returns whether it did.
   */
  #commit(written: number, limit: number): boolean {
    if (this.#size + written + 1 > limit) return false;
    this.#buffer![this.#unflushed + written] = NEWLINE;
    this.#size += written + 1;
    this.#unflushed += written + 1;
    if (this.#unflushed >= FLUSH_BYTES) this.flush();
    return true;
  }

  /** A buffer with `room` bytes free past what is unflushed, keeping it. */
  #grow(room: number): Uint8Array {
    const old = this.#buffer;
    const size = Math.max(this.#nextBuffer, (this.#unflushed + room) * 2);
    const buffer = new Uint8Array(size);
    if (old !== undefined) buffer.set(old.subarray(0, this.#unflushed));
    this.#buffer = buffer;
    return buffer;
  }
}

/** Write the safe integer `n` in decimal at `bytes[at]`; returns where it ends. */
function writeInteger(bytes: Uint8Array, at: number, n: number): number {
  if (n < 0) {
    bytes[at++] = 0x2d;
    n = -n;
  }
  if (n < 10) {
    bytes[at] = 0x30 + n;
    return at + 1;
  }
  // Past 2^31 (a room older than 24 days) the rare case goes through a string.
  if (n > 0x7fffffff) return at + writeShortAscii(bytes, at, String(n));
  let digits = 1;
  for (let rest = n; rest >= 10; rest = (rest / 10) | 0) digits++;
  for (let i = at + digits - 1; i >= at; i--) {
    const next = (n / 10) | 0;
    bytes[i] = 0x30 + n - next * 10;
    n = next;
  }
  return at + digits;
}

/**
 * Write `text` as a JSON string at `bytes[at]` when it is printable ASCII with nothing to
 * escape; returns where it ends, or -1 (nothing usable written) when it is not.
 */
function writePlainString(bytes: Uint8Array, at: number, text: string): number {
  bytes[at++] = QUOTE;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code > 0x7e || code === QUOTE || code === 0x5c) return -1;
    bytes[at++] = code;
  }
  bytes[at++] = QUOTE;
  return at;
}

/** ASCII bytes as a string. */
function decodeAscii(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}
