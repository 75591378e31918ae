/**
 * A room: its clients' sockets, their ids, its one timer, and its shutdown policy. The service
 * itself runs behind a {@linkcode RoomEngine}.
 *
 * @module
 */

import { type ClientLimits, MAX_QUEUED_BYTES, RateLimiter } from "./client_limits.ts";
import { type ClientSocket, closeSocket } from "./client_socket.ts";
import { CloseCode, closeReason } from "./close_code.ts";
import { type Clock, MAX_TIMER_MS, SYSTEM_CLOCK, type TimerHandle } from "../util/clock.ts";
import type { Logger } from "../util/logger.ts";
import type { Metrics } from "../http/metrics.ts";
import { utf8Length } from "../util/utf8.ts";
import type { RoomCrashError, RoomEngine, RoomEngineFactory, RoomOutput } from "./room_engine.ts";
import {
  replayEvents,
  type RoomEvent,
  type RoomSnapshot,
  type SnapshotEngine,
  snapshotEngine,
} from "./room_snapshot.ts";
import type { ClientData, ClientId, MessageRecipient } from "../service.ts";
import type { ShutdownPolicy } from "./shutdown_policy.ts";

/** What a room needs from the server that owns it. */
export interface RoomConfig {
  /** Where the room logs. */
  readonly logger: Logger;
  /** Counters the room updates. */
  readonly metrics: Metrics;
  /** When the room is destroyed once empty. */
  readonly shutdownPolicy: ShutdownPolicy;
  /** Limits for every client. */
  readonly limits: ClientLimits;
  /** Called once, as the room closes for any reason. */
  readonly onClosed: (room: Room) => void;
  /** Called when the room has no client any more (and once as it is created, empty). */
  readonly onEmpty?: (room: Room) => void;
  /** Called when a client joins the empty room. */
  readonly onOccupied?: (room: Room) => void;
  /** Where the room's timer and its shutdown timer run. @default {SYSTEM_CLOCK} */
  readonly clock?: Clock;
}

class Client {
  readonly id: ClientId;
  readonly socket: ClientSocket;
  readonly limiter: RateLimiter | undefined;
  /** The client has left the room (closed, kicked, or the room closed). */
  gone = false;

  constructor(id: ClientId, socket: ClientSocket, rate: number) {
    this.id = id;
    this.socket = socket;
    this.limiter = rate > 0 ? new RateLimiter(rate) : undefined;
  }
}

/** What a room listing shows of one room. */
export interface RoomInfo {
  /** The room's id. */
  readonly id: string;
  /** Clients connected now. */
  readonly clients: number;
  /** When the room was created, as an ISO 8601 date. */
  readonly createdAt: string;
  /** Seconds since the room's last event (a client joining, leaving or sending). */
  readonly idleSeconds: number;
  /** The room is hibernated: its service is freed, its state saved (see `hibernateAfter`). */
  readonly hibernated: boolean;
}

/**
 * One room: client ids from 1, never reused while it lives; events handed to its engine in
 * arrival order; sends delivered to open sockets (a send to a departed client is dropped); one
 * timer; and the shutdown policy applied when the last client leaves.
 *
 * @example A room driven by sockets from `Deno.upgradeWebSocket`
 * ```ts ignore
 * const room = new Room("lobby", (id, output) => new LocalEngine(id, factory, output, logger), config);
 * const { socket, response } = Deno.upgradeWebSocket(request);
 * room.accept(socket);
 * return response;
 * ```
 */
export class Room {
  /** The room's id. */
  readonly id: string;
  readonly #config: RoomConfig;
  readonly #engine: RoomEngine;
  /** Clients whose socket is open, by id, in join order. */
  readonly #clients = new Map<ClientId, Client>();
  /** Every client accepted and not yet gone, open or still connecting. */
  readonly #present = new Set<Client>();
  #nextClientId = 1;
  readonly #clock: Clock;
  #timer: TimerHandle | undefined;
  /** When the room's timer is due (the clock's `now()`), while it is armed. */
  #timerDue: number | undefined;
  #shutdownTimer: TimerHandle | undefined;
  #closing: Promise<void> | undefined;
  #closedWith: [CloseCode, string] | undefined;
  readonly #createdAt = Date.now();
  /** The clock's `now()` at the last client event. */
  #lastEvent: number;
  /** The clock's `now()` at the last event of any kind (the timer's too). */
  #lastActivity: number;
  /** The engine's snapshot side, when its service can be snapshotted. */
  readonly #snapshots: SnapshotEngine | undefined;

