/**
 * A minimal WebSocket client (RFC 6455) for the load generator, on `Deno.connect` with
 * `TCP_NODELAY`. It does what a load generator needs and no more: the upgrade handshake, text
 * frames out (masked with a zero key, which is valid and makes masking free), text frames in
 * (fragmented too), ping → pong, and the close handshake. Every frame one read brings in is
 * parsed in one loop, so a burst costs one wake-up, not one per frame.
 *
 * @module
 */

import type { CloseInfo, Conn } from "./conn.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const HEADER_END = [13, 10, 13, 10];
const OPCODE = {
  continuation: 0,
  text: 1,
  binary: 2,
  close: 8,
  ping: 9,
  pong: 10,
} as const;

/** A frame from the client: FIN, the opcode, the length, a zero masking key, the payload. */
function clientFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const length = payload.length;
  const head = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = new Uint8Array(head + 4 + length);
  frame[0] = 0x80 | opcode;
  if (head === 2) {
    frame[1] = 0x80 | length;
  } else if (head === 4) {
    frame[1] = 0x80 | 126;
    frame[2] = length >> 8;
    frame[3] = length & 0xff;
  } else {
    frame[1] = 0x80 | 127;
    new DataView(frame.buffer).setBigUint64(2, BigInt(length));
  }
  // Bytes head..head+3 are the masking key: zero, so the payload goes as it is.
  frame.set(payload, head + 4);
  return frame;
}

function indexOfHeaderEnd(bytes: Uint8Array, length: number): number {
  outer: for (let i = 0; i + 4 <= length; i++) {
    for (let k = 0; k < 4; k++) {
      if (bytes[i + k] !== HEADER_END[k]) continue outer;
    }
    return i;
  }
  return -1;
}

/**
 * One client connection. Use {@linkcode RawWebSocket.open}.
 *
 * @example
 * ```ts ignore
 * import { RawWebSocket } from "./raw_websocket.ts";
 *
 * const conn = await RawWebSocket.open(8080, "/ws/lobby");
 * conn.onText = (text) => console.log(text);
 * conn.send("increment");
 * ```
 */
