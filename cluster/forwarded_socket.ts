/**
 * The owner's side of a client that reached the cluster through another node: a
 * {@linkcode ClientSocket} that the room takes like any other, whose frames travel over the
 * link to the node that holds the real socket.
 *
 * @module
 */

import { type ClientSocket, SocketState } from "../room/client_socket.ts";
import type { OwnedChannel } from "./node_link.ts";
import { LinkFrame } from "./link_protocol.ts";
import type { NodeLink } from "./node_link.ts";

/** Close code a room sees when the link to a client's entry node is lost (no close frame). */
export const LINK_LOST = 1006;

/**
 * A client socket forwarded from an entry node. `bufferedAmount` counts the bytes sent to it that
 * the entry node has not yet reported written to the client (in flight on the link, queued at the
 * entry, or in the client's own socket queue), so the room's `maxBufferedBytes` rule holds for
 * forwarded clients as for local ones.
 *
 * @example
 * ```ts ignore
 * const socket = new ForwardedSocket(link, channel);
 * link.owned.set(channel, socket);
 * room.accept(socket, data);
 * ```
 */
export class ForwardedSocket implements ClientSocket, OwnedChannel {
  readyState: number = SocketState.Connecting;
  binaryType: BinaryType = "arraybuffer";
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  readonly #link: NodeLink;
  readonly #channel: number;
  #sent = 0;
  #acked = 0;
  /** Resolves a {@linkcode moveTo}: true once the entry node said MOVING. */
  #moved: ((done: boolean) => void) | undefined;

  /** The client on `channel` of `link`. */
  constructor(link: NodeLink, channel: number) {
    this.#link = link;
    this.#channel = channel;
  }

  get bufferedAmount(): number {
    return this.#sent - this.#acked;
  }

  send(data: string | Uint8Array): void {
    if (this.readyState !== SocketState.Open || this.#link.closed) return;
    this.#sent += this.#link.payload(
      typeof data === "string" ? LinkFrame.SendText : LinkFrame.SendBinary,
      this.#channel,
      data,
    );
  }

  close(code: number = 1000, reason: string = ""): void {
    if (this.readyState >= SocketState.Closing) return;
    this.readyState = SocketState.Closed;
    if (!this.#link.closed) this.#link.code(LinkFrame.Close, this.#channel, code, reason);
    queueMicrotask(() => this.onclose?.({ code, reason, wasClean: true } as CloseEvent));
  }

  opened(): void {
    if (this.readyState !== SocketState.Connecting) return;
    this.readyState = SocketState.Open;
    this.onopen?.(new Event("open"));
  }

  message(data: string | ArrayBuffer): void {
    if (this.readyState === SocketState.Open) this.onmessage?.({ data } as MessageEvent);
  }

  left(code: number, reason: string): void {
    this.#moved?.(false);
    if (this.readyState === SocketState.Closed) return;
    this.readyState = SocketState.Closed;
    this.onclose?.({ code, reason, wasClean: code !== LINK_LOST } as CloseEvent);
  }

  /**
   * The room moves to node `target`: tell the entry node to rejoin it there with `token`.
   * Resolves with true once the entry node has said it sends nothing more here (every frame it
   * sent before has been handed to the room), false when the client left or the link broke.
   */
  moveTo(target: string, token: string): Promise<boolean> {
    if (this.readyState !== SocketState.Open || this.#link.closed) return Promise.resolve(false);
    const { promise, resolve } = Promise.withResolvers<boolean>();
    this.#moved = (done) => {
      this.#moved = undefined;
      resolve(done);
    };
    this.#link.move(this.#channel, target, token);
    return promise;
  }

  /** The entry node is done with this channel after a MOVE: the client follows its room. */
  moving(): void {
    // Closed without a close event: the room does not hear the client leave; it moved.
    this.readyState = SocketState.Closed;
    this.#moved?.(true);
  }

  acked(bytes: number): void {
    if (bytes > this.#acked) this.#acked = Math.min(bytes, this.#sent);
  }

  lost(): void {
    this.left(LINK_LOST, "Link to the entry node lost");
  }
}
