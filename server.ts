/**
 * `serve()` a Jamsocket service on its own hardened HTTP/1.1 and WebSocket front (`http/`), or
 * mount its `createHandler()` in any app.
 *
 * @example Serve the shared counter
 * ```ts ignore
 * import { serve } from "./server.ts";
 * import { SharedCounterServer } from "./examples/counter.ts";
 *
 * serve(SharedCounterServer); // ws://localhost:8080/ws/{room}
 * ```
 *
 * @module
 */

import { type ClientLimits, DEFAULT_CLIENT_LIMITS } from "./room/client_limits.ts";
import { CloseCode } from "./room/close_code.ts";
import { errorResponse, HttpError, textResponse } from "./http/http_error.ts";
import { consoleLogger, type Logger } from "./util/logger.ts";
import { Metrics } from "./http/metrics.ts";
import {
  parseRoomIdStrategy,
  type RoomIdStrategy,
  type RoomIdStrategyName,
  validateRoomId,
} from "./room/room_id.ts";
import { RoomRegistry } from "./room/room_registry.ts";
import { parseShutdownPolicy, type ShutdownPolicy } from "./room/shutdown_policy.ts";
import {
  createServiceRuntime,
  type IsolationOptions,
  type ServiceDefinition,
  type ServiceRuntime,
} from "./runtime/service_runtime.ts";
import { StaticFiles } from "./http/static_files.ts";
import { type FrontOptions, serveHttp } from "./http/http_server.ts";
import { upgradeWebSocket } from "./http/upgrade.ts";

export type { FrontOptions, IsolationOptions, ServiceDefinition };

/** Options of {@linkcode createHandler}. */
export interface HandlerOptions extends IsolationOptions {
  /**
   * How rooms are created: `implicit`, `api`, `short`, `short<n>` or `uuid`.
   * @default {"implicit"}
   */
  rooms?: RoomIdStrategyName | RoomIdStrategy;
  /**
   * What happens to an empty room: `never`, `immediate`, `<n>sec`, or `{ afterMs }`.
   * @default {"300sec"}
   */
  shutdownPolicy?: ShutdownPolicy | string;
  /**
   * Seconds of silence after which a client is pinged. Deno pings at half its idle timeout, so
   * the idle timeout is set to `min(heartbeatTimeout, 2 × heartbeatInterval)`. `0` turns
   * heartbeats off.
   * @default {30}
   */
  heartbeatInterval?: number;
  /**
   * Seconds of silence after which a client that does not answer pings is closed (1001).
   * @default {120}
   */
  heartbeatTimeout?: number;
  /** Serve the files of this folder for every other `GET` (`index.html` for `/`). */
  staticDir?: string;
  /**
   * Answer requests that match no Jamsocket route and no static file (instead of 404): your own
   * routes, or a page. `jamsocket dev` serves its dev page this way.
   */
  fallback?: (request: Request) => Response | Promise<Response>;
  /**
   * Seconds a graceful shutdown waits for in-flight events (a hook's pending Promise) before it
   * stops anyway.
   * @default {10}
   */
  shutdownTimeout?: number;
  /**
   * Largest message a client may send, in bytes, however it is fragmented (larger: close 1009).
   * Under `serve()` this is decided from frame headers before anything is buffered; mounted in
   * another server, Deno's WebSocket buffers a frame (up to 64 MiB) before the check.
   * @default {1048576}
   */
  maxMessageBytes?: number;
  /**
   * Frames a client may send per second (more: close 1008). `0` is no limit.
   * @default {0}
   */
  maxMessagesPerSecond?: number;
  /**
   * Bytes that may queue for one client that reads too slowly before it is closed (1008).
   * @default {4194304}
   */
  maxBufferedBytes?: number;
  /**
   * Most rooms alive at once; a request that would create one more gets 503.
   * @default {Infinity}
   */
  maxRooms?: number;
  /**
   * Where the server logs.
   * @default {consoleLogger("info")}
   */
  logger?: Logger;
}

/**
 * A `(Request) => Promise<Response>` that serves the Jamsocket HTTP surface, with controls for
 * the rooms behind it.
 */
export interface JamsocketHandler {
  /** Answer one request: `/status`, `/metrics`, `/ws/{room}`, `/new_room`, static files. */
  (request: Request): Promise<Response>;
  /** The server's counters, as `/metrics` renders them. */
  readonly metrics: Metrics;
  /**
   * Hot-reload: run new rooms on `service` from now on, and close every open room with 1012
   * (service restart) so its clients reconnect into a fresh room. Resolves with the number of
   * rooms closed.
   */
  replaceService(service: ServiceDefinition): Promise<number>;
  /**
   * Close every room with 1001 (going away) and resolve once in-flight events have run (or after
   * `shutdownTimeout`). Requests that arrive afterwards get 503.
   */
  shutdown(): Promise<void>;
}

