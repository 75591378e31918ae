/**
 * The wire protocol between the front (which keeps every socket) and a room host (which runs
 * rooms' WASM instances), over a byte stream: a Unix domain socket between the front and each
 * host process.
 *
 * Every frame is `u32 length` (little endian, bytes after this field) `| u8 type | fields`.
 * Integers are little-endian u32; a room id is `u16 length | UTF-8`; a payload runs to the end of
 * the frame. Rooms are always addressed by their id, never by a host-local handle, so a room can
 * later move between hosts, or to another machine, under the same protocol.
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
 * | 24   | FAILED      | message (the LOAD failed; the host exits)              |
 *
 * The host answers each chunk of frames it reads with one DONE after handling them; the front's
 * watchdog measures progress by it.
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

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Appends frames to one growable buffer, to be written in a single chunk.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Frame, FrameReader, FrameWriter } from "./protocol.ts";
 *
 * const writer = new FrameWriter();
 * writer.roomEvent(Frame.Text, writer.roomKey("lobby"), 7, "hi");
 * const frames = [...new FrameReader().push(writer.take())];
 * assert.equal(frames[0].type, Frame.Text);
 * assert.equal(frames[0].room(), "lobby");
 * assert.equal(frames[0].u32(), 7);
 * assert.equal(frames[0].text(), "hi");
 * ```
 */
export class FrameWriter {
  #buffer = new Uint8Array(64 * 1024);
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

  /** The encoded form of a room id (`u16 length | UTF-8`), to cache per room. */
  roomKey(roomId: string): Uint8Array {
    const utf8 = encoder.encode(roomId);
    const key = new Uint8Array(2 + utf8.length);
    new DataView(key.buffer).setUint16(0, utf8.length, true);
    key.set(utf8, 2);
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

  /** Take the bytes written so far (a copy) and start over. */
  take(): Uint8Array {
    const out = this.#buffer.slice(0, this.#length);
    this.#length = 0;
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

/** One decoded frame; read its fields in order. */
export class FrameCursor {
  /** The frame type. */
  readonly type: number;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #at = 0;

  /** A cursor over one frame's fields (after the type byte). */
  constructor(type: number, bytes: Uint8Array) {
    this.type = type;
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** The next field as a room id. */
  room(): string {
    const length = this.#view.getUint16(this.#at, true);
    this.#at += 2 + length;
    const utf8 = this.#bytes.subarray(this.#at - length, this.#at);
    return decodeShortAscii(utf8) ?? decoder.decode(utf8);
  }

  /** The next u8. */
  u8(): number {
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

  /** The rest of the frame as bytes (a view into the read buffer: copy to keep). */
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

/**
 * Splits a byte stream into frames, across chunk boundaries.
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
  #pending = new Uint8Array(0);

  /** Add a chunk and yield every frame it completes. */
  *push(chunk: Uint8Array): Generator<FrameCursor> {
    let bytes = chunk;
    if (this.#pending.length > 0) {
      bytes = new Uint8Array(this.#pending.length + chunk.length);
      bytes.set(this.#pending);
      bytes.set(chunk, this.#pending.length);
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 0;
    while (at + 4 <= bytes.length) {
      const length = view.getUint32(at, true);
      if (at + 4 + length > bytes.length) break;
      yield new FrameCursor(bytes[at + 4], bytes.subarray(at + 5, at + 4 + length));
      at += 4 + length;
    }
    this.#pending = bytes.slice(at);
  }
}
