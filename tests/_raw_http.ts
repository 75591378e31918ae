/**
 * A raw TCP client for tests of the front's HTTP layer: send bytes as they are, read what comes
 * back, see when the server closes.
 *
 * @module
 */

import { WAIT_MS } from "./_client.ts";

/** One TCP connection to 127.0.0.1. */
export class RawHttp {
  readonly conn: Deno.TcpConn;
  #received = "";
  #eof = false;
  readonly #buffer = new Uint8Array(65536);
  #reading: Promise<number | null> | undefined;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  /** Connect to `port` on 127.0.0.1. */
  static async connect(port: number): Promise<RawHttp> {
    return new RawHttp(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Everything read so far. */
  get received(): string {
    return this.#received;
  }

  /** The server has closed the connection (EOF or reset). */
  get ended(): boolean {
    return this.#eof;
  }

  /** Write `text` (Latin-1, one byte per character) or bytes. */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? Uint8Array.from(data, (c) => c.charCodeAt(0)) : data;
    let written = 0;
    while (written < bytes.length) written += await this.conn.write(bytes.subarray(written));
  }

  /** Read until `done(received)` holds or the connection ends; fails after `ms`. */
  async readUntil(done: (received: string) => boolean, ms: number = WAIT_MS): Promise<string> {
    const deadline = Date.now() + ms;
    while (!done(this.#received) && !this.#eof) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `timed out after ${ms} ms; got ${JSON.stringify(this.#received.slice(0, 300))}`,
        );
      }
      this.#reading ??= this.conn.read(this.#buffer).catch(() => null);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const n = await Promise.race([
        this.#reading,
        new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), left)),
      ]);
      clearTimeout(timer);
      if (n === "timeout") continue;
      this.#reading = undefined;
      if (n === null) this.#eof = true;
      else {
        for (let at = 0; at < n; at += 8192) {
          this.#received += String.fromCharCode(
            ...this.#buffer.subarray(at, Math.min(n, at + 8192)),
          );
        }
      }
    }
    return this.#received;
  }

  /** Read until the server closes; the whole answer. Fails after `ms`. */
  readToEnd(ms: number = WAIT_MS): Promise<string> {
    return this.readUntil(() => false, ms);
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }
}

/** Send `request` on a new connection and read until the server closes it. */
export async function exchange(port: number, request: string, ms?: number): Promise<string> {
  const client = await RawHttp.connect(port);
  try {
    await client.write(request);
    return await client.readToEnd(ms);
  } finally {
    client.close();
  }
}

/** The status code of the first response in `text`. */
export function statusOf(text: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
}