export class RawWebSocket implements Conn {
  /** Called with every text frame; set by the scenario. */
  onText: (text: string) => void = () => {};
  /** Resolves once the connection has closed. */
  readonly closed: Promise<CloseInfo>;
  readonly #conn: Deno.TcpConn;
  readonly #closed = Promise.withResolvers<CloseInfo>();
  #buffer = new Uint8Array(16 * 1024);
  #have = 0;
  #queue: Uint8Array[] = [];
  #flushing = false;
  #closeSent = false;
  #done = false;
  #fragments: Uint8Array[] = [];
  /** Frames sent, by text, for the few texts a scenario repeats. */
  readonly #frames = new Map<string, Uint8Array>();

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    this.closed = this.#closed.promise;
  }

  /**
   * Connect to `ws://127.0.0.1:<port><path>` and complete the upgrade; rejects when the server
   * answers anything but 101, or after `timeoutMs`.
   */
  static async open(
    port: number,
    path: string,
    timeoutMs = 10_000,
  ): Promise<RawWebSocket> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    const socket = new RawWebSocket(conn);
    const timer = setTimeout(() => conn.close(), timeoutMs);
    try {
      await socket.#handshake(port, path);
    } catch (error) {
      try {
        conn.close();
      } catch {
        // closed by the timeout
      }
      throw new Error(
        `Connecting to ${path} failed: ${(error as Error).message}`,
      );
    } finally {
      clearTimeout(timer);
    }
    void socket.#readLoop();
    return socket;
  }

  /** Send a text frame. */
  send(text: string): void {
    let frame = this.#frames.get(text);
    if (frame === undefined) {
      frame = clientFrame(OPCODE.text, encoder.encode(text));
      if (text.length <= 32 && this.#frames.size < 16) {
        this.#frames.set(text, frame);
      }
    }
    this.#write(frame);
  }

  /** Start the close handshake (code 1000); `closed` resolves when the server answers. */
  close(): void {
    if (this.#closeSent || this.#done) return;
    this.#closeSent = true;
    this.#write(clientFrame(OPCODE.close, new Uint8Array([0x03, 0xe8])));
  }

  async #handshake(port: number, path: string): Promise<void> {
    const key = btoa(
      String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))),
    );
    const request = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    await this.#writeAll(encoder.encode(request));
    while (true) {
      if (this.#have === this.#buffer.length) this.#grow(this.#have * 2);
      const n = await this.#conn.read(this.#buffer.subarray(this.#have));
      if (n === null) {
        throw new Error(
          "the server closed the connection during the handshake",
        );
      }
      this.#have += n;
      const end = indexOfHeaderEnd(this.#buffer, this.#have);
      if (end < 0) continue;
      const head = decoder.decode(this.#buffer.subarray(0, end));
      const status = head.slice(0, head.indexOf("\r\n"));
      if (!/^HTTP\/1\.1 101 /.test(status)) {
        throw new Error(`the server answered "${status}"`);
      }
      this.#buffer.copyWithin(0, end + 4, this.#have);
      this.#have -= end + 4;
      return;
    }
  }

  async #readLoop(): Promise<void> {
    let info: CloseInfo | undefined;
    try {
      this.#parse();
      while (!this.#done) {
        if (this.#have === this.#buffer.length) this.#grow(this.#have * 2);
        const n = await this.#conn.read(this.#buffer.subarray(this.#have));
        if (n === null) break;
        this.#have += n;
        info = this.#parse();
        if (info) break;
      }
    } catch {
      // reset by the peer, or closed by us
    }
    this.#finish(info ?? { code: 1006, reason: "", at: performance.now() });
  }

  /** Handle every complete frame in the buffer; returns the close info on a close frame. */
  #parse(): CloseInfo | undefined {
    const bytes = this.#buffer;
    let at = 0;
    let info: CloseInfo | undefined;
    while (this.#have - at >= 2) {
      const first = bytes[at];
      const second = bytes[at + 1];
      let length = second & 0x7f;
      let head = 2;
      if (length === 126) {
        if (this.#have - at < 4) break;
        length = (bytes[at + 2] << 8) | bytes[at + 3];
        head = 4;
      } else if (length === 127) {
        if (this.#have - at < 10) break;
        length = Number(new DataView(bytes.buffer, at + 2, 8).getBigUint64(0));
        head = 10;
      }
      if (second & 0x80) head += 4; // a server must not mask; tolerate it anyway
      // Incomplete: wait for more (the read loop grows a full buffer until the frame fits).
      if (this.#have - at < head + length) break;
      let payload: Uint8Array = bytes.subarray(at + head, at + head + length);
      if (second & 0x80) {
        payload = unmask(payload, bytes.subarray(at + head - 4, at + head));
      }
      at += head + length;
      info = this.#frame(first & 0x0f, (first & 0x80) !== 0, payload);
      if (info) break;
    }
    if (at > 0) {
      bytes.copyWithin(0, at, this.#have);
      this.#have -= at;
    }
    return info;
  }

  #frame(
    opcode: number,
    fin: boolean,
    payload: Uint8Array,
  ): CloseInfo | undefined {
    switch (opcode) {
      case OPCODE.text:
        if (fin) this.onText(decoder.decode(payload));
        else this.#fragments = [payload.slice()];
        return;
      case OPCODE.continuation:
        this.#fragments.push(payload.slice());
        if (fin) {
          const whole = new Uint8Array(
            this.#fragments.reduce((n, part) => n + part.length, 0),
          );
          let offset = 0;
          for (const part of this.#fragments) {
            whole.set(part, offset);
            offset += part.length;
          }
          this.#fragments = [];
          this.onText(decoder.decode(whole));
        }
        return;
      case OPCODE.ping:
        this.#write(clientFrame(OPCODE.pong, payload.slice()));
        return;
      case OPCODE.close: {
        const code = payload.length >= 2 ? (payload[0] << 8) | payload[1] : 1005;
        const reason = decoder.decode(payload.subarray(2));
        if (!this.#closeSent) {
          this.#closeSent = true;
          this.#write(
            clientFrame(OPCODE.close, payload.subarray(0, 2).slice()),
          );
        }
        return { code, reason, at: performance.now() };
      }
      default:
        return; // binary and pong frames: the counter never sends them
    }
  }

  #finish(info: CloseInfo): void {
    if (this.#done) return;
    this.#done = true;
    this.#closed.resolve(info);
    // Let a queued close frame go out before the socket is closed.
    const close = () => {
      try {
        this.#conn.close();
      } catch {
        // already closed
      }
    };
    if (this.#flushing) setTimeout(close, 50);
    else close();
  }

  #write(frame: Uint8Array): void {
    if (this.#done) return;
    this.#queue.push(frame);
    if (!this.#flushing) void this.#flush();
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#queue.length > 0) {
        const queue = this.#queue;
        this.#queue = [];
        await this.#writeAll(queue.length === 1 ? queue[0] : concat(queue));
      }
    } catch {
      this.#queue = []; // the connection is gone; the read loop reports the close
    } finally {
      this.#flushing = false;
    }
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      offset += await this.#conn.write(bytes.subarray(offset));
    }
  }

  #grow(size: number): void {
    const grown = new Uint8Array(Math.max(size, this.#buffer.length * 2));
    grown.set(this.#buffer.subarray(0, this.#have));
    this.#buffer = grown;
  }
}

function unmask(payload: Uint8Array, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length);
  for (let i = 0; i < payload.length; i++) out[i] = payload[i] ^ key[i & 3];
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
