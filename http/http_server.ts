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
import { type ConnectionContext, HttpConnection } from "./_http_connection.ts";
import { defaultMaxConnections, Listener } from "./listener.ts";
import { DEFAULT_INPUT_BUDGET, DEFAULT_OUTPUT_BUDGET, MemoryBudget } from "./memory_budget.ts";
import type { ReadBuffer } from "./_read_buffer.ts";
import { OutputShedder } from "./_ws_writer.ts";
import { Heartbeats } from "./_ws_heartbeat.ts";
import {
  CLOSE_TIMEOUT_MS,
  type FrontCloseKind,
  type FrontWebSocket,
  type SocketHost,
} from "./websocket.ts";

/** After `shutdown()`, connections still open this long (ms) are cut. */
const SHUTDOWN_GRACE_MS = 2000;

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
    heartbeats: new Heartbeats(),
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
    serve: (conn, done) => front.serve(conn, done),
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

/** What the connections of one server share, and the connections themselves. */
class Front implements ConnectionContext {
  readonly handler: (request: Request) => Response | Promise<Response>;
  readonly host: SocketHost;
  readonly headerMs: number;
  readonly keepAliveMs: number;
  readonly logger: Logger;
  /** HTTP connections (not yet upgraded). */
  readonly connections = new Set<HttpConnection>();
  readonly webSockets = new Set<FrontWebSocket>();
  fallbackHost = "localhost";
  headerTimeouts = 0;
  stopping = false;
  readonly #drained = Promise.withResolvers<void>();

  constructor(
    handler: (request: Request) => Response | Promise<Response>,
    host: SocketHost,
    options: { headerMs: number; keepAliveMs: number; logger: Logger },
  ) {
    this.handler = handler;
    this.host = host;
    this.headerMs = options.headerMs;
    this.keepAliveMs = options.keepAliveMs;
    this.logger = options.logger;
  }

  /** Resolves once stopping and no connection is left. */
  get drained(): Promise<void> {
    return this.#drained.promise;
  }

  headerTimedOut(): void {
    this.headerTimeouts++;
  }

  /**
   * Serve one connection; `done` is called once it is closed. An upgraded connection is then
   * held by its socket only (an idle WebSocket keeps nothing of its HTTP past).
   */
  serve(conn: Deno.TcpConn, done: () => void): void {
    const connection = new HttpConnection(conn, this);
    this.connections.add(connection);
    void connection.run().then((socket) => {
      this.connections.delete(connection);
      if (socket === undefined) {
        done();
        return this.#checkDrained();
      }
      this.#attach(socket, conn, connection.readBuffer, done);
    });
  }

  stop(): void {
    this.stopping = true;
    for (const connection of this.connections) connection.stop();
    for (const socket of this.webSockets) socket.close(1001, "Server shutting down");
    const force = setTimeout(() => {
      for (const connection of this.connections) connection.destroy();
      for (const socket of this.webSockets) socket.terminate();
    }, SHUTDOWN_GRACE_MS);
    void this.drained.then(() => clearTimeout(force));
    this.#checkDrained();
  }

  #attach(socket: FrontWebSocket, conn: Deno.TcpConn, rb: ReadBuffer, done: () => void): void {
    const sockets = this.webSockets;
    sockets.add(socket);
    socket.attach(conn, rb, () => {
      sockets.delete(socket);
      done();
      this.#checkDrained();
    });
    if (this.stopping) socket.close(1001, "Server shutting down");
  }

  #checkDrained(): void {
    if (this.stopping && this.connections.size === 0 && this.webSockets.size === 0) {
      this.#drained.resolve();
    }
  }
}
