/**
 * The front: our own HTTP/1.1 server on `Deno.listen`, in place of `Deno.serve`, so that every
 * byte a client sends is bounded. It accepts through {@linkcode Listener} (connection cap,
 * EMFILE), reads request heads within a header timeout and a size limit, builds a standard
 * `Request` for a fetch-style handler, streams the `Response` back (Content-Length or chunked,
 * HEAD, keep-alive with an idle timeout), and hands upgraded connections to
 * {@linkcode FrontWebSocket}.
 *
 * @module
 */

import { describeError, type Logger } from "../util/logger.ts";
import { textResponse } from "./http_error.ts";
import { HttpError } from "./http_error.ts";
import {
  ChunkedDecoder,
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
import { defaultMaxConnections, Listener } from "./listener.ts";
import { DEFAULT_INPUT_BUDGET, DEFAULT_OUTPUT_BUDGET, MemoryBudget } from "./memory_budget.ts";
import { ReadBuffer } from "./_read_buffer.ts";
import { OutputShedder } from "./_ws_writer.ts";
import { markUpgradable, type PendingUpgrade, takeUpgrade } from "./upgrade.ts";
import {
  CLOSE_TIMEOUT_MS,
  type FrontCloseKind,
  type FrontWebSocket,
  type SocketHost,
} from "./websocket.ts";

/** A write that makes no progress for this long (ms) ends its connection. */
const SEND_TIMEOUT_MS = 30_000;

/** After `shutdown()`, connections still open this long (ms) are cut. */
const SHUTDOWN_GRACE_MS = 2000;

/** An unread request body at most this large is skipped to keep the connection; else it closes. */
const DRAIN_LIMIT = 64 * 1024;

/** The front's limits: connections, timeouts and server-wide memory budgets. */
export interface FrontOptions {
  /**
   * Most connections open at once, HTTP and WebSocket; more are answered 503 and closed. Keep it
   * below the open-file limit (`ulimit -n`): running out of descriptors does not stop the server
   * (new connections are shed until some close), but other files fail meanwhile.
   * @default {the open-file limit less 128 (from /proc/self/limits), else 16384}
   */
  maxConnections?: number;
  /**
   * Seconds a client has to send a complete request head (from connecting, or from the first
   * byte of a later request); slower ones get 408 and are closed (slowloris).
   * @default {10}
   */
  headerTimeout?: number;
  /**
   * Seconds an idle keep-alive HTTP connection waits for its next request.
   * @default {5}
   */
  keepAliveTimeout?: number;
  /**
   * Seconds a WebSocket close handshake may take (the client answering the server's close frame,
   * or reading it); then the TCP connection is cut.
   * @default {30}
   */
  closeTimeout?: number;
  /**
   * Server-wide bytes of input buffered at once: request heads and WebSocket messages still
   * arriving, over each connection's read buffer. A client whose message would pass it is closed
   * with 1013 (try again later).
   * @default {67108864}
   */
  inputBudget?: number;
  /**
   * Server-wide bytes queued for clients at once. Past it, the clients with the largest stalled
   * queues are closed with 1008 until it is not.
   * @default {268435456}
   */
  outputBudget?: number;
}

/** Options of {@linkcode serveHttp}. */
export interface HttpServerOptions extends FrontOptions {
  /**
   * The address to listen on.
   * @default {"0.0.0.0"}
   */
  hostname?: string;
  /**
   * The port; `0` picks a free one.
   * @default {8080}
   */
  port?: number;
  /** Called once listening; by default nothing is logged. */
  onListen?: (addr: Deno.NetAddr) => void;
  /**
   * Where the front logs (limits reached, clients it closed).
   * @default {a logger that drops everything}
   */
  logger?: Logger;
  /** Called when the front closes a WebSocket client itself (size, protocol, budgets). */
  onClientClosed?: (kind: FrontCloseKind, reason: string) => void;
}

/** What the front holds now, and what it turned away. */
export interface FrontStats {
  /** Open TCP connections (HTTP and WebSocket). */
  readonly connections: number;
  /** Open WebSockets. */
  readonly webSockets: number;
  /** Input buffered over the base read buffers (request heads, messages arriving), in bytes. */
  readonly inputBytes: number;
  /** Output queued for clients, in bytes. */
  readonly outputBytes: number;
  /** The most `inputBytes` has been. */
  readonly inputPeak: number;
  /** The most `outputBytes` has been. */
  readonly outputPeak: number;
  /** Connections answered 503 at the connection cap. */
  readonly refusedAtLimit: number;
  /** Connections shed for lack of file descriptors. */
  readonly shedOutOfDescriptors: number;
  /** Connections closed for not sending their request head in time. */
  readonly headerTimeouts: number;
}

/** A running front. */
export interface HttpServer {
  /** The address listened on. */
  readonly addr: Deno.NetAddr;
  /** Resolves once the server has stopped and every connection is closed. */
  readonly finished: Promise<void>;
  /**
   * Stop accepting, close idle connections, let requests in progress finish (then close their
   * connection), close open WebSockets with 1001; anything left after the close timeout is cut.
   */
  shutdown(): Promise<void>;
  /** Current figures. */
  stats(): FrontStats;
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * Serve `handler` on our front.
 *
 * @example
 * ```ts
 * import { serveHttp } from "./http_server.ts";
 *
 * const server = serveHttp(() => new Response("ok"), { hostname: "127.0.0.1", port: 0 });
 * const response = await fetch(`http://127.0.0.1:${server.addr.port}/`);
 * console.assert(await response.text() === "ok");
 * await server.shutdown();
 * ```
 */
export function serveHttp(
  handler: (request: Request) => Response | Promise<Response>,
  options: HttpServerOptions = {},
): HttpServer {
  const logger = options.logger ?? silent;
  const input = new MemoryBudget(options.inputBudget ?? DEFAULT_INPUT_BUDGET);
  const output = new MemoryBudget(options.outputBudget ?? DEFAULT_OUTPUT_BUDGET);
  const shedder = new OutputShedder(output);
  const host: SocketHost = {
    input,
    shedder,
    closeTimeoutMs: options.closeTimeout === undefined
      ? CLOSE_TIMEOUT_MS
      : options.closeTimeout * 1000,
    report(kind, reason, socket) {
      logger.warn(`Closed a WebSocket client of ${new URL(socket.url).pathname}: ${reason}`);
      options.onClientClosed?.(kind, reason);
    },
    handlerError(error) {
      logger.error(`A WebSocket event handler threw: ${describeError(error)}`);
    },
  };
  const front = new Front(handler, host, {
    headerMs: (options.headerTimeout ?? 10) * 1000,
    keepAliveMs: (options.keepAliveTimeout ?? 5) * 1000,
    logger,
  });
  const listener = new Listener({
    hostname: options.hostname ?? "0.0.0.0",
    port: options.port ?? 8080,
    maxConnections: options.maxConnections ?? defaultMaxConnections(),
    logger,
    serve: (conn) => front.serve(conn),
  });
  front.fallbackHost = `${listener.addr.hostname}:${listener.addr.port}`;
  options.onListen?.(listener.addr);
  let stopping: Promise<void> | undefined;
  const finished = listener.finished.then(() => front.drained);
  return {
    addr: listener.addr,
    finished,
    shutdown() {
      return stopping ??= (async () => {
        listener.close();
        front.stop();
        await finished;
        shedder.close();
      })();
    },
    stats: () => ({
      connections: listener.connections,
      webSockets: front.webSockets.size,
      inputBytes: input.used,
      outputBytes: output.used,
      inputPeak: input.peak,
      outputPeak: output.peak,
      refusedAtLimit: listener.refusedAtLimit,
      shedOutOfDescriptors: listener.shedOutOfDescriptors,
      headerTimeouts: front.headerTimeouts,
    }),
  };
}

interface FrontConfig {
  readonly headerMs: number;
  readonly keepAliveMs: number;
  readonly logger: Logger;
}

/** What the connections of one server share. */
class Front {
  readonly handler: (request: Request) => Response | Promise<Response>;
  readonly host: SocketHost;
  readonly config: FrontConfig;
  readonly connections = new Set<HttpConnection>();
  readonly webSockets = new Set<FrontWebSocket>();
  fallbackHost = "localhost";
  headerTimeouts = 0;
  stopping = false;
  readonly #drained = Promise.withResolvers<void>();

  constructor(
    handler: (request: Request) => Response | Promise<Response>,
    host: SocketHost,
    config: FrontConfig,
  ) {
    this.handler = handler;
    this.host = host;
    this.config = config;
  }

  /** Resolves once stopping and no connection is left. */
  get drained(): Promise<void> {
    return this.#drained.promise;
  }

  async serve(conn: Deno.TcpConn): Promise<void> {
    const connection = new HttpConnection(conn, this);
    this.connections.add(connection);
    try {
      await connection.run();
    } finally {
      this.connections.delete(connection);
      this.#checkDrained();
    }
  }

  stop(): void {
    this.stopping = true;
    for (const connection of this.connections) connection.stop();
    for (const socket of this.webSockets) socket.close(1001, "Server shutting down");
    const force = setTimeout(() => {
      for (const connection of this.connections) connection.destroy();
    }, SHUTDOWN_GRACE_MS);
    void this.drained.then(() => clearTimeout(force));
    this.#checkDrained();
  }

  #checkDrained(): void {
    if (this.stopping && this.connections.size === 0) this.#drained.resolve();
  }
}

/** One TCP connection: HTTP requests one after another, until closed or upgraded. */
class HttpConnection {
  readonly #conn: Deno.TcpConn;
  readonly #front: Front;
  readonly #rb: ReadBuffer;
  /** Waiting for a request, with nothing of it read yet (safe to close when stopping). */
  #idle = true;
  #closed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #socket: FrontWebSocket | undefined;

  constructor(conn: Deno.TcpConn, front: Front) {
    this.#conn = conn;
    this.#front = front;
    this.#rb = new ReadBuffer(front.host.input);
  }

  /** Serve requests until the connection closes; resolves once it has (WebSocket included). */
  async run(): Promise<void> {
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
        this.#front.config.logger.debug(`HTTP connection failed: ${describeError(error)}`);
      }
    }
    if (this.#socket === undefined) return this.destroy();
    const ended = Promise.withResolvers<void>();
    const socket = this.#socket;
    this.#front.webSockets.add(socket);
    socket.attach(this.#conn, this.#rb, () => {
      this.#front.webSockets.delete(socket);
      this.#closed = true;
      ended.resolve();
    });
    if (this.#front.stopping) socket.close(1001, "Server shutting down");
    await ended.promise;
  }

  /** The server is stopping: close now if idle, else after the response in progress. */
  stop(): void {
    if (this.#idle && this.#socket === undefined) this.destroy();
  }

  /** Close the TCP connection (an upgraded one belongs to its socket). */
  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
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
    const { headerMs, keepAliveMs } = this.#front.config;
    this.#idle = rb.length === 0;
    if (this.#idle && this.#front.stopping) return undefined;
    if (first || !this.#idle) this.#arm(headerMs, true);
    else this.#arm(keepAliveMs, false);
    let searched = 0; // bytes after rb.start already searched for the end of the head
    try {
      while (true) {
        if (rb.length > 0) {
          const end = findHeadEnd(rb.bytes, rb.start, rb.end, rb.start + searched);
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
      clearTimeout(this.#timer);
    }
  }

  /** Start the timer for the head: 408 when it fires on a started head, a plain close when idle. */
  #arm(ms: number, head: boolean): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (!head) return this.destroy();
      this.#front.headerTimeouts++;
      void this.#answerAndClose(
        408,
        `Request head did not arrive within ${this.#front.config.headerMs / 1000} s`,
      );
    }, ms);
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
    const body = new RequestBody(head, this.#rb, this.#conn, front.config.headerMs);
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
      front.config.logger.error(
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
    const timer = setTimeout(() => this.destroy(), SEND_TIMEOUT_MS);
    try {
      let written = 0;
      while (written < bytes.length) written += await this.#conn.write(bytes.subarray(written));
    } finally {
      clearTimeout(timer);
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

/** A request's body, read from the connection only as the handler pulls it. */
class RequestBody {
  readonly #head: RequestHead;
  readonly #rb: ReadBuffer;
  readonly #conn: Deno.Conn;
  readonly #idleMs: number;
  readonly #chunked: ChunkedDecoder | undefined;
  #remaining: number;
  #continued = false;
  #reading = false;

  constructor(head: RequestHead, rb: ReadBuffer, conn: Deno.Conn, idleMs: number) {
    this.#head = head;
    this.#rb = rb;
    this.#conn = conn;
    this.#idleMs = idleMs;
    this.#chunked = head.chunked ? new ChunkedDecoder() : undefined;
    this.#remaining = head.chunked ? Infinity : Math.max(0, head.contentLength);
  }

  /** Nothing of the body is left to read. */
  get done(): boolean {
    return this.#chunked ? this.#chunked.done : this.#remaining === 0;
  }

  /** The body as a stream, or null when there is none. */
  stream(): ReadableStream<Uint8Array> | null {
    if (this.done) return null;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const bytes = await this.#next();
        if (bytes === undefined) controller.close();
        else controller.enqueue(bytes);
      },
    });
  }

  /** The rest of the body can be skipped cheaply (read fully, or a small known rest). */
  canFinish(): boolean {
    return !this.#reading && (this.done || this.#remaining <= DRAIN_LIMIT);
  }

  /** Skip what the handler did not read; false when the connection cannot be reused. */
  async finish(): Promise<boolean> {
    try {
      while (!this.done) if ((await this.#next()) === undefined) return this.done;
      return true;
    } catch {
      return false;
    }
  }

  /** The next piece of the body; undefined at its end. */
  async #next(): Promise<Uint8Array | undefined> {
    const rb = this.#rb;
    if (this.#head.expectContinue && !this.#continued) {
      this.#continued = true;
      await this.#conn.write(new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n"));
    }
    this.#reading = true;
    try {
      while (!this.done) {
        if (this.#chunked) {
          const [used, from, to] = this.#chunked.feed(rb.bytes, rb.start, rb.end);
          rb.start += used;
          if (to > from) return rb.bytes.slice(from, to);
          if (used > 0) continue;
        } else if (rb.length > 0) {
          const take = Math.min(this.#remaining, rb.length);
          const bytes = rb.bytes.slice(rb.start, rb.start + take);
          rb.start += take;
          this.#remaining -= take;
          return bytes;
        }
        if (await this.#fill() === null) throw new HttpError(400, "Request body ended early");
      }
      return undefined;
    } finally {
      this.#reading = false;
    }
  }

  async #fill(): Promise<number | null> {
    const timer = setTimeout(() => {
      try {
        this.#conn.close();
      } catch {
        // already closed
      }
    }, this.#idleMs);
    try {
      return await this.#rb.fill(this.#conn);
    } finally {
      clearTimeout(timer);
    }
  }
}
