/**
 * A load-generator connection as the scenarios see it, whatever client is behind it.
 *
 * @module
 */

/** How a connection ended. */
export interface CloseInfo {
  /** The WebSocket close code (Socket.IO: 1000 for a client-side close, else 1006). */
  readonly code: number;
  /** The close reason (Socket.IO: its disconnect reason). */
  readonly reason: string;
  /** `performance.now()` when the close was seen. */
  readonly at: number;
}

/** One client connection into a room. */
export interface Conn {
  /** Send a text frame (Socket.IO: a `message` event). */
  send(text: string): void;
  /** Close the connection. */
  close(): void;
  /** Called with every text the server sends; set by the scenario. */
  onText: (text: string) => void;
  /** Resolves once the connection has closed, from either side. */
  readonly closed: Promise<CloseInfo>;
}
