/**
 * The input half of the front's WebSocket: parses client frames out of a connection's read
 * buffer and enforces RFC 6455 on them (masking, reserved bits, opcodes, control-frame rules,
 * fragmentation order, UTF-8 of close reasons) and the message size bound, decided from frame
 * headers before any payload byte is buffered. A frame too large for the read buffer is copied
 * into a buffer of its own as it arrives, so a connection never holds more than its read buffer
 * and one message. Every byte held beyond the read buffer is charged to the input budget.
 *
 * @module
 */

import type { ReadBuffer } from "./_read_buffer.ts";
import {
  decodeUtf8,
  MAX_CONTROL_PAYLOAD,
  Op,
  unmask,
  validCloseCode,
  xorMask,
} from "./_ws_codec.ts";
import type { MemoryBudget } from "./memory_budget.ts";

/** Why the front closed a client, for metrics. */
export type FrontCloseKind =
  | "too_big"
  | "protocol"
  | "invalid_utf8"
  | "input_budget"
  | "output_budget";

/** {@linkcode FrameSink} method: a whole message. */
export const onMessage: unique symbol = Symbol("onMessage");
/** {@linkcode FrameSink} method: a ping. */
export const onPing: unique symbol = Symbol("onPing");
/** {@linkcode FrameSink} method: a valid close frame. */
export const onClose: unique symbol = Symbol("onClose");
/** {@linkcode FrameSink} method: the client broke a rule. */
export const onViolation: unique symbol = Symbol("onViolation");

/**
 * Where a {@linkcode FrameReader} delivers what it parsed: the socket itself, under symbol keys
 * (prototype methods cost an idle connection nothing; per-socket callbacks would).
 */
export interface FrameSink {
  /** A whole message: `bytes[start..end]`, unmasked; text is not yet decoded. */
  [onMessage](opcode: number, bytes: Uint8Array, start: number, end: number): void;
  /** A ping with its payload `bytes[start..end]`. */
  [onPing](bytes: Uint8Array, start: number, end: number): void;
  /** A valid close frame (code 1005 when it had none). */
  [onClose](code: number, reason: string): void;
  /** The client broke a rule: close with `code`. Frames after this are skipped. */
  [onViolation](code: number, reason: string, kind: FrontCloseKind): void;
}

/** The frame is malformed while draining: stop parsing. */
const DISCARD = (): void => {};

/** Parses and checks the frames of one connection. */
export class FrameReader {
  /**
   * Only the client's close frame matters now (the server sent its own): other frames are
   * skipped without being buffered.
   */
  draining = false;
  readonly #sink: FrameSink;
  readonly #input: MemoryBudget;
  readonly #maxMessage: number;
  /** The byte stream cannot be parsed any more: discard everything. */
  #discardAll = false;
  /** Payload bytes still to skip (of a frame being discarded). */
  #skip = 0;
  /** Opcode of the fragmented message in progress (0: none). */
  #fragOpcode = 0;
  /**
   * The fragmented message so far, gathered in one buffer (grown by doubling, up to the message
   * limit): a list of the fragments cost about 480 bytes of heap each, so a 1 MiB message in
   * 1-byte fragments took 500 MB.
   */
  #fragments: Uint8Array | undefined;
  #fragBytes = 0;
  /** A frame too large for the read buffer, copied here as it arrives. */
  #part: Uint8Array | undefined;
  #partAt = 0;
  #partOpcode = 0;
  #partFin = false;
  #k0 = 0;
  #k1 = 0;
  #k2 = 0;
  #k3 = 0;

  /** A reader delivering to `sink`, holding messages of at most `maxMessage` bytes. */
  constructor(sink: FrameSink, input: MemoryBudget, maxMessage: number) {
    this.#sink = sink;
    this.#input = input;
    this.#maxMessage = maxMessage;
  }

