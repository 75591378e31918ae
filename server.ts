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

import { createHandler, type JamsocketHandler } from "./server/handler.ts";
import { DEFAULT_MAX_ROOMS, type HandlerOptions } from "./server/handler_options.ts";
import type { IsolationOptions, ServiceDefinition } from "./runtime/service_runtime.ts";
import { consoleLogger } from "./util/logger.ts";
import { type FrontOptions, serveHttp } from "./http/http_server.ts";

export { createHandler, DEFAULT_MAX_ROOMS };
export type { FrontOptions, HandlerOptions, IsolationOptions, JamsocketHandler, ServiceDefinition };
export type { RoomInfo } from "./room/room.ts";
export type { RecordOptions } from "./recording/recorder.ts";
export type { AuthenticateHook, AuthResult, ClientData } from "./service.ts";

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
