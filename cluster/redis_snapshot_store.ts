/**
 * Room snapshots in the cluster's Redis, next to the coordination keys, so that a room comes
 * back on whichever node claims it next: after its node died (from the last periodic snapshot),
 * after a drain that could not move it, after a restart of the whole cluster.
 *
 * | key                    | value                                  | TTL        |
 * | ---------------------- | -------------------------------------- | ---------- |
 * | `P snapshot:{room}`    | the snapshot (see `snapshot_format.ts`), base64 | 7 days |
 * | `P snapfence:{room}`   | the fencing token of that snapshot     | 7 days     |
 * | `P snaprefused:{room}` | a snapshot refused at load, set aside  | 7 days     |
 *
 * A save or a delete carries the saver's fencing token (its claim on the room) and is refused,
 * atomically, when the stored snapshot's token is higher: a stale owner (one paused past its
 * lease, whose room another node has taken since) never overwrites or deletes the new owner's
 * state.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { readHeader } from "../snapshot/snapshot_format.ts";
import { type SnapshotStore, StaleSnapshotError } from "../snapshot/snapshot_store.ts";
import type { RedisCoordinator } from "./redis_coordinator.ts";

/** How long a stored snapshot lives without being saved again. */
const TTL_MS = 7 * 24 * 3600 * 1000;

/** KEYS: snapshot, fence. ARGV: fence, base64, TTL. Returns -1, or the higher stored fence. */
const SAVE = `local stored = tonumber(redis.call('GET', KEYS[2]) or '-1')
if stored > tonumber(ARGV[1]) then return redis.call('GET', KEYS[2]) end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
return -1`;

/** KEYS: snapshot. */
const LOAD = `return redis.call('GET', KEYS[1])`;

/** KEYS: snapshot, fence. ARGV: fence (-1: any). Deletes unless the stored fence is higher. */
const DELETE = `local stored = tonumber(redis.call('GET', KEYS[2]) or '-1')
if tonumber(ARGV[1]) >= 0 and stored > tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return 1`;

/** KEYS: snapshot, fence, refused. ARGV: TTL. */
const SET_ASIDE = `local v = redis.call('GET', KEYS[1])
if not v then return 0 end
redis.call('SET', KEYS[3], v, 'PX', ARGV[1])
redis.call('DEL', KEYS[1], KEYS[2])
return 1`;

/**
 * A {@linkcode SnapshotStore} on the connection of a cluster's {@linkcode RedisCoordinator}.
 *
 * @example
 * ```ts ignore
 * const store = new RedisSnapshotStore(coordinator);
 * await store.save("lobby", bytes); // refused with StaleSnapshotError if a newer owner saved
 * ```
 */
export class RedisSnapshotStore implements SnapshotStore {
  readonly #redis: RedisCoordinator;

  /** Snapshots on `redis`'s connection, under its key prefix. */
  constructor(redis: RedisCoordinator) {
    this.#redis = redis;
  }

  where(roomId: string): string {
    return `redis key ${this.#key("snapshot", roomId)}`;
  }

  async load(roomId: string): Promise<Uint8Array | undefined> {
    const value = await this.#redis.script("load snapshot", LOAD, [
      this.#key("snapshot", roomId),
    ], []);
    return typeof value === "string" ? new Uint8Array(Buffer.from(value, "base64")) : undefined;
  }

  async save(roomId: string, bytes: Uint8Array): Promise<void> {
    const fence = readHeader(bytes).fence;
    const reply = await this.#redis.script("save snapshot", SAVE, this.#keys(roomId), [
      String(fence),
      Buffer.from(bytes).toString("base64"),
      String(TTL_MS),
    ]);
    if (Number(reply) !== -1) throw new StaleSnapshotError(roomId, fence, Number(reply));
  }

  async delete(roomId: string, fence?: number): Promise<void> {
    await this.#redis.script("delete snapshot", DELETE, this.#keys(roomId), [String(fence ?? -1)]);
  }

  async setAside(roomId: string): Promise<void> {
    await this.#redis.script("set aside snapshot", SET_ASIDE, [
      ...this.#keys(roomId),
      this.#key("snaprefused", roomId),
    ], [String(TTL_MS)]);
  }

  #keys(roomId: string): string[] {
    return [this.#key("snapshot", roomId), this.#key("snapfence", roomId)];
  }

  #key(kind: string, roomId: string): string {
    return `${this.#redis.prefix}${kind}:${roomId}`;
  }
}
