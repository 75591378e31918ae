/**
 * A client of a room that moved to this node, between the room's arrival and the client's: a
 * {@linkcode ClientSocket} that the room takes at once (so what the room sends meanwhile is kept,
 * in order) and that becomes the client's forwarded socket when its entry node rejoins.
 *
 * @module
 */

import { type ClientSocket, SocketState } from "../room/client_socket.ts";
import { utf8Length } from "../util/utf8.ts";

/** Close code the room sees for a client that never rejoined after a move. */
export const NEVER_REJOINED = 1006;

/**
 * Stands in for a moved client until its entry node brings it back ({@linkcode attach}); sends
 * queue meanwhile. A client that is not back within `timeoutMs` leaves the room (its service
 * hears it disconnect).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MovingSocket } from "./moving_socket.ts";
 *
 * const socket = new MovingSocket(1000);
 * socket.send("hello");
 * assert.equal(socket.bufferedAmount, 5);
 * socket.close();
 * ```
 */
export class MovingSocket implements ClientSocket {
  binaryType: BinaryType = "arraybuffer";
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  #state: number = SocketState.Open;
  #queued: (string | Uint8Array)[] = [];
  #queuedBytes = 0;
  #socket: ClientSocket | undefined;
  readonly #timer: ReturnType<typeof setTimeout>;

  /** A client expected back within `timeoutMs`. */
  constructor(timeoutMs: number) {
    this.#timer = setTimeout(
      () => this.#left(NEVER_REJOINED, "Did not follow its room"),
      timeoutMs,
    );
  }

  get readyState(): number {
    return this.#socket?.readyState ?? this.#state;
  }

  get bufferedAmount(): number {
    return this.#socket?.bufferedAmount ?? this.#queuedBytes;
  }

  send(data: string | Uint8Array): void {
    if (this.#socket) return this.#socket.send(data);
    if (this.#state !== SocketState.Open) return;
    this.#queued.push(data);
    this.#queuedBytes += typeof data === "string" ? utf8Length(data) : data.length;
  }

  close(code?: number, reason?: string): void {
    if (this.#socket) return this.#socket.close(code, reason);
    this.#left(code ?? 1000, reason ?? "");
  }

  /** The client is back, on `socket` (open): what the room sent meanwhile goes first. */
  attach(socket: ClientSocket): void {
    clearTimeout(this.#timer);
    if (this.#state !== SocketState.Open) return socket.close(1012, "Room moved; reconnect");
    this.#socket = socket;
    socket.onmessage = (event) => this.onmessage?.(event);
    socket.onclose = (event) => this.onclose?.(event);
    const queued = this.#queued;
    this.#queued = [];
    this.#queuedBytes = 0;
    for (const data of queued) socket.send(data);
  }

  #left(code: number, reason: string): void {
    clearTimeout(this.#timer);
    if (this.#state === SocketState.Closed) return;
    this.#state = SocketState.Closed;
    this.#queued = [];
    this.onclose?.({ code, reason, wasClean: false } as CloseEvent);
  }
}
