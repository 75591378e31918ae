/**
 * One connection between two nodes: the HELLO handshake, batched writes with a bound on what
 * may queue, and the dispatch of frames to the clients it carries (see `link_protocol.ts`).
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { describeError, type Logger } from "../util/logger.ts";
import { withDeadline } from "./_deadline.ts";
import {
  LINK_VERSION,
  LinkFrame,
  type LinkFrameView,
  LinkReader,
  LinkWriter,
  MAX_LINK_FRAME,
} from "./link_protocol.ts";

/** A client of a room on this node, reached through a link (this node is the owner). */
export interface OwnedChannel {
  /** The client's socket opened at the entry node. */
  opened(): void;
  /** The client sent a frame. */
  message(data: string | ArrayBuffer): void;
  /** The client's socket closed at the entry node. */
  left(code: number, reason: string): void;
  /** The entry node has written `bytes` of this channel's sends to the client so far. */
  acked(bytes: number): void;
  /** The link is gone. */
  lost(): void;
  /** After a MOVE: the entry node will send nothing more on this channel. */
  moving?(): void;
}

/** A client on this node whose room is on the peer (this node is the entry). */
export interface EntryChannel {
  /** The owner took the client. */
  joined(): void;
  /** The owner refused it (status 0: the room is on node `reason`). */
  refused(status: number, reason: string): void;
  /** The room sent the client a text frame, as UTF-8 (a view, valid only during the call). */
  sendText(utf8: Uint8Array): void;
  /** The room sent the client a binary frame. */
  sendBinary(data: ArrayBuffer): void;
  /** The room closed the client. */
  close(code: number, reason: string): void;
  /**
   * Frames for the client were handled: report progress (ACK) if enough is unreported, or
   * everything with `all`. Returns whether some stays unreported (asked again shortly).
   */
  flushed(all: boolean): boolean;
  /** The link is gone; `reason` is what the client is told (close 1012). */
  lost(reason: string): void;
  /** The room moves to node `target`: rejoin it there with `token`. */
  moved?(target: string, token: string): void;
}

/** What a link asks of its node. */
export interface LinkHost {
  /** This node's id now. */
  readonly nodeId: string;
  /** Whether `nodeId` is a live node of the cluster (checked once per incoming connection). */
  isLiveNode(nodeId: string): Promise<boolean>;
  /** The peer asks for a place for a client in `room` (this node is, or may become, its owner). */
  join(
    link: NodeLink,
    channel: number,
    room: string,
    mayCreate: boolean,
    data: string | undefined,
  ): void;
  /** The peer brings back a client of a room that moved here, by the move's `token`. */
  rejoin?(link: NodeLink, channel: number, room: string, token: string): void;
  /** The peer sent a request (room creation, room listing); resolves with the reply. */
  request(body: unknown): Promise<unknown>;
  /** The link closed. */
  closed(link: NodeLink): void;
}

/** Bytes that may wait to be written to one peer; past it the peer counts as stuck. */
export const MAX_LINK_QUEUE = 64 * 1024 * 1024;

/** How often an entry node reports progress that it did not report at once. */
export const ACK_EVERY_MS = 25;

/** A link with nothing to write for this long sends a PING; one silent 3 times as long is closed. */
export const LINK_HEARTBEAT_MS = 5000;

/** Options of a link. */
export interface LinkOptions {
  /** See {@linkcode LINK_HEARTBEAT_MS}. @default {5000} */
  readonly heartbeatMs?: number;
}

/** How long a HELLO and a request may take. */
const HANDSHAKE_MS = 2000;
/** The longest frame read before the handshake (a HELLO is under 100 bytes). */
const HANDSHAKE_FRAME = 1024;
const REQUEST_MS = 3000;

