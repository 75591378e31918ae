/**
 * The entry node's side of a forwarded client: it keeps the client's real WebSocket and relays
 * its frames to the room's owner over the link, and the room's frames and close back.
 *
 * @module
 */

import { HttpError } from "../http/http_error.ts";
import { type ClientSocket, closeSocket, SocketState } from "../room/client_socket.ts";
import { CloseCode } from "../room/close_code.ts";
import { withDeadline } from "./_deadline.ts";
import { LinkFrame } from "./link_protocol.ts";
import type { EntryChannel, NodeLink } from "./node_link.ts";

/** A refusal from the owner meaning "the room is on another node". */
export class RoomMovedError extends Error {
  /** The node that owns the room. */
  readonly owner: string;

  /** The room is on node `owner`. */
  constructor(owner: string) {
    super(`Room is on node ${owner}`);
    this.name = "RoomMovedError";
    this.owner = owner;
  }
}

const decoder = new TextDecoder();
/** How long the owner may take to give a client its place. */
const JOIN_MS = 5000;
/** Most bytes a client may send while its room moves between nodes; past it it is closed. */
const MAX_HELD_BYTES = 16 * 1024 * 1024;
/** What a client whose room could not follow a move is told (close 1012). */
const MOVE_FAILED = "Room moved; reconnect";
/** How long an upgraded socket may take to open (see `server/room_admission.ts`). */
const OPEN_MS = 5000;
/**
 * Unreported progress past which an ACK goes at once; below it, ACKs go every 25 ms. So the owner
 * counts at most this much plus a link round trip's worth as queued for a client that reads.
 */
export const ACK_BYTES = 16 * 1024;

/** What an entry node counts about its forwarded clients. */
export interface ForwardingStats {
  /** Forwarded clients open now. */
  clients: number;
}

/**
 * One client whose room is on another node. Made with {@linkcode ForwardedClient.reserve} before
 * the upgrade (so refusals are HTTP answers, as on one node), then given its socket.
 *
 * @example
 * ```ts ignore
 * const client = await ForwardedClient.reserve(link, "lobby", true, undefined, stats);
 * const { socket, response } = Deno.upgradeWebSocket(request);
 * client.attach(socket);
 * return response;
 * ```
 */
export class ForwardedClient implements EntryChannel {
  #link: NodeLink;
  #channel: number;
  readonly #stats: ForwardingStats;
  readonly #room: string;
  readonly #relink: ((node: string) => Promise<NodeLink>) | undefined;
  /** The client's frames while its room moves (until the new owner has taken it back). */
  #held: (string | Uint8Array)[] | undefined;
  #heldBytes = 0;
  /** The client left while its room moved: told to the new owner once it took it back. */
  #leftMoving: [code: number, reason: string] | undefined;
  #socket: ClientSocket | undefined;
  #joined!: { resolve: () => void; reject: (error: Error) => void };
  #delivered = 0;
  #acked = 0;
  /** The owner has been told the client is open (it is counted in the stats). */
  #open = false;
  /** What the owner sent before the socket opened (its 101 still on its way), in order. */
  #early: [data: string | ArrayBuffer, bytes: number][] | undefined;
  #unattached: ReturnType<typeof setTimeout> | undefined;
  #gone = false;

  private constructor(
    link: NodeLink,
    stats: ForwardingStats,
    room: string,
    relink: ((node: string) => Promise<NodeLink>) | undefined,
  ) {
    this.#link = link;
    this.#stats = stats;
    this.#room = room;
    this.#relink = relink;
    this.#channel = link.openChannel(this);
  }

