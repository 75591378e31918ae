/**
 * A room snapshot as bytes: what a {@linkcode SnapshotStore} keeps (a file, a Redis value) and
 * what moves between nodes. A JSON header (room, service identity, fencing token, bookkeeping)
 * and the service's state, sealed by a SHA-256 of both:
 *
 * | bytes | what |
 * | --- | --- |
 * | 4 | `JSNP` |
 * | 1 + 3 | format version (1), three zero bytes |
 * | 4 | header length `h` (u32, little endian) |
 * | h | header, JSON (UTF-8): {@linkcode SnapshotHeader} |
 * | `stateBytes` | the service's state (a WASM guest's: see `wasm/guest_snapshot.ts`; a TypeScript service's: its JSON) |
 * | 32 | SHA-256 of everything before |
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { RoomSnapshot } from "../room/room_snapshot.ts";
import type { ClientData, ClientId } from "../service.ts";

const MAGIC = [0x4a, 0x53, 0x4e, 0x50]; // "JSNP"
const VERSION = 1;
const PREFIX = 12;
const DIGEST = 32;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** A snapshot's header, as JSON. */
export interface SnapshotHeader {
  /** The room's id. */
  readonly room: string;
  /** The service's identity (`wasm:sha256:<hex>`, `ts:<name>`). */
  readonly service: string;
  /**
   * The room's fencing token when it was taken (in a cluster, the owner's claim; 0 on one
   * server): a store refuses to replace a snapshot with one of a lower token.
   */
  readonly fence: number;
  /** When it was taken, `Date.now()`. */
  readonly takenAt: number;
  /** The room's next client id. */
  readonly nextClientId: ClientId;
  /** Milliseconds left on the room's timer, or null. */
  readonly timerMs: number | null;
  /** The clients the service knew, in join order. */
  readonly clients: readonly ClientId[];
  /** Their data, where they have some. */
  readonly data: readonly (readonly [ClientId, ClientData])[];
  /** Length of the service's state after the header. */
  readonly stateBytes: number;
}

/**
 * Bytes that are not a snapshot this server can read: truncated, corrupt (checksum), malformed,
 * or of an unknown version. The message is one line.
 *
 * @example
 * ```ts
 * import { SnapshotFormatError } from "./snapshot_format.ts";
 *
 * const error = new SnapshotFormatError("checksum mismatch (corrupt)");
 * ```
 */
export class SnapshotFormatError extends Error {
  /** A one-line reason. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SnapshotFormatError";
  }
}

/**
 * Encode a room snapshot, with its fencing token.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeSnapshot, encodeSnapshot } from "./snapshot_format.ts";
 *
 * const bytes = encodeSnapshot({
 *   roomId: "lobby",
 *   nextClientId: 3,
 *   timerMs: undefined,
 *   takenAt: Date.now(),
 *   service: { service: "ts:Counter", clients: [2], data: [], state: new TextEncoder().encode("7") },
 * }, 0);
 * assert.equal(decodeSnapshot(bytes).snapshot.nextClientId, 3);
 * ```
 */
export function encodeSnapshot(snapshot: RoomSnapshot, fence: number): Uint8Array {
  const { service } = snapshot;
  const header: SnapshotHeader = {
    room: snapshot.roomId,
    service: service.service,
    fence,
    takenAt: snapshot.takenAt,
    nextClientId: snapshot.nextClientId,
    timerMs: snapshot.timerMs ?? null,
    clients: service.clients,
    data: service.data,
    stateBytes: service.state.length,
  };
  const json = encoder.encode(JSON.stringify(header));
  const out = new Uint8Array(PREFIX + json.length + service.state.length + DIGEST);
  out.set(MAGIC, 0);
  out[4] = VERSION;
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, PREFIX);
  out.set(service.state, PREFIX + json.length);
  const body = out.subarray(0, out.length - DIGEST);
  out.set(createHash("sha256").update(body).digest(), body.length);
  return out;
}