/**
 * One multiplexed connection to a peer node. Writes from one turn of the event loop go out in one
 * chunk; while a chunk is being written the next one gathers, so under load every write carries
 * many frames.
 *
 * @example
 * ```ts ignore
 * const link = await NodeLink.connect("127.0.0.1:7001", "peer-id", host, logger);
 * const channel = link.openChannel(entryChannel);
 * link.join(channel, "lobby", true, undefined);
 * ```
 */
export class NodeLink {
  /** The peer's node id (known after the handshake; until then only a HELLO is read). */
  get peer(): string {
    return this.#peer;
  }
  #peer = "";
  /** Connecting: the node this link must reach (its HELLO makes it the peer at once). */
  #expected: string | undefined;
  /** Channels this node opened on the link (it is the entry). */
  readonly entries = new Map<number, EntryChannel>();
  /** Channels the peer opened (this node is the owner). */
  readonly owned = new Map<number, OwnedChannel>();
  readonly #conn: Deno.Conn;
  readonly #host: LinkHost;
  readonly #logger: Logger;
  readonly #writer = new LinkWriter();
  readonly #reader = new LinkReader(HANDSHAKE_FRAME);
  readonly #requests = new Map<number, (reply: unknown) => void>();
  readonly #touched = new Set<EntryChannel>();
  /** Entry channels with progress not yet reported, reported every {@linkcode ACK_EVERY_MS}. */
  readonly #unreported = new Set<EntryChannel>();
  #ackTimer: ReturnType<typeof setInterval> | undefined;
  readonly #heartbeat: ReturnType<typeof setInterval>;
  /** Heartbeats since something was read (closed at 3; counted, so no clock is read per read). */
  #silentBeats = 0;
  #readSinceBeat = false;
  #wroteSinceBeat = false;
  #nextChannel = 1;
  #nextRequest = 1;
  #inFlight = 0;
  #writing = false;
  #scheduled = false;
  #closed = false;
  #hello: ((frame: { from: string; to: string } | Error) => void) | undefined;

  readonly #heartbeatMs: number;

  private constructor(conn: Deno.Conn, host: LinkHost, logger: Logger, options: LinkOptions) {
    this.#conn = conn;
    this.#host = host;
    this.#logger = logger;
    try {
      (conn as Deno.TcpConn).setNoDelay?.(true);
    } catch {
      // not a TCP connection
    }
    this.#heartbeatMs = options.heartbeatMs ?? LINK_HEARTBEAT_MS;
    this.#heartbeat = setInterval(() => this.#beat(), this.#heartbeatMs);
  }

  /** Connect to the node `peer` at `address` (`host:port`) and shake hands. */
  static async connect(
    address: string,
    peer: string,
    host: LinkHost,
    logger: Logger,
    options: LinkOptions = {},
  ): Promise<NodeLink> {
    const colon = address.lastIndexOf(":");
    const conn = await withDeadline(
      Deno.connect({ hostname: address.slice(0, colon), port: Number(address.slice(colon + 1)) }),
      HANDSHAKE_MS,
      `Node ${peer} at ${address}`,
    );
    const link = new NodeLink(conn, host, logger, options);
    link.#expected = peer;
    const hello = link.#waitHello();
    link.#writer.hello(host.nodeId, peer);
    link.#flush();
    void link.#readLoop();
    try {
      const answer = await withDeadline(hello, HANDSHAKE_MS, `Node ${peer}'s HELLO`);
      if (answer.from !== peer || answer.to !== host.nodeId) {
        throw new Error(`Node at ${address} is ${answer.from}, not ${peer}`);
      }
    } catch (error) {
      link.close();
      throw error;
    }
    return link;
  }