/**
 * Build the request handler of a Jamsocket server, to mount in any Deno app (a bare
 * `Deno.serve`, Hono, Fresh, Oak). Mounted there, WebSocket upgrades use `Deno.upgradeWebSocket`
 * and keep Deno's limits, not the front's: a frame is buffered (up to 64 MiB) before the size
 * check, a fragmented message has no bound, and there is no connection cap, header timeout or
 * server-wide memory budget. `serve()` has all of them.
 *
 * @example Mount next to your own routes
 * ```ts ignore
 * import { createHandler } from "./server.ts";
 *
 * const jamsocket = createHandler(class {
 *   message(client: number, text: string, ctx: { sendMessage(to: number, text: string): void }) {
 *     ctx.sendMessage(client, text);
 *   }
 * });
 * Deno.serve((request) => new URL(request.url).pathname === "/hello"
 *   ? new Response("hi")
 *   : jamsocket(request));
 * ```
 */
export function createHandler(
  service: ServiceDefinition,
  options: HandlerOptions = {},
): JamsocketHandler {
  const logger = options.logger ?? consoleLogger();
  const metrics = new Metrics();
  const limits: ClientLimits = {
    maxMessageBytes: options.maxMessageBytes ?? DEFAULT_CLIENT_LIMITS.maxMessageBytes,
    maxMessagesPerSecond: options.maxMessagesPerSecond ??
      DEFAULT_CLIENT_LIMITS.maxMessagesPerSecond,
    maxBufferedBytes: options.maxBufferedBytes ?? DEFAULT_CLIENT_LIMITS.maxBufferedBytes,
  };
  let runtime: ServiceRuntime = createServiceRuntime(service, options, logger, metrics);
  const registry = new RoomRegistry(runtime.engineFactory, {
    capacity: () => Math.min(options.maxRooms ?? Infinity, runtime.capacity),
    strategy: typeof options.rooms === "object"
      ? options.rooms
      : parseRoomIdStrategy(options.rooms ?? "implicit"),
    room: {
      logger,
      metrics,
      limits,
      shutdownPolicy: typeof options.shutdownPolicy === "object"
        ? options.shutdownPolicy
        : parseShutdownPolicy(options.shutdownPolicy ?? "300sec"),
    },
  });
  const idleTimeout = idleTimeoutFor(
    options.heartbeatInterval ?? 30,
    options.heartbeatTimeout ?? 120,
  );
  const staticFiles = options.staticDir === undefined
    ? undefined
    : new StaticFiles(options.staticDir);
  let stopping = false;

  async function route(request: Request): Promise<Response> {
    if (stopping) throw new HttpError(503, "Server is shutting down");
    const url = new URL(request.url);
    const path = url.pathname;
    if (path.startsWith("/ws/")) return roomRequest(request, roomIdFrom(path.slice(4)));
    if (path === "/status") return allow(request, "GET") ?? textResponse(200, "ok");
    if (path === "/new_room") {
      return allow(request, "POST") ?? textResponse(200, registry.createGenerated().id);
    }
    if (path === "/metrics") {
      return allow(request, "GET") ?? new Response(metrics.render(gauges()), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    }
    if (staticFiles) {
      try {
        return await staticFiles.serve(path, request.method);
      } catch (error) {
        if (!(options.fallback && error instanceof HttpError && error.status === 404)) throw error;
      }
    }
    if (options.fallback) return await options.fallback(request);
    throw new HttpError(404, "Not found");
  }

  function roomRequest(request: Request, roomId: string): Response {
    if (request.method === "POST") return textResponse(200, registry.createExplicit(roomId).id);
    if (request.method !== "GET") return methodNotAllowed("GET, POST");
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      throw new HttpError(400, "Expected a WebSocket upgrade request (Upgrade: websocket)");
    }
    registry.checkJoinable(roomId);
    let upgrade: { socket: WebSocket; response: Response };
    try {
      upgrade = upgradeWebSocket(request, { idleTimeout, maxMessageBytes: limits.maxMessageBytes });
    } catch (error) {
      const reason = error instanceof Error ? error.message.replace(/^Invalid Header: /, "") : "";
      throw new HttpError(400, `Invalid WebSocket upgrade request: ${reason}`, { cause: error });
    }
    registry.forConnection(roomId).accept(upgrade.socket);
    return upgrade.response;
  }

  function gauges() {
    let clients = 0;
    let queueDepth = 0;
    for (const room of registry.rooms()) {
      clients += room.clientCount;
      queueDepth += room.pending;
    }
    queueDepth += runtime.queueDepth;
    return { rooms: registry.size, clients, queueDepth, roomHosts: runtime.hosts };
  }

  const handler = async (request: Request): Promise<Response> => {
    try {
      return await route(request);
    } catch (error) {
      return errorResponse(error, logger);
    }
  };
  return Object.assign(handler, {
    metrics,
    async replaceService(next: ServiceDefinition) {
      const previous = runtime;
      runtime = createServiceRuntime(next, options, logger, metrics);
      const closed = await registry.closeAll(
        CloseCode.ServiceRestart,
        "Service restart",
        runtime.engineFactory,
      );
      await previous.close();
      return closed;
    },
    async shutdown() {
      stopping = true;
      const closing = registry.closeAll(CloseCode.GoingAway, "Server shutting down");
      const seconds = options.shutdownTimeout ?? 10;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<void>((resolve) => timer = setTimeout(resolve, seconds * 1000));
      await Promise.race([closing, timeout]);
      clearTimeout(timer);
      await runtime.close();
    },
  });
}

