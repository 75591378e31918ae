/**
 * The rooms of one server, and the rules for creating them.
 *
 * @module
 */

import { CloseCode } from "./close_code.ts";
import { HttpError } from "../http/http_error.ts";
import { Room, type RoomConfig } from "./room.ts";
import type { RoomEngineFactory } from "./room_engine.ts";
import type { RoomIdStrategy } from "./room_id.ts";
import type { RoomSnapshot } from "./room_snapshot.ts";

/** Rooms saved elsewhere (snapshots) that come back when they are next created. */
export interface SavedRooms {
  /** Room `id` is saved and ready to come back: it counts as existing. */
  has(id: string): boolean;
  /** Take room `id`'s snapshot out, to create the room from. */
  take(id: string): RoomSnapshot | undefined;
}

/**
 * Who may create a room here, when that is not this server's call alone (in a cluster, only the
 * room's owner): asked before every room is created.
 */
export interface RoomOwnership {
  /**
   * Room `id` is about to be created here: return the engine factory to run it on (`engines`, or
   * one that wraps it), or throw an `HttpError` to refuse.
   */
  create(id: string, engines: RoomEngineFactory): RoomEngineFactory;
}

/** What a registry needs to create rooms. */
export interface RoomRegistryConfig {
  /** Which requests may create rooms. */
  readonly strategy: RoomIdStrategy;
  /**
   * Most rooms alive at once (read at each creation). At capacity, empty rooms are closed to make
   * space, the one empty longest first; with none empty, creating one more answers 503.
   */
  readonly capacity: () => number;
  /** Most clients in one room (open or connecting); one more gets 503. */
  readonly maxClients: number;
  /** Configuration handed to every room (its `onClosed` is the registry's). */
  readonly room: Omit<RoomConfig, "onClosed">;
  /** Asked before each room is created (a cluster's claims); without it, this server decides. */
  readonly ownership?: RoomOwnership;
  /** Saved rooms: a room is created from its snapshot when there is one. */
  readonly saved?: SavedRooms;
  /** Called as each room closes, for whatever reason, once it has left the registry. */
  readonly onRoomClosed?: (room: Room) => void;
  /** Called once each room is created (and registered). */
  readonly onRoomCreated?: (room: Room) => void;
}

/**
 * Every live room by id, created under the server's {@linkcode RoomIdStrategy}. Lookups are one
 * `Map` access; nothing on the message path scales with the number of rooms. At capacity, the room
 * that has been empty longest is closed (1000) to make space, so rooms that clients left (and that
 * a shutdown policy keeps) never lock out new ones.
 *
 * @example
 * ```ts ignore
 * const registry = new RoomRegistry(engineFactory, config);
 * const room = registry.forConnection("lobby"); // created under "implicit"
 * ```
 */
export class RoomRegistry {
  readonly #rooms = new Map<string, Room>();
  /** Rooms without clients, in the order they became empty. */
  readonly #empty = new Set<Room>();
  readonly #config: RoomRegistryConfig;
  readonly #roomConfig: RoomConfig;
  #engineFactory: RoomEngineFactory;

  /** An empty registry whose rooms run on engines from `engineFactory`. */
  constructor(engineFactory: RoomEngineFactory, config: RoomRegistryConfig) {
    this.#engineFactory = engineFactory;
    this.#config = config;
    this.#roomConfig = {
      ...config.room,
      onClosed: (room) => {
        this.#empty.delete(room);
        if (this.#rooms.get(room.id) === room) this.#rooms.delete(room.id);
        config.onRoomClosed?.(room);
      },
      onEmpty: (room) => {
        this.#empty.delete(room);
        this.#empty.add(room);
      },
      onOccupied: (room) => void this.#empty.delete(room),
    };
  }

  /** Rooms alive now. */
  get size(): number {
    return this.#rooms.size;
  }

  /** All rooms alive now. */
  rooms(): IterableIterator<Room> {
    return this.#rooms.values();
  }

  /** A room with this id is alive here. */
  has(id: string): boolean {
    return this.#rooms.has(id);
  }

