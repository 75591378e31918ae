/**
 * A raw WebSocket client over TCP for tests that need what browsers never do: ignore pings,
 * send fragmented or malformed frames, stop reading.
 *
 * @module
 */

import { WAIT_MS, withTimeout } from "./_client.ts";

/** WebSocket opcodes (RFC 6455 §5.2). */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** A frame read from the server. */
export interface RawFrame {
  fin: boolean;
  opcode: number;
  payload: Uint8Array;
}

/** Frame details a well-behaved client never changes; fuzzing does. */
export interface FrameFlags {
  /** Final fragment. @default {true} */
  fin?: boolean;
  /** Mask the payload, as clients must. @default {true} */
  masked?: boolean;
  /** The three reserved bits (0–7), which must be 0 without extensions. @default {0} */
  rsv?: number;
}

/** Encode one client frame. */
export function encodeFrame(
  opcode: number,
  payload: Uint8Array,
  { fin = true, masked = true, rsv = 0 }: FrameFlags = {},
): Uint8Array {
  const length = payload.length;
  const extra = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const maskBytes = masked ? 4 : 0;
  const frame = new Uint8Array(2 + extra + maskBytes + length);
  frame[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f);
  const maskBit = masked ? 0x80 : 0;
  const view = new DataView(frame.buffer);
  if (extra === 0) frame[1] = maskBit | length;
  else if (extra === 2) {
    frame[1] = maskBit | 126;
    view.setUint16(2, length);
  } else {
    frame[1] = maskBit | 127;
    view.setBigUint64(2, BigInt(length));
  }
  const start = 2 + extra + maskBytes;
  if (!masked) {
    frame.set(payload, start);
    return frame;
  }
  const mask = crypto.getRandomValues(new Uint8Array(4));
  frame.set(mask, 2 + extra);
  for (let i = 0; i < length; i++) frame[start + i] = payload[i] ^ mask[i & 3];
  return frame;
}

/** A WebSocket connection driven frame by frame. */
export class RawSocket {
  readonly #conn: Deno.TcpConn;
  #buffer = new Uint8Array(0);
  #eof = false;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  /** Connect and complete the opening handshake on `path`; fails unless the server answers 101. */
  static async connect(port: number, path: string): Promise<RawSocket> {
    const socket = new RawSocket(await Deno.connect({ hostname: "127.0.0.1", port }));
    await socket.writeRaw(
      new TextEncoder().encode(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
    const head = await socket.#readUntilHeaderEnd();
    if (!head.startsWith("HTTP/1.1 101")) {
      socket.close();
      throw new Error(`handshake refused: ${head.split("\r\n")[0]}`);
    }
    return socket;
  }

  /** Write bytes as they are. */
  async writeRaw(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) written += await this.#conn.write(bytes.subarray(written));
  }

  /** Send one frame. */
  send(opcode: number, payload: Uint8Array | string, flags?: FrameFlags): Promise<void> {
    const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
    return this.writeRaw(encodeFrame(opcode, bytes, flags));
  }

  /** The next frame from the server, or undefined once the connection has ended. */
  next(ms: number = WAIT_MS): Promise<RawFrame | undefined> {
    return withTimeout(this.#readFrame(), ms, "a frame from the server");
  }

  /** Read frames until a close frame or the end; returns the close code (undefined at EOF). */
  async closeCode(ms: number = WAIT_MS): Promise<number | undefined> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const frame = await this.next(deadline - Date.now());
      if (frame === undefined) return undefined;
      if (frame.opcode === Opcode.Close) {
        return new DataView(frame.payload.buffer, frame.payload.byteOffset).getUint16(0);
      }
    }
    throw new Error("timed out waiting for a close frame");
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    const chunk = new Uint8Array(65536);
    let n: number | null;
    try {
      n = await this.#conn.read(chunk);
    } catch {
      n = null;
    }
    if (n === null) {
      this.#eof = true;
      return false;
    }
    const merged = new Uint8Array(this.#buffer.length + n);
    merged.set(this.#buffer);
    merged.set(chunk.subarray(0, n), this.#buffer.length);
    this.#buffer = merged;
    return true;
  }

  async #readUntilHeaderEnd(): Promise<string> {
    while (true) {
      const text = new TextDecoder().decode(this.#buffer);
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        this.#buffer = this.#buffer.subarray(
          new TextEncoder().encode(text.slice(0, end + 4)).length,
        );
        return text.slice(0, end);
      }
      if (!(await this.#fill())) return text;
    }
  }

  async #need(bytes: number): Promise<boolean> {
    while (this.#buffer.length < bytes) if (!(await this.#fill())) return false;
    return true;
  }

  async #readFrame(): Promise<RawFrame | undefined> {
    if (!(await this.#need(2))) return undefined;
    const fin = (this.#buffer[0] & 0x80) !== 0;
    const opcode = this.#buffer[0] & 0x0f;
    let length = this.#buffer[1] & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (!(await this.#need(4))) return undefined;
      length = new DataView(this.#buffer.buffer, this.#buffer.byteOffset).getUint16(2);
      offset = 4;
    } else if (length === 127) {
      if (!(await this.#need(10))) return undefined;
      length = Number(new DataView(this.#buffer.buffer, this.#buffer.byteOffset).getBigUint64(2));
      offset = 10;
    }
    if (!(await this.#need(offset + length))) return undefined;
    const payload = this.#buffer.slice(offset, offset + length);
    this.#buffer = this.#buffer.subarray(offset + length);
    return { fin, opcode, payload };
  }
}

/** The HTTP answer to a WebSocket upgrade request: its status and body (for refusals). */
export async function upgradeAnswer(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("");
  await conn.write(
    new TextEncoder().encode(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
    ),
  );
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(65536);
  while (true) {
    const n = await withTimeout(conn.read(buffer), WAIT_MS, "the upgrade answer");
    if (n === null) break;
    chunks.push(buffer.slice(0, n));
    const text = new TextDecoder().decode(concat(chunks));
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) continue;
    const status = Number(text.slice(9, 12));
    const length = Number(/^content-length: *(\d+)/im.exec(text)?.[1] ?? 0);
    if (status === 101 || text.length >= end + 4 + length) {
      conn.close();
      return { status, body: text.slice(end + 4, end + 4 + length) };
    }
  }
  conn.close();
  throw new Error("the connection ended before an answer");
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
