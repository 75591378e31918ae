/**
 * One TCP connection of the front: HTTP/1.1 requests one after another (heads within the header
 * timeout, keep-alive within the idle timeout), answered by the handler, until the connection
 * closes or is upgraded to a WebSocket.
 *
 * @module
 */

import { Deadline } from "../util/deadline.ts";
import { describeError, type Logger } from "../util/logger.ts";
import { HttpError, textResponse } from "./http_error.ts";
import {
  BARE_LF,
  closingResponse,
  encodeLatin1,
  findHeadEnd,
  latin1,
  MAX_HEAD_BYTES,
  parseRequestHead,
  type RequestHead,
  requestUrl,
  responseHead,
} from "./http1.ts";
import { ReadBuffer } from "./_read_buffer.ts";
import { RequestBody } from "./_request_body.ts";
import { markUpgradable, type PendingUpgrade, takeUpgrade } from "./upgrade.ts";
import type { FrontWebSocket, SocketHost } from "./websocket.ts";

/** A write that makes no progress for this long (ms) ends its connection. */
const SEND_TIMEOUT_MS = 30_000;

/** What the connections of one server share. */
export interface ConnectionContext {
  readonly handler: (request: Request) => Response | Promise<Response>;
  readonly host: SocketHost;
  readonly headerMs: number;
  readonly keepAliveMs: number;
  readonly logger: Logger;
  /** `host:port` for requests without a `Host` header (HTTP/1.0). */
  readonly fallbackHost: string;
  /** The server is stopping: no keep-alive, no new requests. */
  readonly stopping: boolean;
  /** Count one connection closed for a late request head. */
  headerTimedOut(): void;
}

/** One TCP connection: HTTP requests one after another, until closed or upgraded. */
export class HttpConnection {
  readonly #conn: Deno.TcpConn;
  readonly #front: ConnectionContext;
  readonly #rb: ReadBuffer;
  /** Waiting for a request, with nothing of it read yet (safe to close when stopping). */
  #idle = true;
  #closed = false;
  /** The request head's (or an idle keep-alive's) deadline; `#forHead` says which. */
  readonly #deadline = new Deadline(() => this.#timedOut());
  #forHead = false;
  /** A response write's deadline (made on the first write). */
  #sendDeadline: Deadline | undefined;
  #socket: FrontWebSocket | undefined;

  constructor(conn: Deno.TcpConn, front: ConnectionContext) {
    this.#conn = conn;
    this.#front = front;
    this.#rb = new ReadBuffer(front.host.input);
  }

  /** The connection's unparsed bytes (a WebSocket takes them over after an upgrade). */
  get readBuffer(): ReadBuffer {
    return this.#rb;
  }

