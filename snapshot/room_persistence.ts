/**
 * Rooms that outlive their process: saved to a {@linkcode SnapshotStore} as they close (graceful
 * shutdown) and every so often (`snapshotEvery`), and brought back from it at their first
 * connect; kept in memory across a hot reload. A stored snapshot that cannot be restored is
 * refused with one log line and set aside, and the room starts fresh.
 *
 * @module
 */

import type { CloseCode } from "../room/close_code.ts";
import type { Metrics } from "../http/metrics.ts";
import type { Room } from "../room/room.ts";
import type { SavedRooms } from "../room/room_registry.ts";
import type { RoomSnapshot, ServiceSnapshots } from "../room/room_snapshot.ts";
import { type Clock, SYSTEM_CLOCK, type TimerHandle } from "../util/clock.ts";
import { describeError, type Logger } from "../util/logger.ts";
import { decodeSnapshot, encodeSnapshot } from "./snapshot_format.ts";
import type { SnapshotStore } from "./snapshot_store.ts";

/** Saves of the periodic snapshot that run at once. */
const SAVES_AT_ONCE = 8;
/** Snapshots kept in memory for rooms to come back (a reload's), at most. */
const MAX_PENDING = 100_000;

/** What {@linkcode RoomPersistence} works with. */
export interface PersistenceConfig {
  /** Where snapshots are kept between processes; without one, only reloads keep rooms. */
  readonly store: SnapshotStore | undefined;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** How the service running now is snapshotted (it changes with a reload), if it can be. */
  readonly snapshots: () => ServiceSnapshots | undefined;
  /** Why the service running now cannot be snapshotted, when it cannot. */
  readonly refusal: () => string | undefined;
  /**
   * A room's fencing token for the snapshots this server writes (in a cluster: its claim; none
   * for a room it does not own, whose stored snapshot it then never deletes). Without it, 0.
   */
  readonly fence?: (roomId: string) => number | undefined;
  /**
   * Save a room restored from the store as soon as it is created (in a cluster: its snapshot then
   * carries the new owner's fencing token, so a stale owner can no longer overwrite it).
   * @default {false}
   */
  readonly saveRestored?: boolean;
  /** The clock the periodic snapshots run on. @default {SYSTEM_CLOCK} */
  readonly clock?: Clock;
}

/**
 * The saved rooms of one server. The registry creates a room from {@linkcode take} when there is
 * a snapshot for it; {@linkcode prepare} loads one from the store before a room id is used.
 *
 * @example
 * ```ts ignore
 * const persistence = new RoomPersistence({ store, logger, metrics, snapshots, refusal });
 * await persistence.prepare("lobby"); // before the registry creates "lobby"
 * ```
 */
export class RoomPersistence implements SavedRooms {
  readonly #config: PersistenceConfig;
  readonly #clock: Clock;
  /** Snapshots loaded (or kept across a reload) for rooms to come back. */
  readonly #pending = new Map<string, RoomSnapshot>();
  readonly #loading = new Map<string, Promise<void>>();
  /** Saves under way, by room id: a room's next load waits for them. */
  readonly #saving = new Map<string, Promise<unknown>>();
  /** Rooms closing with a snapshot: their stored state stays. */
  readonly #keeping = new Set<Room>();
  /** Each room's last activity when it was last saved. */
  readonly #savedAt = new WeakMap<Room, number>();
  /** Room ids with a snapshot in the store (written or read by this server). */
  readonly #stored = new Set<string>();
  /** Rooms taken from the store, to be saved as soon as they are created. */
  readonly #saveOnCreation = new Set<string>();
  #periodic: TimerHandle | undefined;
  #stopped = false;

  /** Persistence under `config`. */
  constructor(config: PersistenceConfig) {
    this.#config = config;
    this.#clock = config.clock ?? SYSTEM_CLOCK;
  }

  /** The store snapshots go to, if any. */
  get store(): SnapshotStore | undefined {
    return this.#config.store;
  }

  has(id: string): boolean {
    return this.#pending.has(id);
  }

  take(id: string): RoomSnapshot | undefined {
    const snapshot = this.#pending.get(id);
    if (snapshot === undefined) return undefined;
    this.#pending.delete(id);
    if (this.#config.saveRestored) this.#saveOnCreation.add(id);
    this.#config.metrics.roomsRestored++;
    const seconds = Math.max(0, (Date.now() - snapshot.takenAt) / 1000);
    this.#config.logger.info(
      `Restored room "${id}" from its snapshot (${snapshot.service.state.length} bytes of state, taken ${
        seconds.toFixed(1)
      } s ago; ${snapshot.service.clients.length} former clients leave it)`,
    );
    return snapshot;
  }

