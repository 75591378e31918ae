/**
 * Where room snapshots are kept between processes: a small interface, a store of files (the
 * default for `--state DIR`), and one in memory (tests, dev reloads). A cluster's Redis store
 * implements the same interface.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { HEADER_PREFIX_BYTES, headerLength, readHeader } from "./snapshot_format.ts";

/**
 * Snapshots by room id, as encoded bytes (see `snapshot_format.ts`). Saves are atomic: a reader
 * sees the old snapshot or the new one, never a part. A save whose fencing token is lower than
 * the stored snapshot's is refused with {@linkcode StaleSnapshotError}: an owner that lost its
 * room cannot overwrite the new owner's state.
 */
export interface SnapshotStore {
  /** Where `roomId`'s snapshot is kept, for log lines (a file's path, a key). */
  where(roomId: string): string;
  /** The stored snapshot of `roomId`, or undefined when there is none. */
  load(roomId: string): Promise<Uint8Array | undefined>;
  /**
   * Store `bytes` as `roomId`'s snapshot, atomically and durably.
   *
   * @throws {StaleSnapshotError} when the stored snapshot has a higher fencing token.
   */
  save(roomId: string, bytes: Uint8Array): Promise<void>;
  /**
   * Forget `roomId`'s snapshot (the room was destroyed) — given a fencing token, only if the
   * stored snapshot's is not higher (a stale owner cannot delete the new owner's state).
   */
  delete(roomId: string, fence?: number): Promise<void>;
  /** Put a refused snapshot aside (kept for a look, never read again). */
  setAside(roomId: string): Promise<void>;
}

/**
 * A save that would replace a snapshot of a higher fencing token: the saver no longer owns the
 * room.
 *
 * @example
 * ```ts
 * import { StaleSnapshotError } from "./snapshot_store.ts";
 *
 * const error = new StaleSnapshotError("lobby", 3, 4);
 * // error.message: 'Refused a stale snapshot of room "lobby": fencing token 3, the stored one is 4'
 * ```
 */
export class StaleSnapshotError extends Error {
  /** The room. */
  readonly roomId: string;

  /** A save with token `fence` over a stored `stored`. */
  constructor(roomId: string, fence: number, stored: number) {
    super(
      `Refused a stale snapshot of room "${roomId}": fencing token ${fence}, the stored one is ${stored}`,
    );
    this.name = "StaleSnapshotError";
    this.roomId = roomId;
  }
}

/**
 * Snapshots as files in one folder, one per room: `<room id, percent-encoded>.snap` (a hash for
 * ids too long for a file name). A save writes a temporary file, syncs it, renames it over the
 * old one and syncs the folder, so a crash at any point leaves the old snapshot or the new one.
 * Saves of one room run one after the other.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FileSnapshotStore } from "./snapshot_store.ts";
 *
 * const store = new FileSnapshotStore(await Deno.makeTempDir());
 * assert.equal(await store.load("lobby"), undefined);
 * ```
 */
export class FileSnapshotStore implements SnapshotStore {
  /** The folder. */
  readonly dir: string;
  readonly #saving = new Map<string, Promise<void>>();

  /** Keep snapshots in `dir` (created if missing); leftovers of interrupted saves are removed. */
  constructor(dir: string) {
    this.dir = dir;
    Deno.mkdirSync(dir, { recursive: true });
    for (const entry of Deno.readDirSync(dir)) {
      if (entry.isFile && entry.name.endsWith(".tmp")) {
        try {
          Deno.removeSync(join(dir, entry.name));
        } catch { /* gone already */ }
      }
    }
  }

  where(roomId: string): string {
    return join(this.dir, fileName(roomId));
  }