  /**
   * Serve requests until the connection closes (then resolves with undefined) or is upgraded:
   * then it resolves with the socket, to be attached to the connection.
   */
  async run(): Promise<FrontWebSocket | undefined> {
    let first = true;
    try {
      while (!this.#closed) {
        const head = await this.#readHead(first);
        if (head === undefined) break;
        first = false;
        if (!(await this.#exchange(head))) break;
      }
    } catch (error) {
      if (!this.#closed) {
        this.#front.logger.debug(`HTTP connection failed: ${describeError(error)}`);
      }
    }
    if (this.#socket === undefined || this.#closed) {
      this.#socket?.abandon();
      this.destroy();
      return undefined;
    }
    this.#deadline.cancel();
    return this.#socket;
  }

  /** The server is stopping: close now if idle, else after the response in progress. */
  stop(): void {
    if (this.#idle && this.#socket === undefined) this.destroy();
  }

  /** Close the TCP connection (an upgraded one belongs to its socket). */
  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#deadline.cancel();
    this.#rb.discard();
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  // ---- request head ---------------------------------------------------------------------------

  async #readHead(first: boolean): Promise<RequestHead | undefined> {
    const rb = this.#rb;
    const { headerMs, keepAliveMs } = this.#front;
    this.#idle = rb.length === 0;
    if (this.#idle && this.#front.stopping) return undefined;
    if (first || !this.#idle) this.#arm(headerMs, true);
    else this.#arm(keepAliveMs, false);
    let searched = 0; // bytes after rb.start already searched for the end of the head
    try {
      while (true) {
        if (rb.length > 0) {
          const end = findHeadEnd(rb.bytes, rb.start, rb.end, rb.start + searched);
          if (end === BARE_LF) throw new HttpError(400, "Header lines must end with CRLF");
          if (end >= 0) {
            const text = latin1(rb.bytes, rb.start, end - 4);
            rb.start = end;
            this.#idle = false;
            return parseRequestHead(text);
          }
          searched = rb.length;
          if (rb.length >= MAX_HEAD_BYTES) {
            throw new HttpError(431, `Request head is over ${MAX_HEAD_BYTES} bytes`);
          }
          if (rb.length === rb.bytes.length) {
            const size = Math.min(MAX_HEAD_BYTES, rb.bytes.length * 2);
            if (!rb.ensure(size)) throw new HttpError(503, "Server is busy; try again later");
          }
        }
        const wasIdle = rb.length === 0;
        const n = await rb.fill(this.#conn);
        if (n === null) return undefined;
        if (wasIdle && this.#idle) {
          this.#idle = false;
          this.#arm(headerMs, true); // the first byte of a later request: its head has headerMs
        }
      }
    } catch (error) {
      if (error instanceof HttpError) await this.#answerAndClose(error.status, error.message);
      else if (!this.#closed) throw error;
      return undefined;
    } finally {
      this.#deadline.cancel();
    }
  }

  /** Start the timer for the head: 408 when it fires on a started head, a plain close when idle. */
  #arm(ms: number, head: boolean): void {
    this.#forHead = head;
    this.#deadline.arm(ms);
  }

  #timedOut(): void {
    if (!this.#forHead) return this.destroy();
    this.#front.headerTimedOut();
    void this.#answerAndClose(
      408,
      `Request head did not arrive within ${this.#front.headerMs / 1000} s`,
    );
  }

  async #answerAndClose(status: number, reason: string): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#write(closingResponse(status, reason));
    } catch {
      // the client is gone
    }
    this.destroy();
  }

  // ---- one request ----------------------------------------------------------------------------

  /** Answer one request; true when the connection may carry another. */
  async #exchange(head: RequestHead): Promise<boolean> {
    const front = this.#front;
    const body = new RequestBody(head, this.#rb, this.#conn, front.headerMs);
    const bodyAllowed = head.method !== "GET" && head.method !== "HEAD";
    let request: Request;
    try {
      const url = requestUrl(head, front.fallbackHost);
      request = new Request(url, {
        method: head.method,
        headers: head.headers,
        body: bodyAllowed ? body.stream() : null,
      });
    } catch (error) {
      const status = error instanceof HttpError
        ? error.status
        : /^(CONNECT|TRACE|TRACK)$/i.test(head.method)
        ? 405
        : 400;
      const reason = error instanceof HttpError
        ? error.message
        : status === 405
        ? `Method ${head.method} is not supported`
        : `Invalid request: ${describeError(error)}`;
      await this.#answerAndClose(status, reason);
      return false;
    }
    const upgraded = markUpgradable(request, front.host);
    let response: Response;
    try {
      response = await front.handler(request);
      if (!(response instanceof Response)) {
        throw new TypeError("The handler did not return a Response");
      }
    } catch (error) {
      if (body.error !== undefined) {
        // The handler failed because the request body was malformed: the client's fault.
        await this.#answerAndClose(body.error.status, body.error.message);
        return false;
      }
      front.logger.error(
        `Unexpected error while handling a request: ${describeError(error)}`,
      );
      response = textResponse(500, "Internal server error");
    }
    const upgrade = takeUpgrade(response);
    if (upgrade !== undefined && upgrade.request === request) {
      return await this.#upgrade(upgrade, response);
    }
    upgrade?.socket.abandon();
    upgraded()?.abandon();
    const keepAlive = head.keepAlive && !front.stopping && !this.#closed && body.canFinish();
    await this.#respond(head, response, keepAlive);
    if (!keepAlive) return false;
    return await body.finish();
  }

  /** Write the 101 answer; the socket takes the connection once `run()` returns. */
  async #upgrade(upgrade: PendingUpgrade, response: Response): Promise<boolean> {
    const fields: [string, string][] = [
      ["upgrade", "websocket"],
      ["connection", "Upgrade"],
      ["sec-websocket-accept", upgrade.accept],
    ];
    for (const [name, value] of response.headers) {
      if (
        !/^(upgrade|connection|sec-websocket-accept|content-length|transfer-encoding)$/.test(name)
      ) {
        fields.push([name, value]);
      }
    }
    try {
      await this.#write(encodeLatin1(responseHead(101, "Switching Protocols", fields)));
    } catch {
      upgrade.socket.abandon();
      return false;
    }
    if (this.#closed) {
      upgrade.socket.abandon();
      return false;
    }
    this.#socket = upgrade.socket;
    return false;
  }

  // ---- response -------------------------------------------------------------------------------

  async #respond(head: RequestHead, response: Response, keepAlive: boolean): Promise<void> {
    const status = response.status;
    const fields: [string, string][] = [];
    let declared: string | undefined;
    for (const [name, value] of response.headers) {
      if (name === "content-length") declared = value;
      else if (!/^(transfer-encoding|connection|keep-alive)$/.test(name)) {
        fields.push([name, value]);
      }
    }
    if (!keepAlive) fields.push(["connection", "close"]);
    else if (head.minor === 0) fields.push(["connection", "keep-alive"]);
    const bodyless = status === 204 || status === 304 || status < 200;
    const isHead = head.method === "HEAD";
    const body = response.body;
    const send = (extra: [string, string][], payload?: Uint8Array) =>
      this.#write(
        encodeLatin1(responseHead(status, response.statusText, [...fields, ...extra]), payload),
      );
    if (body === null || bodyless) {
      await body?.cancel();
      return await send(bodyless ? [] : [["content-length", declared ?? "0"]]);
    }
    const reader = body.getReader();
    try {
      if (declared !== undefined && /^\d+$/.test(declared)) {
        if (isHead) return await send([["content-length", declared]]);
        await send([["content-length", declared]]);
        return await this.#streamExactly(reader, Number(declared));
      }
      const first = await reader.read();
      if (first.done) return await send([["content-length", "0"]]);
      const second = reader.read();
      const soon = await Promise.race([second, nextTask()]);
      if (soon !== undefined && soon.done) {
        if (isHead) return await send([["content-length", String(first.value.length)]]);
        return await send([["content-length", String(first.value.length)]], first.value);
      }
      if (isHead) return await send([]);
      if (head.minor === 0) {
        // No chunked encoding in HTTP/1.0: the body ends with the connection.
        await send([], first.value);
        for (let part = await second; !part.done; part = await reader.read()) {
          await this.#write(part.value);
        }
        return this.destroy();
      }
      await send([["transfer-encoding", "chunked"]], chunk(first.value));
      for (let part = await second; !part.done; part = await reader.read()) {
        if (part.value.length > 0) await this.#write(chunk(part.value));
      }
      await this.#write(LAST_CHUNK);
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  /** Stream exactly `length` bytes; a body that is shorter or longer ends the connection. */
  async #streamExactly(reader: ReadableStreamDefaultReader<Uint8Array>, length: number) {
    let sent = 0;
    while (sent < length) {
      const part = await reader.read();
      if (part.done) break;
      const bytes = part.value.subarray(0, length - sent);
      await this.#write(bytes);
      sent += bytes.length;
    }
    if (sent < length) this.destroy();
  }

  async #write(bytes: Uint8Array): Promise<void> {
    const deadline = this.#sendDeadline ??= new Deadline(() => this.destroy());
    deadline.arm(SEND_TIMEOUT_MS);
    try {
      let written = 0;
      while (written < bytes.length) written += await this.#conn.write(bytes.subarray(written));
    } finally {
      deadline.cancel();
    }
  }
}

const LAST_CHUNK = new TextEncoder().encode("0\r\n\r\n");

function chunk(bytes: Uint8Array): Uint8Array {
  const size = `${bytes.length.toString(16)}\r\n`;
  const framed = new Uint8Array(size.length + bytes.length + 2);
  for (let i = 0; i < size.length; i++) framed[i] = size.charCodeAt(i);
  framed.set(bytes, size.length);
  framed[framed.length - 2] = 13;
  framed[framed.length - 1] = 10;
  return framed;
}

/** Resolves (with undefined) after the current task and its microtasks. */
function nextTask(): Promise<undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), 0));
}