/** Deno pings after half the idle timeout and closes at the idle timeout. */
function idleTimeoutFor(interval: number, timeout: number): number {
  if (interval <= 0 || timeout <= 0) return 0;
  return Math.min(timeout, 2 * interval);
}

function roomIdFrom(encoded: string): string {
  let id: string;
  try {
    id = decodeURIComponent(encoded);
  } catch {
    throw new HttpError(400, "Room ID is not valid percent-encoding");
  }
  validateRoomId(id);
  return id;
}

function allow(request: Request, method: "GET" | "POST"): Response | undefined {
  if (request.method === method || (method === "GET" && request.method === "HEAD")) return;
  return methodNotAllowed(method);
}

function methodNotAllowed(allowed: string): Response {
  const response = textResponse(405, `Method not allowed; use ${allowed}`);
  response.headers.set("allow", allowed);
  return response;
}

/** Options of {@linkcode serve}: the handler's, and where to listen. */
export interface ServeOptions extends HandlerOptions, FrontOptions {
  /**
   * The port to listen on; `0` picks a free one.
   * @default {8080}
   */
  port?: number;
  /**
   * The address to listen on.
   * @default {"0.0.0.0"}
   */
  hostname?: string;
  /** Aborting this signal shuts the server down gracefully. */
  signal?: AbortSignal;
  /** Called once the server listens; by default the address is logged. */
  onListen?: (addr: Deno.NetAddr) => void;
}

/** A running Jamsocket server. */
export interface JamsocketServer {
  /** The address the server listens on (with the real port when `port: 0`). */
  readonly addr: Deno.NetAddr;
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
  /** The handler behind the server: metrics, hot reload. */
  readonly handler: JamsocketHandler;
  /**
   * Stop gracefully: accept nothing new, close every client with 1001, let in-flight events run,
   * stop timers. Resolves when the server has stopped.
   */
  shutdown(): Promise<void>;
}

/**
 * Serve a service: `GET /status`, `GET /ws/{room}` (WebSocket), `POST /new_room`,
 * `POST /ws/{room}`, `GET /metrics`, and static files when `staticDir` is set.
 *
 * @example The shared counter on a free port
 * ```ts
 * import { serve } from "./server.ts";
 *
 * const server = serve(class {
 *   #value = 0;
 *   message(_client: number, text: string, ctx: { sendMessage(to: number, text: string): void }) {
 *     if (text === "increment") this.#value++;
 *     ctx.sendMessage(0, `new value: ${this.#value}`);
 *   }
 * }, { port: 0, hostname: "127.0.0.1", onListen() {} });
 * await server.shutdown();
 * ```
 */
export function serve(service: ServiceDefinition, options: ServeOptions = {}): JamsocketServer {
  const logger = options.logger ?? consoleLogger();
  const handler = createHandler(service, { ...options, logger });
  const server = serveHttp(handler, {
    port: options.port ?? 8080,
    hostname: options.hostname,
    maxConnections: options.maxConnections,
    headerTimeout: options.headerTimeout,
    keepAliveTimeout: options.keepAliveTimeout,
    closeTimeout: options.closeTimeout,
    inputBudget: options.inputBudget,
    outputBudget: options.outputBudget,
    logger,
    onClientClosed: (kind) => handler.metrics.closedClient(kind),
    onListen: options.onListen ??
      ((addr) => logger.info(`Jamsocket listening on http://${addr.hostname}:${addr.port}`)),
  });
  let stopped: Promise<void> | undefined;
  const shutdown = () =>
    stopped ??= handler.shutdown().then(() => server.shutdown()).then(() => server.finished);
  options.signal?.addEventListener("abort", () => void shutdown(), { once: true });
  return { addr: server.addr, finished: server.finished, handler, shutdown };
}