  /** Parse every frame in `rb`, consuming what it used. */
  process(rb: ReadBuffer): void {
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
      if (this.#part !== undefined) {
        pos = this.#continuePart(bytes, pos, end);
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
          this.violate(1002, "Frame length has its most significant bit set");
          this.#discardAll = true;
          continue;
        }
        // Past 2^53 the length is not exact, but it is then far over any message limit.
        length = high * 0x100000000 + low;
        head = 10;
      }
      const opcode = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      const total = head + 4 + length;
      let error: (() => void) | undefined;
      if (!this.draining) error = this.#check(b0, b1, opcode, fin, length);
      else if (
        (b1 & 0x80) === 0 || (b0 & 0x70) !== 0 ||
        (opcode === Op.Close && (!fin || length > MAX_CONTROL_PAYLOAD))
      ) {
        // While draining only a well-formed close frame matters; anything odd ends the parsing.
        error = DISCARD;
      }
      if (error !== undefined || (this.draining && opcode !== Op.Close)) {
        // Skipped, not buffered: a huge announced length costs nothing.
        this.#skip = Math.max(0, total - (end - pos));
        pos = Math.min(end, pos + total);
        if (error === DISCARD) this.#discardAll = true;
        else error?.();
        continue;
      }
      const payload = pos + head + 4;
      if (end - pos < total) {
        if (total <= bytes.length) break; // it will fit once the rest arrives
        if (!this.#input.reserve(length)) {
          this.#skip = total - (end - pos);
          pos = end;
          this.violate(
            1013,
            `Server input budget spent; a message of ${length} bytes cannot be buffered now, ` +
              "try again later",
            "input_budget",
          );
          continue;
        }
        this.#part = new Uint8Array(length);
        this.#partAt = 0;
        this.#partOpcode = opcode;
        this.#partFin = fin;
        this.#k0 = bytes[payload - 4];
        this.#k1 = bytes[payload - 3];
        this.#k2 = bytes[payload - 2];
        this.#k3 = bytes[payload - 1];
        pos = payload;
        continue;
      }
      pos += total;
      unmask(bytes, payload, pos, payload - 4);
      this.#frame(opcode, fin, bytes, payload, pos);
    }
    rb.start = pos;
  }

  /** Free what is held (the connection is closing). */
  release(): void {
    this.#releaseFragments();
    if (this.#part !== undefined) {
      this.#input.release(this.#part.length);
      this.#part = undefined;
    }
  }

  /**
   * Where the next read may go straight into: the rest of a large frame, when nothing else is
   * pending. Report what was read with {@linkcode FrameReader.partRead}.
   */
  partSpace(): Uint8Array | undefined {
    if (this.#part === undefined || this.#skip > 0 || this.#discardAll) return undefined;
    return this.#part.subarray(this.#partAt);
  }

  /** `n` bytes were read into {@linkcode FrameReader.partSpace}. */
  partRead(n: number): void {
    this.#unmaskPart(n);
  }

  /** Copy more of a large frame; returns where the read buffer was consumed to. */
  #continuePart(bytes: Uint8Array, pos: number, end: number): number {
    const part = this.#part!;
    const take = Math.min(part.length - this.#partAt, end - pos);
    part.set(bytes.subarray(pos, pos + take), this.#partAt);
    this.#unmaskPart(take);
    return pos + take;
  }

  /** Unmask the next `n` bytes of the large frame; deliver it once complete. */
  #unmaskPart(n: number): void {
    const part = this.#part!;
    const at = this.#partAt;
    const k = at & 3;
    const keys = [this.#k0, this.#k1, this.#k2, this.#k3];
    xorMask(part, at, at + n, keys[k], keys[(k + 1) & 3], keys[(k + 2) & 3], keys[(k + 3) & 3]);
    this.#partAt = at + n;
    if (this.#partAt === part.length) {
      this.#part = undefined;
      this.#finishPart(part);
    }
  }

  /** A large frame is complete; its budget reservation moves to the message or the fragments. */
  #finishPart(part: Uint8Array): void {
    const opcode = this.#partOpcode;
    if (opcode !== Op.Continuation && this.#partFin) {
      try {
        this.#sink[onMessage](opcode, part, 0, part.length);
      } finally {
        this.#input.release(part.length);
      }
      return;
    }
    if (opcode !== Op.Continuation) this.#fragOpcode = opcode;
    if (this.#fragBytes === 0) this.#fragments = part; // the first fragment: its buffer will do
    else this.#gather(part, 0, part.length);
    this.#fragBytes += part.length;
    if (opcode === Op.Continuation && this.#partFin) this.#deliverFragments();
  }

  /** Rules a frame header breaks, as the violation to report; undefined when it is fine. */
  #check(
    b0: number,
    b1: number,
    opcode: number,
    fin: boolean,
    length: number,
  ): (() => void) | undefined {
    if ((b1 & 0x80) === 0) return () => this.violate(1002, "Client frames must be masked");
    if ((b0 & 0x70) !== 0) {
      return () => this.violate(1002, "Reserved bits set without a negotiated extension");
    }
    if (opcode >= 0x8) {
      if (opcode > Op.Pong) return () => this.violate(1002, `Unknown opcode ${opcode}`);
      if (!fin) return () => this.violate(1002, "Control frames must not be fragmented");
      if (length > MAX_CONTROL_PAYLOAD) {
        return () =>
          this.violate(1002, `Control frame of ${length} bytes is over ${MAX_CONTROL_PAYLOAD}`);
      }
      return undefined;
    }
    if (opcode === Op.Continuation) {
      if (this.#fragOpcode === 0) {
        return () => this.violate(1002, "Continuation frame without a message to continue");
      }
      const at = this.#fragBytes + length;
      return at > this.#maxMessage
        ? () => this.#tooBig(`Message of at least ${at} bytes`)
        : undefined;
    }
    if (opcode > Op.Binary) return () => this.violate(1002, `Unknown opcode ${opcode}`);
    if (this.#fragOpcode !== 0) {
      return () => this.violate(1002, "New message before the fragmented one ended");
    }
    if (length > this.#maxMessage) {
      const what = fin ? `Message of ${length} bytes` : `Message of at least ${length} bytes`;
      return () => this.#tooBig(what);
    }
    return undefined;
  }

  #frame(opcode: number, fin: boolean, bytes: Uint8Array, start: number, end: number): void {
    switch (opcode) {
      case Op.Text:
      case Op.Binary:
        if (fin) return this.#sink[onMessage](opcode, bytes, start, end);
        this.#fragOpcode = opcode;
        return this.#addFragment(bytes, start, end);
      case Op.Continuation:
        this.#addFragment(bytes, start, end);
        if (fin && this.#fragOpcode !== 0) this.#deliverFragments();
        return;
      case Op.Ping:
        return this.#sink[onPing](bytes, start, end);
      case Op.Close:
        return this.#closeFrame(bytes, start, end);
    }
    // Op.Pong: nothing to do (it counted as activity when it was read).
  }

  #addFragment(bytes: Uint8Array, start: number, end: number): void {
    const length = end - start;
    if (length === 0) return;
    if (!this.#input.reserve(length)) {
      return this.violate(
        1013,
        `Server input budget spent; a message of ${
          this.#fragBytes + length
        } bytes cannot be buffered now, try again later`,
        "input_budget",
      );
    }
    this.#gather(bytes, start, end);
    this.#fragBytes += length;
  }

  /** Copy `bytes[start, end)` after the message gathered so far. */
  #gather(bytes: Uint8Array, start: number, end: number): void {
    const need = this.#fragBytes + end - start;
    let gathered = this.#fragments;
    if (gathered === undefined || gathered.length < need) {
      const doubled = Math.min(Math.max(2 * (gathered?.length ?? 0), 1024), this.#maxMessage);
      const grown = new Uint8Array(Math.max(doubled, need));
      if (gathered !== undefined) grown.set(gathered.subarray(0, this.#fragBytes));
      gathered = this.#fragments = grown;
    }
    gathered.set(bytes.subarray(start, end), this.#fragBytes);
  }

  #deliverFragments(): void {
    const opcode = this.#fragOpcode;
    const message = this.#fragments ?? new Uint8Array(0);
    const length = this.#fragBytes;
    this.#releaseFragments();
    this.#sink[onMessage](opcode, message, 0, length);
  }

  #releaseFragments(): void {
    this.#input.release(this.#fragBytes);
    this.#fragments = undefined;
    this.#fragBytes = 0;
    this.#fragOpcode = 0;
  }

  #closeFrame(bytes: Uint8Array, start: number, end: number): void {
    if (end - start === 1) return this.violate(1002, "Close frame with a 1-byte payload");
    if (end - start === 0) return this.#sink[onClose](1005, "");
    const code = (bytes[start] << 8) | bytes[start + 1];
    if (!validCloseCode(code)) return this.violate(1002, `Invalid close code ${code}`);
    const reason = decodeUtf8(bytes, start + 2, end);
    if (reason === undefined) {
      return this.violate(1007, "Close reason is not valid UTF-8", "invalid_utf8");
    }
    this.#sink[onClose](code, reason);
  }

  #tooBig(what: string): void {
    this.violate(1009, `${what} is over the limit of ${this.#maxMessage}`, "too_big");
  }

  /**
   * The client broke a rule (here, or in the socket: invalid UTF-8): free what is held, skip
   * what follows, report it once.
   */
  violate(code: number, reason: string, kind: FrontCloseKind = "protocol"): void {
    this.release();
    if (this.draining) {
      this.#discardAll = true;
      return;
    }
    this.draining = true;
    this.#sink[onViolation](code, reason, kind);
  }
}