  /**
   * Ask the owner at the other end of `link` for a place in `room` for a client with `data`
   * (JSON). Rejects with an {@linkcode HttpError} (the owner's refusal, or 503 when it does not
   * answer) or a {@linkcode RoomMovedError}. `relink` reaches another node, for when the room
   * moves there (without it, a move closes the client with 1012).
   */
  static async reserve(
    link: NodeLink,
    room: string,
    mayCreate: boolean,
    data: string | undefined,
    stats: ForwardingStats,
    relink?: (node: string) => Promise<NodeLink>,
  ): Promise<ForwardedClient> {
    const client = new ForwardedClient(link, stats, room, relink);
    const joined = new Promise<void>((resolve, reject) => client.#joined = { resolve, reject });
    link.join(client.#channel, room, mayCreate, data);
    try {
      await withDeadline(joined, JOIN_MS, `Node ${link.peer}`);
    } catch (error) {
      if (!(error instanceof HttpError || error instanceof RoomMovedError)) {
        client.#leave(CloseCode.GoingAway, "");
        throw new HttpError(503, "The room's node did not answer; try again", { cause: error });
      }
      throw error;
    }
    // A place whose upgrade never happens (the upgrade failed) is given back.
    client.#unattached = setTimeout(() => client.#leave(1006, "Upgrade did not happen"), OPEN_MS);
    return client;
  }

  /** Take the upgraded socket (Deno's, or any server front's); from here on frames flow. Never throws. */
  attach(socket: ClientSocket): void {
    clearTimeout(this.#unattached);
    this.#socket = socket;
    socket.binaryType = "arraybuffer";
    if (this.#gone) {
      closeSocket(socket, CloseCode.ServiceRestart, "Room's node is gone; reconnect");
      return;
    }
    const lost = setTimeout(() => {
      if (socket.readyState === SocketState.Connecting) {
        this.#leave(1006, "Upgrade did not complete");
      }
    }, OPEN_MS);
    // The owner hears of the client now, before its 101 is written: when the client learns it is
    // in the room, the room's `connect` has run (else a message another client sent at once
    // could reach the room before it, and its broadcast miss it). What the owner sends before
    // the socket opens waits here.
    this.#open = true;
    this.#stats.clients++;
    this.#early = [];
    this.#link.signal(LinkFrame.Open, this.#channel);
    socket.onopen = () => {
      clearTimeout(lost);
      const early = this.#early;
      this.#early = undefined;
      if (this.#gone || early === undefined) return;
      for (const [data, bytes] of early) this.#send(data, bytes);
    };
    socket.onmessage = (event) => {
      if (this.#gone) return;
      const data = event.data;
      const held = this.#held;
      if (held !== undefined) {
        held.push(typeof data === "string" ? data : new Uint8Array(data));
        this.#heldBytes += typeof data === "string" ? data.length : data.byteLength;
        if (this.#heldBytes > MAX_HELD_BYTES) {
          this.#finish();
          closeSocket(socket, CloseCode.PolicyViolation, "Too much sent while the room moved");
        }
        return;
      }
      if (typeof data === "string") this.#link.payload(LinkFrame.Text, this.#channel, data);
      else this.#link.payload(LinkFrame.Binary, this.#channel, new Uint8Array(data));
    };
    socket.onclose = (event) => {
      clearTimeout(lost);
      if (this.#held !== undefined) this.#leftMoving ??= [event.code, event.reason];
      else this.#leave(event.code, event.reason);
    };
  }

  joined(): void {
    this.#joined.resolve();
  }

  refused(status: number, reason: string): void {
    this.#finish();
    this.#joined.reject(status === 0 ? new RoomMovedError(reason) : new HttpError(status, reason));
  }

  moved(target: string, token: string): void {
    if (this.#gone || this.#held !== undefined) return;
    this.#held = [];
    this.#link.moving(this.#channel);
    void this.#rejoin(target, token);
  }

  /** Take the client to its room's new owner; then send what it sent meanwhile. */
  async #rejoin(target: string, token: string): Promise<void> {
    try {
      if (this.#relink === undefined) throw new Error("no way to reach other nodes");
      const link = await this.#relink(target);
      if (this.#gone) return;
      this.#link = link;
      this.#channel = link.openChannel(this);
      const joined = new Promise<void>((resolve, reject) => this.#joined = { resolve, reject });
      link.rejoin(this.#channel, this.#room, token);
      await withDeadline(joined, JOIN_MS, `Node ${target}`);
    } catch {
      this.#held = undefined;
      this.#finish();
      if (this.#socket) closeSocket(this.#socket, CloseCode.ServiceRestart, MOVE_FAILED);
      return;
    }
    const held = this.#held!;
    this.#held = undefined;
    this.#heldBytes = 0;
    // The new owner counts its sends from 0: what is still queued here is the old owner's.
    this.#delivered = this.#socket?.bufferedAmount ?? 0;
    this.#acked = 0;
    for (const frame of held) {
      this.#link.payload(
        typeof frame === "string" ? LinkFrame.Text : LinkFrame.Binary,
        this.#channel,
        frame,
      );
    }
    const left = this.#leftMoving;
    if (left !== undefined) this.#leave(...left);
  }

  sendText(utf8: Uint8Array): void {
    const socket = this.#socket;
    if (this.#early !== undefined || socket?.sendText === undefined) {
      return this.#send(decoder.decode(utf8), utf8.length);
    }
    if (socket.readyState !== SocketState.Open) return;
    socket.sendText(utf8);
    this.#delivered += utf8.length;
  }

  sendBinary(data: ArrayBuffer): void {
    this.#send(data, data.byteLength);
  }

  /** Send `data` (of `bytes` bytes, UTF-8 for text) to the client, or hold it until it opens. */
  #send(data: string | ArrayBuffer, bytes: number): void {
    const socket = this.#socket;
    if (this.#early !== undefined) {
      this.#early.push([data, bytes]);
      return;
    }
    if (socket === undefined || socket.readyState !== SocketState.Open) return;
    socket.send(typeof data === "string" ? data : new Uint8Array(data));
    this.#delivered += bytes;
  }

  close(code: number, reason: string): void {
    this.#finish();
    if (this.#socket) closeSocket(this.#socket, code, reason);
  }

  flushed(all: boolean): boolean {
    const socket = this.#socket;
    if (socket === undefined || this.#gone) return false;
    const written = this.#delivered - socket.bufferedAmount;
    if (written > this.#acked && (all || written - this.#acked >= ACK_BYTES)) {
      this.#acked = written;
      this.#link.ack(this.#channel, written);
    }
    return this.#acked < this.#delivered;
  }

  lost(reason: string): void {
    this.#finish();
    this.#joined?.reject(new HttpError(503, "The room's node is gone; try again"));
    if (this.#socket) closeSocket(this.#socket, CloseCode.ServiceRestart, reason);
  }

  #leave(code: number, reason: string): void {
    if (this.#gone) return;
    this.#finish();
    if (!this.#link.closed) this.#link.code(LinkFrame.Leave, this.#channel, code, reason);
  }

  #finish(): void {
    if (this.#gone) {
      return;
    }
    this.#gone = true;
    clearTimeout(this.#unattached);
    if (this.#open) this.#stats.clients--;
  }
}