  /** Take a connection a peer opened: its HELLO must name this node and a live node. */
  static async accept(
    conn: Deno.Conn,
    host: LinkHost,
    logger: Logger,
    options: LinkOptions = {},
  ): Promise<NodeLink> {
    const link = new NodeLink(conn, host, logger, options);
    const hello = link.#waitHello();
    void link.#readLoop();
    try {
      const { from, to } = await withDeadline(hello, HANDSHAKE_MS, "A peer's HELLO");
      if (to !== host.nodeId) throw new Error(`Peer ${from} asked for node ${to}`);
      if (!(await host.isLiveNode(from))) throw new Error(`Peer ${from} is not a live node`);
      link.#trust(from);
      link.#writer.hello(host.nodeId, from);
      link.#flush();
    } catch (error) {
      link.close();
      throw error;
    }
    return link;
  }

  /** The link is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes queued to the peer and not yet written. */
  get queued(): number {
    return this.#writer.length + this.#inFlight;
  }

  /** Register an entry channel; returns its number. */
  openChannel(channel: EntryChannel): number {
    const id = this.#nextChannel++;
    this.entries.set(id, channel);
    return id;
  }

  /** Entry → owner: ask for a place in `room`. */
  join(channel: number, room: string, mayCreate: boolean, data: string | undefined): void {
    this.#writer.join(channel, mayCreate ? 1 : 0, room, data);
    this.#schedule();
  }

  /** Owner → entry: the channel's room moves to node `target`; rejoin it there with `token`. */
  move(channel: number, target: string, token: string): void {
    this.#writer.shorts(LinkFrame.Move, channel, target, token);
    this.#schedule();
  }

  /** Entry → owner: after a MOVE, nothing more comes on `channel`, which is done here. */
  moving(channel: number): void {
    this.entries.delete(channel);
    this.#writer.empty(LinkFrame.Moving, channel);
    this.#schedule();
  }

  /** Entry → owner: a client of `room` that moved here, on a new channel, with its `token`. */
  rejoin(channel: number, room: string, token: string): void {
    this.#writer.shorts(LinkFrame.Rejoin, channel, room, token);
    this.#schedule();
  }

  /** A frame with no fields (OPEN, JOINED). */
  signal(type: typeof LinkFrame.Open | typeof LinkFrame.Joined, channel: number): void {
    this.#writer.empty(type, channel);
    // An OPEN goes out before this turn ends: the client's 101 follows it, and the owner must hear
    // of the client before anything the client's answer prompts (another client's message).
    this.#schedule(type === LinkFrame.Open);
  }

  /** A text or binary frame (TEXT, BINARY, SEND_TEXT, SEND_BINARY); returns its size. */
  payload(
    type:
      | typeof LinkFrame.Text
      | typeof LinkFrame.Binary
      | typeof LinkFrame.SendText
      | typeof LinkFrame.SendBinary,
    channel: number,
    payload: string | Uint8Array,
  ): number {
    const bytes = this.#writer.payload(type, channel, payload);
    this.#schedule();
    return bytes;
  }

  /** A close or refusal (LEAVE, CLOSE, REFUSED). */
  code(
    type: typeof LinkFrame.Leave | typeof LinkFrame.Close | typeof LinkFrame.Refused,
    channel: number,
    code: number,
    reason: string,
  ): void {
    if (type !== LinkFrame.Refused && type !== LinkFrame.Close) this.entries.delete(channel);
    else this.owned.delete(channel);
    this.#writer.code(type, channel, code, reason);
    this.#schedule();
  }

  /** Entry → owner: bytes of the channel's sends written to the client so far. */
  ack(channel: number, bytes: number): void {
    this.#writer.number(LinkFrame.Ack, channel, bytes);
    this.#schedule();
  }

