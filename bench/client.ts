/**
 * The load generator's client connections, behind one interface:
 *
 * - `raw` (default): a minimal WebSocket client on `Deno.connect` with `TCP_NODELAY` set. It
 *   parses every frame a read brought in one loop and masks with a zero key, so it costs the load
 *   generator less than the server it measures.
 * - `deno`: Deno's built-in `WebSocket` (which leaves Nagle's algorithm on: see README.md).
 * - Socket.IO: `socket.io-client` from `bench/node/node_modules`, loaded with `createRequire`.
 *
 * @module
 */

import { createRequire } from "node:module";
import type { CloseInfo, Conn } from "./conn.ts";
import { RawWebSocket } from "./raw_websocket.ts";

export type { CloseInfo, Conn };

/** Which WebSocket client the load generator uses for plain WebSocket servers. */
export type ClientKind = "raw" | "deno";

/** How a server under test is reached. */
export type Protocol = "ws" | "socketio";

/** A server under test, as the load generator sees it. */
export interface Target {
  /** `ws`: `ws://127.0.0.1:<port>/ws/<room>`; `socketio`: Socket.IO with `?room=<room>`. */
  readonly protocol: Protocol;
  /** The port on 127.0.0.1. */
  readonly port: number;
  /** The server's process id, for memory and CPU readings of its process tree. */
  readonly pid: number;
  /** The WebSocket client for `ws` servers. @default {"raw"} */
  readonly client?: ClientKind;
}

/** The parts of a `socket.io-client` socket the benchmark uses. */
interface SocketIoSocket {
  on(event: string, listener: (...args: never[]) => void): void;
  send(text: string): void;
  disconnect(): void;
}

type SocketIoFactory = (
  url: string,
  options: Record<string, unknown>,
) => SocketIoSocket;

let socketIoFactory: SocketIoFactory | undefined;

function loadSocketIo(): SocketIoFactory {
  const require = createRequire(new URL("./node/package.json", import.meta.url));
  return (require("socket.io-client") as { io: SocketIoFactory }).io;
}

/**
 * Open a connection to `room` on `target`; rejects if it is not open within `timeoutMs`.
 *
 * @example
 * ```ts ignore
 * import { openConn } from "./client.ts";
 *
 * const conn = await openConn({ protocol: "ws", port: 8080, pid: 0 }, "lobby");
 * conn.onText = (text) => console.log(text);
 * conn.send("increment");
 * ```
 */
export function openConn(
  target: Target,
  room: string,
  timeoutMs = 10_000,
): Promise<Conn> {
  if (target.protocol === "socketio") {
    return openSocketIo(target.port, room, timeoutMs);
  }
  const path = `/ws/${encodeURIComponent(room)}`;
  return target.client === "deno"
    ? openWebSocket(target.port, path, timeoutMs)
    : RawWebSocket.open(target.port, path, timeoutMs);
}

function openWebSocket(
  port: number,
  path: string,
  timeoutMs: number,
): Promise<Conn> {
  const { promise, resolve, reject } = Promise.withResolvers<Conn>();
  const closed = Promise.withResolvers<CloseInfo>();
  const socket = new WebSocket(`ws://127.0.0.1:${port}${path}`);
  const conn: Conn = {
    send: (text) => socket.send(text),
    close: () => socket.close(),
    onText: () => {},
    closed: closed.promise,
  };
  const timer = setTimeout(() => {
    reject(new Error(`Connecting to ${path} timed out after ${timeoutMs} ms`));
    socket.close();
  }, timeoutMs);
  socket.onopen = () => {
    clearTimeout(timer);
    resolve(conn);
  };
  socket.onmessage = (event) => conn.onText(event.data);
  socket.onerror = () => {};
  socket.onclose = (event) => {
    clearTimeout(timer);
    reject(new Error(`${path} refused the connection (close ${event.code})`));
    closed.resolve({
      code: event.code,
      reason: event.reason,
      at: performance.now(),
    });
  };
  return promise;
}

function openSocketIo(
  port: number,
  room: string,
  timeoutMs: number,
): Promise<Conn> {
  socketIoFactory ??= loadSocketIo();
  const { promise, resolve, reject } = Promise.withResolvers<Conn>();
  const closed = Promise.withResolvers<CloseInfo>();
  const socket = socketIoFactory(`http://127.0.0.1:${port}`, {
    transports: ["websocket"],
    query: { room },
    forceNew: true,
    reconnection: false,
    timeout: timeoutMs,
  });
  const conn: Conn = {
    send: (text) => socket.send(text),
    close: () => socket.disconnect(),
    onText: () => {},
    closed: closed.promise,
  };
  socket.on("connect", () => resolve(conn));
  socket.on("message", (text: string) => conn.onText(text));
  socket.on("connect_error", (error: Error) => {
    reject(
      new Error(
        `Socket.IO connection to room "${room}" failed: ${error.message}`,
      ),
    );
    closed.resolve({
      code: 1006,
      reason: error.message,
      at: performance.now(),
    });
  });
  socket.on("disconnect", (reason: string) => {
    const code = reason === "io client disconnect" ? 1000 : 1006;
    closed.resolve({ code, reason, at: performance.now() });
  });
  return promise;
}

/**
 * Open `count` connections, at most `concurrency` handshakes in flight at once; `make(i)` opens
 * the i-th. Rejects with the first failure.
 *
 * @example
 * ```ts ignore
 * const conns = await openMany(100, 32, (i) => openConn(target, `room-${i % 10}`));
 * ```
 */
export async function openMany<T>(
  count: number,
  concurrency: number,
  make: (index: number) => Promise<T>,
): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      results[index] = await make(index);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, worker),
  );
  return results;
}