  /**
   * Create the room and start its service through `engineFactory`: a fresh one, or, given
   * `restored`, the room as it was when that snapshot was taken — its next client id, its timer
   * (less the time since), its service's state. The snapshot's clients are gone: the service
   * hears each of them leave before anything else — unless the room `moved` here with its
   * clients (from another node), who then come back with {@linkcode adopt}.
   */
  constructor(
    id: string,
    engineFactory: RoomEngineFactory,
    config: RoomConfig,
    restored?: RoomSnapshot,
    moved = false,
  ) {
    this.id = id;
    this.#config = config;
    this.#clock = config.clock ?? SYSTEM_CLOCK;
    this.#lastEvent = this.#lastActivity = this.#clock.now();
    const output: RoomOutput = {
      send: (recipient, payload) => this.#send(recipient, payload),
      closeClient: (client, code, reason) => this.#closeClient(client, code, reason),
      setTimer: (ms) => this.#setTimer(ms),
      crash: (error) => this.#crash(error),
    };
    if (restored === undefined) {
      this.#engine = engineFactory(id, output);
    } else {
      this.#nextClientId = restored.nextClientId;
      const elapsed = Math.max(0, Date.now() - restored.takenAt);
      this.#engine = engineFactory(id, output, undefined, {
        state: restored.service,
        departed: !moved,
        timerMs: restored.timerMs === undefined
          ? undefined
          : Math.max(0, restored.timerMs - elapsed),
      });
    }
    this.#snapshots = snapshotEngine(this.#engine);
    this.#scheduleShutdown();
    config.onEmpty?.(this);
  }

  /** Clients connected now (open sockets). */
  get clientCount(): number {
    return this.#clients.size;
  }

  /** Clients in the room, open or still connecting. */
  get presentCount(): number {
    return this.#present.size;
  }

  /** No client is in the room, open or still connecting. */
  get empty(): boolean {
    return this.#present.size === 0;
  }

  /** Seconds since the room's last event. */
  get idleSeconds(): number {
    return (this.#clock.now() - this.#lastEvent) / 1000;
  }

  /** Milliseconds since the room's last event of any kind (a client's, or its timer). */
  get quietMs(): number {
    return this.#clock.now() - this.#lastActivity;
  }

  /** When the room's last event of any kind came (its clock's `now()`). */
  get lastActivity(): number {
    return this.#lastActivity;
  }

  /** The room as a listing shows it. */
  info(): RoomInfo {
    return {
      id: this.id,
      clients: this.#clients.size,
      createdAt: new Date(this.#createdAt).toISOString(),
      idleSeconds: Math.round(this.idleSeconds * 10) / 10,
      hibernated: this.hibernated,
    };
  }

  /** The room's service can be snapshotted (and so hibernate, persist and move). */
  get canSnapshot(): boolean {
    return this.#snapshots !== undefined && !this.closed;
  }

  /** The room is hibernated: its service is freed; the next event restores it. */
  get hibernated(): boolean {
    return this.#snapshots?.hibernated ?? false;
  }

  /** The engine's snapshot side (pause, resume, held events), when it has one. */
  get snapshotEngine(): SnapshotEngine | undefined {
    return this.#snapshots;
  }

  /**
   * The room between two events, as data: after every event received so far, before any
   * received later.
   *
   * @throws {Error} (rejects) when the service cannot be snapshotted or the room closed.
   */
  async snapshot(): Promise<RoomSnapshot> {
    const snapshots = this.#snapshots;
    if (snapshots === undefined || this.closed) {
      throw new Error(`Room "${this.id}" cannot be snapshotted`);
    }
    let room: Omit<RoomSnapshot, "service"> | undefined;
    const service = await snapshots.snapshot(() => room = this.#bookkeeping());
    return { ...room!, service };
  }

  /**
   * Snapshot the service and free it, if no event waits; the room's clients and timer stay.
   * Resolves with the state's size in bytes, or undefined when the room did not hibernate.
   *
   * @throws {Error} (rejects) when the service's snapshot failed (its `snapshot()` threw).
   */
  async hibernate(): Promise<number | undefined> {
    if (this.#snapshots === undefined || this.closed) return undefined;
    return await this.#snapshots.hibernate();
  }

  /**
   * {@linkcode close} the room, and resolve with its snapshot taken after the events it had
   * received (undefined when it cannot be snapshotted).
   */
  async closeWithSnapshot(code: CloseCode, reason: string): Promise<RoomSnapshot | undefined> {
    const snapshots = this.#snapshots;
    if (snapshots === undefined || this.closed) {
      await this.close(code, reason);
      return undefined;
    }
    let room: Omit<RoomSnapshot, "service"> | undefined;
    const service = snapshots.snapshot(() => room = this.#bookkeeping());
    service.catch(() => {});
    await this.close(code, reason);
    try {
      return { ...room!, service: await service };
    } catch (error) {
      this.#config.logger.warn(
        `Cannot snapshot room "${this.id}" as it closes: ${(error as Error).message}`,
      );
      return undefined;
    }
  }

  #bookkeeping(): Omit<RoomSnapshot, "service"> {
    const due = this.#timerDue;
    return {
      roomId: this.id,
      nextClientId: this.#nextClientId,
      timerMs: due === undefined ? undefined : Math.max(0, due - this.#clock.now()),
      takenAt: Date.now(),
    };
  }

  /** Events received and not yet handled by the service. */
  get pending(): number {
    return this.#engine.pending;
  }

  /** The room has closed (crashed, shut down, or destroyed by its shutdown policy). */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Take a client's socket (from `Deno.upgradeWebSocket`, or any {@linkcode ClientSocket}) into
   * the room and give it the next id. Its `connect` hook runs when the socket opens.
   */
  accept(socket: ClientSocket, data?: ClientData): ClientId {
    const client = new Client(
      this.#nextClientId++,
      socket,
      this.#config.limits.maxMessagesPerSecond,
    );
    // A room can close before its first client is in: Deno runs pending microtasks when it
    // first loads a lazy built-in, so a constructor's crash may land inside `new Room()`.
    if (this.#closedWith) {
      closeSocket(socket, ...this.#closedWith);
      return client.id;
    }
    if (this.#present.size === 0) this.#config.onOccupied?.(this);
    this.#present.add(client);
    this.#clock.clearTimeout(this.#shutdownTimer);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      socket.onopen = null; // an open socket keeps only what it needs: message and close
      if (client.gone) return;
      this.#lastEvent = this.#lastActivity = this.#clock.now();
      this.#clients.set(client.id, client);
      this.#engine.connect(client.id, data);
    };
    socket.onmessage = (event) => this.#receive(client, event.data);
    socket.onclose = () => this.#leave(client);
    return client.id;
  }

  /**
   * Take back a client the room had before it moved here (from another node): it keeps its id,
   * and the service is not told it connected (it knows it already).
   */
  adopt(id: ClientId, socket: ClientSocket): void {
    const client = new Client(id, socket, this.#config.limits.maxMessagesPerSecond);
    if (this.#closedWith) return closeSocket(socket, ...this.#closedWith);
    this.#nextClientId = Math.max(this.#nextClientId, id + 1);
    if (this.#present.size === 0) this.#config.onOccupied?.(this);
    this.#present.add(client);
    this.#clients.set(id, client);
    this.#clock.clearTimeout(this.#shutdownTimer);
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => this.#receive(client, event.data);
    socket.onclose = () => this.#leave(client);
  }

  /**
   * Run `events` that the room received on another node while it was paused there (it moved
   * here), in order, before anything that comes after.
   */
  replay(events: readonly RoomEvent[]): void {
    if (events.length > 0) this.#lastActivity = this.#clock.now();
    replayEvents(this.#engine, events);
  }

  /** The clients whose socket is open, by id, in join order. */
  sockets(): [ClientId, ClientSocket][] {
    return [...this.#clients].map(([id, client]) => [id, client.socket]);
  }

  /**
   * Close the room: every client gets `code` and `reason`, the timers stop, the room leaves its
   * registry at once (a new connection to its id starts a fresh room), and the returned Promise
   * resolves when the events already received have run. With `closeSockets` false the sockets
   * are left as they are (the room moved to another node, and its clients with it).
   */
  close(code: CloseCode, reason: string, closeSockets = true): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closedWith = [code, reason];
    this.#clock.clearTimeout(this.#timer);
    this.#clock.clearTimeout(this.#shutdownTimer);
    for (const client of this.#present) {
      client.gone = true;
      if (closeSockets) closeSocket(client.socket, code, reason);
    }
    this.#present.clear();
    this.#clients.clear();
    this.#config.onClosed(this);
    this.#closing = this.#engine.close();
    return this.#closing;
  }

  #receive(client: Client, data: string | ArrayBuffer): void {
    if (client.gone) return;
    const { limits, metrics } = this.#config;
    const text = typeof data === "string";
    const bytes = text ? utf8Length(data) : data.byteLength;
    if (bytes > limits.maxMessageBytes) {
      return this.#kick(
        client,
        CloseCode.MessageTooBig,
        `Message of ${bytes} bytes is over the limit of ${limits.maxMessageBytes}`,
        "too_big",
      );
    }
    if (client.limiter && !client.limiter.take()) {
      return this.#kick(
        client,
        CloseCode.PolicyViolation,
        `Over the limit of ${limits.maxMessagesPerSecond} messages per second`,
        "rate_limit",
      );
    }
    const queued = this.#engine.queuedBytes;
    if (queued > 0 && queued + bytes > MAX_QUEUED_BYTES) {
      return this.#kick(
        client,
        CloseCode.TryAgainLater,
        `Room is busy: ${queued} bytes of messages wait for it; try again later`,
        "room_busy",
      );
    }
    metrics.messagesIn++;
    metrics.bytesIn += bytes;
    this.#lastEvent = this.#lastActivity = this.#clock.now();
    if (text) this.#engine.message(client.id, data);
    else this.#engine.binary(client.id, new Uint8Array(data));
  }

  #send(recipient: MessageRecipient, payload: string | Uint8Array): void {
    if (recipient <= 0) {
      if (this.#clients.size === 0) return;
      const bytes = typeof payload === "string" ? utf8Length(payload) : payload.byteLength;
      const except = -recipient;
      for (const client of this.#clients.values()) {
        if (client.id !== except) this.#sendTo(client, payload, bytes);
      }
      return;
    }
    const client = this.#clients.get(recipient);
    if (client === undefined) {
      this.#config.logger.debug(
        `Dropped a message to client ${recipient} in room "${this.id}": not connected`,
      );
      return;
    }
    const bytes = typeof payload === "string" ? utf8Length(payload) : payload.byteLength;
    this.#sendTo(client, payload, bytes);
  }

  #sendTo(client: Client, payload: string | Uint8Array, bytes: number): void {
    const socket = client.socket;
    socket.send(payload);
    const metrics = this.#config.metrics;
    metrics.messagesOut++;
    metrics.bytesOut += bytes;
    const limit = this.#config.limits.maxBufferedBytes;
    if (socket.bufferedAmount > limit) {
      this.#kick(
        client,
        CloseCode.PolicyViolation,
        `Client is not reading fast enough (over ${limit} bytes queued)`,
        "too_slow",
      );
    }
  }

  /**
   * Close one client with `code` and `reason` (the service's `ctx.closeClient`, or a client that
   * never finished opening); it leaves the room at once, and its `disconnect` runs if it had
   * connected. An id that is not in the room is ignored (debug log).
   */
  closeClient(id: ClientId, code: number, reason: string): void {
    this.#closeClient(id, code, reason);
  }

  #closeClient(id: ClientId, code: number, reason: string): void {
    const client = this.#clients.get(id) ?? [...this.#present].find((c) => c.id === id);
    if (client === undefined) {
      this.#config.logger.debug(`Ignored closing client ${id} in room "${this.id}": not connected`);
      return;
    }
    closeSocket(client.socket, code, reason);
    this.#leave(client);
  }

  #setTimer(requested: number): void {
    // A guest's u32 can say 49 days: past 2^31 − 1 ms, `setTimeout` would fire at once.
    const ms = requested >= 0 ? Math.min(requested, MAX_TIMER_MS) : 0;
    this.#clock.clearTimeout(this.#timer);
    // Kept while the room closes too: a snapshot taken as it closes holds the timer.
    this.#timerDue = this.#clock.now() + ms;
    if (this.closed) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#timerDue = undefined;
      this.#lastActivity = this.#clock.now();
      this.#engine.timer();
    }, ms);
  }

  #crash(error: RoomCrashError): void {
    if (this.closed) return;
    this.#config.metrics.crashed(error.kind);
    this.#config.logger.error(`Room "${this.id}" crashed (${error.kind}): ${error.message}`);
    void this.close(CloseCode.InternalError, closeReason(error.message));
  }

  /** Close one client for breaking a limit; it leaves the room at once. */
  #kick(client: Client, code: CloseCode, reason: string, metric: string): void {
    this.#config.metrics.closedClient(metric);
    this.#config.logger.warn(`Closed client ${client.id} in room "${this.id}": ${reason}`);
    closeSocket(client.socket, code, reason);
    this.#leave(client);
  }

  /** A client left: its `disconnect` runs, then the shutdown policy applies to an empty room. */
  #leave(client: Client): void {
    if (client.gone) return;
    client.gone = true;
    this.#lastEvent = this.#lastActivity = this.#clock.now();
    this.#present.delete(client);
    const wasOpen = this.#clients.delete(client.id);
    const empty = this.#present.size === 0;
    const policy = this.#config.shutdownPolicy;
    if (empty && policy === "immediate") {
      void this.close(CloseCode.Normal, "Room closed");
      return;
    }
    if (wasOpen) this.#engine.disconnect(client.id);
    if (empty) {
      this.#scheduleShutdown();
      this.#config.onEmpty?.(this);
    }
  }

  /** Under a timed shutdown policy, close the room once it has stayed empty that long. */
  #scheduleShutdown(): void {
    const policy = this.#config.shutdownPolicy;
    if (typeof policy !== "object") return;
    this.#shutdownTimer = this.#clock.setTimeout(
      () => void this.close(CloseCode.Normal, "Room closed"),
      policy.afterMs,
    );
  }
}
