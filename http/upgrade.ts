/**
 * `upgradeWebSocket()`: our strict WebSocket for requests that came through the front
 * (`http_server.ts`), Deno's own for any other request (a handler mounted in `Deno.serve`, Hono,
 * Fresh), so one handler works in both.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { FrontWebSocket, type SocketHost } from "./websocket.ts";

/** Options of {@linkcode upgradeWebSocket}. */
export interface UpgradeOptions {
  /**
   * Seconds of silence after which the client is pinged (half of this) and closed with 1001 (all
   * of it); `0` turns heartbeats off. Deno's meaning of `idleTimeout`.
   * @default {30}
   */
  idleTimeout?: number;
  /**
   * Largest message a client may send, in bytes, however it is fragmented (larger: close 1009).
   * Applies to requests from the front only; under a foreign server Deno buffers frames of up to
   * 64 MiB and fragmented messages without limit.
   * @default {67108864}
   */
  maxMessageBytes?: number;
}

/** A request that came through the front: where its socket would live. */
interface FrontRequest {
  readonly host: SocketHost;
  socket: FrontWebSocket | undefined;
}

/** An upgrade answered by a handler: what the front needs to finish it. */
export interface PendingUpgrade {
  /** The request the upgrade answers. */
  readonly request: Request;
  /** The socket to attach once the 101 answer is written. */
  readonly socket: FrontWebSocket;
  /** The `Sec-WebSocket-Accept` value. */
  readonly accept: string;
}

const fromFront = new WeakMap<Request, FrontRequest>();
const upgrades = new WeakMap<Response, PendingUpgrade>();

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/**
 * Mark `request` as one the front can upgrade, with sockets sharing `host`. Returns a function
 * that gives the socket created for it, if any.
 */
export function markUpgradable(
  request: Request,
  host: SocketHost,
): () => FrontWebSocket | undefined {
  const entry: FrontRequest = { host, socket: undefined };
  fromFront.set(request, entry);
  return () => entry.socket;
}

/** The upgrade `response` stands for, if `upgradeWebSocket()` made it. */
export function takeUpgrade(response: Response): PendingUpgrade | undefined {
  const upgrade = upgrades.get(response);
  if (upgrade !== undefined) upgrades.delete(response);
  return upgrade;
}

/**
 * Upgrade `request` to a WebSocket. A request from the front gets our strict implementation
 * (message size bound across fragments, masking, UTF-8, control-frame rules, server-wide memory
 * budgets); any other request goes to `Deno.upgradeWebSocket`, with Deno's limits. Return the
 * `response` from the handler: the front writes the 101 answer itself (the `Response` object
 * stands for it and says 200, since `Response` cannot hold a 101).
 *
 * @throws {TypeError} naming the header when the request is not a valid upgrade request, as
 * `Deno.upgradeWebSocket` does (`Invalid Header: 'upgrade' header must contain 'websocket'`).
 * @example
 * ```ts ignore
 * Deno.serve((request) => {
 *   const { socket, response } = upgradeWebSocket(request, { idleTimeout: 60 });
 *   socket.onmessage = (event) => socket.send(event.data);
 *   return response;
 * });
 * ```
 */
export function upgradeWebSocket(
  request: Request,
  options: UpgradeOptions = {},
): { socket: WebSocket; response: Response } {
  const front = fromFront.get(request);
  if (front === undefined) {
    return Deno.upgradeWebSocket(request, { idleTimeout: options.idleTimeout });
  }
  const headers = request.headers;
  if (request.method !== "GET") throw new TypeError("Invalid Header: the method must be GET");
  if (!hasToken(headers.get("upgrade"), "websocket")) {
    throw new TypeError("Invalid Header: 'upgrade' header must contain 'websocket'");
  }
  if (!hasToken(headers.get("connection"), "upgrade")) {
    throw new TypeError("Invalid Header: 'connection' header must contain 'Upgrade'");
  }
  const key = headers.get("sec-websocket-key");
  if (key === null) throw new TypeError("Invalid Header: 'sec-websocket-key' header must be set");
  if (!/^[A-Za-z0-9+/]{22}==$/.test(key)) {
    throw new TypeError("Invalid Header: 'sec-websocket-key' header must be 16 bytes in base64");
  }
  if (headers.get("sec-websocket-version") !== "13") {
    throw new TypeError("Invalid Header: 'sec-websocket-version' header must be '13'");
  }
  if (front.socket !== undefined) throw new TypeError("The request was already upgraded");
  const socket = new FrontWebSocket(request.url, front.host, options);
  front.socket = socket;
  const accept = createHash("sha1").update(key + GUID).digest("base64");
  const response = new Response(null, { status: 200 });
  upgrades.set(response, { request, socket, accept });
  return { socket: socket as unknown as WebSocket, response };
}

function hasToken(value: string | null, token: string): boolean {
  if (value === null) return false;
  return value.split(",").some((part) => part.trim().toLowerCase() === token);
}
