/**
 * The part of the WebSocket API a room uses, so that anything shaped like a server-side WebSocket
 * can be a room's client: Deno's own socket from `Deno.upgradeWebSocket`, the server's front, a
 * client forwarded from another node, or a test's fake client.
 *
 * @module
 */

/** `readyState` values, as on `WebSocket`. */
export const SocketState = {
  /** The handshake is done on the server's side; `open` has not fired yet. */
  Connecting: 0,
  /** Frames flow both ways. */
  Open: 1,
  /** `close()` was called; the close handshake is under way. */
  Closing: 2,
  /** The connection is gone. */
  Closed: 3,
} as const;

/**
 * A server-side socket, as a room sees it. `WebSocket` has this shape, so a socket from
 * `Deno.upgradeWebSocket` is a `ClientSocket` as it is.
 *
 * @example A socket that records what the room sends it
 * ```ts
 * import { type ClientSocket, SocketState } from "./client_socket.ts";
 *
 * const sent: (string | Uint8Array)[] = [];
 * const socket: ClientSocket = {
 *   readyState: SocketState.Open,
 *   bufferedAmount: 0,
 *   binaryType: "arraybuffer",
 *   send: (data) => void sent.push(data),
 *   close() {},
 *   onopen: null,
 *   onmessage: null,
 *   onclose: null,
 * };
 * ```
 */
export interface ClientSocket {
  /** One of {@linkcode SocketState}. */
  readonly readyState: number;
  /** Bytes queued by `send` and not yet written to the network. */
  readonly bufferedAmount: number;
  /** How binary frames arrive in `message` events; a room sets `"arraybuffer"`. */
  binaryType: BinaryType;
  /** Queue a text or binary frame. */
  send(data: string | Uint8Array): void;
  /**
   * Queue a text frame given as UTF-8 that the caller has checked (copied before it returns), so a
   * text relayed as bytes is not decoded to be encoded again. Optional: without it, callers
   * decode and use `send`.
   */
  sendText?(utf8: Uint8Array): void;
  /** Start the close handshake with `code` and `reason`. */
  close(code?: number, reason?: string): void;
  /** The connection opened. */
  onopen: ((event: Event) => void) | null;
  /** A frame arrived: `event.data` is a string or an `ArrayBuffer`. */
  onmessage: ((event: MessageEvent) => void) | null;
  /** The connection closed, from either side. May fire more than once: handle it idempotently. */
  onclose: ((event: CloseEvent) => void) | null;
}

/**
 * Close a socket with `code` and `reason`, also one that is still connecting: closing it then
 * would be lost (Deno 2.9), so it is closed as it opens. A socket that is closing or closed is
 * left alone.
 *
 * @example
 * ```ts
 * import { closeSocket, SocketState } from "./client_socket.ts";
 *
 * const socket = {
 *   readyState: SocketState.Connecting,
 *   close: (code?: number) => console.log("closed", code),
 *   onopen: null as ((event: Event) => void) | null,
 * };
 * closeSocket(socket, 1013, "Try again later");
 * socket.onopen?.(new Event("open")); // closed 1013
 * ```
 */
export function closeSocket(
  socket: Pick<ClientSocket, "readyState" | "close" | "onopen">,
  code: number,
  reason: string,
): void {
  if (socket.readyState === SocketState.Connecting) {
    const opened = socket.onopen;
    socket.onopen = (event) => {
      opened?.(event);
      socket.close(code, reason);
    };
  } else if (socket.readyState === SocketState.Open) {
    socket.close(code, reason);
  }
}
