/**
 * The wire protocol between two nodes of a cluster: one TCP connection per pair of nodes carries
 * every client one forwards to the other, multiplexed by channel.
 *
 * Every frame is `u32 length` (little endian, bytes after this field) `| u8 type | u32 channel |
 * fields`. A room id or node id is `u16 length | UTF-8`; a text or byte payload runs to the end of
 * the frame. Channels are numbered by the entry node (the one that holds the client's socket);
 * frames of each direction have their own types, so both nodes can be entry and owner on the same
 * connection without their channel numbers meeting.
 *
 * Entry → owner:
 * | type | name    | fields                                                          |
 * | ---- | ------- | --------------------------------------------------------------- |
 * | 1    | JOIN    | flags (u8: 1 = may create the room) · room · client data (JSON) |
 * | 2    | OPEN    | (the client's socket opened)                                    |
 * | 3    | TEXT    | UTF-8 text                                                      |
 * | 4    | BINARY  | bytes                                                           |
 * | 5    | LEAVE   | u16 close code · reason (the client's socket closed)            |
 * | 6    | ACK     | f64 bytes of this channel's sends written to the client so far  |
 * | 7    | MOVING  | (after MOVE: nothing more will come on this channel)            |
 * | 8    | REJOIN  | room · move token (a moved client, on a channel to the new owner) |
 *
 * Owner → entry:
 * | type | name        | fields                                                       |
 * | ---- | ----------- | ------------------------------------------------------------ |
 * | 16   | JOINED      | (the client has a place in the room)                         |
 * | 17   | REFUSED     | u16 HTTP status · reason (status 0: moved, reason = node id) |
 * | 18   | SEND_TEXT   | UTF-8 text                                                   |
 * | 19   | SEND_BINARY | bytes                                                        |
 * | 20   | CLOSE       | u16 close code · reason (the room closed the client)         |
 * | 21   | MOVE        | new owner's node id · move token (the room moves: rejoin it there) |
 *
 * Either way:
 * | type | name    | fields                                              |
 * | ---- | ------- | --------------------------------------------------- |
 * | 32   | HELLO   | u8 version · from node id · to node id (channel 0)  |
 * | 33   | REQUEST | JSON (channel = request number)                     |
 * | 34   | REPLY   | JSON (channel = the request's number)               |
 * | 35   | PING    | (nothing was written for 5 s; channel 0)            |
 *
 * A link on which nothing arrived for 15 s is closed (its peer is gone or cut off).
 *
 * @module
 */

/** Frame types. */
export const LinkFrame = {
  Join: 1,
  Open: 2,
  Text: 3,
  Binary: 4,
  Leave: 5,
  Ack: 6,
  Moving: 7,
  Rejoin: 8,
  Joined: 16,
  Refused: 17,
  SendText: 18,
  SendBinary: 19,
  Close: 20,
  Move: 21,
  Hello: 32,
  Request: 33,
  Reply: 34,
  Ping: 35,
} as const;

/** One of the {@linkcode LinkFrame} types. */
export type LinkFrameType = typeof LinkFrame[keyof typeof LinkFrame];

/** The protocol version a HELLO carries (2: moves of rooms between nodes). */
export const LINK_VERSION = 2;

/** Largest frame accepted (a client frame of up to 1 GiB plus its header). */
export const MAX_LINK_FRAME = 2 ** 30 + 1024;

