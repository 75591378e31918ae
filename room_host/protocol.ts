/**
 * The wire protocol between the front (which keeps every socket) and a room host (which runs
 * rooms' WASM instances), over a byte stream: a Unix domain socket between the front and each
 * host process.
 *
 * Every frame is `u32 length` (little endian, bytes after this field, at least 1) `| u8 type |
 * fields`. Integers are little-endian u32; a payload runs to the end of the frame.
 *
 * **Rooms.** A room field is `u32 incarnation | u16 length | UTF-8 id`. The incarnation is a
 * number the front gives each room it opens (never 0; no two rooms open at once on one host share
 * one), so that an id closed and opened again at once names two rooms, not one: a reply still in
 * flight for the old room (its CLOSED, a send, a crash) is dropped, never applied to the new one.
 * Both sides find a room by its incarnation and check that the whole field (id and incarnation)
 * matches; a frame for a room that is not open is dropped (debug log), except CLOSE, which the
 * host always answers with CLOSED. Rooms are never addressed by a host-local handle, so a room
 * can later move between hosts, or to another machine, under the same protocol.
 *
 * Front → host:
 * | type | name       | fields                                                  |
 * | ---- | ---------- | ------------------------------------------------------- |
 * | 1    | LOAD       | options (UTF-8 JSON, u32-prefixed) · module bytes        |
 * | 2    | OPEN       | room                                                    |
 * | 3    | CONNECT    | room · client                                           |
 * | 4    | DISCONNECT | room · client                                           |
 * | 5    | TEXT       | room · client · UTF-8 text                              |
 * | 6    | BINARY     | room · client · bytes                                   |
 * | 7    | TIMER      | room                                                    |
 * | 8    | CLOSE      | room                                                    |
 *
 * Host → front:
 * | type | name        | fields                                                 |
 * | ---- | ----------- | ------------------------------------------------------ |
 * | 16   | READY       | (module compiled and checked)                          |
 * | 17   | SEND_TEXT   | room · recipient · UTF-8 text (not yet validated)      |
 * | 18   | SEND_BINARY | room · recipient · bytes                               |
 * | 19   | SET_TIMER   | room · ms                                              |
 * | 20   | CRASHED     | room · crash kind, one space, message (UTF-8 text)     |
 * | 21   | CLOSED      | room                                                   |
 * | 22   | LOG         | level (u8: 0 debug … 3 error) · line                   |
 * | 23   | DONE        | count of front frames handled so far                   |
 * | 24   | FAILED      | message (the LOAD failed; the host exits with code 1)   |
 *
 * **Progress.** The host answers each chunk of frames it reads with one DONE after handling
 * them, and, while a chunk keeps it busy, also before any event that starts more than
 * {@linkcode PROGRESS_INTERVAL_MS} after its last DONE (with what the events before it sent).
 * So DONEs arrive at least that often while events are short, and stop only while a single
 * event runs. The host writes only between events, so the front takes any bytes from it as
 * progress too (a large frame takes many chunks): its watchdog measures one event, never a
 * batch, and never the time a large frame takes to cross.
 *
 * **Reading.** Both sides read with a {@linkcode FrameReader}: frames that lie whole inside a
 * chunk are read in place, and a frame split across chunks is gathered once into one buffer,
 * so reading costs time linear in the bytes, however large a frame is.
 *
 * @module
 */

import { decodeShortAscii } from "../util/utf8.ts";

/** Frame types, front → host and host → front. */
export const Frame = {
  Load: 1,
  Open: 2,
  Connect: 3,
  Disconnect: 4,
  Text: 5,
  Binary: 6,
  Timer: 7,
  Close: 8,
  Ready: 16,
  SendText: 17,
  SendBinary: 18,
  SetTimer: 19,
  Crashed: 20,
  Closed: 21,
  Log: 22,
  Done: 23,
  Failed: 24,
} as const;

/** One of the {@linkcode Frame} types. */
export type FrameType = typeof Frame[keyof typeof Frame];