  /** Send a request to the peer; resolves with its reply. */
  async request(body: unknown): Promise<unknown> {
    const id = this.#nextRequest++;
    const reply = new Promise<unknown>((resolve) => this.#requests.set(id, resolve));
    this.#writer.payload(LinkFrame.Request, id, JSON.stringify(body));
    this.#schedule();
    try {
      return await withDeadline(reply, REQUEST_MS, `Node ${this.peer}`);
    } finally {
      this.#requests.delete(id);
    }
  }

  /**
   * Close the connection; every channel on it learns it is lost (entry channels close their
   * clients with 1012 and `reason`).
   */
  close(reason: string = "Room's node is gone; reconnect"): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#ackTimer);
    clearInterval(this.#heartbeat);
    this.#unreported.clear();
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    for (const channel of this.entries.values()) channel.lost(reason);
    for (const channel of this.owned.values()) channel.lost();
    this.entries.clear();
    this.owned.clear();
    this.#hello?.(new Error(`Node ${this.peer || "peer"} closed the link`));
    this.#hello = undefined;
    for (const resolve of this.#requests.values()) {
      resolve({ status: 503, error: "The link to the room's node closed; try again" });
    }
    this.#host.closed(this);
  }

  #beat(): void {
    this.#silentBeats = this.#readSinceBeat ? 0 : this.#silentBeats + 1;
    this.#readSinceBeat = false;
    if (this.#silentBeats >= 3) {
      this.#logger.warn(
        `Cluster: node ${this.peer} sent nothing for ${3 * this.#heartbeatMs} ms; closing its link`,
      );
      this.close();
      return;
    }
    if (!this.#wroteSinceBeat) {
      this.#writer.empty(LinkFrame.Ping, 0);
      this.#schedule();
    }
    this.#wroteSinceBeat = false;
  }

  #reportProgress(): void {
    for (const channel of this.#unreported) {
      if (!channel.flushed(true)) this.#unreported.delete(channel);
    }
    if (this.#unreported.size === 0 || this.#closed) {
      clearInterval(this.#ackTimer);
      this.#ackTimer = undefined;
    }
  }

  #waitHello(): Promise<{ from: string; to: string }> {
    return new Promise((resolve, reject) => {
      this.#hello = (answer) => answer instanceof Error ? reject(answer) : resolve(answer);
    });
  }

  /** Flush at the end of this turn of the event loop, or with `now` in a microtask (before its I/O). */
  #schedule(now = false): void {
    if (this.#writing || this.#closed) return;
    if (now) return queueMicrotask(() => void this.#flush());
    if (this.#scheduled) return;
    this.#scheduled = true;
    // After the I/O that this turn of the event loop handles: the frames of every client read in
    // it go out in one write (a microtask flushed after the first client's frame).
    setImmediate(() => this.#flush());
  }

  async #flush(): Promise<void> {
    this.#scheduled = false;
    if (this.#writing || this.#closed) return;
    if (this.#writer.length > MAX_LINK_QUEUE) {
      this.#logger.error(
        `Cluster: node ${this.peer} is not reading (${this.#writer.length} bytes queued); closing the link`,
      );
      this.close();
      return;
    }
    this.#writing = true;
    try {
      while (this.#writer.length > 0 && !this.#closed) {
        const chunk = this.#writer.take();
        this.#inFlight = chunk.length;
        this.#wroteSinceBeat = true;
        for (let at = 0; at < chunk.length;) at += await this.#conn.write(chunk.subarray(at));
        this.#inFlight = 0;
      }
    } catch (error) {
      if (!this.#closed) {
        this.#logger.warn(`Cluster: link to node ${this.peer} failed: ${describeError(error)}`);
      }
      this.close();
    } finally {
      this.#writing = false;
    }
  }

  async #readLoop(): Promise<void> {
    const buffer = new Uint8Array(256 * 1024);
    try {
      while (!this.#closed) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        this.#readSinceBeat = true;
        for (const frame of this.#reader.push(buffer.subarray(0, n))) this.#dispatch(frame);
        for (const channel of this.#touched) {
          if (channel.flushed(false)) this.#unreported.add(channel);
        }
        this.#touched.clear();
        if (this.#unreported.size > 0 && this.#ackTimer === undefined) {
          this.#ackTimer = setInterval(() => this.#reportProgress(), ACK_EVERY_MS);
        }
      }
    } catch (error) {
      if (!this.#closed) {
        this.#logger.warn(`Cluster: link to node ${this.peer} broke: ${describeError(error)}`);
      }
    }
    this.close();
  }

  /** The handshake is done: `peer` is a live node, whose frames may be of any length. */
  #trust(peer: string): void {
    this.#peer = peer;
    this.#reader.maxFrame = MAX_LINK_FRAME;
  }

  #dispatch(frame: LinkFrameView): void {
    const id = frame.channel;
    if (this.peer === "" && frame.type !== LinkFrame.Hello) {
      // Nothing but the handshake from a connection not yet known to be a live node.
      throw new Error(`Frame type ${frame.type} before the handshake`);
    }
    switch (frame.type) {
      case LinkFrame.Hello: {
        const version = frame.u8();
        const from = frame.short();
        const to = frame.short();
        if (version !== LINK_VERSION) {
          throw new Error(`Link protocol ${version} is not ${LINK_VERSION}`);
        }
        if (this.#hello === undefined) throw new Error("A second HELLO");
        // The node this link connected to answered: frames after its HELLO in the same read
        // are its own.
        if (from === this.#expected && to === this.#host.nodeId) this.#trust(from);
        this.#hello({ from, to });
        this.#hello = undefined;
        return;
      }
      case LinkFrame.Join: {
        const mayCreate = frame.u8() === 1;
        const room = frame.short();
        const data = frame.remaining > 0 ? frame.restText() : undefined;
        this.#host.join(this, id, room, mayCreate, data);
        return;
      }
      case LinkFrame.Rejoin: {
        const room = frame.short();
        return this.#host.rejoin?.(this, id, room, frame.short());
      }
      case LinkFrame.Moving: {
        const channel = this.owned.get(id);
        this.owned.delete(id);
        return channel?.moving?.();
      }
      case LinkFrame.Move: {
        const target = frame.short();
        return this.entries.get(id)?.moved?.(target, frame.short());
      }
      case LinkFrame.Open:
        return this.owned.get(id)?.opened();
      case LinkFrame.Text:
        return this.owned.get(id)?.message(frame.restText());
      case LinkFrame.Binary:
        return this.owned.get(id)?.message(frame.restBuffer());
      case LinkFrame.Leave: {
        const channel = this.owned.get(id);
        this.owned.delete(id);
        const code = frame.u16();
        return channel?.left(code, frame.restText());
      }
      case LinkFrame.Ack:
        return this.owned.get(id)?.acked(frame.f64());
      case LinkFrame.Joined:
        return this.entries.get(id)?.joined();
      case LinkFrame.Refused: {
        const channel = this.entries.get(id);
        this.entries.delete(id);
        const status = frame.u16();
        return channel?.refused(status, frame.restText());
      }
      case LinkFrame.SendText:
      case LinkFrame.SendBinary: {
        const channel = this.entries.get(id);
        if (channel === undefined) return;
        if (frame.type === LinkFrame.SendText) channel.sendText(frame.restBytes());
        else channel.sendBinary(frame.restBuffer());
        this.#touched.add(channel);
        return;
      }
      case LinkFrame.Close: {
        const channel = this.entries.get(id);
        this.entries.delete(id);
        const code = frame.u16();
        return channel?.close(code, frame.restText());
      }
      case LinkFrame.Request: {
        const body = JSON.parse(frame.restText());
        void this.#host.request(body).catch((error) => ({
          status: 500,
          error: describeError(error),
        })).then((reply) => {
          if (this.#closed) return;
          this.#writer.payload(LinkFrame.Reply, id, JSON.stringify(reply ?? null));
          this.#schedule();
        });
        return;
      }
      case LinkFrame.Reply:
        return this.#requests.get(id)?.(JSON.parse(frame.restText()));
      case LinkFrame.Ping:
        return;
      default:
        throw new Error(`Unknown link frame type ${frame.type}`);
    }
  }
}
