/**
 * A client of a test room: a socket with no network behind it.
 *
 * @module
 */

import { type ClientSocket, SocketState } from "../room/client_socket.ts";
import type { ClientId } from "../service.ts";

/** A frame as a client receives it: text, or the bytes of a binary frame. */
export type Frame = string | Uint8Array;

/** How a connection ended. */
export interface CloseInfo {
  /** The close code (1000 normal, 1011 the room crashed, a service's own 3000–4999…). */
  readonly code: number;
  /** The close reason. */
  readonly reason: string;
  /** Who closed it. */
  readonly by: "server" | "client";
}

/**
 * The socket a room holds for a {@linkcode FakeClient}: a {@linkcode ClientSocket} with no
 * network behind it. Tests use the client; the room uses this.
 */
export class FakeSocket implements ClientSocket {
  /** One of `SocketState`. */
  readyState: number = SocketState.Connecting;
  /** Always 0: frames are delivered at once. */
  readonly bufferedAmount = 0;
  /** Set by the room. */
  binaryType: BinaryType = "arraybuffer";
  /** Set by the room. */
  onopen: ((event: Event) => void) | null = null;
  /** Set by the room. */
  onmessage: ((event: MessageEvent) => void) | null = null;
  /** Set by the room. */
  onclose: ((event: CloseEvent) => void) | null = null;
  readonly #client: FakeClient;
  readonly #deliver: (frame: Frame) => void;
  readonly #ended: (info: CloseInfo) => void;

  /** A socket for `client`: frames the room sends go to `deliver`, the end to `ended`. */
  constructor(
    client: FakeClient,
    deliver: (frame: Frame) => void,
    ended: (info: CloseInfo) => void,
  ) {
    this.#client = client;
    this.#deliver = deliver;
    this.#ended = ended;
  }

  /** The room sends a frame to the client. */
  send(data: string | Uint8Array): void {
    if (this.readyState !== SocketState.Open) return;
    this.#deliver(typeof data === "string" ? data : data.slice());
  }

  /** The room closes the connection. */
  close(code = 1000, reason = ""): void {
    this.end({ code, reason, by: "server" });
  }

  /** The connection opens (the room runs `connect`). */
  open(): void {
    this.readyState = SocketState.Open;
    this.onopen?.(new Event("open"));
  }

  /** The connection ends, from either side; later calls do nothing. */
  end(info: CloseInfo): void {
    if (this.readyState === SocketState.Closed) return;
    this.readyState = SocketState.Closed;
    this.#ended(info);
    this.onclose?.({ code: info.code, reason: info.reason } as CloseEvent);
  }

  /** The client sends a frame to the room. */
  receive(data: string | ArrayBuffer): void {
    if (this.readyState !== SocketState.Open) {
      throw new Error(`Client ${this.#client.id} is closed; it cannot send`);
    }
    this.onmessage?.({ data } as MessageEvent);
  }
}

/**
 * One client in a {@linkcode TestRoom}: what it sends goes to the room as a frame would; what the
 * room sends it is kept, in order, in {@linkcode received}.
 *
 * @example
 * ```ts ignore
 * const ann = await room.connect();
 * ann.send("hello");
 * await room.settled();
 * assert.deepEqual(ann.take(), ["User 1 sent 'hello'"]);
 * ```
 */
export class FakeClient {
  /** The client's id in its room (from 1). */
  id: ClientId = 0;
  /** Every frame the room sent this client and {@linkcode take} has not taken, in order. */
  readonly received: Frame[] = [];
  /** How the connection ended, once it has. */
  closed: CloseInfo | undefined;
  /** The socket the room holds. */
  readonly socket: FakeSocket;

  /** Use `TestRoom.connect`. */
  constructor() {
    this.socket = new FakeSocket(
      this,
      (frame) => void this.received.push(frame),
      (info) => this.closed = info,
    );
  }

  /** Send a text frame (a string) or a binary frame (bytes) to the room. */
  send(frame: Frame): void {
    this.socket.receive(typeof frame === "string" ? frame : frame.slice().buffer);
  }

  /** Take (and forget) every frame received so far. */
  take(): Frame[] {
    return this.received.splice(0);
  }

  /** Close the connection from the client's side. */
  close(code = 1000, reason = ""): void {
    this.socket.end({ code, reason, by: "client" });
  }
}