  /**
   * Before room `id` is created (it is not alive now): load its stored snapshot, if any, so the
   * registry creates it from that. A snapshot that cannot be restored is refused, with one log
   * line, and set aside.
   */
  async prepare(id: string): Promise<void> {
    await this.#saving.get(id);
    if (this.#config.store === undefined || this.#pending.has(id)) return;
    let loading = this.#loading.get(id);
    if (loading === undefined) {
      loading = this.#load(id).finally(() => this.#loading.delete(id));
      this.#loading.set(id, loading);
    }
    await loading;
  }

  /**
   * Close `room` (clients get `code`) and keep its snapshot: in the store, and with `pending`
   * in memory too, for the room to come back in this process (a hot reload). Resolves with the
   * snapshot's size in bytes, or undefined when the room could not be snapshotted.
   */
  closeAndKeep(
    room: Room,
    code: CloseCode,
    reason: string,
    pending: boolean,
  ): Promise<number | undefined> {
    this.#keeping.add(room);
    const saving = room.closeWithSnapshot(code, reason).then(async (snapshot) => {
      if (snapshot === undefined) return undefined;
      if (pending) this.#keepPending(snapshot);
      return await this.#save(room.id, snapshot) ?? snapshot.service.state.length;
    }).finally(() => this.#keeping.delete(room));
    this.#track(room.id, saving);
    return saving;
  }

  /** A room was created: one restored from the store is saved now, with `saveRestored`. */
  created(room: Room): void {
    if (this.#saveOnCreation.delete(room.id)) this.saveNow(room);
  }

  /** Save `room` now (in the background), when there is a store. */
  saveNow(room: Room): void {
    if (this.#config.store === undefined || !room.canSnapshot) return;
    const stamp = room.lastActivity;
    const saving = room.snapshot().then((snapshot) => this.#save(room.id, snapshot));
    this.#track(room.id, saving);
    saving.then(() => this.#savedAt.set(room, stamp), () => {});
  }

  /**
   * Check that the snapshot in `bytes` can restore room `id` here (a room moving in from another
   * node); resolves with it.
   *
   * @throws {Error} with the one-line reason it cannot.
   */
  check(id: string, bytes: Uint8Array): RoomSnapshot {
    const checked = this.#check(id, bytes);
    if (typeof checked === "string") throw new Error(checked.split("\n")[0]);
    return checked;
  }

  /** `room` leaves with its state kept elsewhere (it moved): its stored snapshot stays. */
  keep(room: Room): void {
    this.#keeping.add(room);
  }

  /** A room closed. Unless it closed to be kept, it was destroyed: its stored snapshot goes. */
  closed(room: Room): void {
    if (this.#keeping.has(room) || !this.#stored.has(room.id)) return;
    this.#stored.delete(room.id);
    const fence = this.#config.fence?.(room.id);
    // With fencing tokens (a cluster), a room this server no longer owns is not its to delete.
    if (this.#config.fence !== undefined && fence === undefined) return;
    const store = this.#config.store!;
    const deleting = store.delete(room.id, fence).catch((error) =>
      this.#config.logger.error(
        `Cannot delete the snapshot of room "${room.id}" in ${store.where(room.id)}: ${
          describeError(error)
        }`,
      )
    );
    this.#track(room.id, deleting);
  }

  /**
   * Save every room that changed since its last save (or was never saved). Resolves with how
   * many were saved.
   */
  async saveChanged(rooms: Iterable<Room>): Promise<number> {
    if (this.#config.store === undefined) return 0;
    const due = [...rooms].filter((room) => {
      if (!room.canSnapshot) return false;
      const savedAt = this.#savedAt.get(room);
      return savedAt === undefined || room.lastActivity > savedAt;
    });
    let saved = 0;
    const next = async (): Promise<void> => {
      const room = due.shift();
      if (room === undefined) return;
      const stamp = room.lastActivity;
      // A room that closed meanwhile is not saved here: its close decides what is kept.
      const saving = room.snapshot().then((snapshot) =>
        room.closed ? undefined : this.#save(room.id, snapshot)
      );
      this.#track(room.id, saving);
      try {
        if (await saving !== undefined) saved++;
      } catch (error) {
        // A store's failure is logged by #save; the room closing meanwhile is not a failure.
        if (!room.closed && !(error instanceof StoreError)) {
          this.#config.logger.warn(`Cannot snapshot room "${room.id}": ${describeError(error)}`);
        }
      }
      // Tried again only once the room has had an event since.
      this.#savedAt.set(room, stamp);
      return next();
    };
    await Promise.all(Array.from({ length: SAVES_AT_ONCE }, next));
    return saved;
  }

  /** Save the rooms that changed every `everyMs`, until {@linkcode stop}. */
  startPeriodic(everyMs: number, rooms: () => Iterable<Room>): void {
    const tick = () => {
      this.#periodic = undefined;
      void this.saveChanged(rooms()).finally(() => {
        if (!this.#stopped) this.#periodic = this.#clock.setTimeout(tick, everyMs);
      });
    };
    this.#periodic = this.#clock.setTimeout(tick, everyMs);
  }

  /** Stop the periodic snapshots, and wait for the saves under way. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#periodic);
    await Promise.all([...this.#saving.values()].map((saving) => saving.catch(() => {})));
  }

  /** Encode and store; resolves with the bytes written, or undefined without a store. */
  async #save(id: string, snapshot: RoomSnapshot): Promise<number | undefined> {
    const store = this.#config.store;
    if (store === undefined) return undefined;
    const bytes = encodeSnapshot(snapshot, this.#config.fence?.(id) ?? 0);
    return await this.saveBytes(id, bytes);
  }

  /** Store encoded snapshot `bytes` of room `id`; resolves with their length (undefined: no store). */
  async saveBytes(id: string, bytes: Uint8Array): Promise<number | undefined> {
    const store = this.#config.store;
    if (store === undefined) return undefined;
    try {
      await store.save(id, bytes);
    } catch (error) {
      this.#config.logger.error(
        `Cannot save the snapshot of room "${id}" to ${store.where(id)}: ${describeError(error)}`,
      );
      throw new StoreError(describeError(error), { cause: error });
    }
    this.#stored.add(id);
    this.#config.metrics.snapshotsSaved++;
    this.#config.metrics.snapshotBytesSaved += bytes.length;
    return bytes.length;
  }

  #keepPending(snapshot: RoomSnapshot): void {
    if (this.#pending.size >= MAX_PENDING) {
      const [oldest] = this.#pending.keys();
      this.#pending.delete(oldest);
    }
    this.#pending.set(snapshot.roomId, snapshot);
  }

  #track(id: string, work: Promise<unknown>): void {
    this.#saving.set(id, work);
    const done = () => {
      if (this.#saving.get(id) === work) this.#saving.delete(id);
    };
    work.then(done, done);
  }

  async #load(id: string): Promise<void> {
    const { store, logger, metrics } = this.#config;
    const where = store!.where(id);
    let bytes: Uint8Array | undefined;
    try {
      bytes = await store!.load(id);
    } catch (error) {
      logger.error(
        `Cannot read the snapshot of room "${id}" in ${where}: ${
          describeError(error)
        }; the room starts fresh`,
      );
      return;
    }
    if (bytes === undefined) return;
    const refused = this.#check(id, bytes);
    if (typeof refused === "object") {
      this.#stored.add(id);
      this.#keepPending(refused);
      return;
    }
    const [reason, kind] = refused.split("\n");
    logger.warn(
      `Refused the snapshot of room "${id}" in ${where}: ${reason}; the room starts fresh`,
    );
    metrics.refusedSnapshot(kind);
    await store!.setAside(id).catch((error) =>
      logger.error(`Cannot set aside the snapshot of room "${id}": ${describeError(error)}`)
    );
  }

  /** The snapshot in `bytes` if it can restore room `id`, else `"reason\nkind"`. */
  #check(id: string, bytes: Uint8Array): RoomSnapshot | string {
    let snapshot: RoomSnapshot;
    try {
      snapshot = decodeSnapshot(bytes).snapshot;
    } catch (error) {
      return `${(error as Error).message}\ncorrupt`;
    }
    if (snapshot.roomId !== id) return `it is the snapshot of room "${snapshot.roomId}"\ncorrupt`;
    const snapshots = this.#config.snapshots();
    if (snapshots === undefined) {
      return `this service cannot restore snapshots (${this.#config.refusal()})\nother_service`;
    }
    const found = snapshot.service.service;
    if (found !== snapshots.service) {
      return `it is from another ${
        found.split(":")[0] === snapshots.service.split(":")[0] ? "build" : "kind of service"
      } (${short(found)}; this server runs ${short(snapshots.service)})\nother_service`;
    }
    try {
      snapshots.check(snapshot.service.state);
    } catch (error) {
      return `its state does not restore: ${(error as Error).message}\nbad_state`;
    }
    return snapshot;
  }
}

/** The store failed to save (logged where it happened). */
class StoreError extends Error {}

/** A service identity, with a hash cut short for log lines. */
function short(service: string): string {
  return service.replace(/([0-9a-f]{12})[0-9a-f]{20,}/, "$1…");
}