/**
 * Decode and check a snapshot: its length, its checksum and its header.
 *
 * @throws {SnapshotFormatError} naming what is wrong.
 */
export function decodeSnapshot(bytes: Uint8Array): { snapshot: RoomSnapshot; fence: number } {
  const header = readHeader(bytes);
  const start = PREFIX + headerLength(bytes);
  const expected = start + header.stateBytes + DIGEST;
  if (bytes.length < expected) {
    throw new SnapshotFormatError(`truncated: ${bytes.length} of ${expected} bytes`);
  }
  if (bytes.length > expected) {
    throw new SnapshotFormatError(`${bytes.length - expected} bytes past its end`);
  }
  const body = bytes.subarray(0, bytes.length - DIGEST);
  const digest = createHash("sha256").update(body).digest();
  if (!digest.equals(bytes.subarray(body.length))) {
    throw new SnapshotFormatError("checksum mismatch (corrupt)");
  }
  return {
    fence: header.fence,
    snapshot: {
      roomId: header.room,
      nextClientId: header.nextClientId,
      timerMs: header.timerMs ?? undefined,
      takenAt: header.takenAt,
      service: {
        service: header.service,
        clients: header.clients,
        data: header.data,
        state: bytes.slice(start, start + header.stateBytes),
      },
    },
  };
}

/**
 * Read only the header (no checksum): enough to compare fencing tokens.
 *
 * @throws {SnapshotFormatError} when the bytes do not start with a readable header.
 */
export function readHeader(bytes: Uint8Array): SnapshotHeader {
  if (bytes.length < PREFIX) throw new SnapshotFormatError(`truncated: ${bytes.length} bytes`);
  if (MAGIC.some((byte, i) => bytes[i] !== byte)) {
    throw new SnapshotFormatError("not a snapshot (bad magic number)");
  }
  if (bytes[4] !== VERSION) {
    throw new SnapshotFormatError(`unsupported snapshot format version ${bytes[4]}`);
  }
  const length = headerLength(bytes);
  if (PREFIX + length > bytes.length) {
    throw new SnapshotFormatError(
      `truncated: ${bytes.length} bytes, the header alone is ${PREFIX + length}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes.subarray(PREFIX, PREFIX + length)));
  } catch {
    throw new SnapshotFormatError("the header is not valid JSON (corrupt)");
  }
  const problem = headerProblem(value);
  if (problem) throw new SnapshotFormatError(`the header ${problem}`);
  return value as SnapshotHeader;
}

/**
 * The length of the header part of a snapshot's bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { headerLength } from "./snapshot_format.ts";
 *
 * assert.equal(headerLength(new Uint8Array([74, 83, 78, 80, 1, 0, 0, 0, 5, 0, 0, 0])), 5);
 * ```
 */
export function headerLength(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true);
}

/** The bytes of a snapshot's prefix before its header. */
export const HEADER_PREFIX_BYTES = PREFIX;

function headerProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "is not an object";
  }
  const h = value as Record<string, unknown>;
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  if (typeof h.room !== "string") return 'has no "room"';
  if (typeof h.service !== "string") return 'has no "service"';
  if (!count(h.fence)) return 'has no "fence"';
  if (typeof h.takenAt !== "number") return 'has no "takenAt"';
  if (!count(h.nextClientId) || (h.nextClientId as number) < 1) return 'has no "nextClientId"';
  if (h.timerMs !== null && !(typeof h.timerMs === "number" && h.timerMs >= 0)) {
    return 'has a bad "timerMs"';
  }
  const clients = h.clients;
  if (!Array.isArray(clients) || !clients.every((c) => count(c) && c > 0)) {
    return 'has a bad "clients"';
  }
  if (
    !Array.isArray(h.data) ||
    !h.data.every((d) => Array.isArray(d) && d.length === 2 && clients.includes(d[0]))
  ) {
    return 'has a bad "data"';
  }
  if (!count(h.stateBytes)) return 'has no "stateBytes"';
  return undefined;
}