/**
 * While a chunk of frames keeps the host busy, the longest it goes without a DONE before it
 * starts another event (ms). The front's watchdog allows an event its CPU limit plus twice this.
 */
export const PROGRESS_INTERVAL_MS = 20;

const NAMES = new Map<number, string>(
  Object.entries(Frame).map(([name, type]) => [type, name.replace(/(?<=.)([A-Z])/g, "_$1")]),
);

/**
 * The protocol name of a frame type, for logs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Frame, frameName } from "./protocol.ts";
 *
 * assert.equal(frameName(Frame.SendText), "SEND_TEXT");
 * ```
 */
export function frameName(type: number): string {
  return NAMES.get(type)?.toUpperCase() ?? `type ${type}`;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Initial size of a writer's buffer, and the most it keeps between takes. */
const WRITER_BUFFER = 64 * 1024;

/**
 * Appends frames to one growable buffer, to be written in a single chunk.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Frame, FrameReader, FrameWriter } from "./protocol.ts";
 *
 * const writer = new FrameWriter();
 * writer.roomEvent(Frame.Text, writer.roomKey("lobby", 1), 7, "hi");
 * const frames = [...new FrameReader().push(writer.take())];
 * assert.equal(frames[0].type, Frame.Text);
 * assert.equal(frames[0].room(), 1);
 * assert.equal(frames[0].roomId, "lobby");
 * assert.equal(frames[0].u32(), 7);
 * assert.equal(frames[0].text(), "hi");
 * ```
 */
export class FrameWriter {
  #buffer = new Uint8Array(WRITER_BUFFER);
  #view = new DataView(this.#buffer.buffer);
  #length = 0;
  #frames = 0;

  /** Bytes waiting to be written. */
  get length(): number {
    return this.#length;
  }

  /** Frames appended since the writer was created. */
  get frames(): number {
    return this.#frames;
  }

  /**
   * The encoded room field of one incarnation of a room
   * (`u32 incarnation | u16 length | UTF-8 id`), to cache per room.
   */
  roomKey(roomId: string, incarnation: number): Uint8Array {
    const utf8 = encoder.encode(roomId);
    const key = new Uint8Array(6 + utf8.length);
    const view = new DataView(key.buffer);
    view.setUint32(0, incarnation, true);
    view.setUint16(4, utf8.length, true);
    key.set(utf8, 6);
    return key;
  }

  /** A frame with a room and, optionally, a u32 and a text or byte payload. */
  roomEvent(
    type: FrameType,
    room: Uint8Array,
    value?: number,
    payload?: string | Uint8Array,
  ): void {
    const maxPayload = payload === undefined
      ? 0
      : typeof payload === "string"
      ? payload.length * 3
      : payload.length;
    const start = this.#begin(type, room.length + 4 + maxPayload);
    this.#buffer.set(room, this.#length);
    this.#length += room.length;
    if (value !== undefined) this.#u32(value);
    if (typeof payload === "string") {
      this.#length += encoder.encodeInto(payload, this.#buffer.subarray(this.#length)).written;
    } else if (payload !== undefined) {
      this.#buffer.set(payload, this.#length);
      this.#length += payload.length;
    }
    this.#end(start);
  }

  /** A frame with only text fields: each string but the last is u32-length-prefixed. */
  strings(type: FrameType, ...parts: string[]): void {
    const start = this.#begin(type, parts.reduce((n, p) => n + 4 + p.length * 3, 0));
    parts.forEach((part, i) => {
      const utf8 = encoder.encode(part);
      if (i < parts.length - 1) this.#u32(utf8.length);
      this.#buffer.set(utf8, this.#length);
      this.#length += utf8.length;
    });
    this.#end(start);
  }

  /** A frame of one u8 and a text (LOG). */
  log(level: number, line: string): void {
    const start = this.#begin(Frame.Log, 1 + line.length * 3);
    this.#buffer[this.#length++] = level;
    this.#length += encoder.encodeInto(line, this.#buffer.subarray(this.#length)).written;
    this.#end(start);
  }

  /** A frame of one u32 (DONE). */
  count(type: FrameType, value: number): void {
    const start = this.#begin(type, 4);
    this.#u32(value);
    this.#end(start);
  }

  /** A LOAD frame: JSON options and the module's bytes. */
  load(options: unknown, module: Uint8Array): void {
    const json = encoder.encode(JSON.stringify(options));
    const start = this.#begin(Frame.Load, 4 + json.length + module.length);
    this.#u32(json.length);
    this.#buffer.set(json, this.#length);
    this.#buffer.set(module, this.#length + json.length);
    this.#length += json.length + module.length;
    this.#end(start);
  }

  /** A frame with no fields. */
  empty(type: FrameType): void {
    this.#end(this.#begin(type, 0));
  }

  /**
   * Take the bytes written so far and start over: a copy, or, when a large frame grew the
   * buffer, the buffer itself (the writer starts a small one, so it keeps no large buffer).
   */
  take(): Uint8Array {
    const length = this.#length;
    this.#length = 0;
    if (this.#buffer.length <= WRITER_BUFFER) return this.#buffer.slice(0, length);
    const out = this.#buffer.subarray(0, length);
    this.#buffer = new Uint8Array(WRITER_BUFFER);
    this.#view = new DataView(this.#buffer.buffer);
    return out;
  }

  #begin(type: FrameType, maxBody: number): number {
    this.#reserve(5 + maxBody);
    const start = this.#length;
    this.#length += 4;
    this.#buffer[this.#length++] = type;
    this.#frames++;
    return start;
  }

  #end(start: number): void {
    this.#view.setUint32(start, this.#length - start - 4, true);
  }

  #u32(value: number): void {
    this.#view.setUint32(this.#length, value, true);
    this.#length += 4;
  }

  #reserve(bytes: number): void {
    if (this.#length + bytes <= this.#buffer.length) return;
    const next = new Uint8Array(Math.max(this.#buffer.length * 2, this.#length + bytes));
    next.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = next;
    this.#view = new DataView(next.buffer);
  }
}

/**
 * One decoded frame; read its fields in order. Its bytes are views into what the reader was
 * given, valid until the reader moves on to the next frame: copy what must be kept.
 */
export class FrameCursor {
  /** The frame type. */
  readonly type: number;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #at = 0;
  #roomStart = 0;
  #roomEnd = 0;

  /** A cursor over one frame's fields (after the type byte). */
  constructor(type: number, bytes: Uint8Array) {
    this.type = type;
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /**
   * The next field as a room: returns its incarnation; {@linkcode FrameCursor.roomId} and
   * {@linkcode FrameCursor.isRoom} then tell its id.
   */
  room(): number {
    const start = this.#at;
    const incarnation = this.#view.getUint32(start, true);
    const end = start + 6 + this.#view.getUint16(start + 4, true);
    if (end > this.#bytes.length) {
      throw new RangeError(
        `Room host protocol: the room field of a ${frameName(this.type)} frame runs past its end`,
      );
    }
    this.#roomStart = start;
    this.#at = this.#roomEnd = end;
    return incarnation;
  }

  /** The id in the room field read last. */
  get roomId(): string {
    const utf8 = this.#bytes.subarray(this.#roomStart + 6, this.#roomEnd);
    return decodeShortAscii(utf8) ?? decoder.decode(utf8);
  }

  /** The room field read last, id and incarnation, is exactly `key` (from `roomKey`). */
  isRoom(key: Uint8Array): boolean {
    if (key.length !== this.#roomEnd - this.#roomStart) return false;
    const bytes = this.#bytes;
    for (let i = 0, at = this.#roomStart; i < key.length; i++, at++) {
      if (bytes[at] !== key[i]) return false;
    }
    return true;
  }

  /** A copy of the room field read last, to cache as the room's key. */
  roomKey(): Uint8Array {
    return this.#bytes.slice(this.#roomStart, this.#roomEnd);
  }

  /** The next u8. */
  u8(): number {
    if (this.#at >= this.#bytes.length) {
      throw new RangeError(`Room host protocol: a ${frameName(this.type)} frame ends too early`);
    }
    return this.#bytes[this.#at++];
  }

  /** The next u32. */
  u32(): number {
    this.#at += 4;
    return this.#view.getUint32(this.#at - 4, true);
  }

  /** The next u32-length-prefixed text. */
  prefixedText(): string {
    const length = this.u32();
    this.#at += length;
    return decoder.decode(this.#bytes.subarray(this.#at - length, this.#at));
  }

  /** The rest of the frame as bytes (a view: copy to keep). */
  rest(): Uint8Array {
    const rest = this.#bytes.subarray(this.#at);
    this.#at = this.#bytes.length;
    return rest;
  }

  /** The rest of the frame as UTF-8 text. */
  text(): string {
    return decoder.decode(this.rest());
  }
}

/** A reader's buffer for a split frame is dropped after the frame when larger than this. */
const READER_KEEP = 1024 * 1024;
const EMPTY = new Uint8Array(0);

/**
 * Splits a byte stream into frames, across chunk boundaries, in time linear in the bytes: a
 * frame inside one chunk is read in place; a frame split across chunks is gathered into one
 * buffer, sized once its length is known, each byte copied once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Frame, FrameReader, FrameWriter } from "./protocol.ts";
 *
 * const writer = new FrameWriter();
 * writer.count(Frame.Done, 3);
 * const bytes = writer.take();
 * const reader = new FrameReader();
 * assert.equal([...reader.push(bytes.subarray(0, 2))].length, 0);
 * assert.equal([...reader.push(bytes.subarray(2))][0].u32(), 3);
 * ```
 */
export class FrameReader {
  /** The start of a split frame, from index 0. */
  #pending: Uint8Array = EMPTY;
  #length = 0;

  /** Bytes held for a frame not yet complete. */
  get buffered(): number {
    return this.#length;
  }

  /**
   * Add a chunk and yield every frame it completes. The reader keeps a reference to no chunk:
   * the caller may reuse it once the generator is done.
   *
   * @throws {RangeError} on a frame whose length field is 0 (a frame has at least its type).
   */
  *push(chunk: Uint8Array): Generator<FrameCursor> {
    let at = 0;
    if (this.#length > 0) {
      if (this.#length < 4) {
        at = Math.min(4 - this.#length, chunk.length);
        this.#append(chunk.subarray(0, at), 4);
        if (this.#length < 4) return;
      }
      const total = 4 + frameLength(new DataView(this.#pending.buffer), 0);
      const take = Math.min(total - this.#length, chunk.length - at);
      this.#append(chunk.subarray(at, at + take), total);
      at += take;
      if (this.#length < total) return;
      this.#length = 0;
      yield new FrameCursor(this.#pending[4], this.#pending.subarray(5, total));
      if (this.#pending.length > READER_KEEP) this.#pending = EMPTY;
    }
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (at + 4 <= chunk.length) {
      const length = frameLength(view, at);
      if (at + 4 + length > chunk.length) break;
      yield new FrameCursor(chunk[at + 4], chunk.subarray(at + 5, at + 4 + length));
      at += 4 + length;
    }
    if (at < chunk.length) this.#append(chunk.subarray(at), 4);
  }

  /** Copy `bytes` after the held ones, in a buffer of at least `size` bytes. */
  #append(bytes: Uint8Array, size: number): void {
    const needed = Math.max(size, this.#length + bytes.length);
    if (needed > this.#pending.length) {
      const next = new Uint8Array(Math.max(needed, 256));
      next.set(this.#pending.subarray(0, this.#length));
      this.#pending = next;
    }
    this.#pending.set(bytes, this.#length);
    this.#length += bytes.length;
  }
}

function frameLength(view: DataView, at: number): number {
  const length = view.getUint32(at, true);
  if (length === 0) throw new RangeError("Room host protocol: a frame has length 0");
  return length;
}