const HEADER = 9;
/** A writer's buffers start at this size; one grown past `MAX_KEPT` is dropped once taken. */
const BASE_SIZE = 64 * 1024;
const MAX_KEPT = 1024 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Appends frames to one growable buffer, to be written in a single chunk.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LinkFrame, LinkReader, LinkWriter } from "./link_protocol.ts";
 *
 * const writer = new LinkWriter();
 * writer.payload(LinkFrame.Text, 7, "hi");
 * const [frame] = [...new LinkReader().push(writer.take())];
 * assert.equal(frame.type, LinkFrame.Text);
 * assert.equal(frame.channel, 7);
 * assert.equal(frame.restText(), "hi");
 * ```
 */
export class LinkWriter {
  #buffer = new Uint8Array(BASE_SIZE);
  /** The buffer last taken (being written); filled again after the next take. */
  #spare = new Uint8Array(BASE_SIZE);
  #view = new DataView(this.#buffer.buffer);
  #length = 0;

  /** Bytes waiting to be taken. */
  get length(): number {
    return this.#length;
  }

  /** A frame with no fields past its channel. */
  empty(type: LinkFrameType, channel: number): void {
    this.#end(this.#begin(type, channel, 0));
  }

  /**
   * A frame whose fields are one payload (text or bytes); resolves with the payload's size in
   * bytes (UTF-8 for text).
   */
  payload(type: LinkFrameType, channel: number, payload: string | Uint8Array): number {
    const start = this.#begin(
      type,
      channel,
      typeof payload === "string" ? payload.length * 3 : payload.length,
    );
    const before = this.#length;
    this.#put(payload);
    this.#end(start);
    return this.#length - before;
  }

  /** A frame of a u16 and a text (LEAVE, REFUSED, CLOSE). */
  code(type: LinkFrameType, channel: number, code: number, text: string): void {
    const start = this.#begin(type, channel, 2 + text.length * 3);
    this.#view.setUint16(this.#length, code, true);
    this.#length += 2;
    this.#put(text);
    this.#end(start);
  }

  /** A frame of one f64 (ACK). */
  number(type: LinkFrameType, channel: number, value: number): void {
    const start = this.#begin(type, channel, 8);
    this.#view.setFloat64(this.#length, value, true);
    this.#length += 8;
    this.#end(start);
  }

  /** A JOIN: flags, room, and the client's data as JSON (`undefined`: none). */
  join(channel: number, flags: number, room: string, data: string | undefined): void {
    const start = this.#begin(
      LinkFrame.Join,
      channel,
      3 + room.length * 3 + (data?.length ?? 0) * 3,
    );
    this.#buffer[this.#length++] = flags;
    this.#short(room);
    if (data !== undefined) this.#put(data);
    this.#end(start);
  }

  /** A frame of two `u16 length | UTF-8` fields (MOVE, REJOIN). */
  shorts(type: LinkFrameType, channel: number, first: string, second: string): void {
    const start = this.#begin(type, channel, 4 + (first.length + second.length) * 3);
    this.#short(first);
    this.#short(second);
    this.#end(start);
  }

  /** A HELLO from node `from` to node `to`. */
  hello(from: string, to: string): void {
    const start = this.#begin(LinkFrame.Hello, 0, 5 + (from.length + to.length) * 3);
    this.#buffer[this.#length++] = LINK_VERSION;
    this.#short(from);
    this.#short(to);
    this.#end(start);
  }

  /**
   * Take the bytes written so far and start over. The bytes are a view, valid until the next
   * `take` (the writer fills a second buffer meanwhile, so taking allocates nothing).
   */
  take(): Uint8Array {
    const out = this.#buffer.subarray(0, this.#length);
    const next = this.#spare.length > MAX_KEPT ? new Uint8Array(BASE_SIZE) : this.#spare;
    this.#spare = this.#buffer;
    this.#buffer = next;
    this.#view = new DataView(next.buffer);
    this.#length = 0;
    return out;
  }

  #put(payload: string | Uint8Array): void {
    if (typeof payload === "string") {
      this.#length += encoder.encodeInto(payload, this.#buffer.subarray(this.#length)).written;
    } else {
      this.#buffer.set(payload, this.#length);
      this.#length += payload.length;
    }
  }

  #short(text: string): void {
    const at = this.#length;
    this.#length += 2;
    this.#put(text);
    this.#view.setUint16(at, this.#length - at - 2, true);
  }

  #begin(type: LinkFrameType, channel: number, maxBody: number): number {
    if (this.#length + HEADER + maxBody > this.#buffer.length) {
      this.#grow(this.#length + HEADER + maxBody);
    }
    const start = this.#length;
    this.#buffer[start + 4] = type;
    this.#view.setUint32(start + 5, channel, true);
    this.#length += HEADER;
    return start;
  }

  #end(start: number): void {
    this.#view.setUint32(start, this.#length - start - 4, true);
  }

  #grow(needed: number): void {
    let size = this.#buffer.length;
    while (size < needed) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = next;
    this.#view = new DataView(next.buffer);
  }
}

/** One frame read, valid until the next call to {@linkcode LinkReader.push}. */
export class LinkFrameView {
  /** The frame's type. */
  type = 0;
  /** The frame's channel (or request number). */
  channel = 0;
  #bytes: Uint8Array = new Uint8Array();
  #view: DataView = new DataView(new ArrayBuffer(0));
  #at = 0;
  #end = 0;

  /** Point at a frame of `bytes[start, end)` (header included). */
  reset(bytes: Uint8Array, view: DataView, start: number, end: number): void {
    this.#bytes = bytes;
    this.#view = view;
    this.type = bytes[start + 4];
    this.channel = view.getUint32(start + 5, true);
    this.#at = start + HEADER;
    this.#end = end;
  }

  /** The next u8 field. */
  u8(): number {
    return this.#bytes[this.#at++];
  }

  /** The next u16 field. */
  u16(): number {
    const value = this.#view.getUint16(this.#at, true);
    this.#at += 2;
    return value;
  }

  /** The next f64 field. */
  f64(): number {
    const value = this.#view.getFloat64(this.#at, true);
    this.#at += 8;
    return value;
  }

  /** The next `u16 length | UTF-8` field. */
  short(): string {
    const length = this.u16();
    const text = decoder.decode(this.#bytes.subarray(this.#at, this.#at + length));
    this.#at += length;
    return text;
  }

  /** The rest of the frame as text. */
  restText(): string {
    const text = decoder.decode(this.#bytes.subarray(this.#at, this.#end));
    this.#at = this.#end;
    return text;
  }

  /** The rest of the frame's bytes: a view, valid until the next call to `LinkReader.push`. */
  restBytes(): Uint8Array {
    const bytes = this.#bytes.subarray(this.#at, this.#end);
    this.#at = this.#end;
    return bytes;
  }

  /** The rest of the frame as a fresh `ArrayBuffer` (what a room gets for a binary frame). */
  restBuffer(): ArrayBuffer {
    const copy = this.#bytes.buffer.slice(
      this.#bytes.byteOffset + this.#at,
      this.#bytes.byteOffset + this.#end,
    ) as ArrayBuffer;
    this.#at = this.#end;
    return copy;
  }

  /** Bytes left in the frame. */
  get remaining(): number {
    return this.#end - this.#at;
  }
}

/**
 * Splits a byte stream into frames; a frame cut across reads is kept until its end arrives, in a
 * buffer of its whole size made once its length is known (so a large frame arriving in many
 * reads costs linear time).
 *
 * @throws {RangeError} a frame longer than {@linkcode LinkReader.maxFrame} (a broken peer).
 */
export class LinkReader {
  /** The longest frame accepted (lower before a HELLO). */
  maxFrame: number;
  /** A frame cut across reads: its 4 length bytes, or (once they are here) all of it. */
  #pending: Uint8Array | undefined;
  /** Bytes of `#pending` filled. */
  #filled = 0;
  readonly #frame = new LinkFrameView();

  /** A reader of frames up to `maxFrame` bytes. */
  constructor(maxFrame: number = MAX_LINK_FRAME) {
    this.maxFrame = maxFrame;
  }

  /** Feed bytes read; yields each whole frame (one reused view: read it before the next). */
  *push(chunk: Uint8Array): Generator<LinkFrameView> {
    let at = 0;
    while (this.#pending !== undefined) {
      const pending = this.#pending;
      const take = Math.min(pending.length - this.#filled, chunk.length - at);
      pending.set(chunk.subarray(at, at + take), this.#filled);
      this.#filled += take;
      at += take;
      if (this.#filled < pending.length) return;
      if (pending.length === 4) { // the length has arrived (a whole frame is longer than 4 bytes)
        const whole = new Uint8Array(4 + this.#length(new DataView(pending.buffer), 0));
        whole.set(pending);
        this.#pending = whole;
        continue;
      }
      this.#pending = undefined;
      this.#filled = 0;
      this.#frame.reset(pending, new DataView(pending.buffer), 0, pending.length);
      yield this.#frame;
    }
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (chunk.length - at >= 4) {
      const length = this.#length(view, at);
      if (chunk.length - at - 4 < length) break;
      this.#frame.reset(chunk, view, at, at + 4 + length);
      yield this.#frame;
      at += 4 + length;
    }
    if (at === chunk.length) return;
    const rest = chunk.length - at;
    this.#pending = new Uint8Array(rest >= 4 ? 4 + this.#length(view, at) : 4);
    this.#pending.set(chunk.subarray(at));
    this.#filled = rest;
  }

  /** The length field at `at`, checked. */
  #length(view: DataView, at: number): number {
    const length = view.getUint32(at, true);
    if (length < HEADER - 4 || length > this.maxFrame) {
      throw new RangeError(`Link frame of ${length} bytes is malformed or too large`);
    }
    return length;
  }
}