  async load(roomId: string): Promise<Uint8Array | undefined> {
    await this.#saving.get(roomId);
    try {
      return await Deno.readFile(this.where(roomId));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }

  save(roomId: string, bytes: Uint8Array): Promise<void> {
    const previous = this.#saving.get(roomId) ?? Promise.resolve();
    const saving = previous.catch(() => {}).then(() => this.#write(roomId, bytes));
    this.#saving.set(roomId, saving);
    const done = () => {
      if (this.#saving.get(roomId) === saving) this.#saving.delete(roomId);
    };
    saving.then(done, done);
    return saving;
  }

  async delete(roomId: string, fence?: number): Promise<void> {
    await this.#saving.get(roomId)?.catch(() => {});
    const stored = fence === undefined ? undefined : await storedFence(this.where(roomId));
    if (stored !== undefined && stored > fence!) return;
    try {
      await Deno.remove(this.where(roomId));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }

  async setAside(roomId: string): Promise<void> {
    const path = this.where(roomId);
    try {
      await Deno.rename(path, `${path}.refused`);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }

  async #write(roomId: string, bytes: Uint8Array): Promise<void> {
    const path = this.where(roomId);
    const fence = readHeader(bytes).fence;
    const stored = await storedFence(path);
    if (stored !== undefined && stored > fence) throw new StaleSnapshotError(roomId, fence, stored);
    const temporary = `${path}.${crypto.randomUUID()}.tmp`;
    const file = await Deno.open(temporary, { write: true, createNew: true });
    try {
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.sync();
    } catch (error) {
      file.close();
      await Deno.remove(temporary).catch(() => {});
      throw error;
    }
    file.close();
    await Deno.rename(temporary, path);
    const folder = await Deno.open(this.dir, { read: true });
    try {
      await folder.sync();
    } finally {
      folder.close();
    }
  }
}

/**
 * Snapshots in this process's memory: for tests, and for keeping rooms across a hot reload.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemorySnapshotStore } from "./snapshot_store.ts";
 *
 * const store = new MemorySnapshotStore();
 * assert.equal(await store.load("lobby"), undefined);
 * ```
 */
export class MemorySnapshotStore implements SnapshotStore {
  /** The snapshots, by room id. */
  readonly snapshots: Map<string, Uint8Array> = new Map();
  /** Snapshots set aside, by room id. */
  readonly refused: Map<string, Uint8Array> = new Map();

  where(roomId: string): string {
    return `memory:${roomId}`;
  }

  load(roomId: string): Promise<Uint8Array | undefined> {
    return Promise.resolve(this.snapshots.get(roomId));
  }

  save(roomId: string, bytes: Uint8Array): Promise<void> {
    const stored = this.snapshots.get(roomId);
    const fence = readHeader(bytes).fence;
    const before = stored && fenceOf(stored);
    if (before !== undefined && before > fence) {
      return Promise.reject(new StaleSnapshotError(roomId, fence, before));
    }
    this.snapshots.set(roomId, bytes.slice());
    return Promise.resolve();
  }

  delete(roomId: string, fence?: number): Promise<void> {
    const stored = this.snapshots.get(roomId);
    const before = stored && fenceOf(stored);
    if (fence === undefined || before === undefined || before <= fence) {
      this.snapshots.delete(roomId);
    }
    return Promise.resolve();
  }

  setAside(roomId: string): Promise<void> {
    const stored = this.snapshots.get(roomId);
    if (stored) this.refused.set(roomId, stored);
    this.snapshots.delete(roomId);
    return Promise.resolve();
  }
}

/** A room id as a file name: percent-encoded (dots too), or a hash when that is too long. */
function fileName(roomId: string): string {
  const encoded = encodeURIComponent(roomId).replace(/\./g, "%2E").replace(/\*/g, "%2A");
  if (encoded.length <= 200) return `${encoded}.snap`;
  return `sha256-${createHash("sha256").update(roomId).digest("hex")}.snap`;
}

/** The fencing token of a stored snapshot (undefined when there is none, or it is unreadable). */
function fenceOf(bytes: Uint8Array): number | undefined {
  try {
    return readHeader(bytes).fence;
  } catch {
    return undefined;
  }
}

/** The fencing token of the snapshot in file `path`, reading only its header. */
async function storedFence(path: string): Promise<number | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  try {
    const prefix = new Uint8Array(HEADER_PREFIX_BYTES);
    if (await readFull(file, prefix) < prefix.length) return undefined;
    const length = headerLength(prefix);
    if (length > 1 << 26) return undefined;
    const bytes = new Uint8Array(HEADER_PREFIX_BYTES + length);
    bytes.set(prefix);
    if (await readFull(file, bytes.subarray(HEADER_PREFIX_BYTES)) < length) return undefined;
    return fenceOf(bytes);
  } finally {
    file.close();
  }
}

async function readFull(file: Deno.FsFile, into: Uint8Array): Promise<number> {
  let read = 0;
  while (read < into.length) {
    const n = await file.read(into.subarray(read));
    if (n === null) break;
    read += n;
  }
  return read;
}
