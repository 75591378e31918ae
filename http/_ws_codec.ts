/**
 * RFC 6455 pieces of the WebSocket data path: unmasking, strict UTF-8 decoding, server frame
 * headers, text encoding into a buffer, close codes. Written for the hot path: no allocation for
 * small frames, ASCII fast paths, 32-bit unmasking.
 *
 * @module
 */

/** Opcodes (RFC 6455 §5.2). */
export const Op = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** Largest control frame payload (RFC 6455 §5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

/** Words are XORed in the platform's byte order, which is little-endian on every Deno target. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Unmask `bytes[start..end]` in place with the 4-byte key at `bytes[key..key+4]`. */
export function unmask(bytes: Uint8Array, start: number, end: number, key: number): void {
  xorMask(bytes, start, end, bytes[key], bytes[key + 1], bytes[key + 2], bytes[key + 3]);
}

/**
 * XOR `bytes[start..end]` in place with the masking key `m0 m1 m2 m3`, `m0` being the key byte
 * for `bytes[start]`. Long runs go 32 bits at a time.
 */
export function xorMask(
  bytes: Uint8Array,
  start: number,
  end: number,
  m0: number,
  m1: number,
  m2: number,
  m3: number,
): void {
  let i = start;
  if (LITTLE_ENDIAN && end - start >= 32 && bytes.byteOffset === 0) {
    for (; (i & 3) !== 0; i++) {
      const k = (i - start) & 3;
      bytes[i] ^= k === 0 ? m0 : k === 1 ? m1 : k === 2 ? m2 : m3;
    }
    // `i` is 4-aligned now; the key byte for `i` is number `(i - start) & 3`.
    const phase = (i - start) & 3;
    const b0 = phase === 0 ? m0 : phase === 1 ? m1 : phase === 2 ? m2 : m3;
    const b1 = phase === 0 ? m1 : phase === 1 ? m2 : phase === 2 ? m3 : m0;
    const b2 = phase === 0 ? m2 : phase === 1 ? m3 : phase === 2 ? m0 : m1;
    const b3 = phase === 0 ? m3 : phase === 1 ? m0 : phase === 2 ? m1 : m2;
    const word = b0 | (b1 << 8) | (b2 << 16) | (b3 << 24);
    const words = (end - i) >>> 2;
    const view = new Int32Array(bytes.buffer, i, words);
    for (let w = 0; w < words; w++) view[w] ^= word;
    i += words << 2;
  }
  for (; i < end; i++) {
    const k = (i - start) & 3;
    bytes[i] ^= k === 0 ? m0 : k === 1 ? m1 : k === 2 ? m2 : m3;
  }
}

const loose = new TextDecoder("utf-8", { ignoreBOM: true });
const strict = new TextDecoder("utf-8", { ignoreBOM: true, fatal: true });
const encoder = new TextEncoder();

/** Longest payload decoded by the JavaScript ASCII loop (faster than a decoder call below it). */
const SHORT_TEXT = 32;

/**
 * Decode `bytes[start..end]` as UTF-8; `undefined` when it is not valid UTF-8. A lenient decode
 * that produced no U+FFFD is proof of validity; only then is the strict decoder (3× slower) asked.
 */
export function decodeUtf8(bytes: Uint8Array, start: number, end: number): string | undefined {
  if (end - start <= SHORT_TEXT) {
    let text = "";
    let i = start;
    for (; i < end; i++) {
      const byte = bytes[i];
      if (byte > 0x7f) break;
      text += String.fromCharCode(byte);
    }
    if (i === end) return text;
  }
  const view = bytes.subarray(start, end);
  const text = loose.decode(view);
  if (text.indexOf("\ufffd") === -1) return text;
  try {
    return strict.decode(view);
  } catch {
    return undefined;
  }
}

/** Bytes of a server frame header (unmasked) for a payload of `length`. */
export function headerSize(length: number): number {
  return length < 126 ? 2 : length < 65536 ? 4 : 10;
}

/** Write a final server frame header at `bytes[at]`; returns the offset of the payload. */
export function writeHeader(bytes: Uint8Array, at: number, opcode: number, length: number): number {
  bytes[at] = 0x80 | opcode;
  if (length < 126) {
    bytes[at + 1] = length;
    return at + 2;
  }
  if (length < 65536) {
    bytes[at + 1] = 126;
    bytes[at + 2] = length >>> 8;
    bytes[at + 3] = length & 0xff;
    return at + 4;
  }
  bytes[at + 1] = 127;
  const high = Math.floor(length / 0x100000000);
  const low = length >>> 0;
  bytes[at + 2] = 0;
  bytes[at + 3] = 0;
  bytes[at + 4] = (high >>> 8) & 0xff;
  bytes[at + 5] = high & 0xff;
  bytes[at + 6] = low >>> 24;
  bytes[at + 7] = (low >>> 16) & 0xff;
  bytes[at + 8] = (low >>> 8) & 0xff;
  bytes[at + 9] = low & 0xff;
  return at + 10;
}

let scratch = new Uint8Array(64 * 1024);
let lastText: string | undefined;
let lastView: Uint8Array = scratch.subarray(0, 0);

/**
 * Encode `text` as UTF-8 into a scratch buffer shared by every caller; the view is valid until
 * the next call. The same string twice in a row (a broadcast) is encoded once.
 */
export function encodeUtf8(text: string): Uint8Array {
  if (text === lastText) return lastView;
  if (text.length * 3 > scratch.length) scratch = new Uint8Array(text.length * 3);
  const { written } = encoder.encodeInto(text, scratch);
  lastText = text;
  lastView = scratch.subarray(0, written);
  if (scratch.length > 1024 * 1024) scratch = new Uint8Array(64 * 1024); // do not keep a huge one
  return lastView;
}

/**
 * Whether a client may send `code` in a close frame (RFC 6455 §7.4): 1000–1003, 1007–1014, and
 * 3000–4999; never 1004–1006, 1015 or anything else.
 */
export function validCloseCode(code: number): boolean {
  if (code >= 3000 && code <= 4999) return true;
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
}

/** `reason` cut to at most 123 UTF-8 bytes (what fits a close frame), at a character boundary. */
export function fitCloseReason(reason: string): Uint8Array {
  const bytes = encoder.encode(reason);
  if (bytes.length <= MAX_CONTROL_PAYLOAD - 2) return bytes;
  let end = MAX_CONTROL_PAYLOAD - 2;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}