  /**
   * Check that a WebSocket to `id` could join a room: it exists, or the strategy creates rooms on
   * connect and there is capacity (closing empty rooms to make it, if need be).
   *
   * @throws {HttpError} 404 (no such room), 503 (no capacity, or the room is full).
   */
  checkJoinable(id: string): void {
    const room = this.#rooms.get(id);
    if (room !== undefined) {
      const max = this.#config.maxClients;
      if (room.presentCount >= max) {
        throw new HttpError(503, `Room "${id}" is full (${max} clients); try again later`);
      }
      return;
    }
    if (!this.#config.strategy.implicitCreation && !this.#config.saved?.has(id)) {
      throw new HttpError(404, `Room "${id}" does not exist`);
    }
    this.#checkCapacity();
  }

  /** The room a WebSocket to `id` joins: an existing one, or a new one under `implicit`. */
  forConnection(id: string): Room {
    this.checkJoinable(id);
    return this.#rooms.get(id) ?? this.#create(id);
  }

  /** Create a room with a chosen id (`POST /ws/{id}`). */
  createExplicit(id: string): Room {
    const strategy = this.#config.strategy;
    if (!strategy.explicitCreation) {
      throw new HttpError(
        403,
        `Rooms cannot be created with a chosen ID under the "${strategy.name}" strategy; use POST /new_room`,
      );
    }
    if (this.#rooms.has(id) || this.#config.saved?.has(id)) {
      throw new HttpError(409, `Room "${id}" already exists`);
    }
    return this.#create(id);
  }

  /**
   * Create a room with a generated id (`POST /new_room`): generated here, or `id` when it was
   * generated elsewhere (by the cluster node that took the request).
   */
  createGenerated(id?: string): Room {
    const generate = this.#config.strategy.generate;
    if (generate === undefined) {
      throw new HttpError(
        400,
        "Room ID generation is disabled; rooms must be created with an explicit ID",
      );
    }
    id ??= generate();
    if (this.#rooms.has(id)) throw new HttpError(409, `Generated room ID "${id}" is taken`);
    return this.#create(id);
  }

  /**
   * Close every room with `code` (1001 on shutdown, 1012 on reload) and, when given, run new rooms
   * on `engineFactory` from now on. `close` closes each room instead of `room.close` (to snapshot
   * it as it closes). Resolves with how many rooms were closed, once their in-flight events have
   * run.
   */
  async closeAll(
    code: CloseCode,
    reason: string,
    engineFactory?: RoomEngineFactory,
    close: (room: Room) => Promise<unknown> = (room) => room.close(code, reason),
  ): Promise<number> {
    if (engineFactory) this.#engineFactory = engineFactory;
    const rooms = [...this.#rooms.values()];
    await Promise.all(rooms.map(close));
    return rooms.length;
  }

  #checkCapacity(): void {
    const max = this.#config.capacity();
    while (this.#rooms.size >= max) {
      const [oldest] = this.#empty;
      if (oldest === undefined) {
        throw new HttpError(503, `Server is at capacity (${max} rooms); try again later`);
      }
      this.#config.room.logger.debug(`Closing empty room "${oldest.id}" to make space`);
      void oldest.close(CloseCode.Normal, "Room closed to make space");
    }
  }

  /**
   * Create room `id` from `snapshot` of it, taken on another node that hands it over with its
   * clients (they come back with `room.adopt`): a room that exists already, under any strategy.
   *
   * @throws {HttpError} 409 (it is alive here), 503 (no capacity, not owned).
   */
  createMoved(id: string, snapshot: RoomSnapshot): Room {
    if (this.#rooms.has(id)) throw new HttpError(409, `Room "${id}" already exists`);
    return this.#create(id, snapshot);
  }

  #create(id: string, moved?: RoomSnapshot): Room {
    const engines = this.#config.ownership?.create(id, this.#engineFactory) ?? this.#engineFactory;
    this.#checkCapacity();
    const restored = moved ?? this.#config.saved?.take(id);
    const room = new Room(id, engines, this.#roomConfig, restored, moved !== undefined);
    if (!room.closed) this.#rooms.set(id, room);
    this.#config.room.metrics.roomsCreated++;
    this.#config.room.logger.debug(`Created room "${id}"`);
    this.#config.onRoomCreated?.(room);
    return room;
  }
}
